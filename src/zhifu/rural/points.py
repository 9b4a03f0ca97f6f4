"""Village service points (助农取款服务点): an agent shop where a farmer withdraws small cash against a bank card
or pays a bill, within a per-card daily limit at that point; the agent is credited the amount it paid out plus a
commission (both to its merchant payable, settled like its takings), and reports its cash on hand.

Ledger: a withdrawal DR rural_card_clearing (the core debits the card) → CR merchant_payable:<agent>; the
commission DR rural_commission_expense → CR merchant_payable:<agent>; a bill DR rural_card_clearing →
CR rural_bills_payable (passed to the biller)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu import ledger
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.db.rows import first_row
from zhifu.merchants import active_merchant_row, payable_account
from zhifu.merchants import county as county_profile
from zhifu.privacy import blind_index, mask_account
from zhifu.rural import harvest
from zhifu.rural.eaccounts import CARD_CLEARING
from zhifu.rural.issuer import issuer
from zhifu.rural.models import point_txns, service_points

COMMISSION = ledger.accounts.RURAL_COMMISSION
BILLS_PAYABLE = ledger.accounts.RURAL_BILLS_PAYABLE
CARD_DAILY_LIMIT_FEN_MAX = 500_000  # small cash: a point never hands out more than 5,000 yuan a card a day
TXN_FEN_MAX = 500_000


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=80)
    village_code: str = Field(pattern=r"^[0-9]{12}$")
    card_daily_limit_fen: StrictInt = 100_000
    commission_fen: StrictInt = 100


def register_point(conn: Connection, req: PointIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    at = at or clock.now()
    active_merchant_row(conn, req.merchant_id)
    village = next((v for v in county_profile().villages if v.code == req.village_code), None)
    if village is None:
        raise InvalidRequest(f"未知村 {req.village_code} / unknown village", param="village_code")
    if not 0 < req.card_daily_limit_fen <= CARD_DAILY_LIMIT_FEN_MAX:
        raise InvalidRequest(
            f"每卡每日限额须在 0–{fen_to_yuan_str(CARD_DAILY_LIMIT_FEN_MAX)} 元 / the per-card daily "
            f"limit must be at most {fen_to_yuan_str(CARD_DAILY_LIMIT_FEN_MAX)}",
            param="card_daily_limit_fen",
        )
    if not 0 <= req.commission_fen <= 10_000:
        raise InvalidRequest("佣金须为 0–100 元 / commission must be 0–100 yuan", param="commission_fen")
    pid = new_id_fast("sp", int(at.timestamp() * 1000))
    conn.execute(
        insert(service_points),
        [
            {
                "id": pid,
                "merchant_id": req.merchant_id,
                "name": req.name,
                "town_code": village.town,
                "village_code": req.village_code,
                "card_daily_limit_fen": req.card_daily_limit_fen,
                "commission_fen": req.commission_fen,
                "cash_fen": None,
                "cash_reported_at": None,
                "status": "active",
                "created_at": at,
            }
        ],
    )
    ledger.open_accounts(
        conn,
        [
            (payable_account(req.merchant_id), "liability", "CNY", False),
            (COMMISSION, "expense", "CNY", False),
            (BILLS_PAYABLE, "liability", "CNY", False),
            (CARD_CLEARING, "asset", "CNY", False),
        ],
    )
    return point(conn, pid)


def _public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "service_point",
        "merchant_id": r.merchant_id,
        "name": r.name,
        "town_code": r.town_code,
        "village_code": r.village_code,
        "card_daily_limit_fen": r.card_daily_limit_fen,
        "commission_fen": r.commission_fen,
        "cash_fen": r.cash_fen,
        "cash_reported_at": r.cash_reported_at,
        "status": r.status,
    }


def point(
    conn: Connection, point_id: str, *, merchant_id: str | None = None, lock: bool = False
) -> dict[str, Any]:
    q = select(service_points).where(service_points.c.id == point_id)
    if merchant_id is not None:
        q = q.where(service_points.c.merchant_id == merchant_id)
    r = first_row(conn, q, lock=lock)
    if r is None:
        raise NotFound(f"没有服务点 {point_id} / no service point {point_id}", param="point_id")
    return _public(r)


def list_points(conn: Connection, *, merchant_id: str | None = None) -> list[dict[str, Any]]:
    q = select(service_points).order_by(service_points.c.town_code, service_points.c.village_code)
    if merchant_id:
        q = q.where(service_points.c.merchant_id == merchant_id)
    return [_public(r) for r in conn.execute(q)]


class PointTxnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["withdraw", "bill"] = "withdraw"
    card_no: str = Field(min_length=1, max_length=19)
    amount_fen: StrictInt
    note: str = Field(default="", max_length=80)


def transact(
    conn: Connection, merchant_id: str, point_id: str, req: PointTxnIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """A withdrawal or a bill paid with a card at the point, within its per-card daily limit."""
    at = at or clock.now()
    p = point(conn, point_id, merchant_id=merchant_id, lock=True)  # one card's day at a point: one at a time
    if p["status"] != "active":
        raise ConflictError("服务点已停用 / the service point is closed", code="point_closed")
    check_fen(req.amount_fen, max_fen=TXN_FEN_MAX, param="amount_fen")
    problem = issuer().card_problem(req.card_no)
    if problem:
        raise InvalidRequest(problem, param="card_no")
    idx = blind_index(req.card_no)
    day = at.astimezone(clock.SHANGHAI).date()
    if req.kind == "withdraw":
        used = int(
            conn.execute(
                select(func.coalesce(func.sum(point_txns.c.amount_fen), 0)).where(
                    and_(
                        point_txns.c.point_id == point_id,
                        point_txns.c.card_index == idx,
                        point_txns.c.local_day == day,
                        point_txns.c.kind == "withdraw",
                    )
                )
            ).scalar_one()
        )
        if used + req.amount_fen > p["card_daily_limit_fen"]:
            raise InvalidRequest(
                f"超出服务点每卡每日取款限额 {fen_to_yuan_str(p['card_daily_limit_fen'])} 元（今日已取 "
                f"{fen_to_yuan_str(used)} 元）/ over the point's per-card daily limit",
                param="amount_fen",
                code="point_limit_exceeded",
            )
    tid = new_id_fast("ptx", int(at.timestamp() * 1000))
    legs = ledger.movements.service_point(
        kind="withdraw" if req.kind == "withdraw" else "bill",
        merchant_id=merchant_id,
        amount_fen=req.amount_fen,
        commission_fen=p["commission_fen"],
    )
    ledger.post_entry(
        conn,
        ledger.EntryRequest(
            ledger.keys.rural_service_point(tid), legs, f"service point {point_id} {req.kind}"
        ),
        at=at,
    )
    conn.execute(
        insert(point_txns),
        [
            {
                "id": tid,
                "point_id": point_id,
                "kind": req.kind,
                "card_index": idx,
                "card_masked": mask_account(req.card_no),
                "amount_fen": req.amount_fen,
                "commission_fen": p["commission_fen"],
                "local_day": day,
                "note": req.note,
                "created_at": at,
            }
        ],
    )
    harvest.card_used(conn, idx, at)
    return {
        "id": tid,
        "object": "point_txn",
        "point_id": point_id,
        "kind": req.kind,
        "card": mask_account(req.card_no),
        "amount_fen": req.amount_fen,
        "commission_fen": p["commission_fen"],
        "created_at": at,
    }


def report_cash(
    conn: Connection, merchant_id: str, point_id: str, cash_fen: int, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    point(conn, point_id, merchant_id=merchant_id)
    if isinstance(cash_fen, bool) or not isinstance(cash_fen, int) or cash_fen < 0 or cash_fen > 100_000_000:
        raise InvalidRequest("现金须为 0–1,000,000 元 / cash must be 0–1,000,000 yuan", param="cash_fen")
    conn.execute(
        update(service_points)
        .where(service_points.c.id == point_id)
        .values(cash_fen=cash_fen, cash_reported_at=at)
    )
    return point(conn, point_id)


def txns(conn: Connection, point_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "card": r.card_masked,
            "amount_fen": r.amount_fen,
            "commission_fen": r.commission_fen,
            "created_at": r.created_at,
            "note": r.note,
        }
        for r in conn.execute(
            select(point_txns)
            .where(point_txns.c.point_id == point_id)
            .order_by(point_txns.c.created_at.desc())
            .limit(limit)
        )
    ]


def coverage(conn: Connection, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Villages with an active point ÷ the county's villages, by town; withdrawals and bills in the period."""
    p = county_profile()
    covered = {
        v
        for (v,) in conn.execute(
            select(service_points.c.village_code).where(service_points.c.status == "active").distinct()
        )
    }
    by_town: dict[str, dict[str, Any]] = {}
    for t in p.towns:
        vs = [v.code for v in p.villages if v.town == t.code]
        c = sum(1 for v in vs if v in covered)
        by_town[t.code] = {
            "name": t.name,
            "villages": len(vs),
            "covered": c,
            "coverage_ppm": (c * 1_000_000 + len(vs) // 2) // len(vs) if vs else None,
        }
    total = len(p.villages)
    n_cov = sum(1 for v in p.villages if v.code in covered)
    rows = conn.execute(
        select(point_txns.c.kind, func.count(), func.coalesce(func.sum(point_txns.c.amount_fen), 0))
        .where(point_txns.c.created_at >= start, point_txns.c.created_at < end)
        .group_by(point_txns.c.kind)
    ).all()
    kinds = {k: {"count": int(n), "amount_fen": int(a)} for k, n, a in rows}
    points = int(
        conn.execute(
            select(func.count()).select_from(service_points).where(service_points.c.status == "active")
        ).scalar_one()
    )
    return {
        "points": points,
        "villages": total,
        "villages_covered": n_cov,
        "coverage_ppm": (n_cov * 1_000_000 + total // 2) // total if total else None,
        "by_town": by_town,
        "withdrawals": kinds.get("withdraw", {"count": 0, "amount_fen": 0}),
        "bills": kinds.get("bill", {"count": 0, "amount_fen": 0}),
    }
