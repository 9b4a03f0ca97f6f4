"""Each simulated rail's statement file for a business date, read from its own book (`sim_rail_txns`), with
discrepancies injected on request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, select, update

from zhifu.channels import get_channel, sim_txns
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings
from zhifu.core.errors import InvalidRequest
from zhifu.core.money import ppm_of
from zhifu.fees import refund_fee_share
from zhifu.merchants.models import merchants
from zhifu.payments.models import payments, refunds
from zhifu.recon.formats import (
    StatementFormatError,
    StatementLine,
    format_of,
    parse_statement,
    write_statement,
)
from zhifu.recon.formats.inject import KINDS, inject

CARD_TYPES = frozenset({"debit", "credit"})  # what every format can carry; wallets go blank
ZM_NAME_BYTES = 32  # the ZM sub-merchant name field, in GBK bytes
# Kinds the file alone can show; cross_day and status_mismatch_channel_succeeded change the rail's book.
_FILE_KINDS = ("missing_ours", "amount_mismatch", "status_mismatch_ours_succeeded", "fee_mismatch", "duplicate",
               "refund_mismatch")


@dataclasses.dataclass(frozen=True)
class Produced:
    """A statement file and what the matcher should make of it, for tests and demos."""

    data: bytes
    lines: list[StatementLine]
    truth: dict[str, list[str]]  # kind -> our payment/refund ids (or the channel's order no for channel-only lines)
    line_classes: dict[int, str]  # physical line number -> expected class
    item_classes: dict[str, str]  # our payment/refund id -> expected class on this date


def window(business_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of a business date: 23:00 Beijing the evening before to 23:00 that day."""
    end = dt.datetime.combine(business_date, dt.time(23), SHANGHAI)
    return (end - dt.timedelta(days=1)).astimezone(dt.UTC), end.astimezone(dt.UTC)


def channel_merchant_code(merchant_id: str) -> str:
    """The 15-digit merchant number a rail knows a merchant by (the ZM field is 15 bytes; our ids are longer)."""
    digest = int.from_bytes(hashlib.sha256(merchant_id.encode()).digest()[:8], "big")
    return f"898{digest % 10**12:012d}"


def _gbk_prefix(text: str, limit: int) -> str:
    out = ""
    for ch in text:
        if len((out + ch).encode("gbk", errors="replace")) > limit:
            break
        out += ch
    return out


def rail_lines(conn: Connection, channel: str, business_date: dt.date) -> list[StatementLine]:
    """The rail's finished transactions of the date, as its statement lines (fees at the rail's merchant rate)."""
    get_channel(channel)
    start, end = window(business_date)
    rows = conn.execute(select(sim_txns).where(and_(
        sim_txns.c.channel == channel, sim_txns.c.status == "succeeded", sim_txns.c.finished_at >= start,
        sim_txns.c.finished_at < end)).order_by(sim_txns.c.finished_at, sim_txns.c.ref)).all()
    if not rows:
        return []
    pay_ids = sorted({r.payment_id for r in rows})
    parents: dict[str, Any] = {}
    refunds_of: dict[str, list[Any]] = {}
    for i in range(0, len(pay_ids), 500):
        chunk = pay_ids[i:i + 500]
        for t in conn.execute(select(sim_txns).where(and_(sim_txns.c.channel == channel,
                                                          sim_txns.c.payment_id.in_(chunk)))):
            if t.kind == "payment":
                parents[t.payment_id] = t
            elif t.status == "succeeded":
                refunds_of.setdefault(t.payment_id, []).append(t)
    names = dict(conn.execute(select(merchants.c.id, merchants.c.short_name).where(
        merchants.c.id.in_(sorted({r.merchant_id for r in rows})))).all())
    booked_fee = _booked_fees(conn, pay_ids, [r.refund_id for r in rows if r.refund_id])
    rate_ppm = get_settings().flat_fee_ppm
    zm = format_of(channel) == "zm"
    out = []
    for n, t in enumerate(rows, start=1):
        parent = parents[t.payment_id]
        parent_fee = booked_fee.get(t.payment_id, ppm_of(parent.amount_fen, rate_ppm))
        if t.kind == "payment":
            fee = parent_fee
        elif t.refund_id in booked_fee:
            fee = -booked_fee[t.refund_id]
        else:
            before = sum(r.amount_fen for r in refunds_of.get(t.payment_id, [])
                         if (r.created_at, r.ref) < (t.created_at, t.ref))
            fee = -refund_fee_share(parent_fee, parent.amount_fen, before, t.amount_fen)
        extra = {"trace_no": t.trace_no, "sub_merchant_name": _gbk_prefix(names.get(t.merchant_id, ""),
                                                                          ZM_NAME_BYTES)} if zm else {}
        out.append(StatementLine(
            channel=channel, line_no=n, channel_ref=t.ref,
            merchant_order_no=t.payment_id if t.kind == "payment" else (t.refund_id or t.ref),
            merchant_code=channel_merchant_code(t.merchant_id), txn_time=t.finished_at, txn_type=t.kind,
            amount_fen=t.amount_fen, fee_fen=fee, status="succeeded",
            original_ref=parent.ref if t.kind == "refund" else None,
            card_type=t.card_type if t.card_type in CARD_TYPES else None, extra={k: v for k, v in extra.items() if v}))
    return out


def _booked_fees(conn: Connection, payment_ids: list[str], refund_ids: list[str]) -> dict[str, int]:
    """The merchant fee of each payment and refund as the acquirer set it: the rail applies the rate the acquirer
    registered with it, so the simulator reads the result instead of keeping its own copy of every fee plan."""
    out: dict[str, int] = {}
    for i in range(0, len(payment_ids), 500):
        out.update(conn.execute(select(payments.c.id, payments.c.fee_fen).where(and_(
            payments.c.id.in_(payment_ids[i:i + 500]), payments.c.status == "succeeded"))).all())
    for i in range(0, len(refund_ids), 500):
        out.update(conn.execute(select(refunds.c.id, refunds.c.fee_refunded_fen).where(
            refunds.c.id.in_(refund_ids[i:i + 500]))).all())
    return out


def _book_next_day(conn: Connection, channel: str, business_date: dt.date, n: int) -> list[str]:
    """The rail books the day's last n payments after the cut-off: they move to the next date's file."""
    start, end = window(business_date)
    rows = conn.execute(select(sim_txns.c.ref, sim_txns.c.payment_id).where(and_(
        sim_txns.c.channel == channel, sim_txns.c.kind == "payment", sim_txns.c.status == "succeeded",
        sim_txns.c.finished_at >= start, sim_txns.c.finished_at < end))
        .order_by(sim_txns.c.finished_at.desc(), sim_txns.c.ref).limit(n)).all()
    if len(rows) < n:
        raise InvalidRequest(f"cross_day={n} asked for, the rail has {len(rows)} payments that day", param="inject")
    for k, r in enumerate(rows, start=1):
        conn.execute(update(sim_txns).where(and_(sim_txns.c.channel == channel, sim_txns.c.ref == r.ref))
                     .values(finished_at=end + dt.timedelta(seconds=k)))
    return [r.payment_id for r in rows]


def _paid_late(conn: Connection, channel: str, business_date: dt.date, n: int) -> list[str]:
    """The payer paid orders we never saw succeed (closed, expired or still open); the notification was lost."""
    start, end = window(business_date)
    rows = conn.execute(select(sim_txns).where(and_(
        sim_txns.c.channel == channel, sim_txns.c.kind == "payment",
        sim_txns.c.status.in_(("awaiting", "paying", "closed")), sim_txns.c.created_at >= start,
        sim_txns.c.created_at < end)).order_by(sim_txns.c.created_at, sim_txns.c.ref).limit(n)).all()
    if len(rows) < n:
        raise InvalidRequest(f"status_mismatch_channel_succeeded={n} asked for, the rail has {len(rows)} unpaid "
                             "orders that day", param="inject")
    rail = get_channel(channel)
    for t in rows:
        at = min(t.created_at + dt.timedelta(seconds=1), end - dt.timedelta(microseconds=1))
        conn.execute(update(sim_txns).where(and_(sim_txns.c.channel == channel, sim_txns.c.ref == t.ref)).values(
            status="succeeded", finished_at=at, notified=True, payer_ref=t.payer_ref or "payer_sim",
            card_issuer=t.card_issuer or rail.default_issuer, card_type=t.card_type or rail.card_types[0]))
    return [t.payment_id for t in rows]


def parse_inject(spec: str) -> dict[str, int]:
    """`kind=n,kind=n` into counts; unknown kinds and bad counts are refused naming the kind."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, sep, count = part.partition("=")
        if kind not in KINDS:
            raise InvalidRequest(f"unknown discrepancy kind {kind!r}; one of {', '.join(KINDS)}", param="inject")
        if not sep or not count.isdigit() or int(count) < 1:
            raise InvalidRequest(f"{kind}: the count must be a positive whole number", param="inject")
        out[kind] = out.get(kind, 0) + int(count)
    return out


def produce_statement(conn: Connection, channel: str, business_date: dt.date,
                      kinds: Mapping[str, int] | None = None, *, seed: int = 1) -> Produced:
    """The rail's file for the date. Injections: cross_day and status_mismatch_channel_succeeded change the rail's
    own book; missing_channel and pending_cross_day leave lines off this file; the rest alter the file only."""
    format_of(channel)
    kinds = dict(kinds or {})
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise InvalidRequest(f"unknown discrepancy kinds {sorted(unknown)}", param="inject")
    truth: dict[str, list[str]] = {}
    item_classes: dict[str, str] = {}
    if kinds.get("cross_day"):
        truth["cross_day"] = _book_next_day(conn, channel, business_date, kinds["cross_day"])
        item_classes.update(dict.fromkeys(truth["cross_day"], "pending_cross_day"))
    late: list[str] = []
    if kinds.get("status_mismatch_channel_succeeded"):
        late = truth["status_mismatch_channel_succeeded"] = _paid_late(
            conn, channel, business_date, kinds["status_mismatch_channel_succeeded"])
    lines = rail_lines(conn, channel, business_date)
    late_lines = [line for line in lines if line.merchant_order_no in late]
    base = [line for line in lines if line.merchant_order_no not in late]
    file_kinds = {k: kinds[k] for k in _FILE_KINDS if kinds.get(k)}
    dropped = kinds.get("missing_channel", 0) + kinds.get("pending_cross_day", 0)
    if dropped:
        file_kinds["pending_cross_day"] = dropped
    if base and file_kinds:
        try:
            inj = inject(base, file_kinds, seed=seed, business_date=business_date)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="inject") from exc
        channel_lines, line_classes = inj.channel, dict(inj.line_classes)
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
        raise InvalidRequest(f"the rail has no {channel} transactions on {business_date} to alter", param="inject")
    else:
        channel_lines = [dataclasses.replace(line, line_no=i) for i, line in enumerate(base, start=1)]
        line_classes = {line.line_no: "matched" for line in channel_lines}
        item_classes.update({line.merchant_order_no: "matched" for line in channel_lines})
    for line in late_lines:
        numbered = dataclasses.replace(line, line_no=len(channel_lines) + 1)
        channel_lines.append(numbered)
        line_classes[numbered.line_no] = "status_mismatch_channel_succeeded"
        item_classes[line.merchant_order_no] = "status_mismatch_channel_succeeded"
    data = write_statement(channel, channel_lines, business_date)
    try:
        parsed = parse_statement(channel, data, business_date)
    except StatementFormatError as exc:  # our own writer must produce what our parser reads
        raise AssertionError(f"the {channel} writer produced an unreadable file: {exc}") from exc
    physical = {seq.line_no: got.line_no for seq, got in zip(channel_lines, parsed, strict=True)}
    return Produced(data=data, lines=parsed, truth=truth,
                    line_classes={physical[n]: cls for n, cls in line_classes.items()}, item_classes=item_classes)
