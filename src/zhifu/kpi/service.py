"""The programme's metrics, read from the rollups and the county tables only (docs/metrics.md defines each),
and issuers' submissions of cards issued and app users."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, select, union_all

from zhifu.channels import REGISTRY
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.core.ids import new_id
from zhifu.county import read as county
from zhifu.kpi import sources
from zhifu.kpi.models import kpi_active_users, kpi_daily_sum, kpi_monthly, kpi_payer_first, kpi_submissions
from zhifu.kpi.rollup import UNIONPAY_CHANNEL, day_no, month_after, rebuild, refresh, rollup_days
from zhifu.merchants.read import merchants_view as merchants

PPM = 1_000_000
SMART_PAY = tuple(sorted(n for n, r in REGISTRY.items() if r.mobile))  # every mobile channel
BANK_STANDARD = tuple(sorted(n for n, r in REGISTRY.items() if r.mobile and r.bank_standard))
RANGE_DAYS_MAX = 3_700  # a filter spans at most about ten years
MERCHANTS_PAGE_MAX = 200
SUBMISSIONS_PER_CALL_MAX = 5_000  # one CSV upload; bounds memory and the transaction
CSV_BYTES_MAX = 2_000_000
PILOT_DAYS = 182  # the seed's pilot period is "about six months" up to the pilot targets' deadline
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
SUBMISSION_FIELDS = ("institution", "town_code", "month", "cards_issued", "app_users")


# ---------------------------------------------------------------- filters


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    """What a dashboard view is restricted to. `institution` is the acquirer for payment figures and the card
    issuer for user figures; None means all."""

    start: dt.date
    end: dt.date
    town: str | None = None
    institution: str | None = None
    channel: str | None = None


def today() -> dt.date:
    return clock.now().astimezone(SHANGHAI).date()


def make_filters(
    conn: Connection,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    town: str | None = None,
    institution: str | None = None,
    channel: str | None = None,
) -> Filters:
    """Check and complete filters: the default range is the year to date of the latest rollup day."""
    _, last = rollup_days(conn)
    end = end or last or today()
    start = start or dt.date(end.year, 1, 1)
    if start > end:
        raise InvalidRequest("start must not be after end", param="start")
    if (end - start).days > RANGE_DAYS_MAX:
        raise InvalidRequest(f"a range spans at most {RANGE_DAYS_MAX} days", param="start")
    if town and not county.is_town(conn, town):
        raise InvalidRequest(f"unknown town {town!r}", param="town")
    if institution and not county.is_institution(conn, institution):
        raise InvalidRequest(f"unknown institution {institution!r}", param="institution")
    if channel and channel not in REGISTRY:
        raise InvalidRequest(f"unknown channel {channel!r}; one of {', '.join(REGISTRY)}", param="channel")
    return Filters(start, end, town or None, institution or None, channel or None)


def shift_year(d: dt.date, years: int = -1) -> dt.date:
    """The same date `years` years away; the last day of a month maps to the last day of that month (so 29
    February ↔ 28 February, and whole months compare with whole months)."""
    y = d.year + years
    last_here = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    last_there = (dt.date(y, d.month, 28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    if d == last_here:
        return last_there
    return dt.date(y, d.month, min(d.day, last_there.day))


def growth_ppm(now: int, before: int) -> int | None:
    """(now − before) ÷ before in ppm, rounded half away from zero; None when there is no base."""
    if before <= 0:
        return None
    diff = now - before
    q, r = divmod(abs(diff) * PPM, before)
    q += 1 if 2 * r >= before else 0
    return q if diff >= 0 else -q


def ratio_ppm(part: int, whole: int) -> int | None:
    if whole <= 0:
        return None
    q, r = divmod(part * PPM, whole)
    return q + (1 if 2 * r >= whole else 0)


# ---------------------------------------------------------------- payments from the daily rollup


def _month_end(d: dt.date) -> dt.date:
    return month_after(d) - dt.timedelta(days=1)


def _cube(f: Filters, start: dt.date, end: dt.date, channels: Sequence[str] | None = None) -> Any:
    """The payments rollup for start..end under the filters, as rows (day, town_code, channel, acquirer_id,
    payments, amount_fen, refunds, refund_fen): whole months from kpi_monthly (day = the month's first day),
    the partial months at either end from kpi_daily_sum."""

    def where(t: Any, day: Any, lo: dt.date, hi: dt.date) -> Any:
        cond = [day >= lo, day <= hi]
        if f.town:
            cond.append(t.town_code == f.town)
        if f.institution:
            cond.append(t.acquirer_id == f.institution)
        if channels is not None:
            cond.append(t.channel.in_(channels))
        elif f.channel:
            cond.append(t.channel == f.channel)
        return and_(*cond)

    def rows(table: Any, day: Any, lo: dt.date, hi: dt.date) -> Any:
        t = table.c
        return select(
            day.label("day"),
            t.town_code,
            t.channel,
            t.acquirer_id,
            t.payments,
            t.amount_fen,
            t.refunds,
            t.refund_fen,
        ).where(where(t, day, lo, hi))

    first_full = start if start.day == 1 else _month_end(start) + dt.timedelta(days=1)
    last_full = end if end == _month_end(end) else end.replace(day=1) - dt.timedelta(days=1)
    parts = []
    if first_full <= last_full:
        parts.append(rows(kpi_monthly, kpi_monthly.c.month, first_full, last_full.replace(day=1)))
        edges = [(start, first_full - dt.timedelta(days=1)), (last_full + dt.timedelta(days=1), end)]
    else:
        edges = [(start, end)]
    parts += [rows(kpi_daily_sum, kpi_daily_sum.c.day, lo, hi) for lo, hi in edges if lo <= hi]
    if not parts:
        parts.append(rows(kpi_daily_sum, kpi_daily_sum.c.day, start, end))  # an empty range: no rows
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


def totals(
    conn: Connection,
    f: Filters,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    channels: Sequence[str] | None = None,
) -> dict[str, int]:
    k = _cube(f, start or f.start, end or f.end, channels).c
    row = conn.execute(
        select(
            func.coalesce(func.sum(k.payments), 0),
            func.coalesce(func.sum(k.amount_fen), 0),
            func.coalesce(func.sum(k.refunds), 0),
            func.coalesce(func.sum(k.refund_fen), 0),
        )
    ).one()
    return {
        "count": int(row[0]),
        "amount_fen": int(row[1]),
        "refunds": int(row[2]),
        "refund_fen": int(row[3]),
    }


def _months(start: dt.date, end: dt.date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _by_month(
    conn: Connection,
    f: Filters,
    start: dt.date,
    end: dt.date,
    channels: Sequence[str] | None,
    group_channel: bool = False,
) -> dict[Any, list[int]]:
    k = _cube(f, start, end, channels).c
    cols = [k.day] + ([k.channel] if group_channel else [])
    q = select(*cols, func.sum(k.payments), func.sum(k.amount_fen)).group_by(*cols)
    out: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in conn.execute(q):
        key = row[0].strftime("%Y-%m") if not group_channel else (row[0].strftime("%Y-%m"), row[1])
        acc = out[key]
        acc[0] += int(row[-2])
        acc[1] += int(row[-1])
    return out


def trend(conn: Connection, f: Filters, *, channels: Sequence[str] | None = None) -> dict[str, Any]:
    """Count and amount per month of the range, each beside the same month a year earlier and the growth;
    and the whole range against the same dates a year earlier."""
    prev_start, prev_end = shift_year(f.start), shift_year(f.end)
    now = _by_month(conn, f, f.start, f.end, channels)
    before = _by_month(conn, f, dt.date(prev_start.year, prev_start.month, 1), prev_end, channels)
    months = []
    for m in _months(f.start, f.end):
        prior = f"{int(m[:4]) - 1:04d}{m[4:]}"
        c, a = now.get(m, [0, 0])
        pc, pa = before.get(prior, [0, 0])
        months.append(
            {
                "month": m,
                "count": c,
                "amount_fen": a,
                "prior_count": pc,
                "prior_amount_fen": pa,
                "count_growth_ppm": growth_ppm(c, pc),
                "amount_growth_ppm": growth_ppm(a, pa),
            }
        )
    cur = totals(conn, f, channels=channels)
    prev = totals(conn, f, start=prev_start, end=prev_end, channels=channels)
    return {
        "start": f.start,
        "end": f.end,
        "prior_start": prev_start,
        "prior_end": prev_end,
        "count": cur["count"],
        "amount_fen": cur["amount_fen"],
        "prior_count": prev["count"],
        "prior_amount_fen": prev["amount_fen"],
        "count_growth_ppm": growth_ppm(cur["count"], prev["count"]),
        "amount_growth_ppm": growth_ppm(cur["amount_fen"], prev["amount_fen"]),
        "months": months,
    }


def unionpay(conn: Connection, f: Filters) -> dict[str, Any]:
    """云闪付 (channel unionpay_qr): count and amount with year-over-year growth."""
    return trend(conn, f, channels=(UNIONPAY_CHANNEL,))


def share(conn: Connection, f: Filters) -> dict[str, Any]:
    """Bank-standard smart pay ÷ all smart pay, by count and by amount: the range and each month."""
    std = _by_month(conn, f, f.start, f.end, BANK_STANDARD)
    allp = _by_month(conn, f, f.start, f.end, SMART_PAY)
    months = []
    for m in _months(f.start, f.end):
        s, a = std.get(m, [0, 0]), allp.get(m, [0, 0])
        months.append(
            {
                "month": m,
                "standard_count": s[0],
                "smart_count": a[0],
                "standard_amount_fen": s[1],
                "smart_amount_fen": a[1],
                "count_share_ppm": ratio_ppm(s[0], a[0]),
                "amount_share_ppm": ratio_ppm(s[1], a[1]),
            }
        )
    ts, ta = totals(conn, f, channels=BANK_STANDARD), totals(conn, f, channels=SMART_PAY)
    return {
        "start": f.start,
        "end": f.end,
        "bank_standard_channels": list(BANK_STANDARD),
        "smart_pay_channels": list(SMART_PAY),
        "standard_count": ts["count"],
        "smart_count": ta["count"],
        "standard_amount_fen": ts["amount_fen"],
        "smart_amount_fen": ta["amount_fen"],
        "count_share_ppm": ratio_ppm(ts["count"], ta["count"]),
        "amount_share_ppm": ratio_ppm(ts["amount_fen"], ta["amount_fen"]),
        "months": months,
    }


def by_channel(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    k = _cube(f, f.start, f.end).c
    q = (
        select(k.channel, func.sum(k.payments), func.sum(k.amount_fen))
        .group_by(k.channel)
        .order_by(k.channel)
    )
    return [{"channel": ch, "count": int(n), "amount_fen": int(a)} for ch, n, a in conn.execute(q)]


def by_town(conn: Connection, f: Filters) -> dict[str, dict[str, int]]:
    k = _cube(f, f.start, f.end).c
    q = select(
        k.town_code,
        func.sum(k.payments),
        func.sum(k.amount_fen),
        func.sum(case((k.channel == UNIONPAY_CHANNEL, k.payments), else_=0)),
    ).group_by(k.town_code)
    return {
        t: {"count": int(n), "amount_fen": int(a), "unionpay_count": int(u)} for t, n, a, u in conn.execute(q)
    }


def by_institution(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    k = _cube(f, f.start, f.end).c
    q = (
        select(k.acquirer_id, func.sum(k.payments), func.sum(k.amount_fen))
        .group_by(k.acquirer_id)
        .order_by(k.acquirer_id)
    )
    names = _institution_names(conn)
    return [
        {"institution": i, "name": names.get(i, i), "count": int(n), "amount_fen": int(a)}
        for i, n, a in conn.execute(q)
    ]


# ---------------------------------------------------------------- users


def active_users(conn: Connection, day: dt.date, *, dim: str = "county", key: str = "") -> int:
    """Distinct payers with ≥ 1 successful mobile payment in the 30 days ending `day` (0 without data)."""
    a = kpi_active_users.c
    found = conn.execute(select(a.users).where(a.day == day, a.dim == dim, a.key == key)).scalar_one_or_none()
    return int(found or 0)


def _user_dim(f: Filters) -> tuple[str, str]:
    if f.channel == UNIONPAY_CHANNEL:
        return "unionpay", ""
    if f.town:
        return "town", f.town
    if f.institution:
        return "issuer", f.institution
    return "county", ""


def active_series(conn: Connection, f: Filters) -> dict[str, Any]:
    """Active users on every day of the range in one dimension (filters apply one at a time: 云闪付 channel,
    else town, else issuing institution, else the county)."""
    dim, key = _user_dim(f)
    a = kpi_active_users.c
    got = dict(
        conn.execute(
            select(a.day, a.users).where(a.dim == dim, a.key == key, a.day >= f.start, a.day <= f.end)
        ).all()
    )
    days = [f.start + dt.timedelta(days=i) for i in range((f.end - f.start).days + 1)]
    return {
        "dim": dim,
        "key": key,
        "latest": int(got.get(f.end, 0)),
        "days": [{"day": d, "users": int(got.get(d, 0))} for d in days],
    }


def new_users(conn: Connection, start: dt.date, end: dt.date, *, kind: str = "unionpay") -> int:
    """Payers whose first successful mobile (or 云闪付) payment falls in start..end."""
    pf = kpi_payer_first.c
    return int(
        conn.execute(
            select(func.count()).where(pf.kind == kind, pf.day_no >= day_no(start), pf.day_no <= day_no(end))
        ).scalar_one()
    )


# ---------------------------------------------------------------- coverage


def _end_of_day(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), SHANGHAI).astimezone(dt.UTC)


def _covered(businesses: Any, as_of: dt.date) -> Any:
    m = merchants.c
    return case(
        (
            and_(
                businesses.c.merchant_id.is_not(None),
                m.status == "active",
                m.activated_at < _end_of_day(as_of),
            ),
            1,
        ),
        else_=0,
    )


def coverage(conn: Connection, as_of: dt.date, *, town: str | None = None) -> dict[str, Any]:
    """Registered businesses (registered on or before as_of) and those accepting smart pay (linked to a merchant
    that is active and was activated by then), per town, per urban/rural and, for one town, per village."""
    businesses = county.businesses()
    b, m = businesses.c, merchants.c
    covered = func.sum(_covered(businesses, as_of))
    base = businesses.outerjoin(merchants, m.id == b.merchant_id)
    group = b.village_code if town else b.town_code
    q = select(group, func.count(), covered).select_from(base).where(b.registered_on <= as_of).group_by(group)
    if town:
        q = q.where(b.town_code == town)
    counts = {code: (int(n), int(c or 0)) for code, n, c in conn.execute(q)}
    if town:
        names = county.village_names(conn, town=town)
        rows = [
            {
                "village_code": code,
                "name": names.get(code or "", code or "—"),
                "registered": n,
                "covered": c,
                "coverage_ppm": ratio_ppm(c, n),
            }
            for code, (n, c) in sorted(counts.items(), key=lambda x: x[0] or "")
        ]
        return {"as_of": as_of, "town": town, "villages": rows}
    rows, area = [], {"urban": [0, 0], "rural": [0, 0]}
    for t in county.towns(conn):
        n, c = counts.get(t.code, (0, 0))
        rows.append(
            {
                "town_code": t.code,
                "name": t.name,
                "area_type": t.area_type,
                "pilot": t.pilot,
                "registered": n,
                "covered": c,
                "coverage_ppm": ratio_ppm(c, n),
            }
        )
        area[t.area_type][0] += n
        area[t.area_type][1] += c
    tn, tc = sum(v[0] for v in area.values()), sum(v[1] for v in area.values())
    return {
        "as_of": as_of,
        "towns": rows,
        "county": {"registered": tn, "covered": tc, "coverage_ppm": ratio_ppm(tc, tn)},
        "areas": {
            k: {"registered": v[0], "covered": v[1], "coverage_ppm": ratio_ppm(v[1], v[0])}
            for k, v in area.items()
        },
    }


def coverage_merchants(
    conn: Connection, *, town: str, village: str | None = None, limit: int = MERCHANTS_PAGE_MAX
) -> list[dict[str, Any]]:
    """The registered businesses of a town (or village) and the merchant each accepts smart pay as, if any."""
    businesses = county.businesses()
    b, m = businesses.c, merchants.c
    q = (
        select(b.credit_code, b.name, b.kind, b.mcc, b.village_code, m.id, m.status, m.acquirer_id)
        .select_from(businesses.outerjoin(merchants, m.id == b.merchant_id))
        .where(b.town_code == town)
        .order_by(b.merchant_id.is_(None), b.name)
        .limit(min(limit, MERCHANTS_PAGE_MAX))
    )
    if village:
        q = q.where(b.village_code == village)
    return [
        {
            "credit_code": r[0],
            "name": r[1],
            "kind": r[2],
            "mcc": r[3],
            "village_code": r[4],
            "merchant_id": r[5],
            "merchant_status": r[6],
            "acquirer_id": r[7],
        }
        for r in conn.execute(q)
    ]


def active_merchants(
    conn: Connection, as_of: dt.date, *, acquirer: str | None = None, town: str | None = None
) -> int:
    m = merchants.c
    q = select(func.count()).where(m.status == "active", m.activated_at < _end_of_day(as_of))
    if acquirer:
        q = q.where(m.acquirer_id == acquirer)
    if town:
        q = q.where(m.town_code == town)
    return int(conn.execute(q).scalar_one())


# ---------------------------------------------------------------- submissions


def _institution_names(conn: Connection) -> dict[str, str]:
    return county.institution_names(conn)


def _check_item(i: int, doc: Any, issuers: set[str], towns: set[str], where: str) -> dict[str, Any]:
    def bad(field: str, message: str) -> InvalidRequest:
        return InvalidRequest(f"{where}{field}: {message}", param=field)

    if not isinstance(doc, dict):
        raise InvalidRequest(
            f"{where}a submission is an object of {', '.join(SUBMISSION_FIELDS)}", param="body"
        )
    unknown = sorted(set(doc) - set(SUBMISSION_FIELDS) - {"note"})
    if unknown:
        raise bad(unknown[0], "unknown field")
    for field in SUBMISSION_FIELDS:
        if doc.get(field) in (None, ""):
            raise bad(field, "is required")
    inst, town, month = doc["institution"], doc["town_code"], doc["month"]
    if not isinstance(inst, str) or inst not in issuers:
        raise bad("institution", f"unknown issuing institution {inst!r}")
    if not isinstance(town, str) or town not in towns:
        raise bad("town_code", f"unknown town {town!r}")
    mt = _MONTH_RE.match(month) if isinstance(month, str) else None
    if mt is None:
        raise bad("month", f"must be YYYY-MM, got {month!r}")
    if (int(mt.group(1)), int(mt.group(2))) > (today().year, today().month):
        raise bad("month", f"{month} has not begun")
    counts = {}
    for field in ("cards_issued", "app_users"):
        v = doc[field]
        if isinstance(v, str) and re.fullmatch(r"-?\d{1,12}", v.strip()):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad(field, f"must be a whole number, got {doc[field]!r}")
        if v < 0:
            raise bad(field, f"must not be negative, got {v}")
        if v > 10**11:
            raise bad(field, f"is implausibly large: {v}")
        counts[field] = v
    note = doc.get("note") or ""
    if not isinstance(note, str) or len(note) > 200:
        raise bad("note", "is text of at most 200 characters")
    return {"institution": inst, "town_code": town, "month": month, **counts, "note": note}


def submit(
    conn: Connection,
    items: Sequence[Any],
    *,
    source: str,
    submitted_by: str,
    correction: bool = False,
    lines: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Record issuers' figures. All or nothing: the first bad item is refused with its field (and CSV line).
    A period already on file is refused as a duplicate unless `correction`, which records a new version."""
    if not items:
        raise InvalidRequest("no submissions given", param="body")
    if len(items) > SUBMISSIONS_PER_CALL_MAX:
        raise InvalidRequest(f"at most {SUBMISSIONS_PER_CALL_MAX} submissions at once", param="body")
    issuers = county.issuer_ids(conn)
    towns = set(county.town_names(conn))
    s = kpi_submissions.c
    checked, seen = [], {}
    for i, doc in enumerate(items):
        where = f"line {lines[i]}: " if lines else (f"submissions.{i}." if len(items) > 1 else "")
        item = _check_item(i, doc, issuers, towns, where)
        period = (item["institution"], item["town_code"], item["month"])
        if period in seen:
            raise ConflictError(
                f"{where}month: duplicate period {'/'.join(period)} (also "
                f"{'line ' + str(seen[period]) if lines else 'item ' + str(seen[period])})",
                param="month",
                code="duplicate_period",
            )
        seen[period] = lines[i] if lines else i
        version = conn.execute(
            select(func.max(s.version)).where(
                s.institution == period[0], s.town_code == period[1], s.month == period[2]
            )
        ).scalar_one_or_none()
        if version and not correction:
            raise ConflictError(
                f"{where}month: {'/'.join(period)} is already on file (version {version}); "
                "send it as a correction to record a new version",
                param="month",
                code="duplicate_period",
            )
        if not version and correction:
            raise InvalidRequest(
                f"{where}month: nothing on file for {'/'.join(period)} to correct",
                param="month",
                code="nothing_to_correct",
            )
        checked.append({**item, "version": (version or 0) + 1})
    now = clock.now()
    rows = [
        {"id": new_id("sub"), **c, "source": source, "submitted_by": submitted_by[:64], "created_at": now}
        for c in checked
    ]
    conn.execute(insert(kpi_submissions), rows)
    return [_submission_doc(r) for r in rows]


def _submission_doc(r: Any) -> dict[str, Any]:
    r = dict(r._mapping) if hasattr(r, "_mapping") else dict(r)
    return {
        "id": r["id"],
        "object": "submission",
        "institution": r["institution"],
        "town_code": r["town_code"],
        "month": r["month"],
        "version": r["version"],
        "cards_issued": r["cards_issued"],
        "app_users": r["app_users"],
        "source": r["source"],
        "submitted_by": r["submitted_by"],
        "note": r["note"],
        "created_at": r["created_at"],
    }


def parse_csv(data: bytes) -> tuple[list[dict[str, str]], list[int]]:
    """Rows of a submissions CSV (UTF-8, optional BOM; header institution,town_code,month,cards_issued,app_users
    [,note]) with their line numbers."""
    if len(data) > CSV_BYTES_MAX:
        raise InvalidRequest(f"the file is larger than {CSV_BYTES_MAX} bytes", param="file")
    try:
        textual = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the file is not UTF-8 (byte {exc.start})", param="file") from None
    reader = csv.DictReader(io.StringIO(textual))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [f for f in SUBMISSION_FIELDS if f not in header]
    if missing:
        raise InvalidRequest(f"line 1: the header lacks {', '.join(missing)}", param=missing[0])
    extra = [h for h in header if h not in SUBMISSION_FIELDS and h != "note"]
    if extra:
        raise InvalidRequest(f"line 1: unknown column {extra[0]!r}", param=extra[0])
    reader.fieldnames = header
    rows, lines = [], []
    for row in reader:
        if None in row:
            raise InvalidRequest(f"line {reader.line_num}: more values than columns", param="file")
        if not any((v or "").strip() for v in row.values()):
            continue
        rows.append({k: (v or "").strip() for k, v in row.items()})
        lines.append(reader.line_num)
    if not rows:
        raise InvalidRequest("the file has no rows", param="file")
    return rows, lines


def list_submissions(
    conn: Connection, *, institution: str | None = None, month: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    s = kpi_submissions.c
    q = (
        select(kpi_submissions)
        .order_by(s.month.desc(), s.institution, s.town_code, s.version.desc())
        .limit(limit)
    )
    if institution:
        q = q.where(s.institution == institution)
    if month:
        q = q.where(s.month == month)
    return [_submission_doc(r) for r in conn.execute(q)]


def issued(
    conn: Connection,
    month: str,
    *,
    rural_only: bool = False,
    institution: str | None = None,
    town: str | None = None,
) -> dict[str, int]:
    """Cards in issue and app users at the end of `month`: per institution and town the current version of the
    latest month on file up to `month` (a missing month carries the previous one forward), summed."""
    s = kpi_submissions.c
    q = select(s.institution, s.town_code, s.month, s.version, s.cards_issued, s.app_users).where(
        s.month <= month, s.institution.in_(county.institution_ids(rural_only=rural_only))
    )
    if institution:
        q = q.where(s.institution == institution)
    if town:
        q = q.where(s.town_code == town)
    latest: dict[tuple[str, str], tuple[str, int, int, int]] = {}
    for inst, t, m, v, cards, users in conn.execute(q):
        cur = latest.get((inst, t))
        if cur is None or (m, v) > (cur[0], cur[1]):
            latest[(inst, t)] = (m, v, int(cards), int(users))
    return {
        "cards_issued": sum(x[2] for x in latest.values()),
        "app_users": sum(x[3] for x in latest.values()),
    }


# ---------------------------------------------------------------- targets


def _ytd(conn: Connection, as_of: dt.date) -> Filters:
    return Filters(dt.date(as_of.year, 1, 1), as_of)


def metric_value(conn: Connection, t: Any, as_of: dt.date, memo: dict[Any, Any] | None = None) -> int | None:
    """The current value of a target's metric, measured at min(as_of, deadline); None when no source exists.
    `memo` shares the panels several targets read on the same day (coverage, 云闪付 trend, share)."""
    at = min(as_of, t.deadline) if t.deadline else as_of
    metric = t.metric
    memo = {} if memo is None else memo

    def once(name: str, fn: Any, *args: Any) -> Any:
        if (name, at) not in memo:
            memo[(name, at)] = fn(conn, *args)
        return memo[(name, at)]

    if metric == "county_rural_cards_issued":
        return issued(conn, at.strftime("%Y-%m"), rural_only=True)["cards_issued"]
    if metric == "mobile_payment_active_users":
        return active_users(conn, at)
    if metric == "mobile_payment_effective_users":
        return (
            active_users(conn, at, dim="issuer", key=t.institution)
            if t.institution
            else active_users(conn, at)
        )
    if metric == "unionpay_app_users":
        return active_users(conn, at, dim="unionpay")
    if metric == "unionpay_app_new_users":
        return new_users(conn, at - dt.timedelta(days=PILOT_DAYS - 1), at)
    if metric in ("unionpay_app_txn_count_growth", "unionpay_app_txn_amount_growth"):
        tr = once("unionpay", unionpay, _ytd(conn, at))
        return tr["count_growth_ppm" if "count" in metric else "amount_growth_ppm"]
    if metric == "bank_standard_market_share":
        return once("share", share, _ytd(conn, at))["count_share_ppm"]
    if metric == "merchant_coverage":
        cov = once("coverage", coverage, at)
        key = {"urban": "urban", "towns": "rural"}.get(t.scope)
        return (cov["areas"][key] if key else cov["county"])["coverage_ppm"]
    if metric == "aggregated_payment_merchants":
        return active_merchants(conn, at, acquirer=t.institution)
    if metric == "commerce_circles":
        launched = sources.commerce_circles_launched(
            conn, at
        )  # launched by then, when the office tracks launches
        if launched is not None:
            return launched
        return county.circle_count(conn)
    if metric == "harvest_cards_issued":
        return sources.harvest_cards(conn, at)  # None until the rural capability is present
    return None  # anything newer: no source yet


def targets(conn: Connection, as_of: dt.date) -> list[dict[str, Any]]:
    """Every target of the loaded county with its value at min(as_of, deadline) and the progress towards it."""
    out = []
    memo: dict[Any, Any] = {}
    for t in county.targets(conn):
        value = metric_value(conn, t, as_of, memo)
        progress = ratio_ppm(value, t.value) if value is not None and t.value else None
        out.append(
            {
                "id": t.id,
                "metric": t.metric,
                "label_zh": t.label_zh,
                "label_en": t.label_en,
                "period": t.period,
                "deadline": t.deadline,
                "target": t.value,
                "unit": t.unit,
                "scope": t.scope,
                "institution": t.institution,
                "value": value,
                "progress_ppm": progress,
                "met": value is not None and value >= t.value,
                "measured_at": min(as_of, t.deadline) if t.deadline else as_of,
            }
        )
    return out


def target_lines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Targets grouped by metric and scope, with the 2021 and 2022 lines side by side."""
    groups: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["metric"], r["scope"], r["institution"]),
            {
                "metric": r["metric"],
                "label_zh": r["label_zh"],
                "label_en": r["label_en"],
                "unit": r["unit"],
                "scope": r["scope"],
                "institution": r["institution"],
                "lines": {},
            },
        )
        g["lines"][r["period"]] = r
    return list(groups.values())


# ---------------------------------------------------------------- panels


def pilot(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    """The pilot towns: payments, 云闪付, coverage, active users, merchants and commerce circles."""
    towns = county.towns(conn, pilot_only=True)
    if not towns:
        return []
    cov = {r["town_code"]: r for r in coverage(conn, f.end)["towns"]}
    circles: dict[str, list[str]] = defaultdict(list)
    for r in county.circles(conn):
        name, town = r.name, r.town_code
        circles[town].append(name)
    out = []
    for t in towns:
        tf = dataclasses.replace(f, town=t.code)
        tt = totals(conn, tf)
        up = totals(conn, tf, channels=(UNIONPAY_CHANNEL,))
        c = cov.get(t.code, {})
        out.append(
            {
                "town_code": t.code,
                "name": t.name,
                "count": tt["count"],
                "amount_fen": tt["amount_fen"],
                "unionpay_count": up["count"],
                "unionpay_amount_fen": up["amount_fen"],
                "active_users": active_users(conn, f.end, dim="town", key=t.code),
                "merchants": active_merchants(conn, f.end, town=t.code),
                "registered": c.get("registered", 0),
                "covered": c.get("covered", 0),
                "coverage_ppm": c.get("coverage_ppm"),
                "circles": circles.get(t.code, []),
            }
        )
    return out


def circles(conn: Connection) -> list[dict[str, Any]]:
    names = _institution_names(conn)
    designated = sources.circle_merchant_counts(conn)
    return [
        {
            "id": r.id,
            "name": r.name,
            "town_code": r.town_code,
            "lead_acquirer": r.lead_acquirer,
            "lead_acquirer_name": names.get(r.lead_acquirer, r.lead_acquirer),
            "pilot": r.pilot,
            "merchants": designated.get(r.id),
        }
        for r in county.circles(conn)
    ]


def operations(conn: Connection, f: Filters) -> dict[str, Any]:
    """Figures other capabilities own: subsidy spend, settlement timeliness, reconciliation exceptions; risk
    alerts and complaints within SLA once those capabilities exist (None until then)."""
    return {
        "subsidy": sources.subsidy_spend(conn, f.start, f.end),
        "settlement": sources.settlement_timeliness(conn, f.start, f.end),
        "reconciliation": sources.recon_exceptions(conn, f.start, f.end),
        "risk": sources.risk_alerts(conn, f.start, f.end),
        "complaints": sources.complaints_within_sla(conn, f.start, f.end),
        "office": sources.programme_office(conn, f.start, f.end),
        "transit": sources.transit_usage(conn, f.start, f.end),
        "rural": sources.rural(conn, f.start, f.end),
        "public_services": sources.public_services(
            conn, f.start, f.end, town=f.town, institution=f.institution, channel=f.channel
        ),
    }


def overview(conn: Connection, f: Filters) -> dict[str, Any]:
    """Everything the dashboard's first page shows."""
    rows = targets(conn, f.end)
    return {
        "filters": dataclasses.asdict(f),
        "targets": rows,
        "target_lines": target_lines(rows),
        "totals": totals(conn, f),
        "active_users": active_users(conn, f.end),
        "unionpay": unionpay(conn, f),
        "share": share(conn, f),
        "channels": by_channel(conn, f),
        "institutions": by_institution(conn, f),
        "pilot": pilot(conn, f),
        "circles": circles(conn),
        "operations": operations(conn, f),
    }


__all__ = [
    "BANK_STANDARD",
    "SMART_PAY",
    "Filters",
    "active_series",
    "active_users",
    "by_channel",
    "by_institution",
    "by_town",
    "circles",
    "coverage",
    "coverage_merchants",
    "growth_ppm",
    "issued",
    "list_submissions",
    "make_filters",
    "new_users",
    "operations",
    "overview",
    "parse_csv",
    "pilot",
    "rebuild",
    "refresh",
    "share",
    "shift_year",
    "submit",
    "targets",
    "totals",
    "trend",
    "unionpay",
]
