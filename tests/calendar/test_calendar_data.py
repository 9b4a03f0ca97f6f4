"""The working-day calendar as operator data, on both backends: the seed, imports (good and refused whole),
the settle date of 2026-12-31 before and after 2027 is imported, the 30-day warning, and settlement refusing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.settlement.helpers import merchant, pay, sh, verify
from zhifu import calendar as cal_mod
from zhifu.calendar.models import calendar_days, calendar_years
from zhifu.calendar.service import import_csv, load, parse_csv, status
from zhifu.core.clock import FixedClock
from zhifu.core.config import get_settings
from zhifu.core.errors import InvalidRequest
from zhifu.db import Database
from zhifu.ledger.models import entries
from zhifu.payments import ensure_platform_accounts
from zhifu.settlement import service as settlement
from zhifu.settlement.calendar import settle_date
from zhifu.settlement.models import settlement_batches

D = dt.date

# The State Council's notice for 2027 as an operator would type it (国办发明电; dates as published for the test).
NOTICE_2027 = """date,type,name
2027-01-01,holiday,元旦
2027-01-02,holiday,元旦
2027-01-03,holiday,元旦
2027-02-06,holiday,春节
2027-02-07,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-12,holiday,春节
2027-02-13,holiday,春节
2027-02-14,workday,春节调休
2027-02-20,workday,春节调休
2027-10-01,holiday,国庆节
2027-10-09,workday,国庆节调休
""".encode()


def _cal(db: Database) -> cal_mod.WorkingCalendar:
    with db.tx() as c:
        return load(c)


def test_empty_table_is_seeded_from_chinesecalendar(db: Database) -> None:
    cal = _cal(db)
    assert set(range(2004, 2027)) <= cal.years
    assert cal.is_working_day(D(2021, 10, 9)) is True  # a make-up working day on a Saturday
    assert cal.is_working_day(D(2021, 10, 10)) is False  # the Sunday after it
    assert cal.is_working_day(D(2021, 10, 4)) is False  # National Day on a Monday
    with db.tx() as c:
        names = dict(c.execute(select(calendar_days.c.day, calendar_days.c.name)).all())
        assert c.execute(select(func.count()).select_from(calendar_years)).scalar_one() == len(cal.years)
    assert names[D(2021, 10, 1)] == "国庆节"
    assert _cal(db).years == cal.years  # a second read seeds nothing more


def test_a_read_only_transaction_reads_the_seed_and_writes_nothing(db: Database) -> None:
    """A console page's banner reads the calendar in a read-only transaction. On an empty table it used to write
    the seed there, and on SQLite that write failed with "database is locked" whenever another request was
    writing, taking the page down with it. Now the read is given the seed's calendar and the tables stay as
    they were; the first write transaction seeds them."""
    with db.read() as c:
        cal = load(c)
        st = status(c, today=D(2026, 12, 6))
    assert set(range(2004, 2027)) <= cal.years
    assert cal.is_working_day(D(2021, 10, 9)) is True
    assert st.last_day == D(2026, 12, 31) and st.days_left == 25 and st.warning is not None
    with db.read() as c:
        assert c.execute(select(func.count()).select_from(calendar_years)).scalar_one() == 0
        assert c.execute(select(func.count()).select_from(calendar_days)).scalar_one() == 0
    assert _cal(db).years == cal.years  # the write transaction's seed is the calendar the read was given
    with db.read() as c:
        assert c.execute(select(func.count()).select_from(calendar_years)).scalar_one() == len(cal.years)


def test_settle_date_of_2026_12_31_refuses_until_2027_is_imported(db: Database) -> None:
    with pytest.raises(InvalidRequest) as exc:
        settle_date(D(2026, 12, 31), "T+1", _cal(db))
    assert exc.value.code == "calendar_out_of_range"
    assert "2027" in exc.value.message and "zhifu calendar import" in exc.value.message
    r = db.run(lambda c: import_csv(c, NOTICE_2027, filename="2027.csv"))
    assert r == {
        "object": "calendar_import",
        "years": [2027],
        "replaced_years": [],
        "holidays": 12,
        "workdays": 3,
    }
    cal = _cal(db)
    assert settle_date(D(2026, 12, 31), "T+1", cal).date == D(2027, 1, 4)  # over the New Year holiday
    assert settle_date(D(2027, 2, 12), "T+1", cal).date == D(2027, 2, 14)  # a make-up Sunday
    assert cal.is_working_day(D(2027, 2, 20)) is True  # a make-up working day on a Saturday
    assert cal.is_working_day(D(2027, 2, 21)) is False
    assert cal.is_working_day(D(2027, 6, 9)) is True  # a plain Wednesday of an imported year


def test_a_year_with_no_data_is_refused_not_guessed(db: Database) -> None:
    cal = _cal(db)
    with pytest.raises(InvalidRequest) as exc:
        cal.is_working_day(D(2031, 3, 3))
    assert exc.value.code == "calendar_out_of_range" and "2004–2026" in exc.value.message
    db.run(lambda c: import_csv(c, NOTICE_2027))
    with pytest.raises(InvalidRequest):  # 2027 does not make 2028 known
        settle_date(D(2027, 12, 31), "T+1", _cal(db))


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        ("date,type,name\n2027-01-01,holiday,元旦\n2027-02-30,holiday,春节\n", 3, "date", "2027-02-30"),
        (
            "date,type,name\n2027-01-01,holiday,元旦\n2027-01-02,holiday,元旦\n2027-01-01,holiday,元旦\n",
            4,
            "date",
            "line 2",
        ),
        ("date,type,name\n2027-01-01,vacation,元旦\n", 2, "type", "holiday or workday"),
        ("date,type,name\n2027-02-16,workday,调休\n", 2, "type", "Saturday or Sunday"),  # a Tuesday
        ("day,kind,name\n2027-01-01,holiday,元旦\n", 1, "header", "date,type,name"),
        ("date,type,name\n2027-01-01,holiday\n", 2, "line", "3 columns"),
        ("date,type,name\n", 2, "file", "no day"),
        ("date,type,name\n27-1-1,holiday,元旦\n", 2, "date", "27-1-1"),
    ],
)
def test_bad_files_are_refused_whole_naming_the_line(
    db: Database, body: str, line: int, field: str, words: str
) -> None:
    before = _cal(db).years
    with pytest.raises(InvalidRequest) as exc:
        db.run(lambda c: import_csv(c, body.encode()))
    assert exc.value.param == field and f"line {line}" in exc.value.message and words in exc.value.message
    assert _cal(db).years == before  # nothing was written
    with db.tx() as c:
        assert (
            c.execute(
                select(func.count()).select_from(calendar_days).where(calendar_days.c.year == 2027)
            ).scalar_one()
            == 0
        )


def test_import_replaces_a_year_whole_and_reads_gbk(db: Database) -> None:
    db.run(lambda c: import_csv(c, NOTICE_2027))
    fix = "date,type,name\n2027-01-01,holiday,元旦\n".encode("gbk")  # saved by Excel on a Chinese Windows
    r = db.run(lambda c: import_csv(c, fix))
    assert r["replaced_years"] == [2027] and r["holidays"] == 1
    cal = _cal(db)
    assert cal.is_working_day(D(2027, 2, 8)) is True  # the old Spring Festival listing is gone with the year
    assert parse_csv("\ufeffdate,type,name\r\n2027-01-01,HOLIDAY,元旦\r\n".encode()) == [
        (D(2027, 1, 1), "holiday", "元旦")
    ]


def test_warning_thirty_days_before_the_last_day(db: Database) -> None:
    with db.tx() as c:
        early = status(c, today=D(2026, 11, 30))
        late = status(c, today=D(2026, 12, 1))
        past = status(c, today=D(2027, 1, 2))
    assert early.last_day == D(2026, 12, 31) and early.days_left == 31 and early.warning is None
    assert late.days_left == 30 and "2026-12-31" in late.warning and "zhifu calendar import" in late.warning
    assert past.last_day is None and "2027" in past.warning
    db.run(lambda c: import_csv(c, NOTICE_2027))
    with db.tx() as c:
        after = status(c, today=D(2026, 12, 1))
    assert after.last_day == D(2027, 12, 31) and after.warning is None


def test_healthz_says_when_the_calendar_runs_out(platform, fixed_clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    fixed_clock.set(sh(2026, 12, 10))
    body = platform.client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["calendar"]["last_day"] == "2026-12-31" and body["calendar"]["days_left"] == 21
    assert "2026-12-31" in body["warnings"][0]
    fixed_clock.set(sh(2026, 6, 10))
    body = platform.client.get("/healthz").json()
    assert body["warnings"] == [] and body["calendar"]["warning"] is None


def test_settlement_of_2026_12_31_refuses_and_pays_nothing_until_2027_is_imported(
    db: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = merchant(db, 1, at=sh(2026, 12, 1))
    pay(db, fixed_clock, mid, 10_000, sh(2026, 12, 31, 10))
    with db.tx() as c:
        entries_before = c.execute(select(func.count()).select_from(entries)).scalar_one()
    at = settlement.day_end(D(2026, 12, 31)) + dt.timedelta(hours=3)
    with pytest.raises(InvalidRequest) as exc:
        settlement.run_settlement(db, D(2026, 12, 31), at=at, out_dir=tmp_path)
    assert exc.value.code == "calendar_out_of_range" and "2027" in exc.value.message
    with db.tx() as c:
        assert c.execute(select(func.count()).select_from(settlement_batches)).scalar_one() == 0
        assert c.execute(select(func.count()).select_from(entries)).scalar_one() == entries_before
    assert settlement.scheduled_run(db, at=at) == []  # the background run stops at it and logs, no exception
    db.run(lambda c: import_csv(c, NOTICE_2027))
    out = settlement.run_settlement(db, D(2026, 12, 31), at=at, out_dir=tmp_path)
    assert out["payout_count"] == 1
    with db.tx() as c:
        line = c.execute(select(settlement_batches)).one()
    assert line.payout_fen > 0
    verify(db)


def test_cli_import_and_settle_date(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhifu.cli import app

    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["calendar", "settle-date", "2026-12-31", "--cycle", "T+1"])
        assert r.exit_code == 1 and "2027" in r.output and "calendar import" in r.output
        bad = tmp_path / "bad.csv"
        bad.write_text("date,type,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n", encoding="utf-8")
        r = runner.invoke(app, ["calendar", "import", str(bad)])
        assert r.exit_code == 1 and "line 3" in r.output and "date" in r.output
        good = tmp_path / "2027.csv"
        good.write_bytes(NOTICE_2027)
        r = runner.invoke(app, ["calendar", "import", str(good)])
        assert r.exit_code == 0 and "imported 2027" in r.output, r.output
        r = runner.invoke(app, ["calendar", "settle-date", "2026-12-31", "--cycle", "T+1"])
        assert r.exit_code == 0 and r.output.strip().splitlines()[-1] == "2027-01-04"
        r = runner.invoke(app, ["calendar", "settle-date", "2021-09-30", "--cycle", "D+1"])
        assert r.output.strip().splitlines()[-1] == "2021-10-01" and "advanced" in r.output
        r = runner.invoke(app, ["calendar", "show"])
        assert r.exit_code == 0 and "2027" in r.output and "2027.csv" in r.output
    finally:
        get_settings.cache_clear()
