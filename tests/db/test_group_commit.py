"""SQLite's group commit: many requests' work in one transaction, each in a savepoint of its own; a request that
fails takes nothing of the others with it; each is answered only after the commit that holds its work; its
after-commit hooks run only if its work stood."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time

import pytest

from zhifu.db import Database
from zhifu.db.engine import after_commit

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="")


@pytest.fixture
def gdb(tmp_path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path}/gc.db")
    assert database.group is not None
    with database.tx() as c:
        c.exec_driver_sql("CREATE TABLE probe (k TEXT PRIMARY KEY, who TEXT)")
    try:
        yield database
    finally:
        database.dispose()


def _committed(path: str) -> set[str]:
    """What another connection (another process would see the same) finds committed."""
    with sqlite3.connect(path) as raw:
        return {k for (k,) in raw.execute("SELECT k FROM probe")}


def test_one_failure_in_a_batch_leaves_the_others(gdb: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = f"{tmp_path}/gc.db"
    n = 8
    release = threading.Event()
    results: dict[str, object] = {}
    hooks_ran: dict[str, set[str]] = {}

    def first(c):  # type: ignore[no-untyped-def]
        c.exec_driver_sql("INSERT INTO probe VALUES ('first', 'first')")
        release.wait(10)  # the others queue behind this transaction meanwhile
        return "first"

    def work(i: int):  # type: ignore[no-untyped-def]
        def fn(c):  # type: ignore[no-untyped-def]
            c.exec_driver_sql(f"INSERT INTO probe VALUES ('k{i}', '{WHO.get()}')")
            # the hook sees its own row committed: the answer comes after the commit
            after_commit(c, lambda _db: hooks_ran.setdefault(f"k{i}", _committed(path)))
            if i == 3:
                c.exec_driver_sql("INSERT INTO probe VALUES ('k0', 'a duplicate')")  # fails: taken by k0
            if i == 5:
                raise ValueError("bad input in request 5")
            return f"k{i}"

        return fn

    def call(i: int) -> None:
        WHO.set(f"thread {i}")
        try:
            results[f"k{i}"] = gdb.run(work(i))
            assert f"k{i}" in _committed(path)  # answered only once its work is committed
        except Exception as exc:  # noqa: BLE001 - the test looks at what each request got
            results[f"k{i}"] = exc

    lead = threading.Thread(target=lambda: results.setdefault("first", gdb.run(first)))
    lead.start()
    while not gdb.group or not gdb.group.leading:
        time.sleep(0.001)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(gdb.group.queue) < n and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(gdb.group.queue) == n  # all eight wait for the one transaction in flight
    release.set()
    lead.join()
    for t in threads:
        t.join()

    assert (gdb.group.batches, gdb.group.requests) == (2, n + 1)  # the eight went in one transaction
    assert results["first"] == "first"
    assert isinstance(results["k3"], Exception) and "UNIQUE" in str(results["k3"])
    assert isinstance(results["k5"], ValueError)
    good = {f"k{i}" for i in range(n)} - {"k3", "k5"}
    assert {k for k in good if results[k] == k} == good
    assert _committed(path) == good | {"first"}
    assert set(hooks_ran) == good  # the failed requests' hooks never ran
    assert all(k in seen for k, seen in hooks_ran.items())
    with sqlite3.connect(
        path
    ) as raw:  # each request ran in its own context, on the leader's thread or its own
        who = dict(raw.execute("SELECT k, who FROM probe WHERE k != 'first'"))
    assert who == {k: f"thread {k[1:]}" for k in good}


def test_a_batch_of_one_is_a_plain_transaction(gdb: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def fails(c):  # type: ignore[no-untyped-def]
        c.exec_driver_sql("INSERT INTO probe VALUES ('x', '')")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        gdb.run(fails)
    assert gdb.run(lambda c: c.exec_driver_sql("INSERT INTO probe VALUES ('y', '')").rowcount) == 1
    assert _committed(f"{tmp_path}/gc.db") == {"y"}
    assert gdb.group is not None and (gdb.group.batches, gdb.group.requests) == (2, 2)


def test_tx_is_not_queued(gdb: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A transaction the caller holds open (tx) runs in its own thread under the same writer lock."""
    with gdb.tx() as c:
        c.exec_driver_sql("INSERT INTO probe VALUES ('tx', '')")
    assert gdb.group is not None and gdb.group.requests == 0
    assert _committed(f"{tmp_path}/gc.db") == {"tx"}


def test_switched_off(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_GROUP_COMMIT", "0")
    database = Database(f"sqlite:///{tmp_path}/off.db")
    try:
        assert database.group is None
        assert database.run(lambda c: c.exec_driver_sql("SELECT 1").scalar_one()) == 1
    finally:
        database.dispose()
