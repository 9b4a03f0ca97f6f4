"""事件 / In-process payment events: typed facts a capability publishes and others subscribe to, so a capability
reacts to another's money movement without importing it.

A subscriber runs synchronously inside the publisher's transaction: what it writes commits or rolls back with the
payment. Each event type has one publisher, which also gives its events back (the payments table is the log of
`PaymentSucceeded`): in order, so a reader that runs behind — risk's monitor — replays them past its own cursor, and
by id, so a case shows the payments its alerts name. The wiring
is declared by each capability's `zhifu.<cap>.events` module (`PUBLISHES`, `SUBSCRIBES`) and installed at start-up
by `zhifu.plugins.load_events`; publishing before that is an error, never a silently skipped subscriber.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import Connection

E = TypeVar("E")

Position = tuple[dt.datetime, str]
"""Where a reader of a history stands: the (time, id) of the last event it has read."""


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentSucceeded:
    """A payment has succeeded: its fee is fixed and its ledger entry is posted in the same transaction."""

    id: str  # the payment's id (`pay_…`)
    merchant_id: str
    merchant_order_no: str
    amount_fen: int
    fee_fen: int
    channel: str
    payer_ref: str | None
    card_type: str | None
    metadata: Mapping[str, Any] | None  # the merchant's metadata (a bill payment carries its biller here)
    at: dt.datetime  # when it succeeded (the payment's succeeded_at)


EVENT_TYPES: Final[tuple[type, ...]] = (PaymentSucceeded,)

Handler = Callable[[Connection, Any], None]
History = Callable[[Connection, Position | None, dt.datetime | None, int], list[Any]]
ByIds = Callable[[Connection, Sequence[str]], list[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """How the publisher of an event type gives it back: in (time, id) order past a position, and by ids."""

    history: History
    by_ids: ByIds


class EventsNotLoaded(RuntimeError):
    """An event was published or read before `zhifu.plugins.load_events` installed the wiring."""


@dataclasses.dataclass(frozen=True)
class _Wiring:
    subscribers: dict[type, tuple[Handler, ...]]
    sources: dict[type, Source]


_wiring: _Wiring | None = None


def install(
    publishes: Iterable[tuple[str, Mapping[type, Source]]],
    subscribes: Iterable[tuple[str, Iterable[tuple[type, Handler]]]],
) -> None:
    """Replace the wiring (called by `zhifu.plugins.load_events`; calling it again is harmless). Each source is
    named by its module, so a bad declaration is named at start-up. Every event type needs exactly one publisher."""
    sources: dict[type, Source] = {}
    owners: dict[type, str] = {}
    for module, declared in publishes:
        for kind, source in declared.items():
            if kind not in EVENT_TYPES:
                raise TypeError(
                    f"{module} publishes {kind!r}, which is not an event type of zhifu.core.events"
                )
            if kind in owners:
                raise ValueError(f"{kind.__name__} is published by both {owners[kind]} and {module}")
            owners[kind] = module
            sources[kind] = source
    unowned = [k.__name__ for k in EVENT_TYPES if k not in owners]
    if unowned:
        raise LookupError(f"no capability publishes {', '.join(unowned)} (zhifu.<cap>.events PUBLISHES)")
    subscribers: dict[type, list[Handler]] = {k: [] for k in EVENT_TYPES}
    for module, pairs in subscribes:
        for kind, handler in pairs:
            if kind not in subscribers:
                raise TypeError(
                    f"{module} subscribes to {kind!r}, which is not an event type of zhifu.core.events"
                )
            subscribers[kind].append(handler)
    global _wiring
    _wiring = _Wiring({k: tuple(v) for k, v in subscribers.items()}, sources)


def _installed() -> _Wiring:
    if _wiring is None:
        raise EventsNotLoaded(
            "payment events are not wired: call zhifu.plugins.load_events() at start-up "
            "(the web app, the CLI and the shared schema do)"
        )
    return _wiring


def publish(conn: Connection, event: object) -> None:
    """Call every subscriber of the event's type, in order, in the caller's transaction (an error in one aborts
    the transaction, as any other error on the payment path does)."""
    for handler in _installed().subscribers[type(event)]:
        handler(conn, event)


def history(
    kind: type[E], conn: Connection, after: Position | None, until: dt.datetime | None, limit: int
) -> list[E]:
    """Up to `limit` events of `kind` in (time, id) order: those past `after`, up to `until` (inclusive)."""
    return _installed().sources[kind].history(conn, after, until, limit)


def find(kind: type[E], conn: Connection, ids: Sequence[str]) -> list[E]:
    """The events of `kind` with these ids (of the payments they name), in id order; unknown ids are left out."""
    return _installed().sources[kind].by_ids(conn, ids) if ids else []


def subscribers(kind: type) -> tuple[Handler, ...]:
    """The handlers now subscribed to `kind`, in the order they run."""
    return _installed().subscribers[kind]
