"""Every command takes --db (or ZHIFU_DATABASE_URL); one that finds no Zhifu schema says so in one line, names the
database and the fix, and leaves no empty SQLite file behind."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from zhifu.cli import app
from zhifu.core.config import get_settings


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(
        "ZHIFU_DATABASE_URL", "sqlite:///./zhifu.db"
    )  # the callback rewrites it; put it back after
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_missing_file_is_named_and_not_created(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "nothere.db"
    r = CliRunner().invoke(app, ["--db", str(target), "ledger", "verify"])
    assert r.exit_code == 2
    assert f"no Zhifu database at {target}" in r.output.replace("\n", "")
    assert "zhifu db upgrade" in r.output and "Traceback" not in r.output
    assert not target.exists()


def test_empty_file_and_env_variable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("ZHIFU_DATABASE_URL", f"sqlite:///{empty}")
    get_settings.cache_clear()
    r = CliRunner().invoke(app, ["ledger", "verify"])
    assert r.exit_code == 2 and "no schema in it" in r.output


def test_db_option_reaches_every_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "z.db"
    assert CliRunner().invoke(app, ["--db", str(target), "db", "upgrade"]).exit_code == 0
    r = CliRunner().invoke(app, ["--db", str(target), "ledger", "verify"])
    assert r.exit_code == 0, r.output
    assert "ledger verified" in r.output
    assert CliRunner().invoke(app, ["--db", str(target), "ledger", "verify", "--help"]).exit_code == 0
