"""Rollup maintenance: `refresh` (incremental, by id watermark) and `rebuild` (from scratch) of the kpi tables.

A day's rollup rows are a pure function of the payments and refunds whose business date is that day, so the
job recomputes whole days: those touched by payments and refunds created since the watermark (less a lookback
that covers payments still in flight and transactions that commit late). Both the one-by-one and the batch
payment paths write ordinary rows, so both are covered without hooks in the payment code.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, literal, select, text

from zhifu.channels import REGISTRY
from zhifu.core import clock
from zhifu.core.ids import _encode
from zhifu.db import Database
from zhifu.db.batching import IN_CHUNK, in_chunks
from zhifu.kpi.models import (
    CUBE_DIMS,
    CUBE_SUMS,
    kpi_active_users,
    kpi_daily,
    kpi_daily_sum,
    kpi_monthly,
    kpi_payer_days,
    kpi_payer_first,
    kpi_state,
)
from zhifu.merchants.read import merchants_view as merchants
from zhifu.payments.read import payments_view as payments
from zhifu.payments.read import refunds_view as refunds

EPOCH = dt.date(1970, 1, 1)
WINDOW_DAYS = 30  # active users: at least one successful mobile payment in the 30 days ending that day
LOOKBACK_MS = 2 * 86_400_000  # a payment may succeed up to its expiry, a refund's notice may come late, and a
# transaction may commit after one with a newer id: two days covers all three with room to spare
ACTIVE_CHUNK_DAYS = 90  # active-user recomputation reads at most this many days (+ the window) at once
REBUILD_SLICE_S = (
    0.2  # a rebuild's write transaction takes no further day (or slice of payers) once it has run
)
# this long: on SQLite payments wait at most about this (plus one unit of work) for the write lock
MOBILE_CHANNELS = tuple(sorted(n for n, r in REGISTRY.items() if r.mobile))
UNIONPAY_CHANNEL = "unionpay_qr"
_WATERMARKS = {"payments": (payments, "pay"), "refunds": (refunds, "re")}


def _succeeded(column: Any) -> Any:
    """status = 'succeeded', written so that no planner uses the status index for it: without statistics SQLite
    would pick ix_payments_status_expires (every successful payment) over the business-date or id range."""
    return column.concat("") == "succeeded"


def day_no(d: dt.date) -> int:
    return (d - EPOCH).days


def from_day_no(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=n)


def id_floor(prefix: str, ms: int) -> str:
    """The smallest id with this prefix stamped at `ms` (ids sort by their time stamp)."""
    return f"{prefix}_{_encode(max(0, ms) << 80)}"


def id_ms(value: str) -> int:
    """The millisecond time stamp inside a time-sortable id."""
    body = value.partition("_")[2]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    n = 0
    for ch in body:
        n = n * 32 + alphabet.index(ch)
    return n >> 80


# ---------------------------------------------------------------- entry points


_ROLLUPS = (kpi_daily, kpi_daily_sum, kpi_monthly, kpi_payer_days, kpi_payer_first, kpi_active_users)


def _business_days(conn: Connection) -> list[dt.date]:
    """Every business date with a successful payment or refund, in order."""
    days: set[dt.date] = set()
    for table in (payments, refunds):
        days |= set(
            conn.execute(
                select(table.c.business_date)
                .where(table.c.status == "succeeded", table.c.business_date.is_not(None))
                .distinct()
            ).scalars()
        )
    return sorted(days)


def rebuild(conn: Connection) -> dict[str, int]:
    """Empty every rollup and recompute it from the payments and refunds, in the caller's one transaction."""
    for table in (*_ROLLUPS, kpi_state):
        conn.execute(delete(table))
    days = _business_days(conn)
    _recompute(conn, days, rebuilding=True)
    _save_watermarks(conn)
    return {"days": len(days)}


def rebuild_db(db: Database) -> dict[str, int]:
    """`rebuild` in short write transactions, each under REBUILD_SLICE_S, with reads in read transactions; on
    SQLite payments go on beside it. The rows it leaves are those of `rebuild`: every business day found at the
    start is recomputed whole (rows of days no longer found are dropped), the payers' first days and the active
    users are read from the rebuilt days and written slice by slice, and a last refresh from the ids newest at
    the start recomputes the days that payments committed during the rebuild touched. A reader sees each day
    either as it was or as rebuilt."""
    with db.read() as c:
        marks = _newest_ids(c)
        days = _business_days(c)
        stale = _stale_days(c, days)
    _in_slices(db, 1, lambda c, _: _drop_days(c, *stale))
    _days_in_slices(db, days)
    with db.read() as c:
        firsts = _first_days_read(c)
    slices = in_chunks(firsts)
    _in_slices(db, max(1, len(slices)), lambda c, i: _write_first_days(c, slices, i))
    _active_in_slices(db, days, rebuilding=True)
    _catch_up(db, marks)
    return {"days": len(days)}


def refresh(conn: Connection) -> dict[str, int]:
    """Bring the rollups up to date with what committed since the last run (a rebuild on the first run), in the
    caller's one transaction."""
    marks = _stored_marks(conn)
    if not marks.get("payments") and not marks.get("refunds"):
        return rebuild(conn)
    days = _touched_days(conn, marks)
    _recompute(conn, days, rebuilding=False)
    _save_watermarks(conn)
    return {"days": len(days)}


def refresh_db(db: Database) -> dict[str, int]:
    """`refresh` for the background job in short write transactions (as `rebuild_db`, which it is on the first
    run), the days to recompute and the active-user windows (most of the work on a large county) read in read
    transactions. On SQLite, payments wait for the job's short writes only, not its reads."""
    with db.read() as c:
        marks = _stored_marks(c)
    if not marks.get("payments") and not marks.get("refunds"):
        return rebuild_db(db)
    return _catch_up(db, marks)


def _catch_up(db: Database, marks: dict[str, str]) -> dict[str, int]:
    """Recompute the days that payments and refunds from `marks` (less the lookback) on touched, in short write
    transactions, then store as the watermarks the ids newest when it began: what commits later is the next
    run's (the lookback covers what commits late with an older id)."""
    with db.read() as c:
        newest = _newest_ids(c)
        days = _touched_days(c, marks)
    _days_in_slices(db, days)
    _in_slices(db, 1, lambda c, _: _first_days_and_marks(c, days, newest))
    _active_in_slices(db, days, rebuilding=False)
    return {"days": len(days)}


def _stored_marks(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(kpi_state.c.name, kpi_state.c.value)).all())


def _touched_days(conn: Connection, marks: dict[str, str]) -> list[dt.date]:
    """The business days of successful payments and refunds whose ids are at or after the marks less the
    lookback (all of them for an empty mark)."""
    days: set[dt.date] = set()
    for name, (table, prefix) in _WATERMARKS.items():
        mark = marks.get(name) or ""
        floor = id_floor(prefix, id_ms(mark) - LOOKBACK_MS) if mark else ""
        # Only the id range may drive this query (DISTINCT or a NULL test would tempt SQLite to the date index).
        days |= {
            d
            for d in conn.execute(
                select(table.c.business_date).where(table.c.id >= floor, _succeeded(table.c.status))
            ).scalars()
            if d is not None
        }
    return sorted(days)


def _newest_ids(conn: Connection) -> dict[str, str]:
    """The newest payment and refund ids: the watermarks as of this transaction."""
    return {
        name: conn.execute(select(func.max(table.c.id))).scalar_one_or_none() or ""
        for name, (table, _) in _WATERMARKS.items()
    }


def _save_watermarks(conn: Connection, newest_ids: dict[str, str] | None = None) -> None:
    now = clock.now()
    for name, newest in (newest_ids or _newest_ids(conn)).items():
        conn.execute(delete(kpi_state).where(kpi_state.c.name == name))
        conn.execute(insert(kpi_state).values(name=name, value=newest, updated_at=now))


# ---------------------------------------------------------------- the rebuild's slices


def _in_slices(db: Database, n: int, work: Callable[[Connection, int], None]) -> None:
    """work(conn, i) for i in 0..n-1 in order, in write transactions that each take units while under
    REBUILD_SLICE_S (at least one). A transaction retried by `db.run` redoes its own units only: each unit
    replaces rows, so doing one again leaves the same rows."""
    done = 0
    while done < n:
        done = db.run(functools.partial(_slice, start=done, n=n, work=work))


def _slice(conn: Connection, *, start: int, n: int, work: Callable[[Connection, int], None]) -> int:
    t0 = time.monotonic()
    i = start
    while i < n and (i == start or time.monotonic() - t0 < REBUILD_SLICE_S):
        work(conn, i)
        i += 1
    return i


def _days_in_slices(db: Database, days: Sequence[dt.date]) -> None:
    """Each day's rows (daily, payers, daily sums), then each month's, in short write transactions."""
    _in_slices(db, len(days), lambda c, i: _recompute_day(c, days[i]))
    months = sorted({d.replace(day=1) for d in days})
    _in_slices(db, len(months), lambda c, i: _monthly(c, months[i]))


def _first_days_and_marks(conn: Connection, days: Sequence[dt.date], newest: dict[str, str]) -> None:
    if days:
        _first_days(conn, [day_no(d) for d in days])
    _save_watermarks(conn, newest)


def _active_in_slices(db: Database, days: Sequence[dt.date], *, rebuilding: bool) -> None:
    """Active users from the first of these days on: read in a read transaction, written a day at a time in
    short write transactions; when rebuilding, rows outside the days' span go too."""
    with db.read() as c:
        last = c.execute(select(func.max(kpi_payer_days.c.day_no))).scalar_one_or_none()
        span = None if last is None or not days else (day_no(days[0]), max(last, day_no(days[-1])))
        rows = _active_rows(c, *span) if span else []
    if rebuilding:
        _in_slices(db, 1, lambda c, _: _drop_active_outside(c, span))
    if span is None:
        return
    by_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_day[day_no(r["day"])].append(r)
    first = span[0]
    _in_slices(
        db, span[1] - first + 1, lambda c, i: _write_active(c, first + i, first + i, by_day[first + i])
    )


def _stale_days(conn: Connection, days: Sequence[dt.date]) -> tuple[list[dt.date], list[dt.date]]:
    """The days and months in the rollups that no business day of `days` accounts for (their rows go)."""
    keep, months = set(days), {d.replace(day=1) for d in days}
    stale = set(conn.execute(select(kpi_daily.c.day).distinct()).scalars())
    stale |= set(conn.execute(select(kpi_daily_sum.c.day).distinct()).scalars())
    stale |= {from_day_no(n) for n in conn.execute(select(kpi_payer_days.c.day_no).distinct()).scalars()}
    stale_months = set(conn.execute(select(kpi_monthly.c.month).distinct()).scalars()) - months
    return sorted(stale - keep), sorted(stale_months)


def _drop_days(conn: Connection, days: Sequence[dt.date], months: Sequence[dt.date]) -> None:
    for chunk in in_chunks(days):
        conn.execute(delete(kpi_daily).where(kpi_daily.c.day.in_(chunk)))
        conn.execute(delete(kpi_daily_sum).where(kpi_daily_sum.c.day.in_(chunk)))
        conn.execute(delete(kpi_payer_days).where(kpi_payer_days.c.day_no.in_([day_no(d) for d in chunk])))
    for chunk in in_chunks(months):
        conn.execute(delete(kpi_monthly).where(kpi_monthly.c.month.in_(chunk)))


def _recompute_day(conn: Connection, d: dt.date) -> None:
    _daily(conn, d)
    _payer_days(conn, d)
    _daily_sum(conn, d)


def _first_days_read(conn: Connection) -> list[tuple[str, int, int | None]]:
    """Each payer's first day with a mobile payment and with a UnionPay one (or None), in the database's order
    of payer_ref (the slices' bounds are compared in that same order)."""
    pd = kpi_payer_days
    first_unionpay = func.min(case((pd.c.unionpay.is_(True), pd.c.day_no), else_=None))
    q = select(pd.c.payer_ref, func.min(pd.c.day_no), first_unionpay).group_by(pd.c.payer_ref)
    return [
        (p, int(m), None if u is None else int(u)) for p, m, u in conn.execute(q.order_by(pd.c.payer_ref))
    ]


def _write_first_days(
    conn: Connection, slices: Sequence[Sequence[tuple[str, int, int | None]]], i: int
) -> None:
    """Replace kpi_payer_first over slice i's range of payers: from just after the previous slice's last payer
    (from the start for the first) to this slice's last (to the end for the last), so payers no longer seen go.
    With no slices at all, every row goes."""
    pf = kpi_payer_first
    where = []
    if i > 0:
        where.append(pf.c.payer_ref > slices[i - 1][-1][0])
    if i < len(slices) - 1:
        where.append(pf.c.payer_ref <= slices[i][-1][0])
    conn.execute(delete(pf).where(*where))
    payers = slices[i] if slices else []
    rows = [{"payer_ref": p, "kind": "mobile", "day_no": m} for p, m, _ in payers]
    rows += [{"payer_ref": p, "kind": "unionpay", "day_no": u} for p, _, u in payers if u is not None]
    if rows:
        conn.execute(insert(pf), rows)


def _drop_active_outside(conn: Connection, span: tuple[int, int] | None) -> None:
    au = kpi_active_users
    if span is None:
        conn.execute(delete(au))
        return
    conn.execute(delete(au).where((au.c.day < from_day_no(span[0])) | (au.c.day > from_day_no(span[1]))))


# ---------------------------------------------------------------- recomputation


def _recompute(conn: Connection, days: Sequence[dt.date], *, rebuilding: bool) -> None:
    """Recompute these days in this one transaction, and the active users from the first of them on."""
    if not days:
        return
    for d in days:
        _daily(conn, d)
        _payer_days(conn, d)
    derive(conn, days)
    if not rebuilding:
        _first_days(conn, [day_no(d) for d in days])
    else:
        _first_days_all(conn)
    last = conn.execute(select(func.max(kpi_payer_days.c.day_no))).scalar_one_or_none()
    if last is not None:
        _active(conn, day_no(days[0]), max(last, day_no(days[-1])))


def _daily(conn: Connection, d: dt.date) -> None:
    conn.execute(delete(kpi_daily).where(kpi_daily.c.day == d))
    p, r, m = payments, refunds, merchants
    pay = (
        select(
            m.c.town_code,
            p.c.channel,
            m.c.acquirer_id,
            m.c.mcc,
            literal(1).label("n"),
            p.c.amount_fen.label("amt"),
            literal(0).label("rn"),
            literal(0).label("ramt"),
        )
        .select_from(p.join(m, m.c.id == p.c.merchant_id))
        .where(p.c.business_date == d, _succeeded(p.c.status))
    )
    ref = (
        select(
            m.c.town_code,
            p.c.channel,
            m.c.acquirer_id,
            m.c.mcc,
            literal(0),
            literal(0),
            literal(1),
            r.c.amount_fen,
        )
        .select_from(r.join(p, p.c.id == r.c.payment_id).join(m, m.c.id == r.c.merchant_id))
        .where(r.c.business_date == d, r.c.status == "succeeded")
    )
    u = pay.union_all(ref).subquery()
    q = select(
        literal(d, kpi_daily.c.day.type),
        u.c.town_code,
        u.c.channel,
        u.c.acquirer_id,
        u.c.mcc,
        func.sum(u.c.n),
        func.sum(u.c.amt),
        func.sum(u.c.rn),
        func.sum(u.c.ramt),
    ).group_by(u.c.town_code, u.c.channel, u.c.acquirer_id, u.c.mcc)
    conn.execute(
        insert(kpi_daily).from_select(
            [
                "day",
                "town_code",
                "channel",
                "acquirer_id",
                "mcc",
                "payments",
                "amount_fen",
                "refunds",
                "refund_fen",
            ],
            q,
        )
    )


def month_after(d: dt.date) -> dt.date:
    """The first day of the month after d's."""
    return dt.date(d.year + 1, 1, 1) if d.month == 12 else dt.date(d.year, d.month + 1, 1)


def derive(conn: Connection, days: Iterable[dt.date]) -> None:
    """Recompute kpi_daily_sum for these days and kpi_monthly for their months from kpi_daily."""
    days = sorted(set(days))
    for day in days:
        _daily_sum(conn, day)
    for month in sorted({day.replace(day=1) for day in days}):
        _monthly(conn, month)


def _daily_sum(conn: Connection, day: dt.date) -> None:
    """kpi_daily_sum for one day, from kpi_daily."""
    k, d = kpi_daily.c, kpi_daily_sum.c
    conn.execute(delete(kpi_daily_sum).where(d.day == day))
    conn.execute(
        insert(kpi_daily_sum).from_select(
            ["day", *CUBE_DIMS, *CUBE_SUMS],
            select(literal(day, d.day.type), *(k[c] for c in CUBE_DIMS), *(func.sum(k[c]) for c in CUBE_SUMS))
            .where(k.day == day)
            .group_by(*(k[c] for c in CUBE_DIMS)),
        )
    )


def _monthly(conn: Connection, month: dt.date) -> None:
    """kpi_monthly for one month (its first day), from kpi_daily_sum."""
    d = kpi_daily_sum.c
    conn.execute(delete(kpi_monthly).where(kpi_monthly.c.month == month))
    conn.execute(
        insert(kpi_monthly).from_select(
            ["month", *CUBE_DIMS, *CUBE_SUMS],
            select(
                literal(month, kpi_monthly.c.month.type),
                *(d[c] for c in CUBE_DIMS),
                *(func.sum(d[c]) for c in CUBE_SUMS),
            )
            .where(d.day >= month, d.day < month_after(month))
            .group_by(*(d[c] for c in CUBE_DIMS)),
        )
    )


def _payer_days(conn: Connection, d: dt.date) -> None:
    n = day_no(d)
    conn.execute(delete(kpi_payer_days).where(kpi_payer_days.c.day_no == n))
    p, m = payments, merchants
    issuer = func.coalesce(p.c.card_issuer, "")
    unionpay = func.max(case((p.c.channel == UNIONPAY_CHANNEL, 1), else_=0)) == 1
    q = (
        select(literal(n), p.c.payer_ref, m.c.town_code, issuer, unionpay)
        .select_from(p.join(m, m.c.id == p.c.merchant_id))
        .where(
            p.c.business_date == d,
            _succeeded(p.c.status),
            p.c.channel.in_(MOBILE_CHANNELS),
            p.c.payer_ref.is_not(None),
            p.c.payer_ref != "",
        )
        .group_by(p.c.payer_ref, m.c.town_code, issuer)
    )
    conn.execute(
        insert(kpi_payer_days).from_select(["day_no", "payer_ref", "town_code", "issuer", "unionpay"], q)
    )


def _first_days_all(conn: Connection) -> None:
    pd = kpi_payer_days
    conn.execute(delete(kpi_payer_first))
    for kind, cond in (("mobile", None), ("unionpay", pd.c.unionpay.is_(True))):
        q = select(pd.c.payer_ref, literal(kind), func.min(pd.c.day_no)).group_by(pd.c.payer_ref)
        if cond is not None:
            q = q.where(cond)
        conn.execute(insert(kpi_payer_first).from_select(["payer_ref", "kind", "day_no"], q))


def _first_days(conn: Connection, day_nos: Iterable[int]) -> None:
    """Lower the first days of the payers seen on these days where those days come earlier. Rows of
    kpi_payer_days are only ever added (a successful payment stays successful), so the minimum over the
    recomputed days and the stored first day is the minimum over all days — what a rebuild computes."""
    pd, pf = kpi_payer_days, kpi_payer_first
    first_unionpay = func.min(case((pd.c.unionpay.is_(True), pd.c.day_no), else_=None))
    seen: dict[tuple[str, str], int] = {}
    for payer, mobile, unionpay in conn.execute(
        select(pd.c.payer_ref, func.min(pd.c.day_no), first_unionpay)
        .where(pd.c.day_no.in_(list(day_nos)))
        .group_by(pd.c.payer_ref)
    ):
        seen[(payer, "mobile")] = int(mobile)
        if unionpay is not None:
            seen[(payer, "unionpay")] = int(unionpay)
    payers = sorted({p for p, _ in seen})
    for i in range(0, len(payers), IN_CHUNK):
        chunk = payers[i : i + IN_CHUNK]
        stored = {
            (p, k): d
            for p, k, d in conn.execute(
                select(pf.c.payer_ref, pf.c.kind, pf.c.day_no).where(pf.c.payer_ref.in_(chunk))
            )
        }
        lower = [
            {"payer_ref": p, "kind": k, "day_no": seen[(p, k)]}
            for p in chunk
            for k in ("mobile", "unionpay")
            if (p, k) in seen and ((p, k) not in stored or seen[(p, k)] < stored[(p, k)])
        ]
        replaced = [(r["payer_ref"], r["kind"]) for r in lower if (r["payer_ref"], r["kind"]) in stored]
        for p, k in replaced:
            conn.execute(delete(pf).where(pf.c.payer_ref == p, pf.c.kind == k))
        if lower:
            conn.execute(insert(pf), lower)


# Each dimension of active users: (dim, the key column, an extra condition).
_DIMS = (
    ("county", "''", ""),
    ("town", "town_code", ""),
    ("issuer", "issuer", " AND issuer <> ''"),
    ("unionpay", "''", " AND unionpay = :yes"),
)

# A payer's row on day t keeps them active through t+29. Counting each payer once per day: a row adds
# coverage from max(t, previous row's day + 30) to t+29, so active(d) = #rows with start <= d < t + 30.
_EVENTS_SQL = """
WITH d AS (SELECT DISTINCT {key} AS k, payer_ref, day_no FROM kpi_payer_days
           WHERE day_no >= :lo AND day_no <= :hi{extra}),
w AS (SELECT k, day_no, LAG(day_no) OVER (PARTITION BY k, payer_ref ORDER BY day_no) AS prev FROM d)
SELECT k, CASE WHEN prev IS NULL OR prev + :win <= day_no THEN day_no ELSE prev + :win END AS s,
       day_no + :win AS e, COUNT(*) FROM w GROUP BY 1, 2, 3
"""


def _active(conn: Connection, first: int, last: int) -> None:
    """Recompute active users for days first..last (day numbers), every dimension."""
    _write_active(conn, first, last, _active_rows(conn, first, last))


def _write_active(conn: Connection, first: int, last: int, rows: list[dict[str, Any]]) -> None:
    conn.execute(
        delete(kpi_active_users).where(
            kpi_active_users.c.day >= from_day_no(first), kpi_active_users.c.day <= from_day_no(last)
        )
    )
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(kpi_active_users), rows[start : start + 5_000])


def _active_rows(conn: Connection, first: int, last: int) -> list[dict[str, Any]]:
    """Active users for days first..last (day numbers), every dimension, as rows of kpi_active_users (reads
    only)."""
    out: list[dict[str, Any]] = []
    start = first
    while start <= last:
        end = min(last, start + ACTIVE_CHUNK_DAYS - 1)
        for dim, key, extra in _DIMS:
            # Rows from lo = start - window are enough: an earlier row cannot cover a day >= start, and a row's
            # predecessor within the window is always inside the range read.
            params = {"lo": start - WINDOW_DAYS, "hi": end, "win": WINDOW_DAYS}
            stmt = text(_EVENTS_SQL.format(key=key, extra=extra))
            if "yes" in extra:
                stmt = stmt.bindparams(bindparam("yes", value=True))
            delta: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
            for k, s, e, n in conn.execute(stmt, params):
                if s < e:
                    delta[k][int(s)] += int(n)
                    delta[k][int(e)] -= int(n)
            for k, changes in delta.items():
                running = 0
                points = sorted(changes)
                i = 0
                for day in range(min(points[0], start), end + 1):
                    while i < len(points) and points[i] <= day:
                        running += changes[points[i]]
                        i += 1
                    if day >= start and running:
                        out.append({"day": from_day_no(day), "dim": dim, "key": k, "users": running})
        start = end + 1
    return out


def rollup_days(conn: Connection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last business dates in the rollups."""
    lo, hi = conn.execute(select(func.min(kpi_daily.c.day), func.max(kpi_daily.c.day))).one()
    return lo, hi


__all__ = [
    "MOBILE_CHANNELS",
    "UNIONPAY_CHANNEL",
    "WINDOW_DAYS",
    "day_no",
    "from_day_no",
    "rebuild",
    "rebuild_db",
    "refresh",
    "refresh_db",
    "rollup_days",
]
