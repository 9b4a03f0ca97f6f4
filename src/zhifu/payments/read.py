"""支付的只读视图 / Read-only views of payments and refunds for other capabilities.

Settlement, statements, the dashboard's rollup, the console, reconciliation, the programme office and the rural
shop read payments and refunds as sets (sums per merchant and day, pages).
They read them through these views — selects of the columns payments publishes, usable in joins and group-bys
like a table, never written through — and never import the payments tables. Both databases fold such a
subquery into the outer query, so a read through a view costs what the same read of the table costs.
`succeeded_since` is the history of the `PaymentSucceeded` event, which risk's monitor reads past its cursor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, String, Subquery, select, tuple_, type_coerce

from zhifu.core.events import PaymentSucceeded, Position
from zhifu.payments.models import payments, refunds

payments_view: Subquery = select(*payments.c).subquery("payments_v")
"""Every payment, every column (id, merchant_id, amounts in fen, status, business_date, succeeded_at, …)."""

refunds_view: Subquery = select(*refunds.c).subquery("refunds_v")
"""Every refund, every column (id, merchant_id, payment_id, amount_fen, fee_refunded_fen, status, …)."""


def succeeded_since(
    conn: Connection, after: Position | None, until: dt.datetime | None, limit: int
) -> list[PaymentSucceeded]:
    """The history of `PaymentSucceeded`: up to `limit` succeeded payments in (succeeded_at, id) order, past
    `after` and up to `until` (inclusive). Risk's monitor reads it past its cursor through `zhifu.core.events`."""
    p = payments.c
    q = _SUCCEEDED
    if after is not None:
        # a row comparison, which the (status, succeeded_at, id) index starts at (an OR of the two is read from the
        # first success on PostgreSQL, filtered row by row)
        q = q.where(tuple_(p.succeeded_at, p.id) > tuple_(after[0], after[1]))
    if until is not None:
        q = q.where(p.succeeded_at <= until)
    return [_succeeded(r) for r in conn.execute(q.order_by(p.succeeded_at, p.id).limit(limit))]


def succeeded_by_ids(conn: Connection, ids: Sequence[str]) -> list[PaymentSucceeded]:
    """The successes of these payments, in id order (a payment not succeeded is left out): what a risk case shows
    of the payments its alerts name."""
    q = _SUCCEEDED.where(payments.c.id.in_(sorted(set(ids)))).order_by(payments.c.id)
    return [_succeeded(r) for r in conn.execute(q)]


_SUCCEEDED = select(
    payments.c.id,
    payments.c.merchant_id,
    payments.c.merchant_order_no,
    payments.c.amount_fen,
    payments.c.fee_fen,
    payments.c.channel,
    payments.c.payer_ref,
    payments.c.card_type,
    type_coerce(payments.c.metadata, String).label("metadata"),  # decoded by _succeeded, see there
    payments.c.succeeded_at,  # the event's `at`
).where(payments.c.status == "succeeded", payments.c.succeeded_at.is_not(None))


assert [c.name for c in _SUCCEEDED.selected_columns] == [
    "succeeded_at" if f.name == "at" else f.name for f in dataclasses.fields(PaymentSucceeded)
], "the columns of _SUCCEEDED must be PaymentSucceeded's fields, in order"


def _succeeded(r: Any) -> PaymentSucceeded:
    """The columns are the fields, in order (the database gives ints as int). Most payments carry no metadata, which
    SQLite keeps as the JSON text 'null' (PostgreSQL's driver gives it decoded): only real metadata is parsed, so a
    replay of the history does not decode a 'null' per payment."""
    pid, mid, order_no, amount_fen, fee_fen, channel, payer_ref, card_type, meta, at = r
    if isinstance(meta, str):
        meta = None if meta == "null" else json.loads(meta)
    return PaymentSucceeded(pid, mid, order_no, amount_fen, fee_fen, channel, payer_ref, card_type, meta, at)
