"""Payments and refunds: create, pay through a channel, notifications, close, expiry, sweeping, and the ledger
entries that go with each success and refund, in the same transaction as the state change."""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator
from sqlalchemy import Connection, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from zhifu import audit, ledger, risk, webhooks
from zhifu.channels import (
    CHANNELS,
    TERMINAL_CHANNELS,
    ChannelResult,
    Notification,
    PaymentOrder,
    RailError,
    RailTimeout,
    channel_for_auth_code,
    facts,
    get_channel,
    merchant_code,
)
from zhifu.channels.exceptions import record_exception
from zhifu.core import clock, events
from zhifu.core.business_day import business_date
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.core.paging import cursor_page
from zhifu.db import Database
from zhifu.db.engine import after_commit
from zhifu.fees import refund_fee_share
from zhifu.fees.service import merchant_fee, payment_cost
from zhifu.incentives import service as incentives
from zhifu.merchants import MerchantStatus, merchant_row, payable_account
from zhifu.payments.models import (
    OPEN_STATUSES,
    PaymentStatus,
    RefundStatus,
    channel_notifications,
    payments,
    refunds,
)
from zhifu.payments.recovery import recovery_point
from zhifu.payments.results import BalanceDoc, FailureDoc, PaymentDoc, RefundDoc

METADATA_KEYS_MAX = 20
RAIL_UNKNOWN_FAIL_S = (
    60  # an order the rail still does not know this long after we committed it never reached it
)
SWEEP_AFTER_S = 5  # a payment or refund without a final answer this long is asked about
# an order awaiting its payer (a code shown) is asked about from this age on, every sweep, until it ends: its payer
# may have paid and the notification been lost (our process down while the rail delivered it, the rail gave up)
AWAITING_ASK_AFTER_S = 30
UNRESOLVED_AGE_S_MAX = 3600  # still without a final answer after this long: on the operator's exception list
_ORDER_NO_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")


receivable_account = ledger.accounts.channel_receivable


PLATFORM_ACCOUNTS: list[tuple[str, str, str, bool]] = [
    *((receivable_account(c), "asset", "CNY", False) for c in CHANNELS),
    (ledger.accounts.FEE_INCOME, "income", "CNY", False),
    (ledger.accounts.CHANNEL_COST, "expense", "CNY", False),
    (ledger.accounts.BANK, "asset", "CNY", False),
    (ledger.accounts.SETTLEMENT_IN_TRANSIT, "liability", "CNY", False),
    (ledger.accounts.SUSPENSE, "liability", "CNY", False),
]


def ensure_platform_accounts(conn: Connection) -> None:
    """Open the acquirer's own accounts (idempotent)."""
    ledger.open_accounts(conn, PLATFORM_ACCOUNTS)


class CreatePayment(BaseModel):
    """The body of POST /v1/payments."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: StrictInt
    currency: Literal["CNY"] = "CNY"
    merchant_order_no: str = Field(min_length=1, max_length=64)
    channel: str | None = None
    auth_code: str | None = Field(default=None, max_length=32)
    description: str = Field(default="", max_length=128)
    notify_url: str | None = Field(default=None, max_length=512)
    expires_in_s: StrictInt = Field(default=900, ge=60, le=86_400)
    metadata: dict[str, str] | None = None
    store_id: str | None = Field(default=None, max_length=32)
    payer: incentives.PayerHint | None = (
        None  # what the cashier knows of the payer: prices campaign discounts
    )

    @field_validator("merchant_order_no")
    @classmethod
    def _order_no(cls, v: str) -> str:
        if not _ORDER_NO_RE.fullmatch(v):
            raise ValueError("merchant_order_no may hold letters, digits, _ and - only")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is not None:
            if len(v) > METADATA_KEYS_MAX:
                raise ValueError(f"metadata holds at most {METADATA_KEYS_MAX} keys")
            for k, val in v.items():
                if not 1 <= len(k) <= 40 or len(val) > 500:
                    raise ValueError("metadata keys are 1–40 characters and values at most 500")
        return v

    @model_validator(mode="after")
    def _one_way_to_pay(self) -> CreatePayment:
        if (self.channel is None) == (self.auth_code is None):
            raise ValueError(
                "give exactly one of channel (a code to scan or a terminal) or auth_code (the payer's "
                "pay code)"
            )
        return self


# ---------------------------------------------------------------- reading


def public(row: Any) -> PaymentDoc:
    """A payment as the API shows it."""
    failure: FailureDoc | None = (
        {"code": row.failure_code, "message": row.failure_message} if row.failure_code else None
    )
    return {
        "id": row.id,
        "object": "payment",
        "merchant_id": row.merchant_id,
        "merchant_order_no": row.merchant_order_no,
        "amount_fen": row.amount_fen,
        "discount_fen": row.discount_fen,
        "payable_fen": row.amount_fen - row.discount_fen,
        "currency": row.currency,
        "channel": row.channel,
        "flow": row.flow,
        "status": row.status,
        "description": row.description,
        "code_url": row.code_url,
        "channel_ref": row.channel_ref,
        "fee_fen": row.fee_fen,
        "refunded_fen": row.refunded_fen,
        "payer": {"card_issuer": row.card_issuer, "card_type": row.card_type} if row.card_type else None,
        "failure": failure,
        "metadata": row.metadata or {},
        "notify_url": row.notify_url,
        "business_date": row.business_date.isoformat() if row.business_date else None,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "succeeded_at": row.succeeded_at,
    }


class _Row(SimpleNamespace):
    """A payment row kept in memory after this transaction wrote it (what reading it back would give)."""

    @property
    def _mapping(self) -> dict[str, Any]:
        return vars(self)


# The hot path's loads of one payment, built once (a statement built per call costs more than running it).
_BY_ID = select(payments).where(payments.c.id == bindparam("pid"))
_LOADS = {
    (False, False): _BY_ID,
    (False, True): _BY_ID.with_for_update(),
    (True, False): _BY_ID.where(payments.c.merchant_id == bindparam("mid")),
    (True, True): _BY_ID.where(payments.c.merchant_id == bindparam("mid")).with_for_update(),
}


_BY_ORDER_NO = select(payments).where(
    and_(payments.c.merchant_id == bindparam("mid"), payments.c.merchant_order_no == bindparam("order_no"))
)
# an UPDATE of one payment setting the columns named in its parameters (besides "pid")
_UPDATE_BY_ID = update(payments).where(payments.c.id == bindparam("pid"))


def _load(conn: Connection, payment_id: str, *, merchant_id: str | None = None, lock: bool = False) -> Any:
    q = _LOADS[(merchant_id is not None, lock and conn.dialect.name == "postgresql")]
    row = conn.execute(q, {"pid": payment_id, "mid": merchant_id}).first()
    if row is None:
        raise NotFound(f"no payment {payment_id}", param="id")
    return row


def get_payment(conn: Connection, merchant_id: str | None, payment_id: str) -> PaymentDoc:
    """A merchant sees only its own payments: another's id is simply not found."""
    return public(_load(conn, payment_id, merchant_id=merchant_id))


def list_payments(
    conn: Connection,
    merchant_id: str | None,
    *,
    status: str | None = None,
    created_gte: dt.datetime | None = None,
    created_lt: dt.datetime | None = None,
    merchant_order_no: str | None = None,
    channel: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[PaymentDoc], bool]:
    where = []
    if merchant_id is not None:
        where.append(payments.c.merchant_id == merchant_id)
    if status:
        where.append(payments.c.status == status)
    if channel:
        where.append(payments.c.channel == channel)
    if created_gte:
        where.append(payments.c.created_at >= created_gte)
    if created_lt:
        where.append(payments.c.created_at < created_lt)
    if merchant_order_no:
        where.append(payments.c.merchant_order_no == merchant_order_no)
    return cursor_page(conn, payments, where, limit=limit, starting_after=starting_after, public=public)


# ---------------------------------------------------------------- creating


def _check_caps(conn: Connection, m: Any, amount_fen: int, at: dt.datetime) -> None:
    """Micro merchants' daily and monthly caps count what succeeded and what is still open."""
    if not (m.daily_cap_fen or m.monthly_cap_fen):
        return
    local = at.astimezone(SHANGHAI)
    day0 = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month0 = day0.replace(day=1)
    live = payments.c.status.in_((PaymentStatus.SUCCEEDED, PaymentStatus.CREATED, PaymentStatus.PROCESSING))
    for cap, since, label in ((m.daily_cap_fen, day0, "daily"), (m.monthly_cap_fen, month0, "monthly")):
        if not cap:
            continue
        used = conn.execute(
            select(func.coalesce(func.sum(payments.c.amount_fen), 0)).where(
                and_(payments.c.merchant_id == m.id, payments.c.created_at >= since, live)
            )
        ).scalar_one()
        if int(used) + amount_fen > cap:
            raise InvalidRequest(
                f"超出商户{'日' if label == 'daily' else '月'}收款限额 / this payment would exceed the "
                f"merchant's {label} cap of {fen_to_yuan_str(cap)} yuan",
                param="amount_fen",
                code="merchant_limit_exceeded",
            )


def create_payment(
    conn: Connection,
    merchant_id: str,
    req: CreatePayment,
    *,
    at: dt.datetime | None = None,
    flow: str | None = None,
    discount_fen: int = 0,
) -> PaymentDoc:
    """Create a payment and ask its channel to collect it; a pay code may succeed at once."""
    at = at or clock.now()
    settings = get_settings()
    check_fen(req.amount_fen, max_fen=settings.max_payment_fen, param="amount_fen")
    if req.auth_code is not None:
        if not req.auth_code.isdigit():
            raise InvalidRequest("auth_code must be digits only", param="auth_code", code="invalid_auth_code")
        channel_name = channel_for_auth_code(req.auth_code)
        flow = "pay_code"
    else:
        channel_name = req.channel or ""
        facts(channel_name)
        flow = flow or ("terminal" if channel_name in TERMINAL_CHANNELS else "dynamic_code")
    m = merchant_row(conn, merchant_id)
    taken = conn.execute(_BY_ORDER_NO, {"mid": merchant_id, "order_no": req.merchant_order_no}).first()
    if taken is not None:  # before the caps, which count this very payment
        if (taken.amount_fen, taken.channel, taken.description) == (
            req.amount_fen,
            channel_name,
            req.description,
        ):
            return _created_again(conn, taken, m, req.auth_code)
        raise ConflictError(
            f"merchant_order_no {req.merchant_order_no} was already used by {taken.id}",
            param="merchant_order_no",
            code="order_no_taken",
        )
    if m.status != MerchantStatus.ACTIVE:
        raise ConflictError(
            f"merchant {merchant_id} is {m.status} and cannot take payments", code="merchant_not_active"
        )
    _check_caps(conn, m, req.amount_fen, at)
    risk.authorise(conn, m, req, flow, at)  # limits at authorisation and pre-auth rules (risk control)
    pid = new_id_fast("pay", int(at.timestamp() * 1000))
    expires_at = at + dt.timedelta(seconds=req.expires_in_s)
    if not discount_fen:  # a campaign's instant discount, held on its budget until the payment ends
        pricing = incentives.price_payment(
            conn, m, req.amount_fen, channel_name, req.payer, at, payment_id=pid, expires_at=expires_at
        )
        discount_fen, campaign_ref = pricing.discount_fen, pricing.campaign_ref
    else:
        campaign_ref = None
    row: dict[str, Any] = {
        "id": pid,
        "merchant_id": merchant_id,
        "merchant_order_no": req.merchant_order_no,
        "amount_fen": req.amount_fen,
        "discount_fen": discount_fen,
        "currency": req.currency,
        "channel": channel_name,
        "flow": flow,
        "status": PaymentStatus.CREATED,
        "description": req.description,
        "notify_url": req.notify_url,
        "metadata": req.metadata,
        "code_url": None,
        "channel_ref": None,
        "payer_ref": None,
        "card_issuer": None,
        "card_type": None,
        "fee_fen": 0,
        "cost_fen": 0,
        "refunded_fen": 0,
        "fee_refunded_fen": 0,
        "failure_code": None,
        "failure_message": None,
        "business_date": None,
        "store_id": req.store_id,
        "campaign_ref": campaign_ref,
        "created_at": at,
        "updated_at": at,
        "expires_at": expires_at,
        "succeeded_at": None,
    }
    try:
        if (
            conn.dialect.name == "sqlite"
        ):  # writers hold the write lock from BEGIN: no one can take the number now
            conn.execute(insert(payments), [row])
        else:
            with conn.begin_nested():
                conn.execute(insert(payments), [row])
    except IntegrityError as exc:  # a concurrent create took the order number between our check and insert
        raise ConflictError(
            f"merchant_order_no {req.merchant_order_no} was already used",
            param="merchant_order_no",
            code="order_no_taken",
        ) from exc
    recovery_point(conn, "payment", pid)  # with an Idempotency-Key: a retry after a crash finds this payment
    # the intent is committed first; the rail is called after the commit, its answer recorded in a second
    # transaction; a crash in between leaves a created payment that the sweeper asks the rail about
    utc = {k: row[k].astimezone(dt.UTC) for k in ("created_at", "updated_at", "expires_at")}
    created = _Row(**{**row, **utc})  # the row as the database now holds it, without reading it back
    order = _order(created, m, req.auth_code)
    after_commit(conn, lambda db: call_create(db, order, channel_name))
    return public(created)


# A request that creates a payment and answers with it gets the payment as the rail answer's transaction left it
# (`create_and_answer`), instead of reading it back in a third transaction.
_ANSWERS: contextvars.ContextVar[dict[str, PaymentDoc] | None] = contextvars.ContextVar(
    "zhifu_payment_answers", default=None
)


def create_and_answer(db: Database, merchant_id: str, req: CreatePayment) -> PaymentDoc:
    """Create a payment (its intent commits, the rail is called after the commit and its answer commits in a
    second transaction) and return it as it then stands: as a success left it, or read back otherwise."""
    answers: dict[str, PaymentDoc] = {}
    token = _ANSWERS.set(answers)
    try:
        made = db.run(lambda c: create_payment(c, merchant_id, req))
    finally:
        _ANSWERS.reset(token)
    doc = answers.get(made["id"])
    if doc is not None:
        return doc
    with db.read() as c:
        return get_payment(c, merchant_id, made["id"])


def _order(p: Any, m: Any, auth_code: str | None) -> PaymentOrder:
    return PaymentOrder(
        p.id,
        p.merchant_id,
        p.amount_fen - p.discount_fen,
        p.description,
        p.expires_at,
        p.created_at,
        auth_code,
        p.flow,
        merchant_name=m.short_name or "",
    )


def _created_again(conn: Connection, p: Any, m: Any, auth_code: str | None) -> PaymentDoc:
    """A retry of the same create (a lost answer, a crash): the same payment; if the rail never answered it (a
    crash between our commit and the call, or during it), its call is finished after this commit."""
    recovery_point(conn, "payment", p.id)
    if p.status == PaymentStatus.CREATED and p.channel_ref is None and p.code_url is None:
        order = _order(p, m, auth_code)
        after_commit(conn, lambda db: finish_create(db, order, p.channel))
    return public(p)


def finish_create(db: Database, order: PaymentOrder, channel_name: str) -> None:
    """A create whose call a crash may have cut short: ask the rail first and keep what it knows (a rail refuses
    an order number it has already seen: UnionPay answers 12 重复交易, which is no decline); send the create only
    if the rail has never heard of the order."""
    channel = get_channel(channel_name)
    known = _rail_call(
        lambda: channel.query(order.payment_id, merchant_id=order.merchant_id), channel.facts.name
    )
    if known.status == "unknown":
        call_create(db, order, channel_name)
    else:
        db.run(lambda c: record_rail_answer(c, order.payment_id, known, clock.now()))


def _rail_call(fn: Any, rail: str) -> ChannelResult:
    """A rail's answer; a timeout or a broken answer is `processing` with the reason (the sweeper asks again)."""
    try:
        return fn()
    except RailTimeout:
        return ChannelResult(
            "processing",
            failure_code="rail_timeout",
            failure_message="渠道超时，结果待查询 / the rail did not answer in time; it will be asked",
        )
    except RailError as exc:
        return ChannelResult(
            "processing",
            failure_code="rail_error",
            failure_message=f"渠道异常，结果待查询 / the rail's answer was unusable ({exc.reason})",
        )


def call_create(db: Database, order: PaymentOrder, channel_name: str | None = None) -> None:
    """Ask the rail to collect a committed payment, then record its answer."""
    channel = get_channel(channel_name or _channel_of(db, order.payment_id))
    result = _rail_call(lambda: channel.create(order), channel.facts.name)
    db.run(lambda c: record_rail_answer(c, order.payment_id, result, clock.now()))


def _channel_of(db: Database, payment_id: str) -> str:
    with db.read() as c:
        return str(c.execute(select(payments.c.channel).where(payments.c.id == payment_id)).scalar_one())


def record_rail_answer(conn: Connection, payment_id: str, result: ChannelResult, at: dt.datetime) -> str:
    """Keep what the rail told us of a payment (its reference, the code to scan, the payer) and move it."""
    p = _load(conn, payment_id, lock=True)
    values: dict[str, str | None] = {
        k: v
        for k, v in {
            "channel_ref": result.channel_ref,
            "code_url": result.code_url,
            "payer_ref": result.payer_ref,
            "card_issuer": result.card_issuer,
            "card_type": result.card_type,
        }.items()
        if v and not getattr(p, k)
    }
    if result.status == "processing" and p.status in OPEN_STATUSES:
        values.update(failure_code=result.failure_code, failure_message=result.failure_message)
    if values:
        # a success writes these in its own UPDATE (channel_ref, payer and card; its own updated_at): one is enough
        if not (
            result.status == "succeeded" and p.status != PaymentStatus.SUCCEEDED and "code_url" not in values
        ):
            conn.execute(update(payments).where(payments.c.id == payment_id).values(**values, updated_at=at))
        p = _Row(**{**p._mapping, **values, "updated_at": at.astimezone(dt.UTC)})
    return apply_channel_result(conn, payment_id, result, at, loaded=p)


# ---------------------------------------------------------------- state changes


def _succeed(conn: Connection, p: Any, result: ChannelResult | Notification, at: dt.datetime) -> None:
    card_type = result.card_type or p.card_type
    # campaigns first: they post the discount's hold and accrue cost refunds and subsidies, and may waive the fee
    benefits = incentives.on_success(
        conn,
        p,
        payer_ref=result.payer_ref or p.payer_ref,
        issuer=result.card_issuer or p.card_issuer,
        card_type=card_type,
        at=at,
    )
    fee = (
        0
        if benefits.fee_waived
        else merchant_fee(conn, p.merchant_id, p.channel, card_type, p.amount_fen, at)
    )
    payable = p.amount_fen - p.discount_fen
    # the channel remits the payment net of its cost (issuer + network fees): book that cost as an expense
    cost = min(payment_cost(conn, p.channel, card_type, payable).total_fen, payable)
    legs = ledger.movements.payment_success(
        channel=p.channel,
        merchant_id=p.merchant_id,
        amount_fen=p.amount_fen,
        fee_fen=fee,
        cost_fen=cost,
        discount_fen=p.discount_fen,
        discount_from=benefits.discount_from,  # the campaign's clearing account
    )
    ledger.post_entry(
        conn, ledger.EntryRequest(ledger.keys.payment_success(p.id), legs, f"payment {p.id}"), at=at
    )
    now = at.astimezone(dt.UTC)  # as the database gives it back
    values = {
        "status": str(PaymentStatus.SUCCEEDED),
        "channel_ref": result.channel_ref or p.channel_ref,
        "fee_fen": fee,
        "cost_fen": cost,
        "payer_ref": result.payer_ref or p.payer_ref,
        "card_issuer": result.card_issuer or p.card_issuer,
        "card_type": card_type,
        "failure_code": None,
        "failure_message": None,
        "succeeded_at": now,
        "updated_at": now,
        "business_date": business_date(at),
    }
    conn.execute(_UPDATE_BY_ID, {**values, "pid": p.id})
    done = SimpleNamespace(**{**p._mapping, **values})  # the row as it now stands, without reading it again
    # subscribers act in this transaction (a bill payment: its bill, receipt and the biller's payable)
    events.publish(
        conn,
        events.PaymentSucceeded(
            id=p.id,
            merchant_id=p.merchant_id,
            merchant_order_no=p.merchant_order_no,
            amount_fen=p.amount_fen,
            fee_fen=fee,
            channel=p.channel,
            payer_ref=done.payer_ref,
            card_type=card_type,
            metadata=p.metadata,
            at=at,
        ),
    )
    doc = public(done)
    webhooks.emit(conn, p.merchant_id, "payment.succeeded", doc, at=at)
    answers = _ANSWERS.get()
    if answers is not None:  # the request that created it answers with this, once this transaction commits
        answers[p.id] = doc


def _fail(conn: Connection, p: Any, code: str | None, message: str | None, at: dt.datetime) -> None:
    incentives.on_release(conn, p, at)
    risk.release(conn, p, at)  # give back what the payment took from its limits
    conn.execute(
        update(payments)
        .where(payments.c.id == p.id)
        .values(
            status=PaymentStatus.FAILED,
            failure_code=code or "declined",
            failure_message=message,
            updated_at=at,
        )
    )
    webhooks.emit(conn, p.merchant_id, "payment.failed", public(_load(conn, p.id)), at=at)


def _finish(conn: Connection, p: Any, status: PaymentStatus, at: dt.datetime) -> None:
    incentives.on_release(conn, p, at)
    risk.release(conn, p, at)  # give back what the payment took from its limits
    conn.execute(update(payments).where(payments.c.id == p.id).values(status=status, updated_at=at))
    event = "payment.closed" if status == PaymentStatus.CLOSED else "payment.expired"
    webhooks.emit(conn, p.merchant_id, event, public(_load(conn, p.id)), at=at)


def apply_channel_result(
    conn: Connection,
    payment_id: str,
    result: ChannelResult | Notification,
    at: dt.datetime,
    *,
    loaded: Any = None,
) -> str:
    """Move a payment by what its channel says; final states never move back. `loaded`: the payment as this
    transaction last read it, locked (saves reading it again)."""
    p = loaded if loaded is not None else _load(conn, payment_id, lock=True)
    outcome = result.outcome if isinstance(result, Notification) else result.status
    if isinstance(result, Notification) and result.amount_fen != p.amount_fen - p.discount_fen:
        raise InvalidRequest(
            f"notification amount {result.amount_fen} does not match payment {payment_id} "
            f"({p.amount_fen - p.discount_fen})",
            param="amount",
            code="amount_mismatch",
        )
    if outcome == "succeeded" and p.status != PaymentStatus.SUCCEEDED:
        # The channel holds the money: even a closed or expired order that the payer paid becomes succeeded.
        _succeed(conn, p, result, at)
        return "succeeded"
    if outcome == "failed" and p.status in OPEN_STATUSES:
        _fail(conn, p, result.failure_code, getattr(result, "failure_message", None), at)
        return "failed"
    if outcome == "closed" and p.status in OPEN_STATUSES:
        _finish(conn, p, PaymentStatus.CLOSED, at)
        return "closed"
    if outcome == "processing" and p.status == PaymentStatus.CREATED:
        conn.execute(
            update(payments)
            .where(payments.c.id == p.id)
            .values(status=PaymentStatus.PROCESSING, updated_at=at)
        )
        return "processing"
    return "unchanged"


_SEEN_NOTIFICATION = select(channel_notifications.c.outcome).where(
    channel_notifications.c.channel == bindparam("channel"),
    channel_notifications.c.notify_id == bindparam("notify_id"),
)
_NOTE_NOTIFICATION = insert(channel_notifications)


def parse_notification(channel_name: str, body: bytes, headers: dict[str, str]) -> Notification:
    """A rail notification verified and read, with no database: its signature check runs before the
    transaction, not inside it (on SQLite, inside the write lock every other payment waits for)."""
    return get_channel(channel_name).parse_notification(body, headers)


def handle_notification(
    conn: Connection,
    channel_name: str,
    body: bytes,
    headers: dict[str, str],
    *,
    at: dt.datetime | None = None,
    parsed: Notification | None = None,
) -> str:
    """Verify and apply a rail notification in one transaction; duplicates and stale ones change nothing; one for
    another merchant's order or another amount is refused. `parsed` is the notification parse_notification
    already verified from this body and these headers."""
    at = at or clock.now()
    n = parsed if parsed is not None else parse_notification(channel_name, body, headers)
    seen = conn.execute(_SEEN_NOTIFICATION, {"channel": channel_name, "notify_id": n.notify_id}).first()
    if seen is not None:
        return "duplicate"
    p = _load(conn, n.payment_id)
    if p.channel != channel_name or (n.merchant_code and n.merchant_code != merchant_code(p.merchant_id)):
        raise InvalidRequest(
            f"通知的商户或渠道与订单不符 / the notification's merchant or rail does not match payment "
            f"{n.payment_id}",
            param="merchant",
            code="merchant_mismatch",
        )
    if n.kind == "refund":
        outcome = _apply_refund_result(conn, n, at)
    else:
        outcome = apply_channel_result(conn, n.payment_id, n, at)
    conn.execute(
        _NOTE_NOTIFICATION,
        {
            "channel": channel_name,
            "notify_id": n.notify_id,
            "payment_id": n.payment_id,
            "outcome": outcome,
            "received_at": at,
        },
    )
    return outcome


def request_close(conn: Connection, payment_id: str) -> None:
    """Close an open payment at its rail once this transaction commits (a newer attempt replaces it)."""
    after_commit(conn, lambda db: _close_at_rail(db, payment_id, PaymentStatus.CLOSED))


def _close_at_rail(db: Database, payment_id: str, status: PaymentStatus) -> str:
    with db.read() as c:
        p = _load(c, payment_id)
    if p.status not in OPEN_STATUSES:
        return "unchanged"
    result = _rail_call(
        lambda: get_channel(p.channel).close(payment_id, merchant_id=p.merchant_id), p.channel
    )
    if result.status == "processing":  # the rail could not be reached: the expiry sweep closes it later
        return "unchanged"

    def record(c: Connection) -> str:
        q = _load(c, payment_id, lock=True)
        if result.status in ("closed", "unknown", "awaiting", "failed") and q.status in OPEN_STATUSES:
            _finish(c, q, status, clock.now())
            return str(status)
        return record_rail_answer(c, payment_id, result, clock.now())

    return db.run(record)


def close_payment(db: Database, merchant_id: str, payment_id: str) -> PaymentDoc:
    """Close an unpaid payment at its rail. If the payer paid first, the payment comes back succeeded."""
    with db.read() as c:
        p = _load(c, payment_id, merchant_id=merchant_id)
    if p.status not in OPEN_STATUSES:
        raise ConflictError(
            f"payment {payment_id} is {p.status}; only created or processing payments can be closed",
            code="payment_not_open",
        )
    _close_at_rail(db, payment_id, PaymentStatus.CLOSED)
    with db.read() as c:
        return public(_load(c, payment_id))


def expire_due(db: Database, *, at: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Close at the rail and expire open payments past their deadline (the sweeper calls this)."""
    at = at or clock.now()
    with db.read() as c:
        rows = c.execute(
            select(payments.c.id)
            .where(and_(payments.c.status.in_(OPEN_STATUSES), payments.c.expires_at <= at))
            .limit(limit)
        ).all()
    done = []
    for (pid,) in rows:
        _close_at_rail(db, pid, PaymentStatus.EXPIRED)
        done.append(pid)
    return done


def sweep_processing(
    db: Database, *, at: dt.datetime | None = None, older_than_s: int = SWEEP_AFTER_S, limit: int = 500
) -> dict[str, int]:
    """Ask the rail about payments without a final answer: processing (a PIN, a lost notification, a timeout),
    created ones the rail never answered (a crash between our commit and the call), and created ones awaiting
    their payer for AWAITING_ASK_AFTER_S (a payment whose notification was lost). One the rail never heard of
    fails after RAIL_UNKNOWN_FAIL_S."""
    at = at or clock.now()
    awaiting_s = max(older_than_s, AWAITING_ASK_AFTER_S)
    with db.read() as c:
        rows = c.execute(
            select(payments.c.id, payments.c.channel, payments.c.updated_at, payments.c.merchant_id)
            .where(
                and_(
                    payments.c.updated_at <= at - dt.timedelta(seconds=older_than_s),
                    (payments.c.status == PaymentStatus.PROCESSING)
                    | and_(
                        payments.c.status == PaymentStatus.CREATED,
                        payments.c.channel_ref.is_(None),
                        payments.c.code_url.is_(None),
                    )
                    | and_(
                        payments.c.status == PaymentStatus.CREATED,
                        payments.c.updated_at <= at - dt.timedelta(seconds=awaiting_s),
                    ),
                )
            )
            .limit(limit)
        ).all()
    stats: dict[str, int] = {}
    for pid, channel, updated_at, mid in rows:
        result = _rail_call(lambda p=pid, ch=channel, m=mid: get_channel(ch).query(p, merchant_id=m), channel)
        if result.failure_code in ("rail_timeout", "rail_error"):  # the rail could not say: nothing learnt
            stats["unreachable"] = stats.get("unreachable", 0) + 1
            continue
        if result.status == "unknown":
            if updated_at > at - dt.timedelta(seconds=RAIL_UNKNOWN_FAIL_S):
                continue
            result = ChannelResult(
                "failed",
                failure_code="rail_never_reached",
                failure_message="渠道无此订单 / the rail never received this payment",
            )
        out = db.run(_recorder(pid, result))
        stats[out] = stats.get(out, 0) + 1
    return stats


def _recorder(payment_id: str, result: ChannelResult) -> Callable[[Connection], str]:
    """The work of recording one rail answer, bound to its payment (for db.run in a loop)."""
    return lambda c: record_rail_answer(c, payment_id, result, clock.now())


# ---------------------------------------------------------------- refunds


class CreateRefund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: StrictInt | None = None
    reason: str = Field(default="", max_length=200)
    # 商户退款单号: the merchant's number for this refund, unique per payment; sending it again returns that refund
    merchant_refund_no: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("merchant_refund_no")
    @classmethod
    def _refund_no(cls, v: str | None) -> str | None:
        if v is not None and not _ORDER_NO_RE.fullmatch(v):
            raise ValueError("merchant_refund_no may hold letters, digits, _ and - only")
        return v


def refund_public(row: Any) -> RefundDoc:
    return {
        "id": row.id,
        "object": "refund",
        "payment_id": row.payment_id,
        "merchant_id": row.merchant_id,
        "merchant_refund_no": row.merchant_refund_no,
        "amount_fen": row.amount_fen,
        "fee_refunded_fen": row.fee_refunded_fen,
        "status": row.status,
        "reason": row.reason,
        "channel_ref": row.channel_ref,
        "failure_code": row.failure_code,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def create_refund(
    conn: Connection, merchant_id: str, payment_id: str, req: CreateRefund, *, at: dt.datetime | None = None
) -> RefundDoc:
    """Refund all or part of a succeeded payment, never beyond what is left. The same merchant_refund_no again is
    the same refund (another amount is a 409)."""
    at = at or clock.now()
    p = _load(conn, payment_id, merchant_id=merchant_id, lock=True)
    if req.merchant_refund_no is not None:
        same = conn.execute(
            select(refunds).where(
                and_(
                    refunds.c.merchant_id == merchant_id,
                    refunds.c.payment_id == payment_id,
                    refunds.c.merchant_refund_no == req.merchant_refund_no,
                )
            )
        ).first()
        if same is not None:
            return _refund_again(conn, same, req)
    if p.status != PaymentStatus.SUCCEEDED:
        raise ConflictError(
            f"payment {payment_id} is {p.status}; only a succeeded payment can be refunded",
            code="payment_not_refundable",
        )
    left = p.amount_fen - p.refunded_fen
    amount = left if req.amount_fen is None else req.amount_fen
    check_fen(amount, param="amount_fen")
    if amount > left:
        raise InvalidRequest(
            f"refund of {fen_to_yuan_str(amount)} exceeds what is left to refund ({fen_to_yuan_str(left)})",
            param="amount_fen",
            code="refund_exceeds_payment",
        )
    fee_back = refund_fee_share(p.fee_fen, p.amount_fen, p.refunded_fen, amount)
    rid = new_id_fast("re", int(at.timestamp() * 1000))
    incentives.refund_clawback(conn, p, rid, amount, at=at)  # to the campaign, not the payer
    # reserve the amount on the payment now, so concurrent refunds cannot pass the total
    res = conn.execute(
        update(payments)
        .where(and_(payments.c.id == payment_id, payments.c.refunded_fen == p.refunded_fen))
        .values(
            refunded_fen=p.refunded_fen + amount,
            fee_refunded_fen=p.fee_refunded_fen + fee_back,
            updated_at=at,
        )
    )
    if res.rowcount != 1:
        raise ConflictError("another refund of this payment is in progress; retry", code="concurrent_refund")
    conn.execute(
        refunds.insert(),
        [
            {
                "id": rid,
                "merchant_id": merchant_id,
                "payment_id": payment_id,
                "amount_fen": amount,
                "fee_refunded_fen": fee_back,
                "status": RefundStatus.PENDING,
                "merchant_refund_no": req.merchant_refund_no or rid,
                "reason": req.reason,
                "channel_ref": None,
                "failure_code": None,
                "business_date": None,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    audit.record(
        conn,
        None,
        "refund.created",
        "refund",
        rid,
        {"payment_id": payment_id, "amount_fen": amount, "fee_refunded_fen": fee_back},
        merchant_id=merchant_id,
        at=at,
    )
    recovery_point(conn, "refund", rid)  # with an Idempotency-Key: a retry after a crash finds this refund
    # the rail is asked after the commit; a pending refund it never answered is asked again by the sweeper
    after_commit(conn, lambda db: call_refund(db, rid))
    return refund_public(conn.execute(select(refunds).where(refunds.c.id == rid)).one())


def _refund_again(conn: Connection, r: Any, req: CreateRefund) -> RefundDoc:
    """The same merchant_refund_no again: that refund, never a second one; its rail call is finished after this
    commit if a crash cut it short (the rail keeps one refund per out_refund_no)."""
    if req.amount_fen is not None and req.amount_fen != r.amount_fen:
        raise ConflictError(
            f"merchant_refund_no {r.merchant_refund_no} was already used by {r.id} for "
            f"{fen_to_yuan_str(r.amount_fen)} yuan",
            param="merchant_refund_no",
            code="refund_no_taken",
        )
    recovery_point(conn, "refund", r.id)
    if r.status == RefundStatus.PENDING:
        rid, query = r.id, r.channel_ref is not None
        after_commit(conn, lambda db: call_refund(db, rid, query=query))
    return refund_public(r)


def resume_refund(db: Database, merchant_id: str, refund_id: str) -> RefundDoc:
    """A refund whose request died after its work committed: finish its rail call if it is still pending (sent
    again without a rail reference, asked about with one), then answer with it as it is now."""
    with db.read() as c:
        r = c.execute(
            select(refunds).where(and_(refunds.c.id == refund_id, refunds.c.merchant_id == merchant_id))
        ).first()
    if r is None:
        raise NotFound(f"no refund {refund_id}", param="id")
    if r.status == RefundStatus.PENDING:
        call_refund(db, refund_id, query=r.channel_ref is not None)
    with db.read() as c:
        return get_refund(c, merchant_id, refund_id)


def _refund_to_payer(conn: Connection, r: Any) -> int:
    return int(
        r.amount_fen - incentives.clawback_fen(conn, r.id)
    )  # a discount's share goes back to its campaign


def call_refund(db: Database, refund_id: str, *, query: bool = False) -> str:
    """Ask the rail to refund (or, with query, how a refund went), then record its answer."""
    with db.read() as c:
        r = c.execute(select(refunds).where(refunds.c.id == refund_id)).one()
        p = _load(c, r.payment_id)
        to_payer = _refund_to_payer(c, r)
    if r.status != RefundStatus.PENDING:
        return "unchanged"
    channel = get_channel(p.channel)
    if query:
        result = _rail_call(
            lambda: channel.refund_query(p.id, refund_id, merchant_id=p.merchant_id), p.channel
        )
    else:
        result = _rail_call(
            lambda: channel.refund(
                p.id, refund_id, to_payer, p.amount_fen - p.discount_fen, merchant_id=p.merchant_id
            ),
            p.channel,
        )
    if result.status in ("processing", "awaiting"):
        if result.channel_ref:
            db.run(
                lambda c: c.execute(
                    update(refunds)
                    .where(and_(refunds.c.id == refund_id, refunds.c.channel_ref.is_(None)))
                    .values(channel_ref=result.channel_ref)
                )
            )
        return "pending"
    if result.status == "unknown":
        if not query:
            return "pending"
        result = ChannelResult("failed", failure_code="rail_never_reached")
    n = Notification(
        notify_id=f"answer:{refund_id}",
        kind="refund",
        payment_id=p.id,
        outcome="succeeded" if result.status == "succeeded" else "failed",
        channel_ref=result.channel_ref,
        amount_fen=result.amount_fen or to_payer,
        refund_id=refund_id,
        failure_code=result.failure_code,
    )
    return db.run(lambda c: _apply_refund_result(c, n, clock.now()))


def sweep_refunds(
    db: Database, *, at: dt.datetime | None = None, older_than_s: int = SWEEP_AFTER_S, limit: int = 500
) -> dict[str, int]:
    """Ask the rail about pending refunds (a crash before the call, a timeout, a lost notification)."""
    at = at or clock.now()
    with db.read() as c:
        rows = c.execute(
            select(refunds.c.id, refunds.c.channel_ref)
            .where(
                and_(
                    refunds.c.status == RefundStatus.PENDING,
                    refunds.c.updated_at <= at - dt.timedelta(seconds=older_than_s),
                )
            )
            .limit(limit)
        ).all()
    stats: dict[str, int] = {}
    for rid, ref in rows:
        # no rail reference yet (a crash before the call, a timeout): send it again, the rail keeps one refund per
        # refund id; with a reference, ask how it went
        out = call_refund(db, rid, query=ref is not None)
        stats[out] = stats.get(out, 0) + 1
    return stats


def _apply_refund_result(conn: Connection, n: Notification, at: dt.datetime) -> str:
    q = select(refunds).where(refunds.c.id == (n.refund_id or ""))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        raise NotFound(f"no refund {n.refund_id}", param="refund")
    if r.status != RefundStatus.PENDING:
        return "unchanged"
    to_payer = _refund_to_payer(conn, r)
    if n.amount_fen != to_payer:
        raise InvalidRequest(
            f"refund notification amount {n.amount_fen} ≠ {to_payer}", param="amount", code="amount_mismatch"
        )
    if n.outcome != "succeeded":
        _refund_failed(conn, r.id, n.failure_code, at)
        return "failed"
    p = _load(conn, r.payment_id)
    clawback_to, clawback = incentives.take_clawback(conn, r.id, at) or (None, 0)
    legs = ledger.movements.refund_success(
        channel=p.channel,
        merchant_id=r.merchant_id,
        amount_fen=r.amount_fen,
        fee_back_fen=r.fee_refunded_fen,
        to_payer_fen=to_payer,
        clawback_to=clawback_to,
        clawback_fen=clawback,
    )
    ledger.post_entry(
        conn, ledger.EntryRequest(ledger.keys.refund_success(r.id), legs, f"refund {r.id}"), at=at
    )
    conn.execute(
        update(refunds)
        .where(refunds.c.id == r.id)
        .values(
            status=RefundStatus.SUCCEEDED,
            channel_ref=n.channel_ref or r.channel_ref,
            updated_at=at,
            business_date=business_date(at),
        )
    )
    done = conn.execute(
        select(func.coalesce(func.sum(refunds.c.amount_fen), 0)).where(
            and_(refunds.c.payment_id == p.id, refunds.c.status == RefundStatus.SUCCEEDED)
        )
    ).scalar_one()
    incentives.claw_back_accruals(conn, p, r.id, int(done), at=at)  # cost refund and subsidy, in proportion
    webhooks.emit(
        conn,
        r.merchant_id,
        "refund.succeeded",
        refund_public(conn.execute(select(refunds).where(refunds.c.id == r.id)).one()),
        at=at,
    )
    return "succeeded"


def _refund_failed(conn: Connection, refund_id: str, code: str | None, at: dt.datetime) -> None:
    r = conn.execute(select(refunds).where(refunds.c.id == refund_id)).one()
    incentives.on_refund_failed(conn, refund_id)
    conn.execute(
        update(refunds)
        .where(refunds.c.id == refund_id)
        .values(status=RefundStatus.FAILED, failure_code=code or "refund_failed", updated_at=at)
    )
    conn.execute(
        update(payments)
        .where(payments.c.id == r.payment_id)
        .values(
            refunded_fen=payments.c.refunded_fen - r.amount_fen,
            fee_refunded_fen=payments.c.fee_refunded_fen - r.fee_refunded_fen,
            updated_at=at,
        )
    )
    webhooks.emit(
        conn,
        r.merchant_id,
        "refund.failed",
        refund_public(conn.execute(select(refunds).where(refunds.c.id == refund_id)).one()),
        at=at,
    )


def get_refund(conn: Connection, merchant_id: str | None, refund_id: str) -> RefundDoc:
    q = select(refunds).where(refunds.c.id == refund_id)
    if merchant_id is not None:
        q = q.where(refunds.c.merchant_id == merchant_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no refund {refund_id}", param="id")
    return refund_public(row)


def list_refunds(conn: Connection, merchant_id: str, payment_id: str) -> list[RefundDoc]:
    _load(conn, payment_id, merchant_id=merchant_id)
    return [
        refund_public(r)
        for r in conn.execute(
            select(refunds).where(refunds.c.payment_id == payment_id).order_by(refunds.c.id.desc())
        )
    ]


def merchant_balance(conn: Connection, merchant_id: str) -> BalanceDoc:
    b = ledger.get_balance(conn, payable_account(merchant_id))
    return {
        "object": "balance",
        "merchant_id": merchant_id,
        "currency": "CNY",
        "available_fen": b.available_fen,
        "posted_fen": b.posted_fen,
        "pending_fen": b.pending_debits_fen,
    }


def park_unresolved(db: Database, *, at: dt.datetime | None = None, limit: int = 500) -> int:
    """Put what the rails have not settled on the operator's exception list (the sweeper keeps asking about it):
    payments still processing and refunds still pending UNRESOLVED_AGE_S_MAX after their creation, and created
    payments still open UNRESOLVED_AGE_S_MAX after their deadline (the rail could not be reached to close them)."""
    at = at or clock.now()
    cutoff = at - dt.timedelta(seconds=UNRESOLVED_AGE_S_MAX)

    def go(conn: Connection) -> int:
        n = 0
        for pid, ch in conn.execute(
            select(payments.c.id, payments.c.channel)
            .where(and_(payments.c.status == PaymentStatus.CREATED, payments.c.expires_at <= cutoff))
            .limit(limit)
        ):
            record_exception(
                conn,
                ch,
                "unclosed_payment",
                "订单过期超过最长时限仍未能在渠道关单 / the rail could not "
                "be reached to close this expired order within the maximum age",
                object_id=pid,
                at=at,
            )
            n += 1
        for pid, ch in conn.execute(
            select(payments.c.id, payments.c.channel)
            .where(and_(payments.c.status == PaymentStatus.PROCESSING, payments.c.created_at <= cutoff))
            .limit(limit)
        ):
            record_exception(
                conn,
                ch,
                "unresolved_payment",
                "渠道超过最长时限仍未给出结果 / the rail has not given a final answer within the maximum age",
                object_id=pid,
                at=at,
            )
            n += 1
        for rid, ch in conn.execute(
            select(refunds.c.id, payments.c.channel)
            .join(payments, payments.c.id == refunds.c.payment_id)
            .where(and_(refunds.c.status == RefundStatus.PENDING, refunds.c.created_at <= cutoff))
            .limit(limit)
        ):
            record_exception(
                conn,
                ch,
                "unresolved_refund",
                "退款超过最长时限仍未完成 / the rail has not settled this refund within the maximum age",
                object_id=rid,
                at=at,
            )
            n += 1
        return n

    return db.run(go)
