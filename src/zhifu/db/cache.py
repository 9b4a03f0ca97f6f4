"""配置类数据的进程内缓存 / A process's cache of slowly changing settings read on every payment (fee terms,
active campaigns, webhook endpoints), one per database.

Invalidation: a change made through the owning service drops the cache at once and again after its commit (a
reader that loaded the old rows while the change was not yet committed cannot keep them); a change made by
another process (another web process, a CLI command) is seen within TTL_S, after which the next reader loads
again. A transaction that changed the data reads it from the database until it ends (its own, uncommitted rows).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from zhifu.db.engine import after_commit

T = TypeVar("T")
TTL_S = 5.0  # a change made by another process reaches this one within this many seconds


class EngineCache(Generic[T]):
    """One value per database engine, loaded by `load(conn)` and kept for TTL_S."""

    def __init__(self, load: Callable[[Connection], T], ttl_s: float = TTL_S) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._values: weakref.WeakKeyDictionary[Engine, tuple[float, T]] = weakref.WeakKeyDictionary()
        self._dirty: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.loads = 0  # how many times the value was read from a database (tests look)

    def get(self, conn: Connection) -> T:
        if conn in self._dirty:
            self.loads += 1
            return self._load(conn)
        engine = conn.engine
        now = time.monotonic()
        hit = self._values.get(engine)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        self.loads += 1
        value = self._load(conn)
        with self._lock:
            self._values[engine] = (now, value)
        return value

    def changed_in(self, conn: Connection) -> bool:
        """Whether this transaction changed the data (it then reads its own rows, never the cache)."""
        return conn in self._dirty

    def invalidate(self, conn: Connection) -> None:
        """The data changed in this transaction: forget it now and once more after the commit."""
        self._dirty.add(conn)
        self.drop(conn.engine)
        try:
            after_commit(conn, lambda db: self.drop(db.engine))
        except (
            RuntimeError
        ):  # a transaction not begun by Database.tx/run: dropped now, and the TTL bounds the rest
            pass

    def drop(self, engine: Engine) -> None:
        with self._lock:
            self._values.pop(engine, None)
