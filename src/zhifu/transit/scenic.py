"""Scenic areas: ticket types, time slots whose capacity is data (限量: a share of the maximum), reservations held
while the visitor pays (预约), e-tickets with a signed QR, one-time gate validation, refunds before use, group
tickets.

Design note. A slot row carries `held` and `sold`; a reservation takes its places with one conditional update
(`held + sold + n <= capacity`, also a CHECK constraint), so no burst of buyers on any backend can sell a place
twice: the database row is the only counter. The payment of the reservation is created in the same
transaction; its outcome is read back after commit (and by the sweeper): a success turns held into sold and
issues tickets, an unpaid end gives the places back. A visitor who pays after the hold ran out still gets the
tickets if places are left, and the money back if not. A gate scan is one conditional update from valid to used,
so a second scan is refused with the time of the first."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu import payments as payments_api
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, ppm_of
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.payments import CreatePayment, CreateRefund
from zhifu.transit import tokens
from zhifu.transit.models import scenic_orders, scenic_slots, scenic_ticket_types, scenic_tickets
from zhifu.transit.service import FINAL_UNPAID, _slug, add_active, local_day, operator_row

HOLD_S = 300  # a reservation is held this long while the visitor pays
PAY_WINDOW_S = HOLD_S  # the payment expires with its hold (the payment service's minimum is 60 s)
QUANTITY_MAX = 50  # per order; a larger party is a group booking by the operator
SLOTS_PER_DAY_MAX = 48
ENTRY_EARLY_MIN = 30  # a slot's tickets open the gate this long before the slot starts
CAPACITY_MAX = 100_000
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _slot_bounds(day: dt.date, starts: str, ends: str) -> tuple[dt.datetime, dt.datetime]:
    def at(hhmm: str) -> dt.datetime:
        h, m = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time(h, m), SHANGHAI)

    return at(starts), at(ends)


# ---------------------------------------------------------------- ticket types and slots


class TicketTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=60)
    price_fen: StrictInt = Field(ge=0)
    group_min: StrictInt = Field(default=0, ge=0, le=QUANTITY_MAX)
    refund_until_h: StrictInt = Field(default=2, ge=0, le=24 * 30)
    refund_fee_ppm: StrictInt = Field(default=0, ge=0, le=1_000_000)


def add_ticket_type(
    conn: Connection, merchant_id: str, req: TicketTypeIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    operator_row(conn, merchant_id, kind="scenic")
    _slug(req.id, "id")
    if req.price_fen:
        check_fen(req.price_fen, param="price_fen")
    if req.group_min == 1:
        raise InvalidRequest("团体票至少 2 人 / a group ticket is for 2 or more", param="group_min")
    add_active(
        conn,
        scenic_ticket_types,
        merchant_id,
        req.model_dump(),
        at,
        exists=f"票种 {req.id} 已存在 / ticket type {req.id} exists",
        code="type_exists",
    )
    return next(t for t in list_ticket_types(conn, merchant_id) if t["id"] == req.id)


def list_ticket_types(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "object": "ticket_type",
            "name": r.name,
            "price_fen": r.price_fen,
            "group_min": r.group_min,
            "refund_until_h": r.refund_until_h,
            "refund_fee_ppm": r.refund_fee_ppm,
            "status": r.status,
        }
        for r in conn.execute(
            select(scenic_ticket_types)
            .where(scenic_ticket_types.c.merchant_id == merchant_id)
            .order_by(scenic_ticket_types.c.price_fen.desc())
        )
    ]


class SlotsIn(BaseModel):
    """Time slots of one day: windows "HH:MM-HH:MM", each with the same maximum and capacity share."""

    model_config = ConfigDict(extra="forbid")

    day: dt.date
    windows: list[str] = Field(min_length=1, max_length=SLOTS_PER_DAY_MAX)
    max_capacity: StrictInt = Field(gt=0, le=CAPACITY_MAX)
    capacity_ppm: StrictInt = Field(default=750_000, gt=0, le=1_000_000)


def slot_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "scenic_slot",
        "day": row.day,
        "starts": row.starts,
        "ends": row.ends,
        "max_capacity": row.max_capacity,
        "capacity_ppm": row.capacity_ppm,
        "capacity": row.capacity,
        "held": row.held,
        "sold": row.sold,
        "left": row.capacity - row.held - row.sold,
    }


def add_slots(
    conn: Connection, merchant_id: str, req: SlotsIn, *, at: dt.datetime | None = None
) -> list[dict]:
    """Open slots; capacity is the share of the maximum, rounded down so it never exceeds the limit."""
    at = at or clock.now()
    operator_row(conn, merchant_id, kind="scenic")
    if req.day < local_day(at):
        raise InvalidRequest(f"日期 {req.day} 已过 / day {req.day} is in the past", param="day")
    capacity = req.max_capacity * req.capacity_ppm // 1_000_000
    rows = []
    for i, w in enumerate(req.windows):
        starts, _, ends = w.partition("-")
        if not (_HHMM.fullmatch(starts) and _HHMM.fullmatch(ends)) or starts >= ends:
            raise InvalidRequest(
                f"第 {i + 1} 个时段 {w!r} 须为 HH:MM-HH:MM / window {i + 1} must be like 09:00-11:00",
                param="windows",
            )
        rows.append(
            {
                "merchant_id": merchant_id,
                "id": f"{req.day:%Y%m%d}-{starts.replace(':', '')}",
                "day": req.day,
                "starts": starts,
                "ends": ends,
                "max_capacity": req.max_capacity,
                "capacity_ppm": req.capacity_ppm,
                "capacity": capacity,
                "held": 0,
                "sold": 0,
                "created_at": at,
            }
        )
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("时段重复 / a window repeats", param="windows")
    taken = (
        conn.execute(
            select(scenic_slots.c.id).where(
                and_(scenic_slots.c.merchant_id == merchant_id, scenic_slots.c.id.in_(ids))
            )
        )
        .scalars()
        .all()
    )
    if taken:
        raise ConflictError(
            f"时段已存在 / slots exist already: {', '.join(sorted(taken))}",
            param="windows",
            code="slot_exists",
        )
    conn.execute(insert(scenic_slots), rows)
    return [slot_public(_slot(conn, merchant_id, i)) for i in ids]


def _slot(conn: Connection, merchant_id: str, slot_id: str) -> Any:
    row = conn.execute(
        select(scenic_slots).where(
            and_(scenic_slots.c.merchant_id == merchant_id, scenic_slots.c.id == slot_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"没有时段 {slot_id} / no slot {slot_id}", param="slot_id")
    return row


def list_slots(conn: Connection, merchant_id: str, day: dt.date) -> list[dict[str, Any]]:
    return [
        slot_public(r)
        for r in conn.execute(
            select(scenic_slots)
            .where(and_(scenic_slots.c.merchant_id == merchant_id, scenic_slots.c.day == day))
            .order_by(scenic_slots.c.starts)
        )
    ]


# ---------------------------------------------------------------- orders


class ReserveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slot_id: str = Field(min_length=1, max_length=40)
    type_id: str = Field(min_length=1, max_length=40)
    quantity: StrictInt = Field(ge=1, le=QUANTITY_MAX)
    channel: str | None = Field(default=None, max_length=20)
    auth_code: str | None = Field(default=None, max_length=32)


def order_public(row: Any, tickets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc = {
        "id": row.id,
        "object": "scenic_order",
        "slot_id": row.slot_id,
        "type_id": row.type_id,
        "quantity": row.quantity,
        "amount_fen": row.amount_fen,
        "payment_id": row.payment_id,
        "channel": row.channel,
        "status": row.status,
        "held_until": row.held_until,
        "refunded_fen": row.refunded_fen,
        "created_at": row.created_at,
    }
    if tickets is not None:
        doc["tickets"] = tickets
    return doc


def _take(conn: Connection, merchant_id: str, slot_id: str, n: int, *, column: str) -> bool:
    """Take n places of a slot as held or sold, only if they fit: the one guard against overselling."""
    s = scenic_slots.c
    res = conn.execute(
        update(scenic_slots)
        .where(and_(s.merchant_id == merchant_id, s.id == slot_id, s.held + s.sold + n <= s.capacity))
        .values(**{column: getattr(s, column) + n})
    )
    return res.rowcount == 1


def reserve(
    conn: Connection, merchant_id: str, req: ReserveIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Hold places in a slot and create the payment for them, in the caller's transaction."""
    at = at or clock.now()
    op = operator_row(conn, merchant_id, kind="scenic")
    t = conn.execute(
        select(scenic_ticket_types).where(
            and_(scenic_ticket_types.c.merchant_id == merchant_id, scenic_ticket_types.c.id == req.type_id)
        )
    ).first()
    if t is None or t.status != "active":
        raise NotFound(f"没有票种 {req.type_id} / no ticket type {req.type_id}", param="type_id")
    if t.group_min and req.quantity < t.group_min:
        raise InvalidRequest(
            f"{t.name}至少 {t.group_min} 人 / {t.name} is for {t.group_min} or more",
            param="quantity",
            code="group_too_small",
        )
    if (req.channel is None) == (req.auth_code is None):
        raise InvalidRequest(
            "须给出 channel 或 auth_code 之一 / give exactly one of channel or auth_code", param="channel"
        )
    slot = _slot(conn, merchant_id, req.slot_id)
    _, slot_end = _slot_bounds(slot.day, slot.starts, slot.ends)
    if slot_end <= at:
        raise ConflictError(
            f"时段 {slot.id} 已结束 / slot {slot.id} is over", param="slot_id", code="slot_over"
        )
    release_expired(conn, merchant_id, slot_id=slot.id, at=at)
    if not _take(conn, merchant_id, slot.id, req.quantity, column="held"):
        left = _slot(conn, merchant_id, slot.id)
        raise ConflictError(
            f"时段 {slot.starts}-{slot.ends} 余票不足（剩 {max(0, left.capacity - left.held - left.sold)} 张）"
            f" / slot {slot.id} has {max(0, left.capacity - left.held - left.sold)} places left",
            param="quantity",
            code="sold_out",
        )
    amount = t.price_fen * req.quantity
    oid = new_id_fast("sco", int(at.timestamp() * 1000))
    conn.execute(
        insert(scenic_orders),
        [
            {
                "merchant_id": merchant_id,
                "id": oid,
                "slot_id": slot.id,
                "type_id": t.id,
                "quantity": req.quantity,
                "amount_fen": amount,
                "payment_id": None,
                "channel": "",
                "status": "held",
                "held_until": at + dt.timedelta(seconds=HOLD_S),
                "refunded_fen": 0,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    if amount > 0:
        p = payments_api.create_payment(
            conn,
            merchant_id,
            CreatePayment(
                amount_fen=amount,
                merchant_order_no=oid,
                channel=req.channel,
                auth_code=req.auth_code,
                expires_in_s=PAY_WINDOW_S,
                description=f"{op.name} {t.name}×{req.quantity} {slot.day} {slot.starts}"[:128],
                metadata={"scenic": "ticket", "slot_id": slot.id},
            ),
        )
        conn.execute(
            update(scenic_orders)
            .where(and_(scenic_orders.c.merchant_id == merchant_id, scenic_orders.c.id == oid))
            .values(payment_id=p["id"])
        )
    else:  # a free ticket (children under the age limit, the area's own guests) needs no payment
        _issue(conn, merchant_id, _order(conn, merchant_id, oid), "", at)
    return get_order(conn, merchant_id, oid)


def _order(conn: Connection, merchant_id: str, order_id: str, *, lock: bool = False) -> Any:
    q = select(scenic_orders).where(
        and_(scenic_orders.c.merchant_id == merchant_id, scenic_orders.c.id == order_id)
    )
    row = first_row(conn, q, lock=lock)
    if row is None:
        raise NotFound(f"没有订单 {order_id} / no order {order_id}", param="order_id")
    return row


def _tickets(conn: Connection, merchant_id: str, order_id: str) -> list[dict[str, Any]]:
    out = []
    for r in conn.execute(
        select(scenic_tickets)
        .where(and_(scenic_tickets.c.merchant_id == merchant_id, scenic_tickets.c.order_id == order_id))
        .order_by(scenic_tickets.c.id)
    ):
        out.append(
            {
                "id": r.id,
                "object": "scenic_ticket",
                "slot_id": r.slot_id,
                "day": r.day,
                "people": r.people,
                "status": r.status,
                "used_at": r.used_at,
                "gate": r.gate,
                "code": tokens.ticket_code(merchant_id, r.id, r.slot_id, f"{r.day:%Y%m%d}", r.people),
            }
        )
    return out


def get_order(conn: Connection, merchant_id: str, order_id: str) -> dict[str, Any]:
    return order_public(_order(conn, merchant_id, order_id), _tickets(conn, merchant_id, order_id))


def _issue(conn: Connection, merchant_id: str, o: Any, channel: str, at: dt.datetime) -> None:
    t = conn.execute(
        select(scenic_ticket_types.c.group_min).where(
            and_(scenic_ticket_types.c.merchant_id == merchant_id, scenic_ticket_types.c.id == o.type_id)
        )
    ).scalar_one()
    slot = _slot(conn, merchant_id, o.slot_id)
    parties = [o.quantity] if t else [1] * o.quantity  # a group ticket admits the whole party at once
    conn.execute(
        insert(scenic_tickets),
        [
            {
                "merchant_id": merchant_id,
                "id": f"{o.id}-{i:02d}",
                "order_id": o.id,
                "slot_id": o.slot_id,
                "day": slot.day,
                "people": n,
                "status": "valid",
                "used_at": None,
                "gate": None,
                "created_at": at,
            }
            for i, n in enumerate(parties, 1)
        ],
    )
    conn.execute(
        update(scenic_orders)
        .where(and_(scenic_orders.c.merchant_id == merchant_id, scenic_orders.c.id == o.id))
        .values(status="paid", channel=channel, updated_at=at)
    )


def confirm(
    conn: Connection, merchant_id: str, order_id: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Bring an order to its payment's outcome: paid (held places become sold, tickets issued) or released.
    A payment that succeeded after the hold was released takes places again if any are left, else is refunded."""
    at = at or clock.now()
    o = _order(conn, merchant_id, order_id, lock=True)
    if o.status not in ("held", "released") or o.payment_id is None:
        return get_order(conn, merchant_id, order_id)
    p = payments_api.get_payment(conn, merchant_id, o.payment_id)
    key = and_(scenic_orders.c.merchant_id == merchant_id, scenic_orders.c.id == o.id)
    if p["status"] == "succeeded" and p["refunded_fen"] == 0:
        if o.status == "held":
            s = scenic_slots.c
            conn.execute(
                update(scenic_slots)
                .where(and_(s.merchant_id == merchant_id, s.id == o.slot_id))
                .values(held=s.held - o.quantity, sold=s.sold + o.quantity)
            )
            _issue(conn, merchant_id, o, p["channel"], at)
        elif _take(conn, merchant_id, o.slot_id, o.quantity, column="sold"):
            _issue(conn, merchant_id, o, p["channel"], at)
        else:
            payments_api.create_refund(
                conn,
                merchant_id,
                o.payment_id,
                CreateRefund(reason="付款时名额已满，全额退回 / the slot filled before the payment arrived"),
            )
            conn.execute(
                update(scenic_orders)
                .where(key)
                .values(status="refunded", refunded_fen=o.amount_fen, channel=p["channel"], updated_at=at)
            )
    elif o.status == "held" and (p["status"] in FINAL_UNPAID or o.held_until <= at):
        _release(conn, merchant_id, o, at)
    return get_order(conn, merchant_id, order_id)


def _release(conn: Connection, merchant_id: str, o: Any, at: dt.datetime) -> None:
    res = conn.execute(
        update(scenic_orders)
        .where(
            and_(
                scenic_orders.c.merchant_id == merchant_id,
                scenic_orders.c.id == o.id,
                scenic_orders.c.status == "held",
            )
        )
        .values(status="released", updated_at=at)
    )
    if res.rowcount == 1:
        s = scenic_slots.c
        conn.execute(
            update(scenic_slots)
            .where(and_(s.merchant_id == merchant_id, s.id == o.slot_id))
            .values(held=s.held - o.quantity)
        )


def release_expired(
    conn: Connection, merchant_id: str, *, slot_id: str | None = None, at: dt.datetime | None = None
) -> int:
    """Give back the places of holds that ran out unpaid (a hold whose payment succeeded is confirmed)."""
    at = at or clock.now()
    q = select(scenic_orders.c.id).where(
        and_(
            scenic_orders.c.merchant_id == merchant_id,
            scenic_orders.c.status == "held",
            scenic_orders.c.held_until <= at,
        )
    )
    if slot_id:
        q = q.where(scenic_orders.c.slot_id == slot_id)
    n = 0
    for oid in conn.execute(q.limit(500)).scalars().all():
        if confirm(conn, merchant_id, oid, at=at)["status"] == "released":
            n += 1
    return n


def sweep(db: Database, *, at: dt.datetime | None = None) -> dict[str, int]:
    """Background work: confirm or release open holds, and honour payments made after a release."""
    at = at or clock.now()
    since = at - dt.timedelta(days=1)
    with db.read() as conn:
        rows = conn.execute(
            select(scenic_orders.c.merchant_id, scenic_orders.c.id)
            .where(
                and_(
                    scenic_orders.c.status.in_(("held", "released")),
                    scenic_orders.c.created_at >= since,
                    scenic_orders.c.payment_id.is_not(None),
                )
            )
            .limit(2_000)
        ).all()
    out: dict[str, int] = {}
    for mid, oid in rows:
        status = db.run(lambda c, m=mid, i=oid: confirm(c, m, i, at=at)["status"])
        out[status] = out.get(status, 0) + 1
    return out


def refund_order(
    conn: Connection, merchant_id: str, order_id: str, *, reason: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Refund a paid order before use, up to the type's deadline before the slot, less its refund fee."""
    at = at or clock.now()
    o = _order(conn, merchant_id, order_id, lock=True)
    if o.status != "paid":
        raise ConflictError(
            f"订单 {order_id} 状态为 {o.status}，不可退 / order {order_id} is {o.status}",
            code="order_not_refundable",
        )
    used = conn.execute(
        select(scenic_tickets.c.used_at)
        .where(
            and_(
                scenic_tickets.c.merchant_id == merchant_id,
                scenic_tickets.c.order_id == o.id,
                scenic_tickets.c.status == "used",
            )
        )
        .limit(1)
    ).scalar()
    if used is not None:
        raise ConflictError(
            f"门票已于 {used.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 入园使用，不可退 / a ticket was used at "
            f"{used.isoformat()}",
            code="ticket_used",
        )
    t = conn.execute(
        select(scenic_ticket_types).where(
            and_(scenic_ticket_types.c.merchant_id == merchant_id, scenic_ticket_types.c.id == o.type_id)
        )
    ).one()
    slot = _slot(conn, merchant_id, o.slot_id)
    start, _ = _slot_bounds(slot.day, slot.starts, slot.ends)
    if at > start - dt.timedelta(hours=t.refund_until_h):
        raise ConflictError(
            f"须在入园时段开始前 {t.refund_until_h} 小时退票 / refunds close {t.refund_until_h} h before "
            f"the slot starts",
            code="refund_window_closed",
        )
    amount = o.amount_fen - ppm_of(o.amount_fen, t.refund_fee_ppm)
    if amount > 0 and o.payment_id:
        payments_api.create_refund(
            conn,
            merchant_id,
            o.payment_id,
            CreateRefund(amount_fen=amount, reason=(reason or "游客退票 / refunded before use")[:200]),
        )
    conn.execute(
        update(scenic_tickets)
        .where(and_(scenic_tickets.c.merchant_id == merchant_id, scenic_tickets.c.order_id == o.id))
        .values(status="refunded")
    )
    s = scenic_slots.c
    conn.execute(
        update(scenic_slots)
        .where(and_(s.merchant_id == merchant_id, s.id == o.slot_id))
        .values(sold=s.sold - o.quantity)
    )
    conn.execute(
        update(scenic_orders)
        .where(and_(scenic_orders.c.merchant_id == merchant_id, scenic_orders.c.id == o.id))
        .values(status="refunded", refunded_fen=amount, updated_at=at)
    )
    return get_order(conn, merchant_id, order_id)


def list_orders(
    conn: Connection, merchant_id: str, *, day: dt.date | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    q = select(scenic_orders).where(scenic_orders.c.merchant_id == merchant_id)
    if day is not None:
        q = q.where(scenic_orders.c.slot_id.like(f"{day:%Y%m%d}-%"))
    return [
        order_public(r)
        for r in conn.execute(q.order_by(scenic_orders.c.created_at.desc()).limit(min(limit, 200)))
    ]


def sales(conn: Connection, merchant_id: str, day: dt.date) -> dict[str, Any]:
    """A day's sales by status and the visitors admitted."""
    o = scenic_orders.c
    by = {
        st: {"orders": int(n), "people": int(q or 0), "amount_fen": int(a or 0)}
        for st, n, q, a in conn.execute(
            select(o.status, func.count(), func.sum(o.quantity), func.sum(o.amount_fen))
            .where(and_(o.merchant_id == merchant_id, o.slot_id.like(f"{day:%Y%m%d}-%")))
            .group_by(o.status)
        )
    }
    t = scenic_tickets.c
    admitted = conn.execute(
        select(func.coalesce(func.sum(t.people), 0)).where(
            and_(t.merchant_id == merchant_id, t.day == day, t.status == "used")
        )
    ).scalar_one()
    return {"day": day, "by_status": by, "admitted": int(admitted)}


# ---------------------------------------------------------------- the gate


def scan(
    conn: Connection, merchant_id: str, code: str, *, gate: str = "gate", at: dt.datetime | None = None
) -> dict[str, Any]:
    """One gate scan: accepted once; a forged code, another area's, another day's or slot's, a refunded ticket
    or a second scan is refused with the reason (and the first scan's time)."""
    at = at or clock.now()
    operator_row(conn, merchant_id, kind="scenic")
    gate = (gate or "gate")[:40]

    def refuse(reason: str, message: str, **extra: Any) -> dict[str, Any]:
        return {"object": "gate_scan", "accepted": False, "reason": reason, "message": message, **extra}

    fields = tokens.verify(tokens.public_key(), code.strip())
    if fields is None or len(fields) != 6 or fields[0] != tokens.TICKET_PREFIX:
        return refuse("forged", "票码无效 / not a genuine ticket")
    _, mid, ticket_id, slot_id, day_s, people = fields
    if mid != merchant_id:
        return refuse("other_operator", "非本景区门票 / a ticket of another scenic area")
    day = dt.date(int(day_s[:4]), int(day_s[4:6]), int(day_s[6:8]))
    if day != local_day(at):
        return refuse("wrong_day", f"门票日期为 {day} / the ticket is for {day}", day=day)
    slot = _slot(conn, merchant_id, slot_id)
    start, end = _slot_bounds(slot.day, slot.starts, slot.ends)
    if not start - dt.timedelta(minutes=ENTRY_EARLY_MIN) <= at <= end:
        return refuse(
            "wrong_slot",
            f"入园时段为 {slot.starts}-{slot.ends} / the ticket is for {slot.starts}-{slot.ends}",
            slot=f"{slot.starts}-{slot.ends}",
        )
    key = and_(scenic_tickets.c.merchant_id == merchant_id, scenic_tickets.c.id == ticket_id)
    res = conn.execute(
        update(scenic_tickets)
        .where(and_(key, scenic_tickets.c.status == "valid"))
        .values(status="used", used_at=at, gate=gate)
    )
    if res.rowcount == 1:
        return {
            "object": "gate_scan",
            "accepted": True,
            "reason": "ok",
            "message": f"欢迎入园 {people} 人 / welcome",
            "ticket_id": ticket_id,
            "people": int(people),
            "slot": f"{slot.starts}-{slot.ends}",
        }
    row = conn.execute(select(scenic_tickets).where(key)).first()
    if row is None:
        return refuse("forged", "票码无效 / not a genuine ticket")
    if row.status == "refunded":
        return refuse("refunded", "门票已退 / the ticket was refunded", ticket_id=ticket_id)
    first = row.used_at.astimezone(SHANGHAI)
    return refuse(
        "already_used",
        f"已于 {first:%H:%M:%S} 在 {row.gate} 入园 / already used at {first:%H:%M:%S}",
        ticket_id=ticket_id,
        first_used_at=row.used_at,
        first_gate=row.gate,
    )
