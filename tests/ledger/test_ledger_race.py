"""Concurrent posters never overdraw a no_overdraft account on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from zhifu import ledger
from zhifu.db import Database


@pytest.mark.pg
def test_race_eight_workers_exactly_1000_succeed(pg_url: str) -> None:
    from tests.conftest import truncate_all

    db = Database(pg_url)
    truncate_all(db)
    with db.tx() as c:
        ledger.open_accounts(
            c,
            [
                ("source", "liability", "CNY", True),
                ("funding", "asset", "CNY", False),
                ("sink", "liability", "CNY", False),
            ],
        )
        ledger.transfer(c, "fund", "funding", "source", 1_000)
    ok = [0] * 8
    over = [0] * 8

    def worker(w: int) -> None:
        for i in range(250):
            try:
                db.run(lambda c, w=w, i=i: ledger.transfer(c, f"t{w}-{i}", "source", "sink", 1))
                ok[w] += 1
            except ledger.Overdraft:
                over[w] += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.tx() as c:
        assert ledger.get_balance(c, "source").posted_fen == 0
        assert ledger.get_balance(c, "sink").posted_fen == 1_000
        assert ledger.verify(c) == []
    assert sum(ok) == 1_000 and sum(over) == 1_000
    db.dispose()
