"""Counter slots: which of a hot counter's rows a database connection adds to.

A counter that many transactions add to at once (a platform account's balance, a busy merchant's day) is kept in
several rows, its slots, and read as their sum. Each connection adds to its own slot, so two transactions at the
same time add to different rows: a process numbers its live connections from 0 up, the lowest number free (a
closed connection gives its number back), and adds a random offset drawn once per process, so that the
connections of several web processes mostly fall on different slots too. SQLite has one writer at a time: its
connections are simply numbered in turn."""

from __future__ import annotations

import itertools
import random
import threading
import weakref

from sqlalchemy import Connection

SLOT_COUNT_MAX = 64  # the most slots a counter keeps: a read sums this many rows at most

_INFO_KEY = "zhifu_slot_number"  # kept with the pooled connection, for as long as it lives
_offset = random.randrange(SLOT_COUNT_MAX)
_lock = threading.Lock()
_taken: set[int] = set()
# numbers of closed connections: appended by their finalizer (which may run in any thread, at any allocation,
# even while _lock is held), taken back under the lock
_given_back: list[int] = []
_in_turn = itertools.count()


def connection_slot(conn: Connection, slots: int) -> int:
    """This connection's slot among `slots` (0 ≤ slot < slots ≤ SLOT_COUNT_MAX)."""
    assert 0 < slots <= SLOT_COUNT_MAX
    number = conn.info.get(_INFO_KEY)
    if number is None:
        if conn.dialect.name == "sqlite":
            number = next(_in_turn)
        else:
            number = _take_number(conn.connection.dbapi_connection)
        conn.info[_INFO_KEY] = number
    slot = (int(number) + _offset) % slots
    assert 0 <= slot < slots
    return slot


def _take_number(dbapi_connection: object) -> int:
    with _lock:
        while _given_back:
            _taken.discard(_given_back.pop())
        number = next(n for n in range(len(_taken) + 1) if n not in _taken)
        _taken.add(number)
    weakref.finalize(dbapi_connection, _given_back.append, number)
    return number
