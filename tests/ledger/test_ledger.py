"""Ledger behaviour and every bad input, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from zhifu import ledger
from zhifu.db import Database
from zhifu.ledger import EntryRequest, cr, dr
from zhifu.ledger.models import accounts, entries, postings


def _setup(db: Database) -> None:
    with db.tx() as c:
        ledger.open_accounts(
            c,
            [
                ("bank", "asset", "CNY", False),
                ("merchant_payable:m1", "liability", "CNY", True),
                ("fee_income", "income", "CNY", False),
                ("usd_cash", "asset", "USD", False),
            ],
        )


def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def test_post_and_balances(db: Database, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    with db.tx() as c:
        e = ledger.post_entry(
            c,
            EntryRequest("k1", (dr("bank", 10_000), cr("merchant_payable:m1", 9_962), cr("fee_income", 38))),
        )
    assert e.id.startswith("je_") and not e.replayed
    with db.tx() as c:
        assert ledger.get_balance(c, "bank").posted_fen == 10_000
        assert ledger.get_balance(c, "merchant_payable:m1").posted_fen == 9_962
        assert ledger.get_balance(c, "fee_income").posted_fen == 38
        assert ledger.verify(c) == []


def test_idempotent_retry_and_conflict(db: Database) -> None:
    _setup(db)
    req = EntryRequest("same", (dr("bank", 500), cr("merchant_payable:m1", 500)))
    with db.tx() as c:
        first = ledger.post_entry(c, req)
    with db.tx() as c:
        again = ledger.post_entry(c, req)
    assert again.id == first.id and again.replayed
    with pytest.raises(ledger.IdempotencyConflict), db.tx() as c:
        ledger.post_entry(c, EntryRequest("same", (dr("bank", 501), cr("merchant_payable:m1", 501))))
    assert _count(db, entries) == 1


BAD = [
    ("unbalanced", EntryRequest("b1", (dr("bank", 100), cr("fee_income", 99))), ledger.UnbalancedEntry),
    ("one leg", EntryRequest("b2", (dr("bank", 100),)), ledger.UnbalancedEntry),
    ("unknown", EntryRequest("b3", (dr("nope", 100), cr("fee_income", 100))), ledger.UnknownAccount),
    ("zero", EntryRequest("b4", (dr("bank", 0), cr("fee_income", 0))), ledger.InvalidLegAmount),
    ("negative", EntryRequest("b5", (dr("bank", -5), cr("fee_income", -5))), ledger.InvalidLegAmount),
    (
        "mixed",
        EntryRequest("b6", (dr("usd_cash", 100, "USD"), cr("fee_income", 100, "USD"))),
        ledger.CurrencyMismatch,
    ),
    (
        "unbalanced per currency",
        EntryRequest("b7", (dr("usd_cash", 100, "USD"), cr("fee_income", 100))),
        ledger.UnbalancedEntry,
    ),
    ("overdraft", EntryRequest("b8", (dr("merchant_payable:m1", 1), cr("bank", 1))), ledger.Overdraft),
    ("float", EntryRequest("b9", (dr("bank", 1.5), cr("fee_income", 1.5))), ledger.InvalidLegAmount),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "req", "err"), BAD, ids=[b[0] for b in BAD])
def test_bad_entries_write_nothing(db: Database, name: str, req: EntryRequest, err: type) -> None:
    _setup(db)
    with pytest.raises(err), db.tx() as c:
        ledger.post_entry(c, req)
    assert _count(db, entries) == 0 and _count(db, postings) == 0
    with db.tx() as c:
        assert all(
            ledger.get_balance(c, a).posted_fen == 0 for a in ("bank", "fee_income", "merchant_payable:m1")
        )


def test_closed_account(db: Database) -> None:
    _setup(db)
    with db.tx() as c:
        ledger.open_account(c, "old", "income")
        ledger.close_account(c, "old")
    with pytest.raises(ledger.AccountClosed), db.tx() as c:
        ledger.post_entry(c, EntryRequest("x", (dr("bank", 1), cr("old", 1))))
    with db.tx() as c:
        ledger.transfer(c, "t", "bank", "fee_income", 5)
    with pytest.raises(ledger.LedgerError, match="balance"), db.tx() as c:
        ledger.close_account(c, "fee_income")


def test_batch_is_all_or_nothing(db: Database) -> None:
    _setup(db)
    reqs = [EntryRequest(f"ok{i}", (dr("bank", 10), cr("merchant_payable:m1", 10))) for i in range(5)]
    reqs.append(EntryRequest("over", (dr("merchant_payable:m1", 51), cr("bank", 51))))
    with pytest.raises(ledger.Overdraft, match="over"), db.tx() as c:
        ledger.post_entries(c, reqs)
    assert _count(db, entries) == 0
    reqs[-1] = EntryRequest("fits", (dr("merchant_payable:m1", 50), cr("bank", 50)))
    with db.tx() as c:
        out = ledger.post_entries(c, reqs)
        assert len({e.id for e in out}) == 6
        assert ledger.get_balance(c, "merchant_payable:m1").posted_fen == 0
        assert ledger.verify(c) == []


def test_holds_post_partial_void_expire(db: Database, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    with db.tx() as c:
        ledger.transfer(c, "fund", "bank", "merchant_payable:m1", 1_000)
        h = ledger.hold(c, "h1", "merchant_payable:m1", "bank", 600, timeout_s=60)
        b = ledger.get_balance(c, "merchant_payable:m1")
        assert (b.posted_fen, b.pending_debits_fen, b.available_fen) == (1_000, 600, 400)
    with pytest.raises(ledger.Overdraft), db.tx() as c:
        ledger.hold(c, "h2", "merchant_payable:m1", "bank", 401, timeout_s=60)
    with pytest.raises(ledger.HoldExceeded), db.tx() as c:
        ledger.post_hold(c, h.id, 601)
    with db.tx() as c:
        ledger.post_hold(c, h.id, 250)
        b = ledger.get_balance(c, "merchant_payable:m1")
        assert (b.posted_fen, b.pending_debits_fen) == (750, 0)
    with pytest.raises(ledger.HoldNotPending), db.tx() as c:
        ledger.void_hold(c, h.id)
    with db.tx() as c:
        h3 = ledger.hold(c, "h3", "merchant_payable:m1", "bank", 100, timeout_s=30)
        h4 = ledger.hold(c, "h4", "merchant_payable:m1", "bank", 100, timeout_s=300)
        ledger.void_hold(c, h4.id)
    fixed_clock.advance(seconds=31)
    with pytest.raises(ledger.HoldExpired), db.tx() as c:
        ledger.post_hold(c, h3.id)
    with db.tx() as c:
        assert ledger.expire_holds(c) == [h3.id]
        assert ledger.get_hold(c, h3.id).status == "expired"
        assert ledger.get_balance(c, "merchant_payable:m1").available_fen == 750
        assert ledger.verify(c) == []
    with pytest.raises(ledger.HoldNotPending), db.tx() as c:
        ledger.post_hold(c, h3.id)


def test_history_pagination_and_as_of(db: Database, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    t0 = fixed_clock.now()
    for i in range(7):
        with db.tx() as c:
            ledger.transfer(c, f"h{i}", "bank", "fee_income", 100 + i, f"n{i}")
        fixed_clock.advance(minutes=1)
    seen = []
    cursor = None
    with db.tx() as c:
        while True:
            rows, more = ledger.history(c, "fee_income", limit=3, starting_after=cursor)
            seen += [r["amount_fen"] for r in rows]
            if not more:
                break
            cursor = rows[-1]["id"]
        assert seen == [106, 105, 104, 103, 102, 101, 100]
        assert ledger.balance_as_of(c, "fee_income", t0 + dt.timedelta(minutes=2)) == 100 + 101 + 102
        assert ledger.balance_as_of(c, "fee_income", t0 - dt.timedelta(seconds=1)) == 0


def test_verify_detects_tampering(db: Database) -> None:
    _setup(db)
    with db.tx() as c:
        ledger.transfer(c, "a", "bank", "merchant_payable:m1", 1_000)
        ledger.transfer(c, "b", "merchant_payable:m1", "fee_income", 10)
    with db.tx() as c:  # behind the ledger's back
        c.execute(accounts.update().where(accounts.c.code == "fee_income").values(posted_cr_fen=99))
        c.execute(
            text(
                "UPDATE ledger_postings SET amount_fen = 999 WHERE side = 'D' AND entry_id = "
                "(SELECT id FROM ledger_entries WHERE idempotency_key = 'a')"
            )
        )
    with db.tx() as c:
        kinds = {v.kind for v in ledger.verify(c)}
    assert {"stored_balance", "unbalanced_entry", "trial_balance"} <= kinds


def test_cli_verify_and_balance(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    _setup(db)
    with db.tx() as c:
        ledger.transfer(c, "a", "bank", "fee_income", 1_234)
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(app, ["ledger", "verify"])
        assert ok.exit_code == 0, ok.output
        bal = runner.invoke(app, ["ledger", "balance", "fee_income"])
        assert "¥12.34" in bal.output
        missing = runner.invoke(app, ["ledger", "balance", "nope"])
        assert missing.exit_code == 1
        with db.tx() as c:
            c.execute(accounts.update().where(accounts.c.code == "bank").values(posted_dr_fen=1))
        bad = runner.invoke(app, ["ledger", "verify"])
        assert bad.exit_code == 1
        assert "stored_balance: bank" in bad.output
    finally:
        get_settings.cache_clear()
