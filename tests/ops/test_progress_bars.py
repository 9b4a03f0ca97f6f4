"""进度条 / progress bars: the long commands (ledger verify, kpi rebuild, settlement, reconciliation, imports) draw a
Rich bar on stderr while they work — on a terminal only, and never with --quiet — and their result on stdout is
the same either way."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from typer.testing import CliRunner

from zhifu import cli, ledger
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts


@pytest.fixture
def cli_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    with db.tx() as c:
        ensure_platform_accounts(c)
        ledger.transfer(c, "seed", "bank", "fee_income", 100)
    yield db
    get_settings.cache_clear()


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal would be: what a person watching the command sees."""
    seen = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=seen, force_terminal=True, width=100))
    return seen


@pytest.mark.parametrize(
    ("args", "label", "result"),
    [
        (["ledger", "verify"], "核对账簿 / verifying the ledger", "ledger verified"),
        (["kpi", "rebuild"], "重算监管看板汇总 / rebuilding the rollups", "rollups rebuilt"),
        (["settle", "--date", "2022-06-15"], "结算 2022-06-15 / settling 2022-06-15", "settled"),
    ],
)
def test_a_long_command_shows_its_bar_on_a_terminal_and_not_with_quiet(
    cli_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path, args: list[str], label: str, result: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_SETTLEMENT_DIR", str(tmp_path))
    runner = CliRunner()
    seen = _terminal(monkeypatch)
    shown = runner.invoke(cli.app, args)
    assert shown.exit_code == 0, shown.output
    assert label in seen.getvalue() and "0:00:0" in seen.getvalue()  # the label and the time so far
    seen = _terminal(monkeypatch)
    quiet = runner.invoke(cli.app, ["--quiet", *args])
    assert quiet.exit_code == 0, quiet.output
    assert seen.getvalue() == ""
    assert result in shown.output and result in quiet.output  # the result on stdout either way


def test_no_bar_when_stderr_is_not_a_terminal(cli_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=seen, force_terminal=False))
    r = CliRunner().invoke(cli.app, ["ledger", "verify"])
    assert r.exit_code == 0 and "ledger verified" in r.output
    assert seen.getvalue() == ""  # a pipe, a log or cron mail gets only the result
