"""Record many payments and refunds of many merchants in one transaction, already in their final state.

The rows, fees and ledger entries are exactly those the one-by-one path leaves behind (create_payment, the
payer paying at the rail, the rail's notification; create_refund and its notification), so settlement,
reconciliation and rollups read them like any other; the ledger legs come from the same builders
(`zhifu.ledger.movements`) and the ledger posts them itself, in bulk (`ledger.post_bulk`), and incentives keeps the same payers seen and merchant days. What the batch path leaves
out: webhook events and notification receipts (nothing was delivered, so nothing is announced or deduplicated),
and campaigns: it prices none, and refuses a batch that a running campaign would have priced
(`_check_no_campaign` says why).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Index, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from zhifu import incentives, ledger
from zhifu.channels import FACTS, RailFacts
from zhifu.core.business_day import business_date
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.core.ids import _encode as _encode_id
from zhifu.core.ids import new_id_fast, new_ids_fast
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.db import Database
from zhifu.db.meta import utc_bind
from zhifu.fees import compute_fee as _compute_fee
from zhifu.fees import refund_fee_share
from zhifu.fees.service import fee_terms, payment_cost, prefetch
from zhifu.merchants import MerchantStatus
from zhifu.merchants.read import merchants_view as merchants
from zhifu.payments.models import PaymentStatus, RefundStatus, payments, refunds
from zhifu.payments.service import _ORDER_NO_RE

BATCH_MAX = ledger.service.BATCH_MAX  # one ledger entry per payment: the ledger's batch bound applies
IN_CHUNK = 500
FLOWS = frozenset({"static_code", "dynamic_code", "terminal"})
_CARD_CODES = frozenset({"debit", "credit", "wallet"})


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentSpec:
    """One payment as it happened: created at the merchant, then paid (or declined) by the payer."""

    merchant_id: str
    merchant_order_no: str
    amount_fen: int
    channel: str
    flow: str
    created_at: dt.datetime
    paid_at: dt.datetime
    payer_ref: str
    card_issuer: str | None
    card_type: str
    outcome: str = "success"  # success | decline_<code>
    description: str = ""
    expires_in_s: int = 900


class Recorded(NamedTuple):
    """A payment as recorded: what the simulator counts of it."""

    id: str
    merchant_id: str
    channel: str
    status: str
    amount_fen: int
    fee_fen: int


@dataclasses.dataclass(frozen=True, slots=True)
class RefundSpec:
    merchant_id: str
    payment_id: str
    amount_fen: int
    at: dt.datetime
    reason: str = ""


_PAYMENT_COLUMNS = (
    "id",
    "merchant_id",
    "merchant_order_no",
    "amount_fen",
    "discount_fen",
    "currency",
    "channel",
    "flow",
    "status",
    "description",
    "notify_url",
    "metadata",
    "code_url",
    "channel_ref",
    "payer_ref",
    "card_issuer",
    "card_type",
    "fee_fen",
    "cost_fen",
    "refunded_fen",
    "fee_refunded_fen",
    "failure_code",
    "failure_message",
    "business_date",
    "store_id",
    "campaign_ref",
    "created_at",
    "updated_at",
    "expires_at",
    "succeeded_at",
)
DECLINES = ("insufficient_funds", "limit_exceeded", "card_blocked")  # what a simulated payer's bank answers
_INSERTS: dict[tuple[str, str], str] = {}
# Secondary indexes of payments that recording never reads: a bulk load builds them once at the end (see
# bulk_load), with the ledger's own (ledger.bulk.deferrable_indexes).
DEFERRED_INDEXES = frozenset(
    {
        "ix_payments_status_expires",
        "ix_payments_channel_ref",
        "ix_payments_business_date",
        "ix_payments_status_succeeded",
    }
)


def _deferred_indexes() -> list[Index]:
    return sorted(
        [ix for ix in payments.indexes if ix.name in DEFERRED_INDEXES] + ledger.bulk.deferrable_indexes(),
        key=lambda ix: str(ix.name),
    )


@contextlib.contextmanager
def bulk_load(db: Database) -> Iterator[None]:
    """Load history into a fresh database the way bulk loaders do: drop the secondary indexes that recording
    never reads, record, then build each index once over the finished table (a sort, instead of one B-tree
    insert per row per index). The indexes are rebuilt however the block ends, so the schema afterwards is
    exactly the migrations'. Unique constraints and the indexes the batch path reads stay in place throughout,
    so every check holds while loading. Meant for one writer: the simulator on its own database."""
    with db.tx() as conn:
        for ix in _deferred_indexes():
            ix.drop(conn, checkfirst=True)
    try:
        yield
    finally:
        with db.tx() as conn:
            for ix in _deferred_indexes():
                ix.create(conn, checkfirst=True)


def _insert(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """executemany straight to the driver of rows already in the driver's form (see _DriverForm): the same
    stored values as a Core insert, without its per-row bookkeeping (the hot path of bulk recording)."""
    dialect = conn.dialect
    key = (dialect.name, table.name)
    sql = _INSERTS.get(key)
    if sql is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = _INSERTS[key] = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        )
    if rows:
        conn.exec_driver_sql(sql, rows)


class _DriverForm:
    """What the payments table's typed columns hand this dialect's driver, as plain functions and constants:
    times as a UTCDateTime column binds them, business dates as a Date column does, and the JSON null of an
    absent metadata (what a Core insert binds for None)."""

    def __init__(self, conn: Connection) -> None:
        dialect = conn.dialect
        self.time = utc_bind(dialect)
        self.date = payments.c.business_date.type.dialect_impl(dialect).bind_processor(dialect) or (
            lambda v: v
        )
        meta = payments.c.metadata.type.dialect_impl(dialect).bind_processor(dialect)
        self.no_metadata = meta(None) if meta is not None else None


def _bad(i: int, field: str, message: str, code: str = "parameter_invalid") -> InvalidRequest:
    return InvalidRequest(f"payments.{i}.{field}: {message}", param=f"payments.{i}.{field}", code=code)


def _as_notified(ch: RailFacts, payer_ref: str, issuer: str | None, card_type: str) -> tuple[Any, Any, Any]:
    """Payer, issuer and card type as the rail reports them (what the one-by-one path stores)."""
    return (
        payer_ref or None,
        issuer if ch.reports_card_issuer else None,
        card_type if card_type in _CARD_CODES else ch.card_types[0],
    )


def rail_ref(ch: RailFacts, at: dt.datetime, rng: random.Random) -> str:
    """A reference in the rail's length: the second it happened in Beijing time, then random digits."""
    local = at.astimezone(SHANGHAI)
    head = (
        _hour_head(local.year, local.month, local.day, local.hour)
        + _MINUTE_SECOND[local.minute * 60 + local.second]
    )
    digits = ch.ref_digits - len(head)
    return f"{head}{rng.randrange(10**digits):0{digits}d}"


_MINUTE_SECOND = [f"{m:02d}{sec:02d}" for m in range(60) for sec in range(60)]  # "%M%S" of each second


@functools.lru_cache(maxsize=1024)
def _hour_head(year: int, month: int, day: int, hour: int) -> str:
    """ "%Y%m%d%H" of an hour (the batch path makes thousands of references an hour)."""
    return f"{year:04d}{month:02d}{day:02d}{hour:02d}"


def _check(i: int, s: PaymentSpec, max_fen: int) -> RailFacts:
    check_fen(s.amount_fen, max_fen=max_fen, param=f"payments.{i}.amount_fen")
    ch = FACTS.get(s.channel)
    if ch is None:
        raise _bad(i, "channel", f"unknown channel {s.channel!r}")
    if s.flow not in FLOWS:
        raise _bad(i, "flow", f"one of {', '.join(sorted(FLOWS))}")
    if s.card_type not in ch.card_types:
        raise _bad(i, "card_type", f"{s.channel} takes {', '.join(ch.card_types)}")
    if s.outcome != "success" and s.outcome.removeprefix("decline_") not in DECLINES:
        raise _bad(i, "outcome", "success or decline_" + "|".join(DECLINES))
    if not _ORDER_NO_RE.fullmatch(s.merchant_order_no):
        raise _bad(i, "merchant_order_no", "letters, digits, _ and - only, 1–64 characters")
    if s.created_at.tzinfo is None or s.paid_at.tzinfo is None:
        raise _bad(i, "created_at", "times must be timezone-aware")
    if not s.created_at <= s.paid_at < s.created_at + dt.timedelta(seconds=s.expires_in_s):
        raise _bad(i, "paid_at", "must fall between the payment's creation and its expiry")
    return ch


def _merchant_rows(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for start in range(0, len(ids), IN_CHUNK):
        q = select(
            merchants.c.id, merchants.c.status, merchants.c.daily_cap_fen, merchants.c.monthly_cap_fen
        ).where(merchants.c.id.in_(ids[start : start + IN_CHUNK]))
        out.update({r.id: r for r in conn.execute(q)})
    return out


def _check_caps(conn: Connection, specs: Sequence[PaymentSpec], capped: dict[str, Any]) -> None:
    """The micro-merchant caps of the one-by-one path, applied in order over the stored and batched sums."""
    live = payments.c.status.in_((PaymentStatus.SUCCEEDED, PaymentStatus.CREATED, PaymentStatus.PROCESSING))
    days: dict[dt.date, list[int]] = defaultdict(list)
    for i, s in enumerate(specs):
        if s.merchant_id in capped:
            days[s.created_at.astimezone(SHANGHAI).date()].append(i)
    if not days:
        return
    used_day: dict[tuple[str, dt.date], int] = {}
    used_month: dict[tuple[str, dt.date], int] = {}
    for day in sorted(days):
        day0 = dt.datetime.combine(day, dt.time(), SHANGHAI)
        month0 = day0.replace(day=1)
        mids = sorted({specs[i].merchant_id for i in days[day]})
        for since, used, key in ((day0, used_day, day), (month0, used_month, month0.date())):
            for start in range(0, len(mids), IN_CHUNK):
                # ids lead with their creation time in ms: an id range is a created_at range on the
                # (merchant_id, id) index
                q = (
                    select(payments.c.merchant_id, func.sum(payments.c.amount_fen))
                    .where(
                        and_(
                            payments.c.merchant_id.in_(mids[start : start + IN_CHUNK]),
                            payments.c.id >= _first_id_at(since),
                            live,
                        )
                    )
                    .group_by(payments.c.merchant_id)
                )
                for mid, total in conn.execute(q):
                    used[(mid, key)] = max(used.get((mid, key), 0), int(total))
    for day in sorted(days):
        month = day.replace(day=1)
        for i in days[day]:
            s = specs[i]
            m = capped[s.merchant_id]
            d = used_day.get((s.merchant_id, day), 0) + s.amount_fen
            mo = used_month.get((s.merchant_id, month), 0) + s.amount_fen
            for cap, total, label in ((m.daily_cap_fen, d, "daily"), (m.monthly_cap_fen, mo, "monthly")):
                if cap and total > cap:
                    raise _bad(
                        i,
                        "amount_fen",
                        f"would exceed the merchant's {label} cap of {fen_to_yuan_str(cap)} yuan",
                        code="merchant_limit_exceeded",
                    )
            if s.outcome == "success":  # a declined payment stops counting once it fails
                used_day[(s.merchant_id, day)] = d
                used_month[(s.merchant_id, month)] = mo


def _fee_and_cost(
    conn: Connection,
    terms: dict[tuple[Any, ...], tuple[Any, bool]],
    fees: dict[tuple[int, int], int],
    costs: dict[tuple[str, str, int], int],
    merchant_id: str,
    channel: str,
    card_type: str,
    amount_fen: int,
    on: dt.date,
) -> tuple[int, int]:
    """The fee and the channel's cost exactly as the payment service books them on success. The fee terms are
    looked up once per merchant, channel, card type and business date of the batch, the fee once per terms and
    amount, the cost once per channel, card type and amount (shop prices repeat)."""
    key = (merchant_id, channel, card_type, on)
    found = terms.get(key)
    if found is None:
        found = terms[key] = fee_terms(conn, merchant_id, channel, card_type, on)
    fkey = (id(found), amount_fen)  # the terms stay referenced by `terms` while the batch runs
    fee = fees.get(fkey)
    if fee is None:
        fee = fees[fkey] = _compute_fee(amount_fen, found[0], waived=found[1])
    ckey = (channel, card_type, amount_fen)
    cost = costs.get(ckey)
    if cost is None:
        cost = costs[ckey] = min(payment_cost(conn, channel, card_type, amount_fen).total_fen, amount_fen)
    return fee, cost


def _check_no_campaign(conn: Connection, specs: Sequence[PaymentSpec]) -> None:
    """The batch path prices no campaign: a discount needs a hold on its budget while the payer pays, and cost
    refunds, subsidies and fee waivers are decided card by card, one transaction each. The simulator's history
    is recorded before any campaign starts (the demo starts its campaigns on its last day, for the live
    traffic), so a campaign running over a batch's times means payments it would have priced: they are refused
    here, to be made through the one-by-one path, instead of being recorded without their benefits."""
    running = incentives.campaigns_running(
        conn, min(s.created_at for s in specs), max(s.paid_at for s in specs)
    )
    if running:
        raise ConflictError(
            f"营销活动进行中，批量入账不计活动优惠 / campaign {', '.join(running)} runs over this batch's times and "
            "the batch path prices no campaign: record these payments one by one",
            param="payments",
            code="campaign_running",
        )


def _first_id_at(at: dt.datetime) -> str:
    """The smallest payment id created at or after `at` (ids are the ms timestamp, then random bits)."""
    return "pay_" + _encode_id(int(at.timestamp() * 1000) << 80)


def record_payments(
    conn: Connection,
    specs: Sequence[PaymentSpec],
    *,
    rng: random.Random,
    rail_txns: list[dict[str, Any]] | None = None,
) -> list[Recorded]:
    """Record finished payments in the caller's transaction, all or nothing; `rng` draws the rails' references.
    The rails' side of each payment is appended to `rail_txns`, for the simulator to hand to its fake rails."""
    if len(specs) > BATCH_MAX:
        raise InvalidRequest(
            f"a batch holds at most {BATCH_MAX} payments", param="payments", code="batch_too_large"
        )
    if not specs:
        return []
    settings = get_settings()
    rails = [_check(i, s, settings.max_payment_fen) for i, s in enumerate(specs)]
    seen: set[tuple[str, str]] = set()
    for i, s in enumerate(specs):
        key = (s.merchant_id, s.merchant_order_no)
        if key in seen:
            raise ConflictError(
                f"payments.{i}.merchant_order_no {s.merchant_order_no} repeats in the batch",
                param=f"payments.{i}.merchant_order_no",
                code="order_no_taken",
            )
        seen.add(key)
    mrows = _merchant_rows(conn, sorted({s.merchant_id for s in specs}))
    for i, s in enumerate(specs):
        m = mrows.get(s.merchant_id)
        if m is None or m.status != MerchantStatus.ACTIVE:
            raise ConflictError(
                f"payments.{i}: merchant {s.merchant_id} is {m.status if m else 'unknown'} and "
                "cannot take payments",
                param=f"payments.{i}.merchant_id",
                code="merchant_not_active",
            )
    _check_caps(conn, specs, {mid: m for mid, m in mrows.items() if m.daily_cap_fen or m.monthly_cap_fen})
    _check_no_campaign(conn, specs)
    prefetch(conn, list(mrows))

    form = _DriverForm(conn)
    time_of, no_meta = form.time, form.no_metadata
    pids = new_ids_fast("pay", [int(s.created_at.timestamp() * 1000) for s in specs])
    pay_rows: list[tuple[Any, ...]] = []
    txn_rows: list[dict[str, Any]] = []
    posts: list[ledger.BulkEntry] = []
    out: list[Recorded] = []
    noted: list[incentives.SuccessNote] = []
    bdates: dict[tuple[dt.date, int], tuple[dt.date, Any]] = {}
    terms: dict[tuple[Any, ...], tuple[Any, bool]] = {}
    fees: dict[tuple[int, int], int] = {}
    costs: dict[tuple[str, str, int], int] = {}
    built: dict[tuple[str, str, int, int, int], tuple[ledger.Leg, ...]] = {}
    succeeded, failed = PaymentStatus.SUCCEEDED.value, PaymentStatus.FAILED.value
    fast = random.Random(rng.random())  # the rails' digits: reproducible from the caller's generator
    for s, ch, pid in zip(specs, rails, pids, strict=True):
        created, paid = s.created_at, s.paid_at
        ref = rail_ref(ch, created, fast)
        ok = s.outcome == "success"
        decline = None if ok else s.outcome.removeprefix("decline_")
        if rail_txns is not None:
            txn_rows.append(_rail_row(ch, ref, pid, s, ok, decline, fast))
        amount = s.amount_fen
        if ok:
            payer, issuer, card_type = _as_notified(ch, s.payer_ref, s.card_issuer, s.card_type)
            local = paid.astimezone(SHANGHAI)
            bkey = (local.date(), local.hour)
            day = bdates.get(bkey)
            if day is None:
                bd = business_date(paid)
                day = bdates[bkey] = (bd, form.date(bd))
            fee, cost = _fee_and_cost(
                conn, terms, fees, costs, s.merchant_id, ch.name, card_type, amount, day[0]
            )
            lkey = (ch.name, s.merchant_id, amount, fee, cost)
            legs = built.get(lkey)  # a shop's prices repeat: the same figures build the same (immutable) legs
            if legs is None:
                legs = built[lkey] = ledger.movements.payment_success(
                    channel=ch.name, merchant_id=s.merchant_id, amount_fen=amount, fee_fen=fee, cost_fen=cost
                )
            posts.append(ledger.BulkEntry(ledger.keys.payment_success(pid), legs, f"payment {pid}", paid))
            noted.append(incentives.SuccessNote(s.merchant_id, pid, payer, amount, paid))
            status, failure, bd_value, paid_value = succeeded, None, day[1], time_of(paid)
            updated_value = paid_value
        else:
            payer = issuer = card_type = bd_value = paid_value = None
            fee = cost = 0
            status, failure, updated_value = failed, decline, time_of(paid)
        # columns in _PAYMENT_COLUMNS order
        pay_rows.append(
            (
                pid,
                s.merchant_id,
                s.merchant_order_no,
                amount,
                0,
                "CNY",
                ch.name,
                s.flow,
                status,
                s.description,
                None,
                no_meta,
                None,
                ref,
                payer,
                issuer,
                card_type,
                fee,
                cost,
                0,
                0,
                failure,
                None,
                bd_value,
                None,
                None,
                time_of(created),
                updated_value,
                time_of(created + dt.timedelta(seconds=s.expires_in_s)),
                paid_value,
            )
        )
        out.append(Recorded(pid, s.merchant_id, ch.name, status, amount, fee))
    try:
        _insert(conn, payments, _PAYMENT_COLUMNS, pay_rows)
    except IntegrityError as exc:
        raise ConflictError(
            "a merchant_order_no in the batch was already used",
            param="merchant_order_no",
            code="order_no_taken",
        ) from exc
    if rail_txns is not None:
        rail_txns.extend(txn_rows)
    incentives.note_successes(conn, noted)  # payers seen and merchant days, as each success keeps them
    ledger.post_bulk(conn, posts)
    return out


def _rail_row(
    ch: RailFacts, ref: str, pid: str, s: PaymentSpec, ok: bool, decline: str | None, rng: random.Random
) -> dict[str, Any]:
    """The rail's own record of a payment, for the fake rails' store."""
    return {
        "rail": ch.name,
        "ref": ref,
        "kind": "payment",
        "out_trade_no": pid,
        "out_refund_no": None,
        "merchant_id": s.merchant_id,
        "amount_fen": s.amount_fen,
        "status": "succeeded" if ok else "failed",
        "trace_no": f"{rng.randrange(1_000_000):06d}",
        "payer_ref": s.payer_ref,
        "card_issuer": s.card_issuer,
        "card_type": s.card_type,
        "failure_code": decline,
        "trade_type": s.flow,
        "created_at": s.created_at,
        "finished_at": s.paid_at,
    }


def record_refunds(
    conn: Connection,
    specs: Sequence[RefundSpec],
    *,
    rng: random.Random,
    rail_txns: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Record succeeded refunds of succeeded payments, in order, never beyond what is left of each payment; the
    rails' side of each is appended to `rail_txns`."""
    if len(specs) > BATCH_MAX:
        raise InvalidRequest(
            f"a batch holds at most {BATCH_MAX} refunds", param="refunds", code="batch_too_large"
        )
    if not specs:
        return []
    ids = sorted({s.payment_id for s in specs})
    pays: dict[str, Any] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found = {
            r.id: r
            for r in conn.execute(
                select(
                    payments.c.id,
                    payments.c.merchant_id,
                    payments.c.channel,
                    payments.c.channel_ref,
                    payments.c.status,
                    payments.c.amount_fen,
                    payments.c.fee_fen,
                    payments.c.refunded_fen,
                    payments.c.fee_refunded_fen,
                    payments.c.payer_ref,
                    payments.c.card_issuer,
                    payments.c.card_type,
                ).where(payments.c.id.in_(chunk))
            )
        }
        pays.update(found)
    refunded = {pid: [p.refunded_fen, p.fee_refunded_fen, None] for pid, p in pays.items()}
    ref_rows: list[dict[str, Any]] = []
    txn_rows: list[dict[str, Any]] = []
    posts: list[ledger.BulkEntry] = []
    out: list[str] = []
    for i, s in enumerate(specs):
        p = pays.get(s.payment_id)
        if p is None or p.merchant_id != s.merchant_id:
            raise InvalidRequest(
                f"refunds.{i}: no payment {s.payment_id}",
                param=f"refunds.{i}.payment_id",
                code="resource_missing",
            )
        if p.status != PaymentStatus.SUCCEEDED:
            raise ConflictError(
                f"refunds.{i}: payment {s.payment_id} is {p.status}", code="payment_not_refundable"
            )
        state = refunded[s.payment_id]
        check_fen(s.amount_fen, param=f"refunds.{i}.amount_fen")
        if s.amount_fen > p.amount_fen - state[0]:
            raise InvalidRequest(
                f"refunds.{i}.amount_fen: {fen_to_yuan_str(s.amount_fen)} exceeds what is left "
                f"({fen_to_yuan_str(p.amount_fen - state[0])})",
                param=f"refunds.{i}.amount_fen",
                code="refund_exceeds_payment",
            )
        fee_back = refund_fee_share(p.fee_fen, p.amount_fen, state[0], s.amount_fen)
        state[0] += s.amount_fen
        state[1] += fee_back
        state[2] = s.at
        ch = FACTS[p.channel]
        rid = new_id_fast("re", int(s.at.timestamp() * 1000))
        ref = rail_ref(ch, s.at, rng)
        ref_rows.append(
            {
                "id": rid,
                "merchant_id": s.merchant_id,
                "payment_id": s.payment_id,
                "amount_fen": s.amount_fen,
                "fee_refunded_fen": fee_back,
                "status": RefundStatus.SUCCEEDED.value,
                "merchant_refund_no": rid,
                "reason": s.reason,
                "channel_ref": ref,
                "failure_code": None,
                "business_date": business_date(s.at),
                "created_at": s.at,
                "updated_at": s.at,
            }
        )
        txn_rows.append(
            {
                "rail": ch.name,
                "ref": ref,
                "kind": "refund",
                "out_trade_no": s.payment_id,
                "out_refund_no": rid,
                "merchant_id": s.merchant_id,
                "amount_fen": s.amount_fen,
                "total_fen": p.amount_fen,
                "status": "succeeded",
                "trace_no": f"{rng.randrange(1_000_000):06d}",
                "payer_ref": p.payer_ref,
                "card_issuer": p.card_issuer,
                "card_type": p.card_type,
                "failure_code": None,
                "trade_type": "refund",
                "created_at": s.at,
                "finished_at": s.at,
                "original_ref": p.channel_ref,
            }
        )
        legs = ledger.movements.refund_success(
            channel=ch.name,
            merchant_id=s.merchant_id,
            amount_fen=s.amount_fen,
            fee_back_fen=fee_back,
            to_payer_fen=s.amount_fen,  # history is recorded without discounts: the payer gets it all back
        )
        posts.append(ledger.BulkEntry(ledger.keys.refund_success(rid), legs, f"refund {rid}", s.at))
        out.append(rid)
    conn.execute(insert(refunds), ref_rows)
    if rail_txns is not None:
        rail_txns.extend(txn_rows)
    changed = [
        {"pid": pid, "r": st[0], "f": st[1], "u": st[2]} for pid, st in refunded.items() if st[2] is not None
    ]
    conn.execute(
        update(payments)
        .where(payments.c.id == bindparam("pid"))
        .values(refunded_fen=bindparam("r"), fee_refunded_fen=bindparam("f"), updated_at=bindparam("u")),
        changed,
    )
    ledger.post_bulk(conn, posts)
    return out
