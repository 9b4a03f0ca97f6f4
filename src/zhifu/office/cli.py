"""`zhifu office …`: load the programme from the county profile, name a person's unit, list the work items with
who is late, send the day's overdue reminders, and print the office's figures."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from zhifu.cli import console, database, fail

NAME = "office"
app = typer.Typer(
    no_args_is_help=True, help="领导小组办公室 / The programme office: work items, units, reminders."
)


@app.command("load")
def load(
    profile: str = typer.Argument("", help="A packaged profile or YAML path; default: the configured one."),
) -> None:
    """Load the leadership group's units, the work items and the commerce circles from the county profile."""
    from zhifu.core.errors import ZhifuError
    from zhifu.county import load_profile
    from zhifu.merchants import county
    from zhifu.office import load_programme

    try:
        p = load_profile(profile) if profile else county()
        with database().tx() as conn:
            counts = load_programme(conn, p)
    except ZhifuError as exc:
        fail(f"{exc.param or 'profile'}: {exc.message}")
        return
    console.print(f"载入 {p.name} 工作事项 / loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("member")
def member(
    username: str = typer.Argument(..., help="A regulator-role console user."),
    unit: str = typer.Argument(..., help="The unit id (e.g. commerce_bureau)."),
) -> None:
    """Record the leadership-group unit a regulator-role user speaks for."""
    from zhifu.console.read import user_by_username
    from zhifu.core.errors import ZhifuError
    from zhifu.office.service import set_member

    try:
        with database().tx() as conn:
            row = user_by_username(conn, username)
            if row is None or row.role != "regulator":
                fail(f"username: {username} is not a regulator-role console user")
                return
            set_member(conn, row.id, unit)
    except ZhifuError as exc:
        fail(f"{exc.param}: {exc.message}")
        return
    console.print(f"{username} → {unit}")


@app.command("items")
def items_cmd(
    today: str = typer.Option("", help="Judge lateness on this date (YYYY-MM-DD); default today."),
) -> None:
    """The work items with their lead unit, due date, progress and the units that are late."""
    from zhifu.office import ensure_loaded, items

    db = database()
    ensure_loaded(db)
    day = dt.date.fromisoformat(today) if today else None
    with db.read() as c:
        rows = items(c, today=day)
    t = Table("#", "item", "lead", "due", "status", "progress", "late")
    for i in rows:
        t.add_row(
            str(i["number"]),
            i["title"],
            i["lead_name"],
            str(i["due"]),
            i["status"],
            f"{i['progress_ppm'] / 10_000:.0f}%",
            "、".join(i["late_names"]) or "—",
        )
    console.print(t)


@app.command("remind")
def remind(today: str = typer.Option("", help="The day (YYYY-MM-DD); default today.")) -> None:
    """Record and print today's overdue reminders (once per thing and day)."""
    from zhifu.office import sweep

    day = dt.date.fromisoformat(today) if today else None
    fresh = database().run(lambda c: sweep(c, today=day))
    for r in fresh:
        console.print(f"{r['unit_id']}: {r['text']}")
    console.print(f"{len(fresh)} 条新提醒 / new reminders")


@app.command("figures")
def figures(
    start: str = typer.Option(..., help="YYYY-MM-DD"), end: str = typer.Option(..., help="YYYY-MM-DD")
) -> None:
    """The office's dashboard figures for a period, as JSON."""
    import json

    from zhifu.office.service import kpi_programme_office

    with database().read() as c:
        doc = kpi_programme_office(c, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    console.print_json(json.dumps(doc, ensure_ascii=False, default=str))
