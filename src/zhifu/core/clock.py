"""One clock for the whole process; tests and the simulator set it."""

from __future__ import annotations

import abc
import datetime as dt
import threading
from zoneinfo import ZoneInfo

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(abc.ABC):
    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""


class SystemClock(Clock):
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock(Clock):
    """A clock that stands still until told to move; thread-safe."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._at

    def set(self, at: dt.datetime) -> None:
        with self._lock:
            self._at = at.astimezone(UTC)

    def advance(self, **kwargs: float) -> dt.datetime:
        with self._lock:
            self._at += dt.timedelta(**kwargs)
            return self._at


_clock: Clock = SystemClock()


def clock() -> Clock:
    return _clock


def set_clock(new: Clock) -> Clock:
    """Install `new` and return the previous clock, so callers can put it back."""
    global _clock
    old, _clock = _clock, new
    return old


def now() -> dt.datetime:
    return _clock.now()


def to_shanghai(at: dt.datetime) -> dt.datetime:
    return at.astimezone(SHANGHAI)
