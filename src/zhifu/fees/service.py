"""Fee plans in the database: the fee and the channel cost of a payment, and the operator's rules, waivers,
merchant classes and cost rates. Effective dates are business dates (23:00 Beijing cut-off)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import weakref
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from zhifu import audit
from zhifu.channels import CHANNELS
from zhifu.core import clock
from zhifu.core.business_day import business_date
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id
from zhifu.db.cache import EngineCache
from zhifu.fees.calc import (
    ANY,
    CARD_TYPES,
    DEFAULT_COST_TABLE,
    ChannelCost,
    CostRate,
    FeeRule,
    channel_cost,
    compute_fee,
    select_rule,
)
from zhifu.fees.models import fee_channel_costs, fee_merchant_classes, fee_rules, fee_waivers
from zhifu.merchants.read import merchants_view as merchants

WALLET_CHANNELS = frozenset({"wechat", "alipay"})  # not bank-card rails: 557's caps do not bind them
# 发改价格〔2016〕557号 ceilings for bank-card rails; a configured cost above them is a typo or a breach
ISSUER_DEBIT_PPM_MAX, ISSUER_DEBIT_CAP_FEN_MAX = 3_500, 1_300
ISSUER_CREDIT_PPM_MAX = 4_500
NETWORK_PPM_MAX, NETWORK_CAP_FEN_MAX = 325, 325
CLASS_RE = r"[a-z][a-z0-9_]{0,19}"
RULES_MAX = 10_000  # a county's plan has tens of rules; thousands means something generates them wrongly


@dataclasses.dataclass(slots=True)
class _Book:
    """What fee lookups need, read once per transaction."""

    rules: list[FeeRule]
    costs: dict[tuple[str, str], CostRate]
    classes: dict[str, str] = dataclasses.field(default_factory=dict)
    waivers: dict[str, list[tuple[str, dt.date, dt.date | None]]] = dataclasses.field(default_factory=dict)
    picked: dict[tuple[str, str, str, dt.date], FeeRule] = dataclasses.field(default_factory=dict)


_BOOKS: weakref.WeakKeyDictionary[Connection, _Book] = weakref.WeakKeyDictionary()


def _rule_of(r: Any) -> FeeRule:
    """The domain rule from a stored row or a request (they share the field names)."""
    return FeeRule(
        channel=r.channel,
        card_type=r.card_type,
        merchant_class=r.merchant_class,
        rate_ppm=r.rate_ppm,
        min_fen=r.min_fen,
        cap_fen=r.cap_fen,
        effective_from=r.effective_from,
        effective_to=r.effective_to,
    )


def _load_book(conn: Connection) -> _Book:
    rules = [_rule_of(r) for r in conn.execute(select(fee_rules).limit(RULES_MAX + 1))]
    if len(rules) > RULES_MAX:
        raise ConflictError(f"more than {RULES_MAX} fee rules", code="too_many_fee_rules")
    costs = dict(DEFAULT_COST_TABLE)
    for c in conn.execute(select(fee_channel_costs)):
        costs[(c.channel, c.card_type)] = CostRate(
            c.issuer_rate_ppm, c.issuer_cap_fen, c.network_rate_ppm, c.network_cap_fen
        )
    return _Book(rules, costs)


# The book is shared by the process's transactions (a payment reads no fee table): a change through this module
# drops it at once and after its commit; a change by another process is seen within the cache's TTL.
_SHARED_BOOK: EngineCache[_Book] = EngineCache(_load_book)


def _book(conn: Connection) -> _Book:
    book = _BOOKS.get(conn)
    if book is None:
        book = _SHARED_BOOK.get(conn)
        if not _SHARED_BOOK.changed_in(conn):  # a transaction that changed the plan reads it afresh each time
            _BOOKS[conn] = book
    return book


def _forget(conn: Connection) -> None:
    _BOOKS.pop(conn, None)
    _SHARED_BOOK.invalidate(conn)


def default_rule() -> FeeRule:
    """The rule when none is configured: the flat rate of the settings (ZHIFU_FLAT_FEE_PPM)."""
    return FeeRule(channel=ANY, card_type=ANY, merchant_class=ANY, rate_ppm=get_settings().flat_fee_ppm)


def merchant_class(conn: Connection, merchant_id: str) -> str:
    """The merchant's fee class: its configured class, else its merchant type."""
    book = _book(conn)
    cls = book.classes.get(merchant_id)
    if cls is None:
        row = conn.execute(
            select(merchants.c.type, fee_merchant_classes.c.merchant_class)
            .select_from(
                merchants.outerjoin(
                    fee_merchant_classes, fee_merchant_classes.c.merchant_id == merchants.c.id
                )
            )
            .where(merchants.c.id == merchant_id)
        ).first()
        if row is None:
            raise NotFound(f"没有商户 {merchant_id} / no merchant {merchant_id}", param="merchant_id")
        cls = book.classes[merchant_id] = row.merchant_class or row.type
    return cls


def prefetch(conn: Connection, merchant_ids: Sequence[str]) -> None:
    """Load the fee classes and waivers of many merchants in a few queries (the batch path prices thousands)."""
    book = _book(conn)
    todo = [m for m in dict.fromkeys(merchant_ids) if m not in book.classes]
    for start in range(0, len(todo), 500):
        chunk = todo[start : start + 500]
        for mid, type_, cls in conn.execute(
            select(merchants.c.id, merchants.c.type, fee_merchant_classes.c.merchant_class)
            .select_from(
                merchants.outerjoin(
                    fee_merchant_classes, fee_merchant_classes.c.merchant_id == merchants.c.id
                )
            )
            .where(merchants.c.id.in_(chunk))
        ):
            book.classes[mid] = cls or type_
        found: dict[str, list[tuple[str, dt.date, dt.date | None]]] = {m: [] for m in chunk}
        for w in conn.execute(
            select(
                fee_waivers.c.merchant_id,
                fee_waivers.c.channel,
                fee_waivers.c.effective_from,
                fee_waivers.c.effective_to,
            ).where(fee_waivers.c.merchant_id.in_(chunk))
        ):
            found[w.merchant_id].append((w.channel, w.effective_from, w.effective_to))
        book.waivers.update(found)


def _waived(conn: Connection, merchant_id: str, channel: str, on: dt.date) -> bool:
    book = _book(conn)
    ws = book.waivers.get(merchant_id)
    if ws is None:
        ws = book.waivers[merchant_id] = [
            (w.channel, w.effective_from, w.effective_to)
            for w in conn.execute(
                select(fee_waivers.c.channel, fee_waivers.c.effective_from, fee_waivers.c.effective_to).where(
                    fee_waivers.c.merchant_id == merchant_id
                )
            )
        ]
    return any(ch in (ANY, channel) and start <= on and (end is None or on < end) for ch, start, end in ws)


def rule_for(conn: Connection, merchant_id: str, channel: str, card_type: str | None, on: dt.date) -> FeeRule:
    """The rule in force for this merchant, channel and card type on business date `on`."""
    book = _book(conn)
    key = (merchant_class(conn, merchant_id), channel, card_type or ANY, on)
    rule = book.picked.get(key)
    if rule is None:
        rule = book.picked[key] = select_rule(book.rules, channel, key[2], key[0], on, default=default_rule())
    return rule


def fee_terms(
    conn: Connection, merchant_id: str, channel: str, card_type: str | None, on: dt.date
) -> tuple[FeeRule, bool]:
    """The rule in force and whether the fee is waived, for payments of this kind on business date `on`."""
    return rule_for(conn, merchant_id, channel, card_type, on), _waived(conn, merchant_id, channel, on)


def merchant_fee(
    conn: Connection, merchant_id: str, channel: str, card_type: str | None, amount_fen: int, at: dt.datetime
) -> int:
    """The merchant's fee on a payment succeeding at `at`: the plan of its business date, or 0 if waived."""
    rule, waived = fee_terms(conn, merchant_id, channel, card_type, business_date(at))
    return compute_fee(amount_fen, rule, waived=waived)


def payment_cost(conn: Connection, channel: str, card_type: str | None, amount_fen: int) -> ChannelCost:
    """What the channel keeps of a payment (issuer and network fees); an unknown card type costs as debit."""
    return channel_cost(amount_fen, channel, card_type or "debit", _book(conn).costs)


def quote(
    conn: Connection, merchant_id: str, channel: str, card_type: str, amount_fen: int, on: dt.date
) -> dict[str, Any]:
    """Fee, cost and the acquirer's margin of a would-be payment on business date `on`."""
    _check_channel(channel, allow_any=False)
    rule = rule_for(conn, merchant_id, channel, card_type, on)
    fee = compute_fee(amount_fen, rule, waived=_waived(conn, merchant_id, channel, on))
    cost = payment_cost(conn, channel, card_type, amount_fen)
    return {
        "object": "fee_quote",
        "merchant_id": merchant_id,
        "merchant_class": merchant_class(conn, merchant_id),
        "channel": channel,
        "card_type": card_type,
        "amount_fen": amount_fen,
        "business_date": on.isoformat(),
        "rate_ppm": rule.rate_ppm,
        "fee_fen": fee,
        "waived": fee == 0 and rule.rate_ppm > 0,
        "cost_fen": cost.total_fen,
        "issuer_fen": cost.issuer_fen,
        "network_fen": cost.network_fen,
        "margin_fen": fee - cost.total_fen,
    }


# ---------------------------------------------------------------- the operator's plan


def _check_channel(channel: str, *, allow_any: bool = True) -> None:
    if not (channel in CHANNELS or (allow_any and channel == ANY)):
        raise InvalidRequest(
            f"未知渠道 {channel!r} / channel must be one of {', '.join(CHANNELS)}"
            + (" or '*'" if allow_any else ""),
            param="channel",
        )


class RuleIn(BaseModel):
    """A new fee rule; amounts in fen, the rate in parts per million (3800 = 0.38 %)."""

    model_config = ConfigDict(extra="forbid")

    channel: str = ANY
    card_type: str = ANY
    merchant_class: str = Field(default=ANY, pattern=rf"^(\*|{CLASS_RE})$")
    rate_ppm: StrictInt = Field(ge=0, le=1_000_000)
    min_fen: StrictInt = Field(default=0, ge=0)
    cap_fen: StrictInt | None = Field(default=None, ge=0)
    effective_from: dt.date
    effective_to: dt.date | None = None
    note: str = Field(default="", max_length=200)

    @field_validator("card_type")
    @classmethod
    def _card(cls, v: str) -> str:
        if v != ANY and v not in CARD_TYPES:
            raise ValueError(f"card_type must be one of {', '.join(CARD_TYPES)} or '*'")
        return v


def _rule_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "fee_rule",
        "channel": r.channel,
        "card_type": r.card_type,
        "merchant_class": r.merchant_class,
        "rate_ppm": r.rate_ppm,
        "min_fen": r.min_fen,
        "cap_fen": r.cap_fen,
        "effective_from": r.effective_from.isoformat(),
        "effective_to": r.effective_to.isoformat() if r.effective_to else None,
        "note": r.note,
        "created_at": r.created_at,
    }


def create_rule(conn: Connection, req: RuleIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Add a rule; one that would tie with an existing rule (same fields, same start) is refused."""
    at = at or clock.now()
    _check_channel(req.channel)
    _rule_of(req)  # the domain checks: min ≤ cap, from < to
    rid = new_id("fee")
    try:
        with conn.begin_nested():
            conn.execute(insert(fee_rules), [{**req.model_dump(), "id": rid, "created_at": at}])
    except IntegrityError as exc:
        raise ConflictError(
            f"已有同一渠道/卡类/商户类别、同一生效日的费率 / a rule for {req.channel}/{req.card_type}/"
            f"{req.merchant_class} from {req.effective_from} exists; end it or start another day",
            param="effective_from",
            code="fee_rule_exists",
        ) from exc
    _forget(conn)
    audit.record(conn, None, "fee_rule.created", "fee_rule", rid, req.model_dump(mode="json"))
    return _rule_public(conn.execute(select(fee_rules).where(fee_rules.c.id == rid)).one())


def end_rule(conn: Connection, rule_id: str, effective_to: dt.date) -> dict[str, Any]:
    """End a rule from a business date on (fees already computed stay as they were)."""
    row = conn.execute(select(fee_rules).where(fee_rules.c.id == rule_id)).first()
    if row is None:
        raise NotFound(f"no fee rule {rule_id}", param="id")
    if effective_to <= row.effective_from:
        raise InvalidRequest("effective_to must be after effective_from", param="effective_to")
    conn.execute(update(fee_rules).where(fee_rules.c.id == rule_id).values(effective_to=effective_to))
    audit.record(
        conn,
        None,
        "fee_rule.ended",
        "fee_rule",
        rule_id,
        {"effective_to": str(effective_to), "was": str(row.effective_to)},
    )
    _forget(conn)
    return _rule_public(conn.execute(select(fee_rules).where(fee_rules.c.id == rule_id)).one())


def list_rules(conn: Connection, *, on: dt.date | None = None) -> list[dict[str, Any]]:
    q = select(fee_rules).order_by(
        fee_rules.c.channel, fee_rules.c.card_type, fee_rules.c.merchant_class, fee_rules.c.effective_from
    )
    if on is not None:
        q = q.where(
            and_(
                fee_rules.c.effective_from <= on,
                or_(fee_rules.c.effective_to.is_(None), fee_rules.c.effective_to > on),
            )
        )
    return [_rule_public(r) for r in conn.execute(q.limit(RULES_MAX))]


class WaiverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = ANY
    effective_from: dt.date
    effective_to: dt.date | None = None
    campaign_ref: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=200)


def _waiver_public(w: Any) -> dict[str, Any]:
    return {
        "id": w.id,
        "object": "fee_waiver",
        "merchant_id": w.merchant_id,
        "channel": w.channel,
        "effective_from": w.effective_from.isoformat(),
        "effective_to": w.effective_to.isoformat() if w.effective_to else None,
        "campaign_ref": w.campaign_ref,
        "reason": w.reason,
        "created_at": w.created_at,
    }


def create_waiver(
    conn: Connection, merchant_id: str, req: WaiverIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Waive a merchant's fee (set it to 0) on business dates [effective_from, effective_to)."""
    at = at or clock.now()
    _check_channel(req.channel)
    merchant_class(conn, merchant_id)  # unknown merchant → NotFound
    if req.effective_to is not None and req.effective_to <= req.effective_from:
        raise InvalidRequest("effective_to must be after effective_from", param="effective_to")
    wid = new_id("fee")
    conn.execute(
        insert(fee_waivers), [{**req.model_dump(), "merchant_id": merchant_id, "id": wid, "created_at": at}]
    )
    audit.record(
        conn,
        None,
        "fee_waiver.created",
        "fee_waiver",
        wid,
        req.model_dump(mode="json"),
        merchant_id=merchant_id,
    )
    _forget(conn)
    return _waiver_public(
        conn.execute(
            select(fee_waivers).where(and_(fee_waivers.c.merchant_id == merchant_id, fee_waivers.c.id == wid))
        ).one()
    )


def list_waivers(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    merchant_class(conn, merchant_id)
    return [
        _waiver_public(w)
        for w in conn.execute(
            select(fee_waivers)
            .where(fee_waivers.c.merchant_id == merchant_id)
            .order_by(fee_waivers.c.effective_from)
        )
    ]


def set_merchant_class(conn: Connection, merchant_id: str, cls: str, *, at: dt.datetime | None = None) -> str:
    """Put a merchant in a fee class (e.g. "public_service"); rules for that class then apply to it."""
    at = at or clock.now()
    if not isinstance(cls, str) or not re.fullmatch(CLASS_RE, cls):
        raise InvalidRequest("merchant_class is 1–20 lower-case letters, digits or _", param="merchant_class")
    merchant_class(conn, merchant_id)
    done = conn.execute(
        update(fee_merchant_classes)
        .where(fee_merchant_classes.c.merchant_id == merchant_id)
        .values(merchant_class=cls, updated_at=at)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(fee_merchant_classes),
            [{"merchant_id": merchant_id, "merchant_class": cls, "updated_at": at}],
        )
    _forget(conn)
    return cls


class CostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str
    card_type: str
    issuer_rate_ppm: StrictInt = Field(ge=0, le=1_000_000)
    issuer_cap_fen: StrictInt | None = Field(default=None, ge=0)
    network_rate_ppm: StrictInt = Field(ge=0, le=1_000_000)
    network_cap_fen: StrictInt | None = Field(default=None, ge=0)


def _check_557(req: CostIn) -> None:
    if req.channel in WALLET_CHANNELS:
        return
    if req.card_type in ("debit", ANY) and (
        req.issuer_rate_ppm > ISSUER_DEBIT_PPM_MAX
        or req.issuer_cap_fen is None
        or req.issuer_cap_fen > ISSUER_DEBIT_CAP_FEN_MAX
    ):
        raise InvalidRequest(
            "借记卡发卡行服务费不得高于 0.35%、单笔 13 元 / a debit issuer fee is at most 0.35 % "
            "capped at 13 yuan (发改价格〔2016〕557号)",
            param="issuer_rate_ppm",
        )
    if req.card_type == "credit" and req.issuer_rate_ppm > ISSUER_CREDIT_PPM_MAX:
        raise InvalidRequest(
            "贷记卡发卡行服务费不得高于 0.45% / a credit issuer fee is at most 0.45 %",
            param="issuer_rate_ppm",
        )
    if (
        req.network_rate_ppm > NETWORK_PPM_MAX
        or req.network_cap_fen is None
        or req.network_cap_fen > NETWORK_CAP_FEN_MAX
    ):
        raise InvalidRequest(
            "网络服务费不得高于 0.0325%、单笔 3.25 元 / a network fee is at most 0.0325 % capped at "
            "3.25 yuan",
            param="network_rate_ppm",
        )


def set_channel_cost(conn: Connection, req: CostIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Configure what a rail costs the acquirer; bank-card rails are held to 557's ceilings."""
    at = at or clock.now()
    _check_channel(req.channel)
    if req.card_type != ANY and req.card_type not in CARD_TYPES:
        raise InvalidRequest(f"card_type must be one of {', '.join(CARD_TYPES)} or '*'", param="card_type")
    _check_557(req)
    values = {**req.model_dump(exclude={"channel", "card_type"}), "updated_at": at}
    done = conn.execute(
        update(fee_channel_costs)
        .where(
            and_(fee_channel_costs.c.channel == req.channel, fee_channel_costs.c.card_type == req.card_type)
        )
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(fee_channel_costs), [{**values, "channel": req.channel, "card_type": req.card_type}]
        )
    _forget(conn)
    return {"object": "channel_cost", **req.model_dump()}
