"""The one business-day rule: 23:00 Beijing time closes the day, and every reader of it agrees."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.channels.statement import business_date_of, window
from zhifu.core.business_day import CUTOFF, NO_CUTOFF, business_date, day_end
from zhifu.core.clock import SHANGHAI, UTC
from zhifu.core.errors import InvalidRequest
from zhifu.settlement import calendar as settlement_calendar


def test_cutoff_belongs_to_the_next_date() -> None:
    assert CUTOFF == dt.time(23, 0)
    d = dt.date(2026, 3, 1)
    assert business_date(dt.datetime(2026, 3, 1, 22, 59, 59, 999999, tzinfo=SHANGHAI)) == d
    assert business_date(dt.datetime(2026, 3, 1, 23, 0, tzinfo=SHANGHAI)) == d + dt.timedelta(days=1)
    assert business_date(dt.datetime(2026, 3, 1, 23, 0, tzinfo=SHANGHAI), NO_CUTOFF) == d
    assert day_end(d) == dt.datetime(2026, 3, 1, 23, 0, tzinfo=SHANGHAI)


def test_naive_moment_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        business_date(dt.datetime(2026, 3, 1, 12, 0))


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31), timezones=st.just(UTC)
    )
)
def test_every_reader_agrees_and_the_window_holds_the_moment(at: dt.datetime) -> None:
    d = business_date(at)
    assert business_date_of(at) == d
    assert settlement_calendar.business_date(at) == d
    start, end = window(d)
    assert start <= at < end
    assert end - start == dt.timedelta(days=1)
