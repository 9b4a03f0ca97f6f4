"""授权限额 / Limits at authorisation, inside the payment's create transaction.

Design note. Each limit is a row of `risk_limits` with an effective time; a change writes a new row and never
edits an old one. A payment takes what it uses from a counter (subject × Shanghai day or month) with one
conditional UPDATE — `used_fen = used_fen + x WHERE used_fen + x <= limit` — after making sure the row exists with
INSERT … ON CONFLICT DO NOTHING. On PostgreSQL the UPDATE locks the row and re-checks the condition against the
committed value, on SQLite writers are serialised by BEGIN IMMEDIATE; either way concurrent payments cannot pass
a limit together. What was taken is kept per payment in `risk_usages`, so `release` gives it back exactly once.

The limits (PBOC rules; values configurable):
- 银发〔2017〕296号 barcode levels, per payer per Shanghai day across all merchants and channels: a static code
  (level D) ≤ 500 yuan; a payer's pay code (level C, fewer than two factors) ≤ 1,000; a dynamic code the payer
  confirms with two factors (level B) ≤ 5,000. Terminal payments (cards, NFC, face) are not barcode payments.
- micro merchants (personal collection codes): daily and monthly collection caps, never above the merchant's own.
- 银发〔2021〕259号: a personal (micro) static code may not collect remotely.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from typing import Any, Final

from sqlalchemy import Connection, and_, insert, select, update

from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, UnprocessableError
from zhifu.core.money import fen_to_yuan_str
from zhifu.risk.models import risk_counters, risk_limits, risk_usages

EPOCH: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LIMIT_CACHE_S: Final = 2.0  # a limit changed in another process is seen within this long
NOTE_CHARS_MAX: Final = 200
VALUE_MAX: Final = 10_000_000_000  # 100 million yuan: no limit of a county is larger


@dataclasses.dataclass(frozen=True, slots=True)
class LimitDef:
    key: str
    default: int
    kind: str  # "payer_day" | "merchant_day" | "merchant_month" | "switch"
    zh: str
    en: str


LIMITS: Final[dict[str, LimitDef]] = {
    d.key: d
    for d in (
        LimitDef(
            "barcode_d_payer_day",
            50_000,
            "payer_day",
            "静态条码每人每日限额（D级）",
            "static code, per payer per day (level D)",
        ),
        LimitDef(
            "barcode_c_payer_day",
            100_000,
            "payer_day",
            "付款码每人每日限额（C级）",
            "pay code, per payer per day (level C)",
        ),
        LimitDef(
            "barcode_b_payer_day",
            500_000,
            "payer_day",
            "动态条码每人每日限额（B级）",
            "dynamic code, per payer per day (level B)",
        ),
        LimitDef(
            "micro_merchant_day",
            1_000_000,
            "merchant_day",
            "小微商户每日收款限额",
            "micro merchant collections per day",
        ),
        LimitDef(
            "micro_merchant_month",
            10_000_000,
            "merchant_month",
            "小微商户每月收款限额",
            "micro merchant collections per month",
        ),
        LimitDef(
            "personal_code_remote",
            0,
            "switch",
            "个人收款码远程收款（0 禁止，1 允许）",
            "personal static code may collect remotely (0 no, 1 yes)",
        ),
    )
}

# The barcode level of each flow (银发〔2017〕296号); terminal payments are not barcode payments.
FLOW_LEVEL: Final[dict[str, str]] = {
    "static_code": "barcode_d_payer_day",
    "pay_code": "barcode_c_payer_day",
    "dynamic_code": "barcode_b_payer_day",
}


class LimitExceeded(UnprocessableError):
    """A payment would pass a limit: 422 with the limit's key as the code."""


# ---------------------------------------------------------------- configuration


_cache: dict[str, Any] = {"at": 0.0, "rows": None}
_cache_lock = threading.Lock()


def _rows(conn: Connection) -> dict[str, list[tuple[dt.datetime, int]]]:
    """Every limit's history, newest first, cached for a moment (the table is tiny and changes rarely)."""
    now = time.monotonic()
    rows = _cache["rows"]
    if rows is not None and now - _cache["at"] < LIMIT_CACHE_S:
        return rows
    out: dict[str, list[tuple[dt.datetime, int]]] = {}
    for r in conn.execute(
        select(risk_limits.c.key, risk_limits.c.effective_at, risk_limits.c.value).order_by(
            risk_limits.c.effective_at.desc()
        )
    ):
        out.setdefault(r.key, []).append((r.effective_at, int(r.value)))
    with _cache_lock:
        _cache["rows"], _cache["at"] = out, now
    return out


def forget_cache() -> None:
    with _cache_lock:
        _cache["rows"] = None


def limit_value(conn: Connection, key: str, at: dt.datetime) -> int:
    """The value of a limit in force at `at`: the newest change not after it, else the default."""
    for effective_at, value in _rows(conn).get(key, ()):
        if effective_at <= at:
            return value
    return LIMITS[key].default


def set_limit(
    conn: Connection, key: str, value: int, effective_on: dt.date, *, by: str, note: str = "", at: dt.datetime
) -> dict[str, Any]:
    """Schedule a limit change from the start of a Shanghai date (today means at once); a past date is refused."""
    if key not in LIMITS:
        raise InvalidRequest(f"未知限额 / unknown limit {key!r}; known: {', '.join(LIMITS)}", param="key")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= VALUE_MAX:
        raise InvalidRequest(
            f"限额须为 0–{VALUE_MAX} 的整数（分）/ value must be an integer 0–{VALUE_MAX} fen", param="value"
        )
    if LIMITS[key].kind == "switch" and value not in (0, 1):
        raise InvalidRequest("开关只能为 0 或 1 / a switch is 0 or 1", param="value")
    today = at.astimezone(SHANGHAI).date()
    if effective_on < today:
        raise InvalidRequest(
            f"生效日期 {effective_on} 已过 / the effective date {effective_on} is in the past",
            param="effective_on",
            code="effective_date_in_past",
        )
    start = dt.datetime.combine(effective_on, dt.time(), SHANGHAI).astimezone(dt.UTC)
    effective_at = max(start, at)
    if len(note) > NOTE_CHARS_MAX:
        raise InvalidRequest(
            f"备注最多 {NOTE_CHARS_MAX} 字 / note is at most {NOTE_CHARS_MAX} characters", param="note"
        )
    conn.execute(
        insert(risk_limits),
        [
            {
                "key": key,
                "value": value,
                "effective_at": effective_at,
                "note": note,
                "created_by": by[:64],
                "created_at": at,
            }
        ],
    )
    forget_cache()
    from zhifu import audit  # a limit change is an action that matters: it joins the audit log

    audit.record(
        conn,
        by[:64],
        "risk_limit.set",
        "risk_limit",
        key,
        {"value": value, "effective_at": effective_at.isoformat(), "note": note},
        role="operator",
        at=at,
    )
    return {"key": key, "value": value, "effective_at": effective_at, "created_by": by, "note": note}


def list_limits(conn: Connection, at: dt.datetime) -> list[dict[str, Any]]:
    """Every limit: its value now, its description, and every change (scheduled ones included)."""
    hist: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(
        select(risk_limits).order_by(risk_limits.c.effective_at.desc(), risk_limits.c.id.desc())
    ):
        hist.setdefault(r.key, []).append(
            {
                "value": int(r.value),
                "effective_at": r.effective_at,
                "created_by": r.created_by,
                "note": r.note,
                "created_at": r.created_at,
            }
        )
    forget_cache()
    return [
        {
            "key": d.key,
            "zh": d.zh,
            "en": d.en,
            "kind": d.kind,
            "default": d.default,
            "value": limit_value(conn, d.key, at),
            "history": hist.get(d.key, []),
        }
        for d in LIMITS.values()
    ]


# ---------------------------------------------------------------- at authorisation


def _period(kind: str, at: dt.datetime) -> str:
    local = at.astimezone(SHANGHAI).date()
    return local.strftime("%Y-%m") if kind == "merchant_month" else local.isoformat()


def _decline(d: LimitDef, limit: int, used: int, amount_fen: int) -> LimitExceeded:
    return LimitExceeded(
        f"超出{d.zh} {fen_to_yuan_str(limit)} 元（已用 {fen_to_yuan_str(used)} 元）/ this payment "
        f"of {fen_to_yuan_str(amount_fen)} yuan would pass the limit: {d.en}, "
        f"{fen_to_yuan_str(limit)} yuan ({fen_to_yuan_str(used)} used)",
        param="amount_fen",
        code=d.key,
    )


def _take(
    conn: Connection, d: LimitDef, limit: int, subject: str, amount_fen: int, at: dt.datetime
) -> dict[str, Any]:
    """One statement: create the counter with this amount, or add to it only while it stays within the limit."""
    period = _period(d.kind, at)
    from sqlalchemy.dialects import postgresql, sqlite

    upsert: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(risk_counters)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(risk_counters)
    )
    stmt = (
        upsert.values(key=d.key, subject=subject, period=period, used_fen=amount_fen, payments=1)
        .on_conflict_do_update(
            index_elements=[risk_counters.c.key, risk_counters.c.subject, risk_counters.c.period],
            set_={
                "used_fen": risk_counters.c.used_fen + amount_fen,
                "payments": risk_counters.c.payments + 1,
            },
            where=risk_counters.c.used_fen + amount_fen <= limit,
        )
        .returning(risk_counters.c.used_fen)
    )
    if conn.execute(stmt).first() is None:  # the row exists and the condition refused the addition
        used_now = conn.execute(
            select(risk_counters.c.used_fen).where(
                and_(
                    risk_counters.c.key == d.key,
                    risk_counters.c.subject == subject,
                    risk_counters.c.period == period,
                )
            )
        ).scalar_one()
        raise _decline(d, limit, int(used_now), amount_fen)
    return {"key": d.key, "subject": subject, "period": period, "amount_fen": amount_fen}


def authorise_limits(
    conn: Connection,
    m: Any,
    amount_fen: int,
    flow: str,
    payer_id: str | None,
    scene: str | None,
    order_no: str,
    at: dt.datetime,
) -> None:
    """Check and take every limit this payment is under, or raise naming the first one it would pass."""
    assert amount_fen > 0, "a payment's amount is positive"
    if (
        flow == "static_code"
        and m.type == "micro"
        and scene == "remote"
        and limit_value(conn, "personal_code_remote", at) == 0
    ):
        raise LimitExceeded(
            "个人收款码不能远程收款，请到店扫码（银发〔2021〕259号）/ a personal collection code cannot "
            "collect remotely",
            param="scene",
            code="personal_code_remote",
        )
    takes: list[tuple[LimitDef, int, str]] = []
    level = FLOW_LEVEL.get(flow)
    if level is not None and payer_id:
        takes.append((LIMITS[level], limit_value(conn, level, at), payer_id))
    if m.type == "micro":
        for key, own in (
            ("micro_merchant_day", m.daily_cap_fen),
            ("micro_merchant_month", m.monthly_cap_fen),
        ):
            value = limit_value(conn, key, at)
            takes.append((LIMITS[key], min(value, own) if own else value, m.id))
    for d, limit, _subject in takes:
        if amount_fen > limit:  # no counter needed to know it cannot pass
            raise _decline(d, limit, 0, amount_fen)
    if not takes:
        return
    usages = [_take(conn, d, limit, subject, amount_fen, at) for d, limit, subject in takes]
    conn.execute(
        insert(risk_usages),
        [
            {**u, "merchant_id": m.id, "merchant_order_no": order_no, "released": "N", "created_at": at}
            for u in usages
        ],
    )


def release_limits(conn: Connection, merchant_id: str, order_no: str) -> int:
    """Give back what a payment took (it failed, was closed or expired); a second call gives back nothing."""
    rows = conn.execute(
        select(risk_usages).where(
            and_(
                risk_usages.c.merchant_id == merchant_id,
                risk_usages.c.merchant_order_no == order_no,
                risk_usages.c.released == "N",
            )
        )
    ).all()
    given = 0
    for u in rows:
        res = conn.execute(
            update(risk_usages)
            .where(
                and_(
                    risk_usages.c.merchant_id == merchant_id,
                    risk_usages.c.merchant_order_no == order_no,
                    risk_usages.c.key == u.key,
                    risk_usages.c.released == "N",
                )
            )
            .values(released="Y")
        )
        if res.rowcount != 1:  # released by a concurrent call
            continue
        conn.execute(
            update(risk_counters)
            .where(
                and_(
                    risk_counters.c.key == u.key,
                    risk_counters.c.subject == u.subject,
                    risk_counters.c.period == u.period,
                    risk_counters.c.used_fen >= u.amount_fen,
                )
            )
            .values(used_fen=risk_counters.c.used_fen - u.amount_fen, payments=risk_counters.c.payments - 1)
        )
        given += int(u.amount_fen)
    return given


def used(conn: Connection, key: str, subject: str, at: dt.datetime) -> int:
    """What a subject has used of a limit in the period containing `at`."""
    v = conn.execute(
        select(risk_counters.c.used_fen).where(
            and_(
                risk_counters.c.key == key,
                risk_counters.c.subject == subject,
                risk_counters.c.period == _period(LIMITS[key].kind, at),
            )
        )
    ).scalar()
    return int(v or 0)
