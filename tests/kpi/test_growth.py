"""Year-over-year growth across a leap year and missing months, read from the daily rollup."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from zhifu.db import Database
from zhifu.kpi import rollup, service
from zhifu.kpi.models import kpi_daily


def test_shift_year_maps_month_ends_and_leap_day() -> None:
    assert service.shift_year(dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)
    assert service.shift_year(dt.date(2025, 2, 28)) == dt.date(
        2024, 2, 29
    )  # a whole month against a whole month
    assert service.shift_year(dt.date(2024, 2, 28)) == dt.date(2023, 2, 28)
    assert service.shift_year(dt.date(2024, 3, 1)) == dt.date(2023, 3, 1)
    assert service.shift_year(dt.date(2022, 6, 15)) == dt.date(2021, 6, 15)


def test_growth_rounding_and_missing_base() -> None:
    assert service.growth_ppm(130, 100) == 300_000
    assert service.growth_ppm(2, 3) == -333_333
    assert service.growth_ppm(1, 3) == -666_667
    assert service.growth_ppm(5, 0) is None


def _day(conn, day: dt.date, count: int, amount_fen: int, channel: str = "unionpay_qr") -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(kpi_daily).values(
            day=day,
            town_code="990101001",
            channel=channel,
            acquirer_id="a",
            mcc="5411",
            payments=count,
            amount_fen=amount_fen,
            refunds=0,
            refund_fen=0,
        )
    )
    rollup.derive(conn, [day])  # what the dashboard reads: the day without the MCC, and its month


def test_yoy_across_leap_february_and_missing_months(db: Database) -> None:
    with db.tx() as c:
        _day(c, dt.date(2023, 2, 28), 10, 1_000)
        _day(c, dt.date(2023, 1, 15), 4, 400)
        _day(c, dt.date(2024, 2, 28), 12, 1_200)
        _day(c, dt.date(2024, 2, 29), 3, 300)  # only in the leap year
        _day(c, dt.date(2024, 4, 2), 7, 700)  # April 2023 is missing: no base
        _day(c, dt.date(2024, 2, 29), 99, 9_900, channel="wechat")  # other channels stay out of 云闪付
    with db.read() as c:
        feb = service.unionpay(c, service.Filters(dt.date(2024, 2, 1), dt.date(2024, 2, 29)))
        assert (feb["count"], feb["prior_count"]) == (15, 10)
        assert feb["prior_end"] == dt.date(2023, 2, 28)
        assert feb["count_growth_ppm"] == 500_000 and feb["amount_growth_ppm"] == 500_000
        leap = service.unionpay(c, service.Filters(dt.date(2024, 2, 29), dt.date(2024, 2, 29)))
        assert (leap["count"], leap["prior_count"], leap["count_growth_ppm"]) == (3, 10, -700_000)
        year = service.unionpay(c, service.Filters(dt.date(2024, 1, 1), dt.date(2024, 4, 30)))
        months = {m["month"]: m for m in year["months"]}
        assert list(months) == ["2024-01", "2024-02", "2024-03", "2024-04"]
        assert (months["2024-01"]["count"], months["2024-01"]["prior_count"]) == (0, 4)
        assert months["2024-01"]["count_growth_ppm"] == -1_000_000
        assert months["2024-03"]["count_growth_ppm"] is None  # neither year has March
        assert months["2024-04"]["count"] == 7 and months["2024-04"]["count_growth_ppm"] is None
        assert year["count_growth_ppm"] == service.growth_ppm(22, 14)
        # the next year's February (28 days) compares with all 29 days of the leap February
        nxt = service.unionpay(c, service.Filters(dt.date(2025, 2, 1), dt.date(2025, 2, 28)))
        assert nxt["prior_count"] == 15 and nxt["count_growth_ppm"] == -1_000_000
        sh = service.share(c, service.Filters(dt.date(2024, 2, 1), dt.date(2024, 2, 29)))
        assert (sh["standard_count"], sh["smart_count"]) == (15, 114)
