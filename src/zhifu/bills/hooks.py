"""The mark of a bill payment: the payment metadata key that names its biller. Bills' reaction to a payment's
success is its subscriber to the `PaymentSucceeded` event (`zhifu.bills.events`)."""

from __future__ import annotations

BILL_KEY = "biller_id"  # the payment metadata key that marks a payment with a bill line
