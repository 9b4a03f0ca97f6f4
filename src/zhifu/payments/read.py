"""支付的只读视图 / Read-only views of payments and refunds for other capabilities.

Settlement, statements, the dashboard's rollup, the console, risk's monitor, reconciliation, the programme office
and the rural shop read payments and refunds as sets (sums per merchant and day, pages, the monitor's cursor).
They read them through these views — selects of the columns payments publishes, usable in joins and group-bys
like a table, never written through — and never import the payments tables. Both databases fold such a
subquery into the outer query, so a read through a view costs what the same read of the table costs."""

from __future__ import annotations

from sqlalchemy import Subquery, select

from zhifu.payments.models import payments, refunds

payments_view: Subquery = select(*payments.c).subquery("payments_v")
"""Every payment, every column (id, merchant_id, amounts in fen, status, business_date, succeeded_at, …)."""

refunds_view: Subquery = select(*refunds.c).subquery("refunds_v")
"""Every refund, every column (id, merchant_id, payment_id, amount_fen, fee_refunded_fen, status, …)."""
