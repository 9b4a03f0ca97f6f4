"""A fake rail's statement of a business date: its succeeded payments and refunds as statement lines, with the
rail's fee, and the discrepancies the simulator planted for that date."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from zhifu.channels.base import RailFacts
from zhifu.channels.statement import StatementLine, window
from zhifu.core.money import ppm_of
from zhifu.railsim.store import RailStore, Txn

ZM_NAME_BYTES = 32  # the ZM sub-merchant name field, in GBK bytes
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
    return (issuer if issuer_cap is None else min(issuer, issuer_cap)) + (
        network if network_cap is None else min(network, network_cap)
    )


def _line_json(line: StatementLine) -> dict[str, Any]:
    doc = dataclasses.asdict(line)
    doc["txn_time"] = line.txn_time.isoformat()
    doc["extra"] = dict(line.extra)
    return doc


def _line_of(doc: dict[str, Any]) -> StatementLine:
    return StatementLine(**{**doc, "txn_time": dt.datetime.fromisoformat(doc["txn_time"])})


# History the simulator books straight into the rails carries the platform's flow name; a ZM file writes the
# UnionPay 交易子类 for it (consumer-scanned QR 07, pay code 06, terminal 01).
_ZM_SUBTYPE_OF_FLOW = {
    "static_code": "07",
    "dynamic_code": "07",
    "jsapi": "07",
    "pay_code": "06",
    "terminal": "01",
}


def _trade_type(facts: RailFacts, trade_type: str) -> str:
    if facts.statement_format == "zm":
        return _ZM_SUBTYPE_OF_FLOW.get(trade_type, trade_type)
    return trade_type


def book_lines(store: RailStore, facts: RailFacts, business_date: dt.date) -> list[StatementLine]:
    """The rail's succeeded payments and refunds of a business date as its own book shows them."""
    start, end = window(business_date)
    out = []
    for n, t in enumerate(store.finished_between(facts.name, start, end), start=1):
        fee = rail_fee_fen(facts, t)
        out.append(
            StatementLine(
                channel=facts.name,
                line_no=n,
                channel_ref=t.ref,
                merchant_order_no=t.out_trade_no if t.kind == "payment" else (t.out_refund_no or t.ref),
                merchant_code=t.merchant_code,
                txn_time=t.finished_at or t.created_at,
                txn_type=t.kind,
                amount_fen=t.amount_fen,
                fee_fen=-fee if t.kind == "refund" else fee,
                status="succeeded",
                original_ref=t.extra.get("original_ref") if t.kind == "refund" else None,
                card_type=t.card_type if t.card_type in STATEMENT_CARD_TYPES else None,
                extra={
                    k: v
                    for k, v in {
                        "trace_no": t.trace_no,
                        "trade_type": _trade_type(facts, t.trade_type),
                        "sub_merchant_name": _gbk_prefix(t.extra.get("sub_merchant_name", ""), ZM_NAME_BYTES),
                    }.items()
                    if v
                },
            )
        )
    return out


def _gbk_prefix(text: str, limit: int) -> str:
    out = ""
    for ch in text:
        if len((out + ch).encode("gbk", errors="replace")) > limit:
            break
        out += ch
    return out


def rail_statement_lines(store: RailStore, facts: RailFacts, business_date: dt.date) -> list[StatementLine]:
    """The file's lines: the one the simulator fixed for the date (with its planted discrepancies), or the book."""
    fixed = store.statement(facts.name, business_date)
    if fixed is not None:
        return [_line_of(d) for d in fixed]
    return book_lines(store, facts, business_date)


@dataclasses.dataclass(frozen=True)
class Produced:
    """A statement with planted discrepancies and what reconciliation should make of it (tests and the demo)."""

    lines: list[StatementLine]
    truth: dict[str, list[str]]  # kind -> our payment/refund ids (or the rail's order no for rail-only lines)
    line_classes: dict[int, str]  # line number -> expected class
    item_classes: dict[str, str]  # our payment/refund id -> expected class on this date


# Kinds the file alone can show; cross_day and status_mismatch_channel_succeeded change the rail's book.
_FILE_KINDS = (
    "missing_ours",
    "amount_mismatch",
    "status_mismatch_ours_succeeded",
    "fee_mismatch",
    "duplicate",
    "refund_mismatch",
)


def plant(
    store: RailStore, facts: RailFacts, business_date: dt.date, kinds: Mapping[str, int], *, seed: int = 1
) -> Produced:
    """Fix the rail's file of a date with discrepancies: cross_day books the day's last payments after the cut-off;
    status_mismatch_channel_succeeded has payers pay orders whose notifications never arrive; missing_channel and
    pending_cross_day leave lines off; the rest alter the file only. Raises ValueError naming what cannot be done."""
    from zhifu.recon.formats.inject import KINDS, inject

    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown discrepancy kinds {sorted(unknown)}")
    start, end = window(business_date)
    truth: dict[str, list[str]] = {}
    item_classes: dict[str, str] = {}
    if kinds.get("cross_day"):
        n = kinds["cross_day"]
        booked = [t for t in store.finished_between(facts.name, start, end) if t.kind == "payment"][-n:]
        if len(booked) < n:
            raise ValueError(f"cross_day={n} asked for, the rail has {len(booked)} payments that day")
        for k, t in enumerate(reversed(booked), start=1):
            store.move_finished(facts.name, t.ref, end + dt.timedelta(seconds=k))
        truth["cross_day"] = [t.out_trade_no for t in reversed(booked)]
        item_classes.update(dict.fromkeys(truth["cross_day"], "pending_cross_day"))
    late: list[str] = []
    if kinds.get("status_mismatch_channel_succeeded"):
        n = kinds["status_mismatch_channel_succeeded"]
        unpaid = store.unpaid_between(facts.name, start, end, n)
        if len(unpaid) < n:
            raise ValueError(
                f"status_mismatch_channel_succeeded={n} asked for, the rail has {len(unpaid)} unpaid "
                "orders that day"
            )
        for t in unpaid:
            store.paid_unnoticed(
                t,
                min(t.created_at + dt.timedelta(seconds=1), end - dt.timedelta(microseconds=1)),
                facts.card_types[0],
            )
        late = truth["status_mismatch_channel_succeeded"] = [t.out_trade_no for t in unpaid]
    lines = book_lines(store, facts, business_date)
    late_lines = [line for line in lines if line.merchant_order_no in late]
    base = [line for line in lines if line.merchant_order_no not in late]
    file_kinds = {k: kinds[k] for k in _FILE_KINDS if kinds.get(k)}
    dropped = kinds.get("missing_channel", 0) + kinds.get("pending_cross_day", 0)
    if dropped:
        file_kinds["pending_cross_day"] = dropped
    if base and file_kinds:
        inj = inject(base, file_kinds, seed=seed, business_date=business_date)
        out, line_classes = list(inj.channel), dict(inj.line_classes)
        item_classes.update(inj.payment_classes)
        for kind in _FILE_KINDS:
            if kind in inj.truth:
                truth[kind] = inj.truth[kind]
        gone = inj.truth.get("pending_cross_day", [])
        n_missing = kinds.get("missing_channel", 0)
        if n_missing:
            truth["missing_channel"] = gone[:n_missing]
        if kinds.get("pending_cross_day"):
            truth["pending_cross_day"] = gone[n_missing:]
    elif file_kinds:
        raise ValueError(f"the rail has no {facts.name} transactions on {business_date} to alter")
    else:
        out = [dataclasses.replace(line, line_no=i) for i, line in enumerate(base, start=1)]
        line_classes = {line.line_no: "matched" for line in out}
        item_classes.update({line.merchant_order_no: "matched" for line in out})
    for line in late_lines:
        numbered = dataclasses.replace(line, line_no=len(out) + 1)
        out.append(numbered)
        line_classes[numbered.line_no] = "status_mismatch_channel_succeeded"
        item_classes[line.merchant_order_no] = "status_mismatch_channel_succeeded"
    store.set_statement(facts.name, business_date, [_line_json(line) for line in out])
    return Produced(out, truth, line_classes, item_classes)
