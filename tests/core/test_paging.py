"""Cursor pages: newest id first, `starting_after` continues where a page stopped, `has_more` says so."""

from __future__ import annotations

import datetime as dt

from zhifu import ledger
from zhifu.core.paging import PAGE_MAX, cursor_page, page_limit
from zhifu.db import Database
from zhifu.ledger.models import entries


def test_page_limit_keeps_within_bounds() -> None:
    assert page_limit(0) == 1
    assert page_limit(-5) == 1
    assert page_limit(20) == 20
    assert page_limit(10_000) == PAGE_MAX
    assert page_limit(500, page_max=200) == 200


def test_cursor_page_walks_newest_first(db: Database) -> None:
    at = dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC)
    with db.tx() as c:
        ledger.open_accounts(c, [("bank", "asset", "CNY", False), ("fee_income", "income", "CNY", False)])
        for k in range(5):
            ledger.transfer(
                c, f"paging:{k}", "bank", "fee_income", 100 + k, f"entry {k}", at=at + dt.timedelta(seconds=k)
            )
    with db.read() as c:
        every = [r.id for r in c.execute(entries.select().order_by(entries.c.id.desc()))]
        first, more = cursor_page(c, entries, [], limit=2, starting_after=None, public=lambda r: r.id)
        assert (first, more) == (every[:2], True)
        rest, more = cursor_page(c, entries, [], limit=10, starting_after=first[-1], public=lambda r: r.id)
        assert (rest, more) == (every[2:], False)
        one, more = cursor_page(
            c,
            entries,
            [entries.c.description == "entry 3"],
            limit=10,
            starting_after=None,
            public=lambda r: r.description,
        )
        assert (one, more) == (["entry 3"], False)
