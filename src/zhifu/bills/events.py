"""What bills does when a payment succeeds (found by `zhifu.plugins.load_events`): apply it to its bill line, book
it to the biller and sign its receipt, in the payment's own transaction."""

from __future__ import annotations

from sqlalchemy import Connection

from zhifu.bills import nontax, service
from zhifu.bills.hooks import BILL_KEY
from zhifu.core.events import PaymentSucceeded


def payment_succeeded(conn: Connection, e: PaymentSucceeded) -> None:
    """Apply a succeeded payment to its bill, its receipt and the biller's payable; other payments return at once."""
    if not e.metadata or BILL_KEY not in e.metadata:
        return
    service.on_payment_succeeded(conn, e.merchant_id, e.merchant_order_no, e.at, payment=e)
    # a paid non-tax code gets its fiscal e-receipt record
    nontax.on_payment_succeeded(conn, e.merchant_id, e.merchant_order_no, e.at)


SUBSCRIBES = ((PaymentSucceeded, payment_succeeded),)
