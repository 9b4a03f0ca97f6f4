"""Transit: operators, lines and fare rules, validators and their deny list, riders, taps uploaded late and
twice, fares per rider and day with caps, fare charges through the payment service, and school-bus passes.

Design note. A validator decides offline (`validator.Validator`); the platform only learns of a ride when the
taps are uploaded, possibly hours later, possibly twice, possibly by two readers at one door. Taps are stored
once by the validator's own id and every upload recomputes the rider's whole day from all of that day's taps
(`fares.day_fare`), so the fare does not depend on upload order. A charge run takes, per rider and month, what
the capped days owe less what succeeded charges already took, and creates one payment of the operator's
merchant for the difference (order number = the charge id, so a retry cannot charge twice). The rail is called
after the creating transaction commits; the charge learns its outcome by re-reading the payment. A declined
charge puts the rider on the operator's deny list; the next successful charge (the next run, or a retry the
rider asks for) clears the debt and lifts the entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu import payments as payments_api
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, ppm_of
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.merchants import service as merchants
from zhifu.payments import CreatePayment, CreateRefund
from zhifu.reference import mask_account
from zhifu.transit import fares, tokens
from zhifu.transit.models import (
    CATEGORIES,
    transit_charges,
    transit_deny,
    transit_fare_days,
    transit_lines,
    transit_operators,
    transit_pass_products,
    transit_passes,
    transit_riders,
    transit_stops,
    transit_taps,
    transit_validators,
)
from zhifu.transit.validator import DENY_STALE_S, paycode_channel

TAPS_PER_BATCH_MAX = 1_000  # one upload; a validator back from days offline sends several
CLOCK_SKEW_S_MAX = 300  # a validator whose clock is further from ours has its batch parked for review
TAP_AGE_DAYS_MAX = 35  # older taps are parked: their month may be closed and charged
RETRY_AFTER_S = 20 * 3600  # a declined charge is tried again at the next daily run, not on every pass
RIDE_TOKEN_TTL_S = 300  # the rider's app shows a fresh QR; validators accept it until it expires
CHARGES_PER_RUN_MAX = 5_000
PAGE_MAX = 200
STOPS_MAX = 80
BANDS_MAX = 12
VALIDATOR_QUIET_S = 6 * 3600  # a validator silent this long is flagged on the health page
FINAL_UNPAID = ("failed", "closed", "expired")
_SLUG_RE = re.compile(r"[a-z][a-z0-9_\-]{1,39}")
_TAP_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,40}")


def add_active(
    conn: Connection,
    table: Any,
    merchant_id: str,
    doc: dict[str, Any],
    at: dt.datetime,
    *,
    exists: str,
    code: str,
) -> None:
    """Add an operator's catalogue row (a pass product, a ticket type) as active; its id is the operator's own,
    and a second one with that id is refused (409 `code`, saying `exists`)."""
    t = table.c
    if conn.execute(select(t.id).where(and_(t.merchant_id == merchant_id, t.id == doc["id"]))).first():
        raise ConflictError(exists, param="id", code=code)
    conn.execute(insert(table), [{"merchant_id": merchant_id, **doc, "status": "active", "created_at": at}])


def _slug(value: str, param: str) -> str:
    if not _SLUG_RE.fullmatch(value):
        raise InvalidRequest(
            f"{param} 须为小写字母开头的 2–40 位字母、数字、_ 或 - / {param} must be 2–40 lower-case "
            f"letters, digits, _ or -, starting with a letter",
            param=param,
        )
    return value


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(SHANGHAI).date()


def _day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    lo = dt.datetime.combine(start, dt.time(), SHANGHAI)
    return lo, dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SHANGHAI)


# ---------------------------------------------------------------- operators


class OperatorIn(BaseModel):
    """Transit or ticketing enabled on an existing merchant: the bus company's, the school-bus operator's, the
    scenic area's own merchant, so fares and tickets settle to it as any payment does."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["bus", "school_bus", "scenic"]
    merchant_id: str = Field(min_length=1, max_length=32)
    daily_cap_fen: StrictInt | None = Field(default=None, gt=0)
    monthly_cap_fen: StrictInt | None = Field(default=None, gt=0)
    concessions: dict[str, StrictInt] = Field(default_factory=dict)

    @field_validator("concessions")
    @classmethod
    def _concessions(cls, v: dict[str, int]) -> dict[str, int]:
        for k, ppm in v.items():
            if k not in CATEGORIES:
                raise ValueError(f"concession category must be one of {', '.join(CATEGORIES)}")
            if not 0 <= ppm <= 1_000_000:
                raise ValueError("a concession is a discount of 0–1000000 ppm")
        return v


def operator_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "transit_operator",
        "merchant_id": row.merchant_id,
        "name": row.name,
        "kind": row.kind,
        "town_code": row.town_code,
        "daily_cap_fen": row.daily_cap_fen,
        "monthly_cap_fen": row.monthly_cap_fen,
        "concessions": row.concessions or {},
        "status": row.status,
        "created_at": row.created_at,
    }


def register_operator(conn: Connection, req: OperatorIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    at = at or clock.now()
    _slug(req.id, "id")
    if req.daily_cap_fen and req.monthly_cap_fen and req.monthly_cap_fen < req.daily_cap_fen:
        raise InvalidRequest(
            "月封顶不得低于日封顶 / monthly_cap_fen is below daily_cap_fen", param="monthly_cap_fen"
        )
    m = merchants.active_merchant_row(conn, req.merchant_id)  # NotFound names merchant_id
    if conn.execute(select(transit_operators.c.id).where(transit_operators.c.id == req.id)).first():
        raise ConflictError(
            f"运营单位 {req.id} 已存在 / operator {req.id} exists", param="id", code="operator_exists"
        )
    if conn.execute(select(transit_operators.c.id).where(transit_operators.c.merchant_id == m.id)).first():
        raise ConflictError(
            f"商户 {m.id} 已开通 / merchant {m.id} already runs an operator",
            param="merchant_id",
            code="operator_exists",
        )
    conn.execute(
        insert(transit_operators),
        [
            {
                "id": req.id,
                "merchant_id": m.id,
                "name": req.name,
                "kind": req.kind,
                "town_code": m.town_code,
                "daily_cap_fen": req.daily_cap_fen,
                "monthly_cap_fen": req.monthly_cap_fen,
                "concessions": dict(req.concessions),
                "status": "active",
                "created_at": at,
            }
        ],
    )
    return get_operator(conn, req.id)


def get_operator(conn: Connection, operator_id: str) -> dict[str, Any]:
    row = conn.execute(select(transit_operators).where(transit_operators.c.id == operator_id)).first()
    if row is None:
        raise NotFound(f"没有运营单位 {operator_id} / no operator {operator_id}", param="operator_id")
    return operator_public(row)


def operator_row(conn: Connection, merchant_id: str, *, kind: str | None = None) -> Any:
    """The operator a merchant runs; a merchant running none (or another kind) is simply not found."""
    row = conn.execute(
        select(transit_operators).where(transit_operators.c.merchant_id == merchant_id)
    ).first()
    if (
        row is None
        or (kind == "transit" and row.kind == "scenic")
        or (kind == "scenic" and row.kind != "scenic")
    ):
        raise NotFound("本商户未开通该业务 / this merchant runs no such operator", param="merchant_id")
    return row


def operator_of(conn: Connection, merchant_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(transit_operators).where(transit_operators.c.merchant_id == merchant_id)
    ).first()
    return operator_public(row) if row is not None else None


def list_operators(conn: Connection) -> list[dict[str, Any]]:
    return [
        operator_public(r) for r in conn.execute(select(transit_operators).order_by(transit_operators.c.id))
    ]


class CapsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_cap_fen: StrictInt | None = Field(default=None, gt=0)
    monthly_cap_fen: StrictInt | None = Field(default=None, gt=0)
    concessions: dict[str, StrictInt] | None = None

    @field_validator("concessions")
    @classmethod
    def _concessions(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        return v if v is None else OperatorIn._concessions(v)


def set_caps(conn: Connection, merchant_id: str, req: CapsIn) -> dict[str, Any]:
    """New caps and concessions apply to days recomputed from now on; days already charged stay as charged."""
    op = operator_row(conn, merchant_id, kind="transit")
    if req.daily_cap_fen and req.monthly_cap_fen and req.monthly_cap_fen < req.daily_cap_fen:
        raise InvalidRequest(
            "月封顶不得低于日封顶 / monthly_cap_fen is below daily_cap_fen", param="monthly_cap_fen"
        )
    values: dict[str, Any] = {"daily_cap_fen": req.daily_cap_fen, "monthly_cap_fen": req.monthly_cap_fen}
    if req.concessions is not None:
        values["concessions"] = dict(req.concessions)
    conn.execute(update(transit_operators).where(transit_operators.c.id == op.id).values(**values))
    return get_operator(conn, op.id)


# ---------------------------------------------------------------- lines and stops


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=60)
    at_m: StrictInt = Field(ge=0, le=500_000)


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=60)
    fare_mode: Literal["flat", "distance"] = "flat"
    flat_fare_fen: StrictInt = Field(default=0, ge=0, le=100_000)
    bands: list[tuple[StrictInt, StrictInt]] = Field(default_factory=list, max_length=BANDS_MAX)
    stops: list[StopIn] = Field(default_factory=list, max_length=STOPS_MAX)


def add_line(
    conn: Connection, merchant_id: str, req: LineIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    op = operator_row(conn, merchant_id, kind="transit")
    _slug(req.id, "id")
    if req.fare_mode == "distance":
        if not req.bands:
            raise InvalidRequest("按里程计价须给出票价区段 / a distance line needs fare bands", param="bands")
        if len(req.stops) < 2:
            raise InvalidRequest(
                "按里程计价须至少两个站点 / a distance line needs at least two stops", param="stops"
            )
        ups = [b[0] for b in req.bands]
        if ups != sorted(set(ups)) or any(f < 0 for _, f in req.bands) or ups[0] <= 0:
            raise InvalidRequest(
                "票价区段须按里程递增且票价不为负 / bands must rise in distance with fares ≥ 0", param="bands"
            )
    elif req.flat_fare_fen == 0 and op.kind != "school_bus":
        raise InvalidRequest("统一票价须大于 0 / flat_fare_fen must be above 0", param="flat_fare_fen")
    ats = [s.at_m for s in req.stops]
    if ats != sorted(ats):
        raise InvalidRequest("站点里程须递增 / stops must be in order of distance", param="stops")
    if conn.execute(
        select(transit_lines.c.id).where(
            and_(transit_lines.c.merchant_id == merchant_id, transit_lines.c.id == req.id)
        )
    ).first():
        raise ConflictError(f"线路 {req.id} 已存在 / line {req.id} exists", param="id", code="line_exists")
    conn.execute(
        insert(transit_lines),
        [
            {
                "merchant_id": merchant_id,
                "id": req.id,
                "operator_id": op.id,
                "name": req.name,
                "fare_mode": req.fare_mode,
                "flat_fare_fen": req.flat_fare_fen,
                "bands": [list(b) for b in req.bands],
                "status": "active",
                "created_at": at,
            }
        ],
    )
    if req.stops:
        conn.execute(
            insert(transit_stops),
            [
                {"merchant_id": merchant_id, "line_id": req.id, "seq": i, "name": s.name, "at_m": s.at_m}
                for i, s in enumerate(req.stops, 1)
            ],
        )
    return next(x for x in list_lines(conn, merchant_id) if x["id"] == req.id)


def list_lines(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    stops: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in conn.execute(
        select(transit_stops)
        .where(transit_stops.c.merchant_id == merchant_id)
        .order_by(transit_stops.c.line_id, transit_stops.c.seq)
    ):
        stops[s.line_id].append({"seq": s.seq, "name": s.name, "at_m": s.at_m})
    return [
        {
            "id": r.id,
            "object": "transit_line",
            "name": r.name,
            "fare_mode": r.fare_mode,
            "flat_fare_fen": r.flat_fare_fen,
            "bands": [list(b) for b in r.bands or []],
            "stops": stops[r.id],
            "status": r.status,
        }
        for r in conn.execute(
            select(transit_lines)
            .where(transit_lines.c.merchant_id == merchant_id)
            .order_by(transit_lines.c.id)
        )
    ]


def _fare_lines(conn: Connection, merchant_id: str) -> dict[str, fares.Line]:
    out = {}
    for line in list_lines(conn, merchant_id):
        out[line["id"]] = fares.Line(
            line["id"],
            line["fare_mode"],
            line["flat_fare_fen"],
            tuple((int(u), int(f)) for u, f in line["bands"]),
            {s["seq"]: s["at_m"] for s in line["stops"]},
        )
    return out


# ---------------------------------------------------------------- riders


class RiderIn(BaseModel):
    """A transit QR issued by the platform, bound to a payment agreement on one rail."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["unionpay_qr", "wechat", "alipay"]
    method_token: str = Field(min_length=16, max_length=24)
    category: Literal["adult", "student", "elderly", "free"] = "adult"
    holder_name: str = Field(default="", max_length=40)


def rider_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "transit_rider",
        "medium": row.medium,
        "channel": row.channel,
        "method": row.method_masked,
        "category": row.category,
        "holder": row.holder_masked,
        "status": row.status,
        "created_at": row.created_at,
    }


def issue_rider(conn: Connection, req: RiderIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Bind a payment agreement to a new transit QR; the answer carries the first QR to show."""
    at = at or clock.now()
    if paycode_channel(req.method_token) != req.channel:
        raise InvalidRequest(
            f"支付协议号与渠道 {req.channel} 不符 / method_token is not a {req.channel} agreement number",
            param="method_token",
        )
    rid = new_id_fast("rdr", int(at.timestamp() * 1000))
    from zhifu.privacy import mask_name

    conn.execute(
        insert(transit_riders),
        [
            {
                "id": rid,
                "medium": "qr",
                "channel": req.channel,
                "method_token": req.method_token,
                "method_masked": mask_account(req.method_token),
                "category": req.category,
                "holder_masked": mask_name(req.holder_name) if req.holder_name else "",
                "status": "active",
                "created_at": at,
            }
        ],
    )
    doc = rider_public(_rider(conn, rid))
    doc["token"] = ride_token(conn, rid, at=at)
    return doc


def _rider(conn: Connection, rider_id: str, *, lock: bool = False) -> Any:
    q = select(transit_riders).where(transit_riders.c.id == rider_id)
    row = first_row(conn, q, lock=lock)
    if row is None:
        raise NotFound(f"没有乘客 {rider_id} / no rider {rider_id}", param="rider_id")
    return row


def get_rider(conn: Connection, rider_id: str) -> dict[str, Any]:
    return rider_public(_rider(conn, rider_id))


def ride_token(
    conn: Connection, rider_id: str, *, at: dt.datetime | None = None, ttl_s: int = RIDE_TOKEN_TTL_S
) -> str:
    """A fresh ride QR for the rider's app to show."""
    at = at or clock.now()
    r = _rider(conn, rider_id)
    if r.status != "active" or r.medium != "qr":
        raise ConflictError(
            f"乘车码 {rider_id} 已停用 / rider {rider_id} has no active transit QR", code="rider_closed"
        )
    now = int(at.timestamp())
    return tokens.ride_token(rider_id, now, now + ttl_s)


def _paycode_rider(conn: Connection, code: str, at: dt.datetime) -> str:
    rid = tokens.paycode_rider(code)
    if conn.execute(select(transit_riders.c.id).where(transit_riders.c.id == rid)).first() is None:
        stmt = _insert_ignore(conn, transit_riders).values(
            id=rid,
            medium="paycode",
            channel=paycode_channel(code) or "",
            method_token=code,
            method_masked=mask_account(code),
            category="adult",
            holder_masked="",
            status="active",
            created_at=at,
        )
        conn.execute(stmt)
    return rid


def _insert_ignore(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


# ---------------------------------------------------------------- validators and the deny list


def add_validator(
    conn: Connection,
    merchant_id: str,
    validator_id: str,
    line_id: str | None,
    label: str = "",
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    at = at or clock.now()
    operator_row(conn, merchant_id)
    _slug(validator_id, "id")
    if (
        line_id
        and not conn.execute(
            select(transit_lines.c.id).where(
                and_(transit_lines.c.merchant_id == merchant_id, transit_lines.c.id == line_id)
            )
        ).first()
    ):
        raise NotFound(f"没有线路 {line_id} / no line {line_id}", param="line_id")
    if conn.execute(
        select(transit_validators.c.id).where(
            and_(transit_validators.c.merchant_id == merchant_id, transit_validators.c.id == validator_id)
        )
    ).first():
        raise ConflictError(
            f"验票机 {validator_id} 已存在 / validator {validator_id} exists",
            param="id",
            code="validator_exists",
        )
    conn.execute(
        insert(transit_validators),
        [
            {
                "merchant_id": merchant_id,
                "id": validator_id,
                "line_id": line_id or None,
                "label": label[:60],
                "deny_version": None,
                "last_sync_at": None,
                "last_upload_at": None,
                "pending_taps": 0,
                "taps_uploaded": 0,
                "status": "active",
                "created_at": at,
            }
        ],
    )
    return _validator_public(_validator(conn, merchant_id, validator_id), at)


def _validator(conn: Connection, merchant_id: str, validator_id: str) -> Any:
    row = conn.execute(
        select(transit_validators).where(
            and_(transit_validators.c.merchant_id == merchant_id, transit_validators.c.id == validator_id)
        )
    ).first()
    if row is None or row.status != "active":
        raise NotFound(
            f"未知验票机 {validator_id} / unknown validator {validator_id}",
            param="validator_id",
            code="unknown_validator",
        )
    return row


def _validator_public(row: Any, at: dt.datetime) -> dict[str, Any]:
    sync_age = None if row.last_sync_at is None else int((at - row.last_sync_at).total_seconds())
    seen = max((t for t in (row.last_sync_at, row.last_upload_at) if t is not None), default=None)
    return {
        "id": row.id,
        "object": "transit_validator",
        "line_id": row.line_id,
        "label": row.label,
        "deny_version": row.deny_version,
        "last_sync_at": row.last_sync_at,
        "last_upload_at": row.last_upload_at,
        "pending_taps": row.pending_taps,
        "taps_uploaded": row.taps_uploaded,
        "sync_age_s": sync_age,
        "deny_stale": sync_age is None or sync_age > DENY_STALE_S,
        "quiet": seen is None or (at - seen).total_seconds() > VALIDATOR_QUIET_S,
    }


def validator_health(
    conn: Connection, merchant_id: str, *, at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    at = at or clock.now()
    return [
        _validator_public(r, at)
        for r in conn.execute(
            select(transit_validators)
            .where(
                and_(transit_validators.c.merchant_id == merchant_id, transit_validators.c.status == "active")
            )
            .order_by(transit_validators.c.id)
        )
    ]


def deny_list(conn: Connection, merchant_id: str) -> tuple[list[str], str]:
    """The active deny entries and their version (a digest of the list, so equal lists have equal versions)."""
    ids = sorted(
        conn.execute(
            select(transit_deny.c.rider_id).where(
                and_(transit_deny.c.merchant_id == merchant_id, transit_deny.c.status == "active")
            )
        ).scalars()
    )
    return ids, hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def deny_entries(conn: Connection, merchant_id: str, *, status: str = "active") -> list[dict[str, Any]]:
    return [
        {
            "rider_id": r.rider_id,
            "reason": r.reason,
            "debt_fen": r.debt_fen,
            "status": r.status,
            "since": r.since,
            "lifted_at": r.lifted_at,
        }
        for r in conn.execute(
            select(transit_deny)
            .where(and_(transit_deny.c.merchant_id == merchant_id, transit_deny.c.status == status))
            .order_by(transit_deny.c.since.desc())
            .limit(PAGE_MAX)
        )
    ]


def deny(
    conn: Connection,
    merchant_id: str,
    rider_id: str,
    reason: str,
    *,
    debt_fen: int = 0,
    at: dt.datetime | None = None,
) -> None:
    """Put a rider on the operator's deny list (or refresh the entry)."""
    at = at or clock.now()
    if reason not in ("debt", "lost", "fraud"):
        raise InvalidRequest(
            "reason 须为 debt、lost 或 fraud / reason must be debt, lost or fraud", param="reason"
        )
    _rider(conn, rider_id)
    key = and_(transit_deny.c.merchant_id == merchant_id, transit_deny.c.rider_id == rider_id)
    res = conn.execute(
        update(transit_deny)
        .where(key)
        .values(reason=reason, debt_fen=debt_fen, status="active", since=at, lifted_at=None)
    )
    if res.rowcount == 0:
        conn.execute(
            insert(transit_deny),
            [
                {
                    "merchant_id": merchant_id,
                    "rider_id": rider_id,
                    "reason": reason,
                    "debt_fen": debt_fen,
                    "status": "active",
                    "since": at,
                    "lifted_at": None,
                }
            ],
        )


def lift(conn: Connection, merchant_id: str, rider_id: str, *, at: dt.datetime | None = None) -> bool:
    at = at or clock.now()
    res = conn.execute(
        update(transit_deny)
        .where(
            and_(
                transit_deny.c.merchant_id == merchant_id,
                transit_deny.c.rider_id == rider_id,
                transit_deny.c.status == "active",
            )
        )
        .values(status="lifted", lifted_at=at, debt_fen=0)
    )
    return res.rowcount == 1


def sync(
    conn: Connection,
    merchant_id: str,
    validator_id: str,
    *,
    pending_taps: int | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """What a validator downloads: the platform's public key, the deny list, and today's pass holders."""
    at = at or clock.now()
    v = _validator(conn, merchant_id, validator_id)
    ids, version = deny_list(conn, merchant_id)
    today = local_day(at)
    passes = sorted(
        conn.execute(
            select(transit_passes.c.rider_id).where(
                and_(
                    transit_passes.c.merchant_id == merchant_id,
                    transit_passes.c.status == "active",
                    transit_passes.c.valid_from <= today,
                    transit_passes.c.valid_to >= today,
                )
            )
        ).scalars()
    )
    values: dict[str, Any] = {"last_sync_at": at, "deny_version": version}
    if pending_taps is not None:
        if pending_taps < 0:
            raise InvalidRequest("pending_taps 不得为负 / pending_taps must be ≥ 0", param="pending_taps")
        values["pending_taps"] = pending_taps
    conn.execute(
        update(transit_validators)
        .where(and_(transit_validators.c.merchant_id == merchant_id, transit_validators.c.id == v.id))
        .values(**values)
    )
    return {
        "object": "validator_sync",
        "validator_id": v.id,
        "line_id": v.line_id,
        "key_id": tokens.KEY_ID,
        "public_key": tokens.public_key_raw(),
        "deny": ids,
        "deny_version": version,
        "passes": sorted(set(passes)),
        "server_time": at,
        "deny_stale_after_s": DENY_STALE_S,
    }


# ---------------------------------------------------------------- taps


class TapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=40)
    credential: str = Field(min_length=1, max_length=tokens.CREDENTIAL_CHARS_MAX)
    tapped_at: dt.datetime
    direction: Literal["on", "off"] = "on"
    stop_seq: StrictInt | None = Field(default=None, ge=1, le=STOPS_MAX)
    decision: Literal["accept", "refuse"] = "accept"

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _TAP_ID_RE.fullmatch(v):
            raise ValueError("a tap id holds letters, digits, _ and - only")
        return v

    @field_validator("tapped_at")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("tapped_at needs a time zone (e.g. 2022-06-15T08:00:00+08:00)")
        return v


class TapBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validator_time: dt.datetime
    pending_after: StrictInt = Field(default=0, ge=0)
    taps: list[TapIn] = Field(max_length=TAPS_PER_BATCH_MAX)

    @field_validator("validator_time")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("validator_time needs a time zone")
        return v


def _identify(conn: Connection, credential: str, at: dt.datetime) -> tuple[str | None, str]:
    """(rider id, "") or (None or rider id, why the tap cannot be charged)."""
    if credential.startswith(tokens.RIDE_PREFIX + "."):
        fields = tokens.verify(tokens.public_key(), credential)
        if fields is None or len(fields) != 4:
            return None, "forged_token"
        if conn.execute(select(transit_riders.c.id).where(transit_riders.c.id == fields[1])).first() is None:
            return None, "unknown_rider"
        return fields[1], ""
    if paycode_channel(credential) is not None:
        return _paycode_rider(conn, credential, at), ""
    return None, "unreadable"


def upload_taps(
    conn: Connection, merchant_id: str, validator_id: str, batch: TapBatch, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Store a validator's taps once each, refuse or park the ones that cannot be charged (with the reason),
    and recompute the fares of every rider and day they touch."""
    at = at or clock.now()
    op = operator_row(conn, merchant_id, kind="transit")
    v = _validator(conn, merchant_id, validator_id)
    skew = abs((batch.validator_time - at).total_seconds())
    ids = [f"{v.id}:{t.id}" for t in batch.taps]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("同一批次中有重复的 tap id / a tap id repeats within the batch", param="taps")
    seen = set()
    for chunk in range(0, len(ids), 500):
        seen |= set(
            conn.execute(
                select(transit_taps.c.tap_id).where(
                    and_(
                        transit_taps.c.merchant_id == merchant_id,
                        transit_taps.c.tap_id.in_(ids[chunk : chunk + 500]),
                    )
                )
            ).scalars()
        )
    rows, touched, out = [], set(), {"stored": 0, "already": 0, "refused": [], "parked": []}
    for key, t in zip(ids, batch.taps, strict=True):
        if key in seen:
            out["already"] += 1
            continue
        tapped = t.tapped_at.astimezone(dt.UTC)
        rider, why = _identify(conn, t.credential, at)
        status = "counted"
        if why:
            status = "refused"
        elif t.decision == "refuse":
            status, why = "refused", "refused_at_gate"
        elif skew > CLOCK_SKEW_S_MAX:
            status, why = "parked", "validator_clock_skew"
        elif (tapped - at).total_seconds() > CLOCK_SKEW_S_MAX:
            status, why = "refused", "tap_in_future"
        elif (at - tapped).days > TAP_AGE_DAYS_MAX:
            status, why = "parked", "tap_too_old"
        if status == "refused":
            out["refused"].append({"id": t.id, "reason": why})
        elif status == "parked":
            out["parked"].append({"id": t.id, "reason": why})
        else:
            touched.add((rider, local_day(tapped)))
        rows.append(
            {
                "merchant_id": merchant_id,
                "tap_id": key,
                "validator_id": v.id,
                "line_id": v.line_id,
                "stop_seq": t.stop_seq,
                "direction": t.direction,
                "rider_id": rider or "-",
                "decision": t.decision,
                "tapped_at": tapped,
                "uploaded_at": at,
                "day": local_day(tapped),
                "status": status,
                "reason": why,
                "fare_fen": 0,
            }
        )
    if rows:
        res = conn.execute(_insert_ignore(conn, transit_taps), rows)
        out["stored"] = res.rowcount if res.rowcount is not None and res.rowcount >= 0 else len(rows)
        out["already"] += len(rows) - out["stored"]
    conn.execute(
        update(transit_validators)
        .where(and_(transit_validators.c.merchant_id == merchant_id, transit_validators.c.id == v.id))
        .values(
            last_upload_at=at,
            pending_taps=batch.pending_after,
            taps_uploaded=transit_validators.c.taps_uploaded + out["stored"],
        )
    )
    lines = _fare_lines(conn, merchant_id)
    for rider, day in sorted(touched):
        recompute_day(conn, op, rider, day, at=at, lines=lines)
    return {"object": "tap_upload", "validator_id": v.id, "received": len(batch.taps), **out}


def recompute_day(
    conn: Connection,
    op: Any,
    rider_id: str,
    day: dt.date,
    *,
    at: dt.datetime,
    lines: dict[str, fares.Line] | None = None,
) -> dict[str, Any]:
    """A rider's day from all its taps, whatever order they came in; the rider row is locked on PostgreSQL so
    two uploads for one rider recompute one after the other."""
    merchant_id = op.merchant_id
    rider = _rider(conn, rider_id, lock=True)
    lines = lines if lines is not None else _fare_lines(conn, merchant_id)
    rows = conn.execute(
        select(transit_taps).where(
            and_(
                transit_taps.c.merchant_id == merchant_id,
                transit_taps.c.rider_id == rider_id,
                transit_taps.c.day == day,
                transit_taps.c.status.in_(("counted", "duplicate", "capped", "free")),
            )
        )
    ).all()
    taps = [fares.Tap(r.tap_id, r.tapped_at, r.line_id, r.direction, r.stop_seq) for r in rows]
    discount = int((op.concessions or {}).get(rider.category, 1_000_000 if rider.category == "free" else 0))
    df = fares.day_fare(
        taps,
        lines,
        discount_ppm=discount,
        daily_cap_fen=op.daily_cap_fen,
        on_pass=has_pass(conn, merchant_id, rider_id, day),
    )
    for r in rows:
        status, fare = df.status[r.tap_id], df.tap_fare[r.tap_id]
        if (status, fare) != (r.status, r.fare_fen):
            why = {"capped": "daily_cap_reached", "duplicate": "duplicate_tap"}.get(status, "")
            conn.execute(
                update(transit_taps)
                .where(and_(transit_taps.c.merchant_id == merchant_id, transit_taps.c.tap_id == r.tap_id))
                .values(status=status, fare_fen=fare, reason=why)
            )
    key = and_(
        transit_fare_days.c.merchant_id == merchant_id,
        transit_fare_days.c.rider_id == rider_id,
        transit_fare_days.c.day == day,
    )
    values = {"journeys": df.journeys, "fare_fen": df.fare_fen, "capped_fen": df.capped_fen, "updated_at": at}
    if conn.execute(update(transit_fare_days).where(key).values(**values)).rowcount == 0:
        conn.execute(
            insert(transit_fare_days),
            [
                {
                    "merchant_id": merchant_id,
                    "rider_id": rider_id,
                    "day": day,
                    "month": f"{day:%Y-%m}",
                    **values,
                }
            ],
        )
    return {"rider_id": rider_id, "day": day, **values}


def list_taps(
    conn: Connection,
    merchant_id: str,
    *,
    status: str | None = None,
    rider_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    q = select(transit_taps).where(transit_taps.c.merchant_id == merchant_id)
    if status:
        q = q.where(transit_taps.c.status == status)
    if rider_id:
        q = q.where(transit_taps.c.rider_id == rider_id)
    return [
        {
            "id": r.tap_id,
            "validator_id": r.validator_id,
            "line_id": r.line_id,
            "stop_seq": r.stop_seq,
            "direction": r.direction,
            "rider_id": r.rider_id,
            "decision": r.decision,
            "tapped_at": r.tapped_at,
            "uploaded_at": r.uploaded_at,
            "status": r.status,
            "reason": r.reason,
            "fare_fen": r.fare_fen,
        }
        for r in conn.execute(q.order_by(transit_taps.c.tapped_at.desc()).limit(min(limit, PAGE_MAX)))
    ]


def release_parked(conn: Connection, merchant_id: str, tap_id: str, *, at: dt.datetime | None = None) -> dict:
    """The operator accepts a parked tap (a validator's clock was checked, an old tap is genuine): it counts."""
    at = at or clock.now()
    op = operator_row(conn, merchant_id, kind="transit")
    row = conn.execute(
        select(transit_taps).where(
            and_(transit_taps.c.merchant_id == merchant_id, transit_taps.c.tap_id == tap_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"没有刷卡记录 {tap_id} / no tap {tap_id}", param="tap_id")
    if row.status != "parked":
        raise ConflictError(
            f"刷卡记录 {tap_id} 不在待审 / tap {tap_id} is {row.status}, not parked", code="tap_not_parked"
        )
    conn.execute(
        update(transit_taps)
        .where(and_(transit_taps.c.merchant_id == merchant_id, transit_taps.c.tap_id == tap_id))
        .values(status="counted", reason="")
    )
    return recompute_day(conn, op, row.rider_id, row.day, at=at)


# ---------------------------------------------------------------- charges


def _owed(conn: Connection, op: Any, rider_id: str, month: str, through: dt.date) -> int:
    caps = (
        conn.execute(
            select(transit_fare_days.c.capped_fen).where(
                and_(
                    transit_fare_days.c.merchant_id == op.merchant_id,
                    transit_fare_days.c.rider_id == rider_id,
                    transit_fare_days.c.month == month,
                    transit_fare_days.c.day <= through,
                )
            )
        )
        .scalars()
        .all()
    )
    return fares.month_owed([int(c) for c in caps], op.monthly_cap_fen)


def _charged(conn: Connection, merchant_id: str, rider_id: str, month: str) -> tuple[int, int, Any]:
    """(succeeded, pending) amounts of a rider's month, and the time of its latest failed charge."""
    ok = pend = 0
    failed_at = None
    for status, amount, created in conn.execute(
        select(transit_charges.c.status, transit_charges.c.amount_fen, transit_charges.c.created_at).where(
            and_(
                transit_charges.c.merchant_id == merchant_id,
                transit_charges.c.rider_id == rider_id,
                transit_charges.c.month == month,
            )
        )
    ):
        if status == "succeeded":
            ok += int(amount)
        elif status == "pending":
            pend += int(amount)
        elif failed_at is None or created > failed_at:
            failed_at = created
    return ok, pend, failed_at


def outstanding(conn: Connection, op: Any, rider_id: str, through: dt.date) -> int:
    """What the rider owes for days up to `through` beyond what succeeded charges took."""
    months = (
        conn.execute(
            select(transit_fare_days.c.month)
            .distinct()
            .where(
                and_(
                    transit_fare_days.c.merchant_id == op.merchant_id,
                    transit_fare_days.c.rider_id == rider_id,
                    transit_fare_days.c.day <= through,
                )
            )
        )
        .scalars()
        .all()
    )
    return sum(
        max(0, _owed(conn, op, rider_id, m, through) - _charged(conn, op.merchant_id, rider_id, m)[0])
        for m in months
    )


def _due(
    conn: Connection, op: Any, through: dt.date, at: dt.datetime, rider_id: str | None, retry_now: bool
) -> list[tuple[str, str, int]]:
    q = (
        select(transit_fare_days.c.rider_id, transit_fare_days.c.month)
        .distinct()
        .where(
            and_(
                transit_fare_days.c.merchant_id == op.merchant_id,
                transit_fare_days.c.day <= through,
                transit_fare_days.c.capped_fen > 0,
            )
        )
    )
    if rider_id:
        q = q.where(transit_fare_days.c.rider_id == rider_id)
    out = []
    for rid, month in conn.execute(q.order_by(transit_fare_days.c.rider_id, transit_fare_days.c.month)):
        ok, pend, failed_at = _charged(conn, op.merchant_id, rid, month)
        if pend or (
            failed_at is not None and not retry_now and (at - failed_at).total_seconds() < RETRY_AFTER_S
        ):
            continue
        amount = _owed(conn, op, rid, month, through) - ok
        if amount > 0:
            out.append((rid, month, amount))
        if len(out) >= CHARGES_PER_RUN_MAX:
            break
    return out


def _start_charge(
    conn: Connection, op: Any, rider_id: str, month: str, through: dt.date, at: dt.datetime
) -> str | None:
    """Create the charge and its payment in one transaction (re-checking what is owed under the rider's lock)."""
    rider = _rider(conn, rider_id, lock=True)
    ok, pend, _ = _charged(conn, op.merchant_id, rider_id, month)
    amount = _owed(conn, op, rider_id, month, through) - ok
    if pend or amount <= 0:
        return None
    check_fen(amount, param="amount_fen")
    cid = new_id_fast("tfc", int(at.timestamp() * 1000))
    conn.execute(
        insert(transit_charges),
        [
            {
                "merchant_id": op.merchant_id,
                "id": cid,
                "rider_id": rider_id,
                "month": month,
                "through_day": through,
                "amount_fen": amount,
                "payment_id": None,
                "channel": rider.channel,
                "status": "pending",
                "failure_code": None,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    label = {"bus": "公交车费", "school_bus": "校车车费"}.get(op.kind, "车费")
    p = payments_api.create_payment(
        conn,
        op.merchant_id,
        CreatePayment(
            amount_fen=amount,
            merchant_order_no=cid,
            auth_code=rider.method_token,
            description=f"{op.name} {label} {month} 至 {through:%m-%d}"[:128],
            metadata={"transit": "fare", "rider_id": rider_id, "month": month},
        ),
    )
    conn.execute(
        update(transit_charges)
        .where(and_(transit_charges.c.merchant_id == op.merchant_id, transit_charges.c.id == cid))
        .values(payment_id=p["id"])
    )
    return cid


def finish_charge(
    conn: Connection, merchant_id: str, charge_id: str, *, at: dt.datetime | None = None
) -> str:
    """Bring a pending charge to its payment's outcome; a decline puts the rider on the deny list, a success
    that leaves nothing owed lifts the rider's debt entry."""
    at = at or clock.now()
    key = and_(transit_charges.c.merchant_id == merchant_id, transit_charges.c.id == charge_id)
    c = conn.execute(select(transit_charges).where(key)).one()
    if c.status != "pending" or c.payment_id is None:
        return c.status
    p = payments_api.get_payment(conn, merchant_id, c.payment_id)
    op = operator_row(conn, merchant_id)
    if p["status"] == "succeeded":
        conn.execute(
            update(transit_charges).where(key).values(status="succeeded", channel=p["channel"], updated_at=at)
        )
        if outstanding(conn, op, c.rider_id, c.through_day) == 0:
            lift(conn, merchant_id, c.rider_id, at=at)
        return "succeeded"
    if p["status"] in FINAL_UNPAID:
        code = (p.get("failure") or {}).get("code") or p["status"]
        conn.execute(
            update(transit_charges)
            .where(key)
            .values(status="failed", failure_code=str(code)[:40], updated_at=at)
        )
        deny(
            conn,
            merchant_id,
            c.rider_id,
            "debt",
            debt_fen=outstanding(conn, op, c.rider_id, c.through_day),
            at=at,
        )
        return "failed"
    return "pending"


def charge_due(
    db: Database,
    *,
    merchant_id: str | None = None,
    through: dt.date | None = None,
    rider_id: str | None = None,
    retry_now: bool = False,
    at: dt.datetime | None = None,
) -> dict[str, int]:
    """Charge every rider what their capped fares owe up to `through` (default: yesterday), one payment per
    rider and month; the rail answers after each creating transaction commits."""
    at = at or clock.now()
    through = through or (local_day(at) - dt.timedelta(days=1))
    stats = {"charges": 0, "succeeded": 0, "failed": 0, "pending": 0, "amount_fen": 0}
    with db.read() as conn:
        ops = [
            r
            for r in conn.execute(select(transit_operators).where(transit_operators.c.kind != "scenic"))
            if merchant_id is None or r.merchant_id == merchant_id
        ]
        work = [(op, _due(conn, op, through, at, rider_id, retry_now)) for op in ops]
    for op, due in work:
        for rid, month, _amount in due:
            cid = db.run(lambda c, r=rid, m=month, o=op: _start_charge(c, o, r, m, through, at))
            if cid is None:
                continue
            out = db.run(lambda c, i=cid, o=op: finish_charge(c, o.merchant_id, i, at=at))
            with db.read() as conn:
                amount = conn.execute(
                    select(transit_charges.c.amount_fen).where(
                        and_(transit_charges.c.merchant_id == op.merchant_id, transit_charges.c.id == cid)
                    )
                ).scalar_one()
            stats["charges"] += 1
            stats[out] += 1
            if out == "succeeded":
                stats["amount_fen"] += int(amount)
    return stats


def finish_pending(db: Database, *, at: dt.datetime | None = None, older_than_s: int = 0) -> int:
    """Re-read the payments of pending charges (a rail that answered late); background work."""
    at = at or clock.now()
    with db.read() as conn:
        rows = conn.execute(
            select(transit_charges.c.merchant_id, transit_charges.c.id)
            .where(
                and_(
                    transit_charges.c.status == "pending",
                    transit_charges.c.created_at <= at - dt.timedelta(seconds=older_than_s),
                )
            )
            .limit(1_000)
        ).all()
    moved = 0
    for mid, cid in rows:
        if db.run(lambda c, m=mid, i=cid: finish_charge(c, m, i, at=at)) != "pending":
            moved += 1
    return moved


def charge_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "transit_charge",
        "rider_id": row.rider_id,
        "month": row.month,
        "through_day": row.through_day,
        "amount_fen": row.amount_fen,
        "payment_id": row.payment_id,
        "channel": row.channel,
        "status": row.status,
        "failure_code": row.failure_code,
        "created_at": row.created_at,
    }


def rider_account(conn: Connection, merchant_id: str, rider_id: str) -> dict[str, Any]:
    """A rider's days, charges and deny entry at one operator."""
    op = operator_row(conn, merchant_id, kind="transit")
    r = _rider(conn, rider_id)
    days = [
        {"day": d.day, "journeys": d.journeys, "fare_fen": d.fare_fen, "capped_fen": d.capped_fen}
        for d in conn.execute(
            select(transit_fare_days)
            .where(
                and_(transit_fare_days.c.merchant_id == merchant_id, transit_fare_days.c.rider_id == rider_id)
            )
            .order_by(transit_fare_days.c.day.desc())
            .limit(62)
        )
    ]
    charges = [
        charge_public(c)
        for c in conn.execute(
            select(transit_charges)
            .where(and_(transit_charges.c.merchant_id == merchant_id, transit_charges.c.rider_id == rider_id))
            .order_by(transit_charges.c.created_at.desc())
            .limit(PAGE_MAX)
        )
    ]
    d = conn.execute(
        select(transit_deny).where(
            and_(transit_deny.c.merchant_id == merchant_id, transit_deny.c.rider_id == rider_id)
        )
    ).first()
    return {
        "object": "rider_account",
        "rider": rider_public(r),
        "operator_id": op.id,
        "days": days,
        "charges": charges,
        "denied": d is not None and d.status == "active",
        "debt_fen": outstanding(conn, op, rider_id, dt.date.max)
        if d is not None and d.status == "active"
        else 0,
    }


def list_charges(
    conn: Connection, merchant_id: str, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    q = select(transit_charges).where(transit_charges.c.merchant_id == merchant_id)
    if status:
        q = q.where(transit_charges.c.status == status)
    return [
        charge_public(r)
        for r in conn.execute(q.order_by(transit_charges.c.created_at.desc()).limit(min(limit, PAGE_MAX)))
    ]


def daily_revenue(
    conn: Connection, merchant_id: str, *, days: int = 14, at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Per local day of travel: journeys, fares before and after caps, and what charges collected."""
    at = at or clock.now()
    since = local_day(at) - dt.timedelta(days=days)
    rows = conn.execute(
        select(
            transit_fare_days.c.day,
            func.count(),
            func.sum(transit_fare_days.c.journeys),
            func.sum(transit_fare_days.c.fare_fen),
            func.sum(transit_fare_days.c.capped_fen),
        )
        .where(and_(transit_fare_days.c.merchant_id == merchant_id, transit_fare_days.c.day >= since))
        .group_by(transit_fare_days.c.day)
        .order_by(transit_fare_days.c.day.desc())
    ).all()
    return [
        {
            "day": d,
            "riders": int(n),
            "journeys": int(j or 0),
            "fare_fen": int(f or 0),
            "capped_fen": int(c or 0),
        }
        for d, n, j, f, c in rows
    ]


def charge_totals(conn: Connection, merchant_id: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for status, n, amount in conn.execute(
        select(
            transit_charges.c.status, func.count(), func.coalesce(func.sum(transit_charges.c.amount_fen), 0)
        )
        .where(transit_charges.c.merchant_id == merchant_id)
        .group_by(transit_charges.c.status)
    ):
        out[status] = {"count": int(n), "amount_fen": int(amount)}
    return out


# ---------------------------------------------------------------- school-bus passes


class PassProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=60)
    kind: Literal["month", "term"]
    price_fen: StrictInt = Field(gt=0)
    valid_from: dt.date
    valid_to: dt.date
    refund_fee_ppm: StrictInt = Field(default=0, ge=0, le=1_000_000)


def add_pass_product(
    conn: Connection, merchant_id: str, req: PassProductIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    operator_row(conn, merchant_id, kind="transit")
    _slug(req.id, "id")
    check_fen(req.price_fen, param="price_fen")
    if req.valid_to < req.valid_from:
        raise InvalidRequest("有效期止早于起 / valid_to is before valid_from", param="valid_to")
    add_active(
        conn,
        transit_pass_products,
        merchant_id,
        req.model_dump(),
        at,
        exists=f"月票/学期票 {req.id} 已存在 / pass product {req.id} exists",
        code="product_exists",
    )
    return next(p for p in list_pass_products(conn, merchant_id) if p["id"] == req.id)


def list_pass_products(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "object": "pass_product",
            "name": r.name,
            "kind": r.kind,
            "price_fen": r.price_fen,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
            "refund_fee_ppm": r.refund_fee_ppm,
            "status": r.status,
        }
        for r in conn.execute(
            select(transit_pass_products)
            .where(transit_pass_products.c.merchant_id == merchant_id)
            .order_by(transit_pass_products.c.valid_from)
        )
    ]


class BuyPassIn(BaseModel):
    """A parent buys a pass for a student's transit QR, paying by a code to scan or the parent's pay code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: str = Field(min_length=1, max_length=40)
    rider_id: str = Field(min_length=1, max_length=40)
    student_name: str = Field(min_length=1, max_length=40)
    channel: str | None = Field(default=None, max_length=20)
    auth_code: str | None = Field(default=None, max_length=32)


def pass_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "transit_pass",
        "product_id": row.product_id,
        "rider_id": row.rider_id,
        "student": row.student_masked,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "price_fen": row.price_fen,
        "payment_id": row.payment_id,
        "channel": row.channel,
        "status": row.status,
        "refunded_fen": row.refunded_fen,
        "created_at": row.created_at,
    }


def buy_pass(
    conn: Connection, merchant_id: str, req: BuyPassIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    from zhifu.privacy import mask_name

    op = operator_row(conn, merchant_id, kind="transit")
    prod = conn.execute(
        select(transit_pass_products).where(
            and_(
                transit_pass_products.c.merchant_id == merchant_id,
                transit_pass_products.c.id == req.product_id,
            )
        )
    ).first()
    if prod is None or prod.status != "active":
        raise NotFound(
            f"没有月票/学期票 {req.product_id} / no pass product {req.product_id}", param="product_id"
        )
    today = local_day(at)
    if prod.valid_to < today:
        raise ConflictError(
            f"{prod.name} 已过期 / {prod.name} ended on {prod.valid_to}",
            param="product_id",
            code="product_ended",
        )
    r = _rider(conn, req.rider_id)
    if r.medium != "qr" or r.status != "active":
        raise InvalidRequest(
            "月票须绑定学生的乘车码 / a pass is bound to a student's transit QR", param="rider_id"
        )
    if conn.execute(
        select(transit_passes.c.id).where(
            and_(
                transit_passes.c.merchant_id == merchant_id,
                transit_passes.c.rider_id == r.id,
                transit_passes.c.product_id == prod.id,
                transit_passes.c.status.in_(("pending", "active")),
            )
        )
    ).first():
        raise ConflictError(
            "该学生已有此票 / this student already holds this pass", param="rider_id", code="pass_exists"
        )
    if (req.channel is None) == (req.auth_code is None):
        raise InvalidRequest(
            "须给出 channel 或 auth_code 之一 / give exactly one of channel or auth_code", param="channel"
        )
    pid = new_id_fast("tps", int(at.timestamp() * 1000))
    conn.execute(
        insert(transit_passes),
        [
            {
                "merchant_id": merchant_id,
                "id": pid,
                "product_id": prod.id,
                "rider_id": r.id,
                "student_masked": mask_name(req.student_name),
                "valid_from": max(prod.valid_from, today),
                "valid_to": prod.valid_to,
                "price_fen": prod.price_fen,
                "payment_id": None,
                "channel": "",
                "status": "pending",
                "refunded_fen": 0,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    p = payments_api.create_payment(
        conn,
        merchant_id,
        CreatePayment(
            amount_fen=prod.price_fen,
            merchant_order_no=pid,
            channel=req.channel,
            auth_code=req.auth_code,
            description=f"{op.name} {prod.name}"[:128],
            metadata={"transit": "pass", "rider_id": r.id},
        ),
    )
    conn.execute(
        update(transit_passes)
        .where(and_(transit_passes.c.merchant_id == merchant_id, transit_passes.c.id == pid))
        .values(payment_id=p["id"])
    )
    return {"object": "pass_purchase", "pass": get_pass(conn, merchant_id, pid), "payment": p}


def _pass(conn: Connection, merchant_id: str, pass_id: str) -> Any:
    row = conn.execute(
        select(transit_passes).where(
            and_(transit_passes.c.merchant_id == merchant_id, transit_passes.c.id == pass_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"没有月票 {pass_id} / no pass {pass_id}", param="pass_id")
    return row


def get_pass(conn: Connection, merchant_id: str, pass_id: str) -> dict[str, Any]:
    return pass_public(_pass(conn, merchant_id, pass_id))


def confirm_pass(conn: Connection, merchant_id: str, pass_id: str, *, at: dt.datetime | None = None) -> dict:
    """A pending pass becomes active when its payment succeeded, void when it ended unpaid."""
    at = at or clock.now()
    row = _pass(conn, merchant_id, pass_id)
    if row.status == "pending" and row.payment_id:
        p = payments_api.get_payment(conn, merchant_id, row.payment_id)
        key = and_(transit_passes.c.merchant_id == merchant_id, transit_passes.c.id == pass_id)
        if p["status"] == "succeeded":
            conn.execute(
                update(transit_passes).where(key).values(status="active", channel=p["channel"], updated_at=at)
            )
            op = operator_row(conn, merchant_id)
            for (day,) in conn.execute(
                select(transit_fare_days.c.day).where(
                    and_(  # rides already on the pass
                        transit_fare_days.c.merchant_id == merchant_id,
                        transit_fare_days.c.rider_id == row.rider_id,
                        transit_fare_days.c.day >= row.valid_from,
                        transit_fare_days.c.day <= row.valid_to,
                    )
                )
            ).all():
                recompute_day(conn, op, row.rider_id, day, at=at)
        elif p["status"] in FINAL_UNPAID:
            conn.execute(update(transit_passes).where(key).values(status="void", updated_at=at))
    return get_pass(conn, merchant_id, pass_id)


def has_pass(conn: Connection, merchant_id: str, rider_id: str, day: dt.date) -> bool:
    return (
        conn.execute(
            select(transit_passes.c.id)
            .where(
                and_(
                    transit_passes.c.merchant_id == merchant_id,
                    transit_passes.c.rider_id == rider_id,
                    transit_passes.c.status == "active",
                    transit_passes.c.valid_from <= day,
                    transit_passes.c.valid_to >= day,
                )
            )
            .limit(1)
        ).first()
        is not None
    )


def pass_refund_fen(
    price_fen: int, valid_from: dt.date, valid_to: dt.date, from_day: dt.date, fee_ppm: int
) -> int:
    """Pro rata by days: the days from `from_day` to the end are returned, less the product's refund fee."""
    total = (valid_to - valid_from).days + 1
    unused = max(0, (valid_to - max(from_day, valid_from)).days + 1)
    share = (price_fen * unused * 2 + total) // (2 * total)  # half-up
    return share - ppm_of(share, fee_ppm)


def refund_pass(
    conn: Connection, merchant_id: str, pass_id: str, *, reason: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Refund the unused days from tomorrow (today's rides are on the pass); the pass ends today."""
    at = at or clock.now()
    row = _pass(conn, merchant_id, pass_id)
    if row.status != "active":
        raise ConflictError(
            f"月票 {pass_id} 状态为 {row.status}，不可退 / pass {pass_id} is {row.status}",
            code="pass_not_refundable",
        )
    prod = conn.execute(
        select(transit_pass_products).where(
            and_(
                transit_pass_products.c.merchant_id == merchant_id,
                transit_pass_products.c.id == row.product_id,
            )
        )
    ).one()
    today = local_day(at)
    amount = pass_refund_fen(
        row.price_fen, row.valid_from, row.valid_to, today + dt.timedelta(days=1), prod.refund_fee_ppm
    )
    if amount <= 0:
        raise ConflictError("已无未用天数可退 / no unused days are left to refund", code="nothing_to_refund")
    payments_api.create_refund(
        conn,
        merchant_id,
        row.payment_id,
        CreateRefund(amount_fen=amount, reason=(reason or "月票按日退费 / pass refunded pro rata")[:200]),
    )
    conn.execute(
        update(transit_passes)
        .where(and_(transit_passes.c.merchant_id == merchant_id, transit_passes.c.id == pass_id))
        .values(status="refunded", refunded_fen=amount, valid_to=max(today, row.valid_from), updated_at=at)
    )
    return get_pass(conn, merchant_id, pass_id)


def list_passes(conn: Connection, merchant_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    return [
        pass_public(r)
        for r in conn.execute(
            select(transit_passes)
            .where(transit_passes.c.merchant_id == merchant_id)
            .order_by(transit_passes.c.created_at.desc())
            .limit(min(limit, PAGE_MAX))
        )
    ]


def confirm_pending_passes(db: Database, *, at: dt.datetime | None = None) -> int:
    with db.read() as conn:
        rows = conn.execute(
            select(transit_passes.c.merchant_id, transit_passes.c.id)
            .where(transit_passes.c.status == "pending")
            .limit(1_000)
        ).all()
    return sum(
        db.run(lambda c, m=m, i=i: confirm_pass(c, m, i, at=at))["status"] != "pending" for m, i in rows
    )


# ---------------------------------------------------------------- figures


def _by(rows: Iterable[tuple[str, str, str, int, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": 0, "amount_fen": 0, "by_kind": {}, "by_channel": {}, "by_town": {}}
    for kind, channel, town, n, amount in rows:
        out["count"] += n
        out["amount_fen"] += amount
        for dim, k in (("by_kind", kind), ("by_channel", channel), ("by_town", town)):
            cell = out[dim].setdefault(k, {"count": 0, "amount_fen": 0})
            cell["count"] += n
            cell["amount_fen"] += amount
    return out


def kpi_transit_usage(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Bus, school-bus and scenic smart-pay usage for the dashboard: succeeded fare charges, paid passes and
    paid ticket orders created start..end (Shanghai dates), by kind, channel and town; and the riders and
    visitors they served."""
    from zhifu.transit.models import scenic_orders

    lo, hi = _day_bounds(start, end)
    o = transit_operators
    rows: list[tuple[str, str, str, int, int]] = []
    for table, ok in (
        (transit_charges, ("succeeded",)),
        (transit_passes, ("active", "refunded")),
        (scenic_orders, ("paid", "refunded")),
    ):
        q = (
            select(
                o.c.kind,
                table.c.channel,
                o.c.town_code,
                func.count(),
                func.coalesce(
                    func.sum(table.c.amount_fen if table is not transit_passes else table.c.price_fen), 0
                ),
            )
            .select_from(table.join(o, o.c.merchant_id == table.c.merchant_id))
            .where(and_(table.c.status.in_(ok), table.c.created_at >= lo, table.c.created_at < hi))
            .group_by(o.c.kind, table.c.channel, o.c.town_code)
        )
        rows.extend((k, ch or "", t, int(n), int(a)) for k, ch, t, n, a in conn.execute(q))
    doc = _by(rows)
    doc["riders"] = int(
        conn.execute(
            select(func.count(func.distinct(transit_fare_days.c.rider_id))).where(
                and_(transit_fare_days.c.day >= start, transit_fare_days.c.day <= end)
            )
        ).scalar_one()
    )
    doc["journeys"] = int(
        conn.execute(
            select(func.coalesce(func.sum(transit_fare_days.c.journeys), 0)).where(
                and_(transit_fare_days.c.day >= start, transit_fare_days.c.day <= end)
            )
        ).scalar_one()
    )
    return doc


# ---------------------------------------------------------------- background work

BACKGROUND_INTERVAL_S = 30.0
CHARGE_HOUR = (
    2  # the nightly run charges yesterday's fares after 02:00 Beijing time, when buses are in depots
)
_charged_through: dict[str, dt.date] = {}  # per database: a restart simply runs again (the run is idempotent)


def background(db: Database, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """One pass: the nightly fare run once a day, pending charges and passes brought to their payments'
    outcomes, scenic holds confirmed or released."""
    from zhifu.transit import scenic

    at = at or clock.now()
    out: dict[str, Any] = {"charges": None}
    yesterday = local_day(at) - dt.timedelta(days=1)
    if at.astimezone(SHANGHAI).hour >= CHARGE_HOUR and _charged_through.get(db.url) != yesterday:
        out["charges"] = charge_due(db, through=yesterday, at=at)
        _charged_through[db.url] = yesterday
    out["pending"] = finish_pending(db, at=at, older_than_s=5)
    out["passes"] = confirm_pending_passes(db, at=at)
    out["scenic"] = scenic.sweep(db, at=at)
    return out
