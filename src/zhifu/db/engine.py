"""Engines (SQLite in WAL mode with foreign keys; PostgreSQL through psycopg 3) and the transaction helper."""

from __future__ import annotations

import contextlib
import contextvars
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 10_000
RETRIES_MAX = 8  # deadlocks and serialisation failures are retried this many times, then raised
GROUP_COMMIT_MAX = 64  # on SQLite, at most this many requests' work is committed in one transaction


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them to psycopg 3."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Every use goes through begin(), which ends in COMMIT or ROLLBACK: no reset needed on return.
        engine = create_engine(
            url,
            echo=echo,
            pool_reset_on_return=None,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    # No pre-ping (a round trip per transaction); stale connections are recycled and failures retried instead.
    return create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=1800)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # Writers take the lock at BEGIN, so two writers never deadlock half-way through; readers don't need it.
        read_only = conn.get_execution_options().get("zhifu_read_only", False)
        conn.connection.dbapi_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _retryable(exc: BaseException) -> bool:
    """Deadlocks, serialisation failures and a locked SQLite file, whether SQLAlchemy wrapped them or the driver
    raised them directly (the ledger's posting path uses driver cursors)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlstate", None) in ("40P01", "40001"):  # deadlock_detected, serialization_failure
        return True
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


_DB_KEY = "zhifu_db"
_HOOKS_KEY = "zhifu_after_commit"


# What runs after a commit: it gets the database to open its own transactions with; what it returns is ignored.
AfterCommit = Callable[["Database"], object]
_Hook = tuple["Database", AfterCommit]


def after_commit(conn: Connection, fn: AfterCommit) -> None:
    """Run fn(database) once this connection's transaction has committed, outside it (no network call inside a
    database transaction). If the transaction rolls back, fn never runs; what fn returns is ignored."""
    hooks = conn.info.get(_HOOKS_KEY)
    if hooks is None:
        raise RuntimeError("after_commit needs a transaction begun by Database.tx or Database.run")
    hooks.append((conn.info[_DB_KEY], fn))


def _begin(db: Database, conn: Connection) -> list[_Hook]:
    conn.info[_DB_KEY] = db
    conn.info[_HOOKS_KEY] = hooks = []
    return hooks


def _end(conn: Connection) -> None:
    conn.info.pop(_DB_KEY, None)
    conn.info.pop(_HOOKS_KEY, None)


def _run_hooks(hooks: list[_Hook]) -> None:
    while hooks:
        db, fn = hooks.pop(0)
        fn(db)


class _Work:
    """One request's work handed to the group commit, and what became of it."""

    __slots__ = ("fn", "ctx", "done", "result", "error", "hooks", "woken")

    def __init__(self, fn: Callable[[Connection], Any]) -> None:
        self.fn = fn
        # the work runs in the submitter's context, whichever thread runs it
        self.ctx = contextvars.copy_context()
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.hooks: list[_Hook] = []
        self.woken = (
            threading.Event()
        )  # set when the work is done, or when its thread is to lead the next batch


class _GroupCommit:
    """SQLite's group commit: the writers of this process hand their work to one of them (the leader), which runs
    everything queued in one BEGIN IMMEDIATE, each request's work in a SAVEPOINT of its own (a request that fails
    rolls back to its savepoint; the others in the batch go on), and commits once. Each request is answered only
    after the COMMIT that holds its work has returned; its after-commit hooks then run in its own thread, outside
    the transaction. A batch of one runs without a savepoint, exactly as a plain transaction. While a leader
    commits, the next requests queue; when it is done it wakes the first of them to lead the next batch (each
    waiting thread is woken once, never all of them at every commit)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lock = threading.Lock()
        self.queue: list[_Work] = []
        self.leading = False
        self.batches = 0  # transactions committed (or rolled back) by the group, and the requests in them
        self.requests = 0

    def submit(self, fn: Callable[[Connection], Any]) -> _Work:
        w = _Work(fn)
        with self.lock:
            self.queue.append(w)
            follow = self.leading
            self.leading = True
        if follow:
            w.woken.wait()
            if w.done:
                return w
            # woken undone: this thread leads now
        try:
            while not w.done:
                with self.lock:
                    batch = self.queue[:GROUP_COMMIT_MAX]
                    del self.queue[:GROUP_COMMIT_MAX]
                self._run(batch)
                for b in batch:
                    b.done = True
                    if b is not w:
                        b.woken.set()
        finally:
            with self.lock:
                if self.queue:
                    self.queue[0].woken.set()  # leadership passes on; `leading` stays set
                else:
                    self.leading = False
        return w

    def _run(self, batch: list[_Work]) -> None:
        self.batches += 1
        self.requests += len(batch)
        db = self.db
        try:
            with db._writer, db._holding(), db.engine.begin() as conn:
                conn.info[_DB_KEY] = db
                try:
                    for w in batch:
                        hooks: list[_Hook] = []
                        conn.info[_HOOKS_KEY] = hooks
                        if len(batch) == 1:
                            try:
                                w.result = w.ctx.run(w.fn, conn)
                            except BaseException as exc:
                                w.error = exc
                                raise  # the whole (one-request) transaction rolls back
                        else:
                            savepoint = conn.begin_nested()
                            try:
                                w.result = w.ctx.run(w.fn, conn)
                            except BaseException as exc:
                                w.error = exc
                                savepoint.rollback()  # this request's work only
                                continue
                            savepoint.commit()
                        w.hooks = hooks
                finally:
                    _end(conn)
        except BaseException as exc:  # BEGIN or COMMIT failed, or the one request did: nothing of it stands
            for w in batch:
                w.hooks = []
                if w.error is None:
                    w.error = exc


def _group_commit_wanted() -> bool:
    return os.environ.get("ZHIFU_GROUP_COMMIT", "1") not in ("0", "false", "no")


class Database:
    """An engine plus the one way to run work in a transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, echo=echo)
        # SQLite has one writer at a time. Writers of this process queue on a lock instead of on SQLite's busy
        # handler, whose growing sleeps make a long tail; other processes still wait on busy_timeout.
        self._writer = threading.RLock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._local = threading.local()
        # On SQLite, run() hands its work to the group commit (one writer commits many requests together). On
        # PostgreSQL every request keeps its own connection and transaction: the server already flushes the WAL
        # once for all the commits waiting at that moment (its own group commit), and rows locked by one request
        # would make a batch wait on another.
        self.group = _GroupCommit(self) if self.is_sqlite and _group_commit_wanted() else None

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        """Marks this thread as inside a write transaction of this database (nested work runs directly)."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction: commits on success, rolls back on error; then runs what the work asked to run after
        its commit (calls to the rails), outside the transaction and the write lock."""
        with self._writer, self._holding(), self.engine.begin() as conn:
            hooks = _begin(self, conn)
            try:
                yield conn
            finally:
                _end(conn)
        _run_hooks(hooks)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite it does not take the write lock."""
        with self.engine.connect().execution_options(zhifu_read_only=True) as conn, conn.begin():
            yield conn

    def run(self, fn: Callable[[Connection], T], *, retries: int = RETRIES_MAX) -> T:
        """Run fn in a transaction, retrying deadlocks and serialisation failures with jittered backoff. On SQLite
        the transaction may hold other requests' work too (group commit); fn's work is in it or not, alone."""
        attempt = 0
        while True:
            try:
                if self.group is not None and not getattr(self._local, "depth", 0):
                    w = self.group.submit(fn)
                    if w.error is not None:
                        raise w.error
                    result, hooks = w.result, w.hooks
                else:
                    with self._writer, self._holding(), self.engine.begin() as conn:
                        hooks = _begin(self, conn)
                        try:
                            result = fn(conn)
                        finally:
                            _end(conn)
                _run_hooks(hooks)
                return result
            except (DBAPIError, sqlite3.Error, psycopg.Error) as exc:
                attempt += 1
                if attempt > retries or not _retryable(exc):
                    raise
                time.sleep(min(0.2, 0.002 * 2**attempt) * random.random())

    def dispose(self) -> None:
        self.engine.dispose()
