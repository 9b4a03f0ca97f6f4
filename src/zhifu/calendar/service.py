"""The working-day calendar: read from its tables, seeded from chinesecalendar for the years that package knows,
extended by the operator importing a CSV of the State Council's notice (header `date,type,name`).

Every count of working days reads a `WorkingCalendar` loaded here; a date in a year the calendar does not cover
is refused with `calendar_out_of_range`, never guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from zhifu.calendar.models import calendar_days, calendar_years
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest

WARN_DAYS = 30  # the console and /healthz warn this many days before the calendar's last day
IMPORT_BYTES_MAX = 256 * 1024  # a year is about 40 lines; this is decades of notices
IMPORT_ROWS_MAX = 4_000
NAME_MAX = 60
YEAR_MIN, YEAR_MAX = 1990, 2100  # outside this a year is a typo, not a notice
HEADER = ("date", "type", "name")
KINDS = ("holiday", "workday")

# chinesecalendar names its holidays in English; the calendar shows Chinese first.
_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def _ranges(years: frozenset[int] | set[int]) -> str:
    """2004–2026, 2028 — the covered years, compactly."""
    out: list[str] = []
    for y in sorted(years):
        if out and out[-1].endswith(str(y - 1)):
            start = out[-1].split("–")[0]
            out[-1] = f"{start}–{y}"
        else:
            out.append(str(y))
    return ", ".join(out) or "—"


def out_of_range(d: dt.date, years: frozenset[int] | set[int]) -> InvalidRequest:
    return InvalidRequest(
        f"工作日历未覆盖 {d.year} 年（{d}），现有年份：{_ranges(years)}；请用 `zhifu calendar import 文件.csv` 导入"
        f"国务院 {d.year} 年放假安排 / the working-day calendar does not cover {d.year} ({d}); it covers "
        f"{_ranges(years)}. Import the State Council's holiday notice for {d.year} with "
        "`zhifu calendar import FILE.csv` (header date,type,name)",
        param="date",
        code="calendar_out_of_range",
    )


@dataclass(frozen=True, slots=True, eq=False)
class WorkingCalendar:
    """The covered years and the days that break the Monday–Friday rule. Compared by identity: one per load."""

    years: frozenset[int]
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    def is_working_day(self, d: dt.date) -> bool:
        """True on working days, make-up working days (调休) on weekends included; refuses uncovered years."""
        if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
            raise InvalidRequest("d must be a date, not a datetime", param="date")
        if d.year not in self.years:
            raise out_of_range(d, self.years)
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def next_working_day(self, d: dt.date) -> dt.date:
        """The first working day strictly after `d`."""
        nxt = d + dt.timedelta(days=1)
        while not self.is_working_day(nxt):
            nxt += dt.timedelta(days=1)
        return nxt

    def last_day(self, today: dt.date) -> dt.date | None:
        """The last day of the unbroken run of covered years that holds `today`; None if today is not covered."""
        if today.year not in self.years:
            return None
        y = today.year
        while y + 1 in self.years:
            y += 1
        return dt.date(y, 12, 31)

    @classmethod
    def of(cls, years: set[int] | frozenset[int], rows: list[tuple[dt.date, str, str]]) -> WorkingCalendar:
        return cls(
            frozenset(years),
            frozenset(d for d, k, _ in rows if k == "holiday"),
            frozenset(d for d, k, _ in rows if k == "workday"),
        )


# ---------------------------------------------------------------- the seed


def seed_rows() -> tuple[str, list[tuple[dt.date, str, str]]]:
    """chinesecalendar's years as rows: (source, [(date, kind, name)]), every year it has holidays for."""
    import chinese_calendar

    version = getattr(chinese_calendar, "__version__", "")
    rows = [(d, "holiday", _NAMES_ZH.get(str(n), str(n))) for d, n in chinese_calendar.holidays.items()]
    rows += [(d, "workday", _NAMES_ZH.get(str(n), str(n))) for d, n in chinese_calendar.workdays.items()]
    return f"chinesecalendar {version}".strip(), sorted(rows)


def _write_years(
    conn: Connection, years: set[int], rows: list[tuple[dt.date, str, str]], source: str, at: dt.datetime
) -> None:
    counts = {y: 0 for y in years}
    for d, _, _ in rows:
        counts[d.year] += 1
    conn.execute(
        insert(calendar_years),
        [
            {"year": y, "source": source[:200], "day_count": n, "imported_at": at}
            for y, n in sorted(counts.items())
        ],
    )
    if rows:
        conn.execute(
            insert(calendar_days),
            [{"day": d, "year": d.year, "kind": k, "name": n[:NAME_MAX]} for d, k, n in rows],
        )


def seed(conn: Connection, *, at: dt.datetime | None = None) -> int:
    """Add chinesecalendar's years that the table lacks; returns how many years were added."""
    source, rows = seed_rows()
    have = set(conn.execute(select(calendar_years.c.year)).scalars())
    rows = [r for r in rows if r[0].year not in have]
    years = {d.year for d, _, _ in rows}
    if years:
        _write_years(conn, years, rows, source, at or clock.now())
    return len(years)


def load(conn: Connection) -> WorkingCalendar:
    """The calendar as the tables hold it. A database made without migrations gets the seed on its first read in a
    write transaction; a read-only transaction (a console page's banner) is given the seed's calendar and writes
    nothing, for on SQLite a read that turns into a write fails at once when another writer holds the lock."""
    years = set(conn.execute(select(calendar_years.c.year)).scalars())
    if not years and conn.get_execution_options().get("zhifu_read_only"):
        _, seeded = seed_rows()
        return WorkingCalendar.of({d.year for d, _, _ in seeded}, seeded)
    if not years:
        try:
            with conn.begin_nested():
                seed(conn)
        except IntegrityError:  # another process seeded it at the same moment
            pass
        years = set(conn.execute(select(calendar_years.c.year)).scalars())
    rows = [
        (d, k, n)
        for d, k, n in conn.execute(select(calendar_days.c.day, calendar_days.c.kind, calendar_days.c.name))
    ]
    return WorkingCalendar.of(years, rows)


# ---------------------------------------------------------------- the operator's import


def _bad(line_no: int, field: str, message_zh: str, message_en: str) -> InvalidRequest:
    return InvalidRequest(
        f"第 {line_no} 行 {field}：{message_zh} / line {line_no}, {field}: {message_en}",
        param=field,
        code="calendar_file_invalid",
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # Excel on a Chinese Windows saves CSV in GBK
    except UnicodeDecodeError as exc:
        raise _bad(1, "file", "不是 UTF-8 或 GBK 文本", "the file is neither UTF-8 nor GBK text") from exc


def parse_csv(data: bytes) -> list[tuple[dt.date, str, str]]:
    """The rows of a calendar file, checked whole: the first bad line is refused by number and field."""
    if len(data) > IMPORT_BYTES_MAX:
        raise _bad(
            1, "file", f"文件超过 {IMPORT_BYTES_MAX} 字节", f"the file is over {IMPORT_BYTES_MAX} bytes"
        )
    reader = csv.reader(io.StringIO(_decode(data)))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        raise _bad(1, "header", "表头须为 date,type,name", "the header must be date,type,name")
    rows: list[tuple[dt.date, str, str]] = []
    seen: dict[dt.date, int] = {}
    for line_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(rows) >= IMPORT_ROWS_MAX:
            raise _bad(line_no, "file", f"超过 {IMPORT_ROWS_MAX} 行", f"more than {IMPORT_ROWS_MAX} lines")
        if len(cells) != 3:
            raise _bad(
                line_no, "line", f"应有 3 列，实有 {len(cells)} 列", f"expected 3 columns, found {len(cells)}"
            )
        raw_date, kind, name = (c.strip() for c in cells)
        try:
            if len(raw_date) != 10:
                raise ValueError
            d = dt.date.fromisoformat(raw_date)
        except ValueError:
            raise _bad(
                line_no,
                "date",
                f"{raw_date!r} 不是 YYYY-MM-DD 格式的日期",
                f"{raw_date!r} is not a date like 2027-01-01",
            ) from None
        if not YEAR_MIN <= d.year <= YEAR_MAX:
            raise _bad(
                line_no,
                "date",
                f"年份 {d.year} 超出 {YEAR_MIN}–{YEAR_MAX}",
                f"year {d.year} is outside {YEAR_MIN}–{YEAR_MAX}",
            )
        if kind.lower() not in KINDS:
            raise _bad(
                line_no,
                "type",
                f"{kind!r} 须为 holiday（放假）或 workday（调休上班）",
                f"{kind!r} must be holiday or workday",
            )
        kind = kind.lower()
        if kind == "workday" and d.weekday() < 5:
            raise _bad(
                line_no,
                "type",
                f"{d} 是工作日，调休上班日须为周六或周日",
                f"{d} is a weekday already; a make-up working day falls on a Saturday or Sunday",
            )
        if len(name) > NAME_MAX:
            raise _bad(line_no, "name", f"名称超过 {NAME_MAX} 字", f"the name is over {NAME_MAX} characters")
        if d in seen:
            raise _bad(
                line_no,
                "date",
                f"{d} 重复列出（第 {seen[d]} 行已有）",
                f"{d} is listed twice (line {seen[d]} already lists it)",
            )
        seen[d] = line_no
        rows.append((d, kind, name))
    if not rows:
        raise _bad(2, "file", "文件没有日期行", "the file lists no day")
    return rows


def import_csv(
    conn: Connection, data: bytes, *, filename: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Import one or several years from a calendar file; each year in the file replaces that year whole.
    The file is checked before anything is written: a bad line refuses the whole file."""
    rows = parse_csv(data)
    years = {d.year for d, _, _ in rows}
    load(conn)  # a table never read yet gets its seed first, so an import never hides the seed's years
    replaced = sorted(
        set(conn.execute(select(calendar_years.c.year).where(calendar_years.c.year.in_(years))).scalars())
    )
    conn.execute(delete(calendar_days).where(calendar_days.c.year.in_(years)))
    conn.execute(delete(calendar_years).where(calendar_years.c.year.in_(years)))
    _write_years(conn, years, rows, filename or "import", at or clock.now())
    return {
        "object": "calendar_import",
        "years": sorted(years),
        "replaced_years": replaced,
        "holidays": sum(1 for r in rows if r[1] == "holiday"),
        "workdays": sum(1 for r in rows if r[1] == "workday"),
    }


# ---------------------------------------------------------------- what the operator sees


@dataclass(frozen=True, slots=True)
class CalendarStatus:
    years: str
    last_day: dt.date | None
    days_left: int | None
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "years": self.years,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "days_left": self.days_left,
            "warning": self.warning,
        }


def status_of(cal_years: set[int] | frozenset[int], today: dt.date) -> CalendarStatus:
    cal = WorkingCalendar(frozenset(cal_years), frozenset(), frozenset())
    last = cal.last_day(today)
    if last is None:
        return CalendarStatus(
            _ranges(cal_years),
            None,
            None,
            f"工作日历未覆盖今年（{today.year}），结算无法计算工作日；请导入国务院放假安排 / the "
            f"working-day calendar does not cover this year ({today.year}): settlement cannot "
            "count working days until the State Council's notice is imported "
            "(zhifu calendar import FILE.csv)",
        )
    left = (last - today).days
    warning = None
    if left <= WARN_DAYS:
        warning = (
            f"工作日历将于 {last} 结束（剩 {left} 天）；请导入国务院 {last.year + 1} 年放假安排，否则之后的结算将被拒绝 / "
            f"the working-day calendar ends on {last} ({left} days left): import the State Council's "
            f"notice for {last.year + 1} (zhifu calendar import FILE.csv) or settlement after it will refuse"
        )
    return CalendarStatus(_ranges(cal_years), last, left, warning)


def status(conn: Connection, *, today: dt.date | None = None) -> CalendarStatus:
    """How far the calendar reaches from today, and the warning to show within WARN_DAYS of its end."""
    today = today or clock.now().astimezone(SHANGHAI).date()
    years = set(conn.execute(select(calendar_years.c.year)).scalars())
    if not years:
        years = load(conn).years
    return status_of(years, today)


def year_summary(conn: Connection) -> list[dict[str, Any]]:
    """Per covered year: where it came from and how many holidays and make-up working days it lists."""
    kinds = {
        (y, k): n
        for y, k, n in conn.execute(
            select(calendar_days.c.year, calendar_days.c.kind, func.count()).group_by(
                calendar_days.c.year, calendar_days.c.kind
            )
        )
    }
    return [
        {
            "year": r.year,
            "source": r.source,
            "holidays": kinds.get((r.year, "holiday"), 0),
            "workdays": kinds.get((r.year, "workday"), 0),
            "imported_at": r.imported_at,
        }
        for r in conn.execute(select(calendar_years).order_by(calendar_years.c.year.desc()))
    ]
