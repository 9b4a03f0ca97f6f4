"""Turn our payments into a channel's view with chosen discrepancies, and say what each line should be classed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import polars as pl

from zhifu.channels.statement import SHANGHAI, StatementLine, business_date_of
from zhifu.core.business_day import day_end

KINDS: tuple[str, ...] = (
    "missing_ours",
    "missing_channel",
    "pending_cross_day",
    "amount_mismatch",
    "status_mismatch_ours_succeeded",
    "status_mismatch_channel_succeeded",
    "fee_mismatch",
    "duplicate",
    "cross_day",
    "refund_mismatch",
)
_MOVED = frozenset({"succeeded", "refunded"})
NO_CHANNEL_REF = ""  # on our side: we never learnt the channel's id (a timed-out payment)


@dataclass(frozen=True)
class Injection:
    """Our side (some payments adjusted), the channel's file, and the ground truth per kind and per row."""

    ours: list[StatementLine]
    channel: list[StatementLine]
    truth: dict[str, list[str]]  # kind -> merchant_order_no of every case injected
    line_classes: dict[int, str]  # channel line_no -> expected class
    payment_classes: dict[str, str]  # our merchant_order_no -> expected class


def payments_frame(ours: Sequence[StatementLine]) -> pl.DataFrame:
    """Our side as the matcher's payments frame; payment_id is "pay_" + merchant_order_no."""
    return pl.DataFrame(
        {
            "payment_id": [f"pay_{p.merchant_order_no}" for p in ours],
            "channel_ref": [p.channel_ref or None for p in ours],
            "merchant_order_no": [p.merchant_order_no for p in ours],
            "merchant_id": [p.merchant_code for p in ours],
            "created_at": [p.txn_time for p in ours],
            "business_date": [business_date_of(p.txn_time) for p in ours],
            "txn_type": [p.txn_type for p in ours],
            "amount_fen": [p.amount_fen for p in ours],
            "fee_fen": [p.fee_fen for p in ours],
            "status": [p.status for p in ours],
        },
        schema={
            "payment_id": pl.String,
            "channel_ref": pl.String,
            "merchant_order_no": pl.String,
            "merchant_id": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "business_date": pl.Date,
            "txn_type": pl.String,
            "amount_fen": pl.Int64,
            "fee_fen": pl.Int64,
            "status": pl.String,
        },
    )


def _fabricate(
    template: StatementLine,
    kind: str,
    n: int,
    seed: int,
    day: dt.date,
    rng: random.Random,
    txn_type: str = "payment",
) -> StatementLine:
    tag = "MO" if txn_type == "payment" else "RF"
    local = dt.datetime.combine(day, dt.time(9), SHANGHAI) + dt.timedelta(seconds=rng.randrange(13 * 3600))
    return replace(
        template,
        channel_ref=f"{tag}{seed % 10_000:04d}{n:015d}",
        merchant_order_no=f"{tag}{seed % 10_000:04d}{n:015d}",
        txn_time=local,
        txn_type=txn_type,
        amount_fen=rng.randint(1, 50_000),
        fee_fen=0,
        status="succeeded",
        original_ref=template.channel_ref if txn_type == "refund" else None,
        extra={},
    )


def inject(
    lines: Sequence[StatementLine],
    kinds: Mapping[str, int],
    *,
    seed: int,
    business_date: dt.date,
    pending_days: int = 1,
) -> Injection:
    """Channel's view of `lines` (our payments for `business_date`) with `kinds[k]` cases of each kind k."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown discrepancy kinds {sorted(unknown)}")
    if kinds.get("pending_cross_day") and pending_days < 1:
        raise ValueError("pending_cross_day needs pending_days >= 1")
    if len({p.merchant_order_no for p in lines}) != len(lines):
        raise ValueError("merchant_order_no must be unique on our side")
    rng = random.Random(seed)
    ours = list(lines)
    chan: list[StatementLine | None] = [p if p.status in _MOVED else None for p in ours]
    eligible = [
        i
        for i, p in enumerate(ours)
        if p.status == "succeeded" and p.channel_ref and business_date_of(p.txn_time) == business_date
    ]
    payments = [i for i in eligible if ours[i].txn_type == "payment"]
    refunds = [i for i in eligible if ours[i].txn_type == "refund"]
    wanted = sum(n for k, n in kinds.items() if k not in ("missing_ours", "refund_mismatch"))
    if wanted > len(payments):
        raise ValueError(f"{wanted} cases asked for, only {len(payments)} eligible payments")
    picks = iter(rng.sample(payments, wanted))
    refund_picks = iter(rng.sample(refunds, min(len(refunds), kinds.get("refund_mismatch", 0) // 2 + 1)))
    truth: dict[str, list[str]] = {k: [] for k in kinds}
    pay_class: dict[str, str] = {}
    extra_lines: list[tuple[StatementLine, str]] = []  # channel-only lines and their expected class
    dup_after: dict[int, int] = {}
    eve = dt.datetime.combine(business_date - dt.timedelta(days=1), dt.time(22, 59, 59), SHANGHAI)
    fabricated = 0
    for kind in KINDS:
        for n in range(kinds.get(kind, 0)):
            if kind in ("missing_ours", "refund_mismatch") and (
                kind == "missing_ours" or n % 2 == 1 or not refunds
            ):
                fabricated += 1
                line = _fabricate(
                    ours[0],
                    kind,
                    fabricated,
                    seed,
                    business_date,
                    rng,
                    "payment" if kind == "missing_ours" else "refund",
                )
                extra_lines.append((line, kind))
                truth[kind].append(line.merchant_order_no)
                continue
            i = next(refund_picks, None) if kind == "refund_mismatch" else next(picks)
            if i is None:  # fewer refunds than asked: a channel-only refund instead
                fabricated += 1
                line = _fabricate(ours[0], kind, fabricated, seed, business_date, rng, "refund")
                extra_lines.append((line, kind))
                truth[kind].append(line.merchant_order_no)
                continue
            p, c = ours[i], chan[i]
            assert c is not None
            expected = kind
            if kind in ("amount_mismatch", "refund_mismatch"):
                delta = rng.randint(1, 500)
                chan[i] = replace(
                    c, amount_fen=c.amount_fen + delta if c.amount_fen <= delta else c.amount_fen - delta
                )
            elif kind == "fee_mismatch":
                chan[i] = replace(c, fee_fen=c.fee_fen + rng.randint(1, 9))
            elif kind == "status_mismatch_ours_succeeded":
                chan[i] = replace(c, status="failed")
            elif kind == "status_mismatch_channel_succeeded":
                ours[i] = replace(
                    p, status="processing", channel_ref=NO_CHANNEL_REF if n % 2 == 0 else p.channel_ref
                )
            elif kind == "pending_cross_day":
                chan[i] = None
            elif kind == "missing_channel":
                chan[i] = None
                ours[i] = replace(p, txn_time=p.txn_time - dt.timedelta(days=pending_days))
            elif kind == "cross_day":
                ours[i] = replace(p, txn_time=eve)
                chan[i] = replace(c, txn_time=eve + dt.timedelta(seconds=2))
            elif kind == "duplicate":
                dup_after[i] = 1
                expected = "matched"
            truth[kind].append(p.merchant_order_no)
            pay_class[p.merchant_order_no] = expected
    return _assemble(ours, chan, dup_after, extra_lines, truth, pay_class, business_date)


def _assemble(
    ours: list[StatementLine],
    chan: list[StatementLine | None],
    dup_after: dict[int, int],
    extra_lines: list[tuple[StatementLine, str]],
    truth: dict[str, list[str]],
    pay_class: dict[str, str],
    day: dt.date,
) -> Injection:
    """Number the channel's lines and work out the expected class of every untouched row."""
    channel: list[StatementLine] = []
    line_classes: dict[int, str] = {}

    def add(line: StatementLine, cls: str) -> None:
        numbered = replace(line, line_no=len(channel) + 1)
        channel.append(numbered)
        line_classes[numbered.line_no] = cls

    for i, p in enumerate(ours):
        key = p.merchant_order_no
        if key not in pay_class:
            moved = p.status in _MOVED
            pay_class[key] = (
                ("matched" if business_date_of(p.txn_time) == day else "cross_day")
                if moved
                else "no_movement"
            )
        c = chan[i]
        if c is not None:
            add(c, pay_class[key])
            if i in dup_after:
                add(c, "duplicate")
    for line, cls in extra_lines:
        add(line, cls)
    return Injection(
        ours=ours, channel=channel, truth=truth, line_classes=line_classes, payment_classes=pay_class
    )


_SHOPS = (
    "沂源县南麻街道早餐铺",
    "悦庄镇农家乐",
    "石桥镇便民超市",
    "鲁村镇农资店",
    "历山街道民宿",
    "中庄镇加油站",
)


def sample_ours(
    n: int,
    *,
    seed: int,
    business_date: dt.date,
    channel: str = "unionpay_qr",
    refund_every: int = 50,
    failed_every: int = 97,
) -> list[StatementLine]:
    """`n` of our payments for one business date: mostly succeeded payments, some refunds and failures."""
    rng = random.Random(seed)
    start = day_end(business_date - dt.timedelta(days=1))
    out = []
    for k in range(n):
        shop = k % 600
        at = start + dt.timedelta(seconds=rng.randrange(24 * 3600 - 1), microseconds=rng.randrange(1_000_000))
        amount_fen = rng.randint(100, 200_000)
        refund = refund_every and k % refund_every == refund_every - 1
        out.append(
            StatementLine(
                channel=channel,
                line_no=k + 1,
                channel_ref=f"Q{seed % 1000:03d}{k:017d}",
                merchant_order_no=f"O{seed % 1000:03d}{k:017d}",
                merchant_code=f"8983701{shop:08d}",
                txn_time=at.replace(microsecond=0),
                txn_type="refund" if refund else "payment",
                amount_fen=amount_fen,
                fee_fen=-(amount_fen * 38 // 10_000) if refund else amount_fen * 38 // 10_000,
                status="failed" if failed_every and k % failed_every == failed_every - 1 else "succeeded",
                original_ref=f"Q{seed % 1000:03d}{k - 1:017d}" if refund else None,
                card_type=("debit", "credit", None)[k % 3],
                extra={"sub_merchant_name": _SHOPS[shop % len(_SHOPS)]},
            )
        )
    return out
