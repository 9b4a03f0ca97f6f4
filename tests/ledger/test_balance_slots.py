"""余额分槽 / Balance slots: postings to an account without an overdraft guard add to their connection's slot, a
balance is the row and its slots together in every read, and concurrent postings to one account never wait for
each other on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text, update

from zhifu import incentives, ledger
from zhifu.db import Database
from zhifu.ledger import EntryRequest, cr, dr
from zhifu.ledger.models import balance_slots
from zhifu.ledger.read import accounts_view


def _open(db: Database) -> None:
    with db.tx() as c:
        ledger.open_accounts(
            c,
            [
                ("slot_bank", "asset", "CNY", False),
                ("slot_fees", "income", "CNY", False),
                ("slot_guarded", "liability", "CNY", True),
            ],
        )


def _slots(db: Database, code: str) -> dict[int, tuple[int, int]]:
    with db.tx() as c:
        rows = c.execute(select(balance_slots).where(balance_slots.c.account_code == code)).all()
    return {r.slot: (r.posted_dr_fen, r.posted_cr_fen) for r in rows}


def test_two_connections_post_to_two_slots_and_every_read_sums_them(db: Database) -> None:
    _open(db)
    with db.engine.connect() as a, db.engine.connect() as b:  # two live connections: two slot numbers
        for conn, key, fen in ((a, "s1", 700), (b, "s2", 300), (a, "s3", 5)):
            with conn.begin():
                ledger.post_entry(conn, EntryRequest(key, (dr("slot_bank", fen), cr("slot_fees", fen))))
    bank = _slots(db, "slot_bank")
    assert sorted(bank.values()) == [(300, 0), (705, 0)]
    assert sorted(_slots(db, "slot_fees").values()) == [(0, 300), (0, 705)]
    with db.tx() as c:
        assert ledger.get_balance(c, "slot_bank").posted_fen == 1_005
        assert ledger.get_balance(c, "slot_fees").posted_fen == 1_005
        view = {
            r.code: (r.posted_dr_fen, r.posted_cr_fen)
            for r in c.execute(select(accounts_view).where(accounts_view.c.code.like("slot_%")))
        }
        assert view == {"slot_bank": (1_005, 0), "slot_fees": (0, 1_005), "slot_guarded": (0, 0)}
        assert ledger.verify(c) == []


def test_a_guarded_account_keeps_its_balance_on_its_row(db: Database) -> None:
    _open(db)
    with db.tx() as c:
        ledger.post_entry(c, EntryRequest("g1", (dr("slot_bank", 900), cr("slot_guarded", 900))))
        ledger.post_entry(c, EntryRequest("g2", (dr("slot_guarded", 400), cr("slot_fees", 400))))
    assert _slots(db, "slot_guarded") == {}
    with db.tx() as c:
        row = c.execute(
            text("SELECT posted_dr_fen, posted_cr_fen FROM ledger_accounts WHERE code = 'slot_guarded'")
        )
        assert tuple(row.one()) == (400, 900)
        assert ledger.get_balance(c, "slot_guarded").available_fen == 500
    with pytest.raises(ledger.Overdraft), db.tx() as c:
        ledger.post_entry(c, EntryRequest("g3", (dr("slot_guarded", 501), cr("slot_fees", 501))))


def test_verify_sees_a_slot_that_disagrees_with_the_postings(db: Database) -> None:
    _open(db)
    with db.tx() as c:
        ledger.post_entry(c, EntryRequest("v1", (dr("slot_bank", 250), cr("slot_fees", 250))))
    with db.tx() as c:
        c.execute(
            update(balance_slots)
            .where(balance_slots.c.account_code == "slot_fees")
            .values(posted_cr_fen=balance_slots.c.posted_cr_fen + 1)
        )
    with db.tx() as c:
        problems = [str(v) for v in ledger.verify(c)]
    assert problems == ["stored_balance: slot_fees: stored debits/credits 0/251 but postings sum to 0/250"]


def test_closing_counts_the_slots(db: Database) -> None:
    _open(db)
    with db.tx() as c:
        ledger.post_entry(c, EntryRequest("c1", (dr("slot_bank", 60), cr("slot_fees", 60))))
    with pytest.raises(ledger.LedgerError, match="still has a balance"), db.tx() as c:
        ledger.close_account(c, "slot_fees")
    with db.tx() as c:
        ledger.post_entry(c, EntryRequest("c2", (dr("slot_fees", 60), cr("slot_bank", 60))))
        ledger.close_account(c, "slot_fees")
    with pytest.raises(ledger.AccountClosed), db.tx() as c:
        ledger.post_entry(c, EntryRequest("c3", (dr("slot_bank", 1), cr("slot_fees", 1))))


def _posts_while_another_holds(db: Database, first: str, second: str, between=None) -> bool:  # type: ignore[no-untyped-def]
    """Post `first` and keep its transaction open; meanwhile (after `between`) another connection posts `second`
    to the same accounts with a 3 s lock timeout. Whether the second committed before the first did."""
    done: list[str] = []
    with db.engine.connect() as held:
        tx = held.begin()
        ledger.post_entry(held, EntryRequest(first, (dr("slot_bank", 10), cr("slot_fees", 10))))
        if between is not None:
            between()

        def post() -> None:
            with db.engine.connect() as c, c.begin():
                c.execute(text("SET LOCAL lock_timeout = '3s'"))
                done.append(
                    ledger.post_entry(c, EntryRequest(second, (dr("slot_bank", 20), cr("slot_fees", 20)))).id
                )

        t = threading.Thread(target=post)
        t.start()
        t.join(10)
        tx.commit()
    return len(done) == 1


@pytest.mark.pg
def test_concurrent_postings_to_one_account_do_not_wait_for_each_other(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    _open(db)
    with db.tx() as c:  # the process learns that neither account has a guard
        ledger.post_entry(c, EntryRequest("w0", (dr("slot_bank", 1), cr("slot_fees", 1))))
    assert _posts_while_another_holds(db, "w1", "w2")  # it committed before the first one did
    with db.tx() as c:
        assert ledger.get_balance(c, "slot_fees").posted_fen == 31
        assert ledger.verify(c) == []


@pytest.mark.pg
def test_a_process_new_to_the_accounts_does_not_lock_them_for_update(db: Database) -> None:
    """A freshly started process knows no account's guard yet: it reads the guards without a lock first, so its
    first postings share-lock the platform's accounts like every later one, instead of locking them FOR UPDATE
    and queueing every other posting behind them (what a web process's first seconds under load used to do)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    from zhifu.ledger import service as ledger_service

    _open(db)
    # the second posting comes from a process that has not posted yet: it did not wait for the first transaction
    assert _posts_while_another_holds(db, "n1", "n2", between=ledger_service._GUARDED.clear)
    assert ledger_service._GUARDED.get("slot_bank") is False
    with db.tx() as c:  # a guarded account is still locked FOR UPDATE and checked
        ledger.post_entry(c, EntryRequest("n3", (dr("slot_bank", 5), cr("slot_guarded", 5))))
        assert ledger.get_balance(c, "slot_guarded").available_fen == 5
        assert ledger.verify(c) == []


def test_merchant_day_totals_sum_the_slots_of_each_day(db: Database) -> None:
    from zhifu.incentives.models import merchant_days

    with db.tx() as c:
        c.execute(
            merchant_days.insert(),
            [
                {"merchant_id": "mch_s", "day": "2026-12-06", "slot": 3, "payments": 2, "amount_fen": 500},
                {"merchant_id": "mch_s", "day": "2026-12-06", "slot": 40, "payments": 1, "amount_fen": 70},
                {"merchant_id": "mch_s", "day": "2026-12-07", "slot": 0, "payments": 4, "amount_fen": 9},
                {"merchant_id": "mch_t", "day": "2026-12-06", "slot": 3, "payments": 9, "amount_fen": 9},
            ],
        )
    with db.tx() as c:
        assert incentives.merchant_day_totals(c, "mch_s") == [("2026-12-06", 3, 570), ("2026-12-07", 4, 9)]
