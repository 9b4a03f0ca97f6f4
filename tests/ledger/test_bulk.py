"""Bulk posting of history: the same rows and balances as post_entries, and every bad entry refused before
anything is written, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from zhifu import ledger
from zhifu.db import Database
from zhifu.ledger import BulkEntry, EntryRequest, cr, dr
from zhifu.ledger.models import accounts, entries, postings

T0 = dt.datetime(2021, 3, 4, 5, 6, 7, 890_123, tzinfo=dt.UTC)
SALE = (dr("bank", 10_000), cr("merchant_payable:m1", 9_962), cr("fee_income", 38))


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


def _book(db: Database) -> dict[str, Any]:
    """Everything the ledger stores, in the driver's own text where it has one, ids aside."""
    with db.tx() as c:
        ents = sorted(
            (r.idempotency_key, r.content_hash, r.description, str(r.created_at))
            for r in c.execute(select(entries))
        )
        posts = sorted(
            (r.account_code, r.side, r.amount_fen, r.currency, str(r.created_at))
            for r in c.execute(select(postings))
        )
        balances = {
            code: ledger.get_balance(c, code).posted_fen
            for code in c.execute(select(accounts.c.code)).scalars()
        }
        assert ledger.verify(c) == []
    return {"entries": ents, "postings": posts, "balances": balances}


def _history() -> list[BulkEntry]:
    return [
        BulkEntry("sale:1", SALE, "sale 1", T0),
        BulkEntry("sale:2", SALE, "sale 2", T0 + dt.timedelta(seconds=1)),  # the same legs again
        BulkEntry(
            "refund:1",
            (dr("merchant_payable:m1", 4_000), cr("bank", 4_000)),
            "refund 1",
            (T0 + dt.timedelta(hours=3)).astimezone(dt.timezone(dt.timedelta(hours=8))),
        ),
    ]


def test_bulk_leaves_what_post_entries_leaves(db: Database, tmp_path: Any) -> None:
    _setup(db)
    with db.tx() as c:
        ids = ledger.post_bulk(c, _history())
    assert len(set(ids)) == 3 and all(i.startswith("je_") and len(i) == 29 for i in ids)
    bulk = _book(db)
    with db.tx() as c:
        for e in _history():
            ledger.post_entries(
                c, [EntryRequest(e.idempotency_key + ":one", e.legs, e.description)], ats=[e.at]
            )
    both = _book(db)
    one = [e for e in both["entries"] if e[0].endswith(":one")]
    assert [(k.removesuffix(":one"), *rest) for k, *rest in one] == bulk["entries"]
    assert sorted(both["postings"]) == sorted(bulk["postings"] * 2)
    assert bulk["balances"] == {
        "bank": 16_000,
        "merchant_payable:m1": 15_924,
        "fee_income": 76,
        "usd_cash": 0,
    }
    assert both["balances"] == {code: 2 * v for code, v in bulk["balances"].items()}


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        ((dr("bank", 10_000), cr("merchant_payable:m1", 9_962)), ledger.UnbalancedEntry, "does not balance"),
        ((dr("bank", 0), cr("fee_income", 0)), ledger.InvalidLegAmount, "positive integer"),
        ((dr("bank", 5),), ledger.UnbalancedEntry, "2–64 legs"),
        ((dr("usd_cash", 5), cr("fee_income", 5)), ledger.CurrencyMismatch, "usd_cash"),
        ((dr("nobody", 5), cr("fee_income", 5)), ledger.UnknownAccount, "nobody"),
        ((dr("merchant_payable:m1", 20_000), cr("bank", 20_000)), ledger.Overdraft, "overdraw"),
    ],
)
def test_bulk_refuses_a_bad_entry_and_writes_nothing(
    db: Database, bad: tuple[ledger.Leg, ...], error: type[Exception], words: str
) -> None:
    _setup(db)
    history = _history()
    history.insert(2, BulkEntry("bad", bad, "bad", T0 + dt.timedelta(seconds=2)))
    with pytest.raises(error) as info, db.tx() as c:
        ledger.post_bulk(c, history)
    assert words in str(info.value)
    assert _book(db) == {
        "entries": [],
        "postings": [],
        "balances": {"bank": 0, "merchant_payable:m1": 0, "fee_income": 0, "usd_cash": 0},
    }


def test_bulk_refuses_a_key_used_twice_or_already_posted_and_a_naive_time(db: Database) -> None:
    _setup(db)
    twice = [*_history(), BulkEntry("sale:1", SALE, "again", T0)]
    with pytest.raises(ledger.IdempotencyConflict) as info, db.tx() as c:
        ledger.post_bulk(c, twice)
    assert "repeats" in str(info.value)
    with pytest.raises(ledger.LedgerError) as naive, db.tx() as c:
        ledger.post_bulk(c, [BulkEntry("sale:1", SALE, "", T0.replace(tzinfo=None))])
    assert naive.value.param == "at"
    with db.tx() as c:
        ledger.post_entry(c, EntryRequest("sale:2", SALE), at=T0)
    with pytest.raises(ledger.IdempotencyConflict) as posted, db.tx() as c:
        ledger.post_bulk(c, _history())
    assert "already posted" in str(posted.value)
    book = _book(db)
    assert [e[0] for e in book["entries"]] == ["sale:2"] and book["balances"]["bank"] == 10_000


@pytest.mark.parametrize(
    "legs",
    [
        SALE,
        (dr("bank", 1), cr("fee_income", 1)),
        (cr("fee_income", 38), dr("bank", 10_000), cr("merchant_payable:m1", 9_962)),  # another order
        (
            dr("bank", 5),
            cr("fee_income", 5),
            dr("usd_cash", 7, "USD"),
            cr("usd_cash", 7, "USD"),
        ),  # two currencies
    ],
)
def test_bulk_hashes_what_post_entries_hashes(legs: tuple[ledger.Leg, ...]) -> None:
    """The bulk path checks and hashes the legs it knows in one pass of its own; the hash is _check_entry's."""
    from zhifu.ledger.bulk import _checked
    from zhifu.ledger.service import _check_entry

    content, values = _checked("k", legs)
    assert content == _check_entry(EntryRequest("k", legs))
    assert values == [(g.account, g.side, g.amount_fen, g.currency) for g in legs]


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        ((dr("bank", True), cr("fee_income", 1)), ledger.InvalidLegAmount),
        ((dr("bank", 5), ledger.Leg("fee_income", "X", 5)), ledger.LedgerError),
        ((dr("bank", 5), cr("usd_cash", 5, "USD")), ledger.UnbalancedEntry),
        ((dr("bank", 5), cr("fee_income", 4)), ledger.UnbalancedEntry),
    ],
)
def test_bulk_refuses_what_post_entries_refuses(legs: tuple[ledger.Leg, ...], error: type[Exception]) -> None:
    from zhifu.ledger.bulk import _checked

    with pytest.raises(error):
        _checked("k", legs)
