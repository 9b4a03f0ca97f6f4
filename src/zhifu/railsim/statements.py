"""A fake rail's statement of a business date: its succeeded payments and refunds as statement lines, with the
rail's fee, and the discrepancies the simulator planted for that date."""

from __future__ import annotations

import dataclasses
import datetime as dt

from zhifu.channels.base import RailFacts
from zhifu.channels.statement import StatementLine, window
from zhifu.core.money import ppm_of
from zhifu.railsim.store import RailStore, Txn

STATEMENT_CARD_TYPES = frozenset({"debit", "credit"})  # what every format can carry; wallets go blank


def rail_fee_fen(facts: RailFacts, t: Txn) -> int:
    """What the rail deducts for a payment: its published cost for the card type (capped); refunds return none."""
    if t.kind == "refund":
        return 0
    rate = facts.costs.get(t.card_type or "debit") or facts.costs.get("*")
    if rate is None:
        return 0
    issuer_ppm, issuer_cap, network_ppm, network_cap = rate
    issuer = ppm_of(t.amount_fen, issuer_ppm)
    network = ppm_of(t.amount_fen, network_ppm)
    return (issuer if issuer_cap is None else min(issuer, issuer_cap)) + \
        (network if network_cap is None else min(network, network_cap))


def rail_statement_lines(store: RailStore, facts: RailFacts, business_date: dt.date) -> list[StatementLine]:
    start, end = window(business_date)
    out = []
    for n, t in enumerate(store.finished_between(facts.name, start, end), start=1):
        out.append(StatementLine(
            channel=facts.name, line_no=n, channel_ref=t.ref,
            merchant_order_no=t.out_trade_no if t.kind == "payment" else (t.out_refund_no or t.ref),
            merchant_code=t.merchant_code, txn_time=t.finished_at or t.created_at, txn_type=t.kind,
            amount_fen=t.amount_fen, fee_fen=-rail_fee_fen(facts, t) if t.kind == "refund" else rail_fee_fen(facts, t),
            status="succeeded", original_ref=t.extra.get("original_ref") if t.kind == "refund" else None,
            card_type=t.card_type if t.card_type in STATEMENT_CARD_TYPES else None,
            extra={k: v for k, v in {"trace_no": t.trace_no, "trade_type": t.trade_type}.items() if v}))
    spec = store.injection(facts.name, business_date)
    if spec and out:
        from zhifu.recon.formats.inject import inject

        kinds, seed = spec
        inj = inject(out, kinds, seed=seed, business_date=business_date)
        out = [dataclasses.replace(line, line_no=i) for i, line in enumerate(inj.channel, start=1)]
    return out
