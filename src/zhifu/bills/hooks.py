"""The one call the payment path makes into public-service payments, when a payment succeeds.

Kept free of imports of the payment service: `zhifu.payments.service` imports this module, and the bill
service imports the payment service, so the service is imported when a bill payment first succeeds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

BILL_KEY = "biller_id"  # the payment metadata key that marks a payment with a bill line


def payment_succeeded(conn: Connection, p: Any, at: dt.datetime) -> None:
    """Apply a succeeded payment to its bill, in the payment's own transaction; others return at once. `p` is the
    payment as it stands after its success (its fee included)."""
    if not p.metadata or BILL_KEY not in p.metadata:
        return
    from zhifu.bills import service  # imported here: see the module docstring

    service.on_payment_succeeded(conn, p.merchant_id, p.merchant_order_no, at, payment=p)
    from zhifu.bills import nontax  # a paid non-tax code gets its fiscal e-receipt record

    nontax.on_payment_succeeded(conn, p.merchant_id, p.merchant_order_no, at)
