"""The payment events payments publishes (found by `zhifu.plugins.load_events`): a success, given back from the
payments table itself (in order past a position, or by id)."""

from __future__ import annotations

from zhifu.core.events import PaymentSucceeded, Source
from zhifu.payments.read import succeeded_by_ids, succeeded_since

PUBLISHES = {PaymentSucceeded: Source(history=succeeded_since, by_ids=succeeded_by_ids)}
