"""Operator commands never hold the write lock while they read: a payment committed by another process in the
middle of `zhifu ledger verify` goes through at once (on SQLite it would wait for the lock, then fail)."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from zhifu import ledger
from zhifu.cli import app
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts

WRITE_BESIDE_MS_MAX = 2_000  # far below the 10 s busy timeout a held write lock would make it wait


@pytest.fixture
def cli_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    with db.tx() as c:
        ensure_platform_accounts(c)
        ledger.transfer(c, "seed", "bank", "fee_income", 100)
    yield db
    get_settings.cache_clear()


def test_a_write_goes_through_while_ledger_verify_reads(
    cli_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = Database(cli_db.url)  # the web process: its own engine and pool
    waited: list[float] = []
    real_verify = ledger.verify

    def verify_with_traffic(conn):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        with live.tx() as c:  # a payment's transaction committing in the middle of the verify
            ledger.transfer(c, "live-1", "bank", "fee_income", 250)
        waited.append((time.perf_counter() - t0) * 1000)
        return real_verify(conn)

    monkeypatch.setattr(ledger, "verify", verify_with_traffic)
    try:
        out = CliRunner().invoke(app, ["ledger", "verify"])
    finally:
        live.dispose()
    assert out.exit_code == 0, out.output
    assert waited and waited[0] < WRITE_BESIDE_MS_MAX, waited
    with cli_db.read() as c:
        assert ledger.get_balance(c, "fee_income").posted_fen == 350
