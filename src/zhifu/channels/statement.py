"""The typed row every statement format reads and writes, its error, and the business-day rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

# The business-day rule is core's (one cut-off for every capability); re-exported for the statement formats.
from zhifu.core import business_day
from zhifu.core.business_day import CUTOFF_HOUR as CUTOFF_HOUR
from zhifu.core.business_day import window as window
from zhifu.core.clock import SHANGHAI as SHANGHAI
from zhifu.core.clock import UTC as UTC
from zhifu.core.errors import InvalidRequest

business_date_of = business_day.business_date
TXN_TYPES = frozenset({"payment", "refund"})
STATUSES = frozenset({"succeeded", "failed", "refunded", "processing", "closed"})
LINES_MAX = 5_000_000  # one channel-day of one county stays far below this; more is a wrong file


class StatementFormatError(InvalidRequest):
    """A statement file refused as a whole; the message names the line and the field."""

    code = "statement_format"

    def __init__(self, reason: str, *, line_no: int | None = None, field: str | None = None) -> None:
        where = []
        if line_no is not None:
            where.append(f"line {line_no}")
        if field is not None:
            where.append(f"field {field}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason, param=field)
        self.line_no = line_no
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction as a channel reports it; money in integer fen, time aware and UTC.

    `line_no` is the physical line of the file it was read from (1-based), so people can find it.
    """

    channel: str
    line_no: int
    channel_ref: str
    merchant_order_no: str
    merchant_code: str
    txn_time: dt.datetime
    txn_type: str
    amount_fen: int
    fee_fen: int
    status: str
    original_ref: str | None = None
    card_type: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.txn_time.tzinfo is None:
            raise ValueError("txn_time must be timezone-aware")
        if self.txn_time.utcoffset() != dt.timedelta(0) or self.txn_time.tzinfo is not UTC:
            object.__setattr__(self, "txn_time", self.txn_time.astimezone(UTC))
        if self.txn_type not in TXN_TYPES:
            raise ValueError(f"txn_type {self.txn_type!r} is not one of {sorted(TXN_TYPES)}")
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {sorted(STATUSES)}")
        for name in ("amount_fen", "fee_fen", "line_no"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int")
        if self.amount_fen <= 0:
            raise ValueError("amount_fen must be positive")


def check_local_date(local: dt.datetime, business_date: dt.date, *, line_no: int, field: str) -> None:
    """A file for date D carries transactions of local dates D-1 (late or cross-day) and D only."""
    if local.date() not in (business_date, business_date - dt.timedelta(days=1)):
        raise StatementFormatError(
            f"date {local.date().isoformat()} does not belong to the business date {business_date.isoformat()}",
            line_no=line_no,
            field=field,
        )
