"""Two workers never run one job at once (job leases), and two webhook dispatchers never send one delivery twice
(FOR UPDATE SKIP LOCKED and a lease on each delivery); both backends."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time

import httpx
import pytest

from zhifu import jobs, webhooks
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.workers import Workers

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _second_process(db: Database) -> Database:
    """Another process's view of the same database: its own engine and pool, nothing shared in memory."""
    return Database(db.url)


def test_a_held_lease_keeps_a_second_worker_out_until_released_or_expired(db: Database) -> None:
    assert jobs.claim(db, "sweeper", holder="a", ttl_s=60, at=T0)
    assert not jobs.claim(db, "sweeper", holder="b", ttl_s=60, at=T0 + dt.timedelta(seconds=59))
    assert jobs.claim(
        db, "sweeper", holder="a", ttl_s=60, at=T0 + dt.timedelta(seconds=30)
    )  # renewal by its holder
    assert jobs.claim(db, "webhooks", holder="b", ttl_s=60, at=T0)  # another job is free
    # the holder died: past its expiry the lease is free
    assert jobs.claim(db, "sweeper", holder="b", ttl_s=60, at=T0 + dt.timedelta(seconds=91))
    jobs.release(db, "sweeper", holder="a")  # a late release by the old holder changes nothing
    assert not jobs.claim(db, "sweeper", holder="a", ttl_s=60, at=T0 + dt.timedelta(seconds=92))
    with db.read() as c:
        held = {r["name"]: r["holder"] for r in jobs.leases(c)}
    assert held == {"sweeper": "b", "webhooks": "b"}


def test_two_worker_processes_never_run_a_job_at_once(db: Database) -> None:
    other = _second_process(db)
    inside, most, ran = [0], [0], collections.Counter()
    guard = threading.Lock()

    def one_pass(who: str) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        with guard:
            inside[0] -= 1
            ran[who] += 1

    skipped = collections.Counter()

    def worker(database: Database, who: str) -> None:
        for _ in range(15):
            if not jobs.run_leased(database, "kpi", lambda: one_pass(who), holder=who)[0]:
                skipped[who] += 1

    threads = [
        threading.Thread(target=worker, args=(d, w)) for d, w in ((db, "w1"), (other, "w2"), (db, "w3"))
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.dispose()
    assert most[0] == 1, "two workers ran the same job at the same time"
    assert sum(ran.values()) + sum(skipped.values()) == 45 and sum(ran.values()) >= 1
    with db.read() as c:
        (lease,) = jobs.leases(c)
    assert lease["runs"] == sum(ran.values())


def test_a_worker_skips_the_duties_another_worker_holds(db: Database) -> None:
    workers = Workers(db)
    names = [name for name, _, _ in workers.duties()]
    assert {"sweeper", "webhooks", "kpi", "audit", "risk"} <= set(names)
    for name in names:
        assert jobs.claim(db, name, holder="the-other-worker", ttl_s=600)
    assert workers.run_once() == []


@pytest.fixture
def private_hooks(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_WEBHOOK_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_two_dispatchers_deliver_each_event_once(platform, private_hooks) -> None:  # type: ignore[no-untyped-def]
    db: Database = platform.db
    mid, _ = platform.merchant()
    with db.tx() as c:
        webhooks.create_endpoint(c, mid, "http://127.0.0.1:9/a", ["*"])
        webhooks.create_endpoint(c, mid, "http://127.0.0.1:9/b", ["*"])
        ids = [webhooks.emit(c, mid, "payment.succeeded", {"id": f"pay_{i}"}) for i in range(40)]
    got: collections.Counter[tuple[str, str]] = collections.Counter()
    seen = threading.Lock()

    def receive(request: httpx.Request) -> httpx.Response:
        time.sleep(0.002)
        with seen:
            got[(request.url.path, request.headers["Zhifu-Event-Id"])] += 1
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(receive))
    other = _second_process(db)
    try:
        threads = [
            threading.Thread(target=webhooks.dispatch_due, args=(d,), kwargs={"client": client})
            for d in (db, other, db, other)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        webhooks.dispatch_due(db, client=client)  # whatever the races left for a later pass
    finally:
        other.dispose()
    assert set(got) == {(path, e) for path in ("/a", "/b") for e in ids}
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1][:5]
