"""`zhifu risk …`: limits, rule sets (load, show, backtest), lists, the monitor, cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from zhifu.cli import console, database, fail, working

NAME = "risk"
app = typer.Typer(
    no_args_is_help=True, help="风险控制 / Risk control: limits, rules, lists, alerts and cases."
)
BY = "cli"


def _run(fn: Callable[[Any], Any]) -> Any:
    from zhifu.core.errors import ZhifuError

    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(f"{exc.param or 'risk'}: {exc.message}")


@app.command("limits")
def limits_cmd() -> None:
    """Every limit: its value now and its scheduled changes."""
    from zhifu.core import clock
    from zhifu.risk.limits import list_limits

    t = Table("key", "限额 / limit", "now", "changes")
    for row in _run(lambda c: list_limits(c, clock.now())):
        t.add_row(
            row["key"],
            row["zh"],
            str(row["value"]),
            "; ".join(f"{h['effective_at']:%Y-%m-%d %H:%M}→{h['value']}" for h in row["history"][:3]),
        )
    console.print(t)


@app.command("set-limit")
def set_limit_cmd(
    key: str,
    value: int = typer.Argument(..., help="fen (or 0/1 for a switch)"),
    effective_on: str = typer.Option(..., "--from", help="YYYY-MM-DD, Beijing time; not in the past"),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Schedule a limit change from a date (today: at once)."""
    from zhifu.core import clock
    from zhifu.risk.limits import set_limit

    try:
        day = dt.date.fromisoformat(effective_on)
    except ValueError:
        fail(f"--from: expected a date like 2022-06-16, got {effective_on!r}")
    doc = _run(lambda c: set_limit(c, key, value, day, by=BY, note=note, at=clock.now()))
    console.print(f"{doc['key']} = {doc['value']} from {doc['effective_at']:%Y-%m-%d %H:%M} UTC")


@app.command("load-rules")
def load_rules_cmd(file: Path) -> None:
    """Validate a YAML rule set and make it the active one; a bad file is refused naming its line."""
    from zhifu.core import clock
    from zhifu.risk.service import load_rules

    try:
        source = file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: {exc}")
    doc = _run(lambda c: load_rules(c, source, by=BY, at=clock.now()))
    console.print(f"rule set v{doc['version']} loaded: {doc['rules']} rules, sha256 {doc['sha256'][:12]}")


@app.command("rules")
def rules_cmd() -> None:
    """The active rule set."""
    from zhifu.risk.service import active_ruleset, describe_rules

    def show(c: Any) -> None:
        rs = active_ruleset(c)
        t = Table(
            "id", "typology", "stage", "outcome", "shadow", "conditions", title=f"rule set v{rs.version}"
        )
        for r in describe_rules(rs):
            t.add_row(
                r["id"],
                r["typology"],
                r["stage"],
                r["outcome"],
                "yes" if r["shadow"] else "",
                " and ".join(r["conditions"]) or f"in {r['in_list']}",
            )
        console.print(t)

    _run(show)


@app.command("backtest")
def backtest_cmd(
    file: Path = typer.Option(None, help="A YAML rule set (default: the active one)."),
    since: str = typer.Option(None, help="Replay successes from this date (YYYY-MM-DD)."),
) -> None:
    """Replay a rule set over stored history; print per-rule hits, precision and recall against the labels."""
    from zhifu.core.clock import SHANGHAI
    from zhifu.risk import backtest
    from zhifu.risk.rules import RuleSetError, parse_ruleset
    from zhifu.risk.service import active_ruleset

    if file is not None:
        try:
            rs = parse_ruleset(file.read_text(encoding="utf-8"))
        except (OSError, RuleSetError) as exc:
            fail(f"{file}: {exc}")
    else:
        rs = _run(active_ruleset)
    start = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(), SHANGHAI) if since else None
    with working("回放历史交易 / replaying the history"):
        bt = backtest.run(database(), rs, since=start)
    console.print(
        f"{bt.payments:,} successes replayed in {bt.elapsed_s:.1f} s; {bt.live_alerts:,} live alerts "
        f"({bt.alerts_per_10k:.1f} per 10,000 payments)"
    )
    t = Table("rule", "shadow", "hits", "subjects", "true", "precision", "recall")
    for row in backtest.table(bt):
        t.add_row(
            row["rule"],
            "yes" if row["shadow"] else "",
            str(row["hits"]),
            str(row["subjects"]),
            str(row["true_pos"]),
            row["precision"],
            row["recall"],
        )
    console.print(t)
    t = Table("typology", "labelled", "flagged", "true", "precision", "recall")
    for typ, s in sorted(bt.by_typology.items()):
        t.add_row(
            typ,
            str(s.positives),
            str(len(s.flagged)),
            str(s.true_pos),
            backtest.pct(s.precision_ppm),
            backtest.pct(s.recall_ppm),
        )
    console.print(t)


@app.command("scan")
def scan_cmd() -> None:
    """Run the monitor over every success not yet evaluated (the worker does this continuously)."""
    from zhifu.risk.service import scan_all

    console.print(f"evaluated {scan_all(database()):,} successes")


@app.command("deny")
def deny_cmd(
    list_name: str,
    value: str,
    days: int = typer.Option(0, help="Expire after this many days (0: never)."),
    reason: str = typer.Option("", help="Why."),
) -> None:
    """Put a payer or merchant on a list."""
    from zhifu.core import clock
    from zhifu.risk.service import add_to_list

    now = clock.now()
    exp = now + dt.timedelta(days=days) if days > 0 else None
    _run(lambda c: add_to_list(c, list_name, value, by=BY, reason=reason, expires_at=exp, at=now))
    console.print(f"{value} → {list_name}")


@app.command("cases")
def cases_cmd(status: str = typer.Option("active", help="active, open, monitoring, frozen, closed")) -> None:
    """Cases, newest first."""
    from zhifu.risk.service import list_cases

    rows, _ = _run(lambda c: list_cases(c, status=status, limit=100))
    t = Table("case", "typology", "subject", "town", "status", "alerts", "score", "pending")
    for r in rows:
        t.add_row(
            r["id"],
            r["typology"],
            f"{r['subject_kind']}:{r['subject']}",
            r["town_code"],
            r["status"],
            str(r["alerts"]),
            str(r["max_score"]),
            r["pending_action"] or "",
        )
    console.print(t)
