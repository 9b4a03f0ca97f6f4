"""When people pay: hours of the day, days of the week, Spring Festival and Golden Week, growth by year."""

from __future__ import annotations

import datetime as dt
import functools

# Chinese New Year's Day (正月初一) by year; a fixed table keeps the simulator independent of calendar packages.
SPRING_FESTIVAL = {
    2018: dt.date(2018, 2, 16),
    2019: dt.date(2019, 2, 5),
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
}
WEEKDAY = (0.95, 0.94, 0.96, 0.98, 1.05, 1.14, 1.08)  # Monday first: weekends and Friday evenings are busier

# Relative weight of each local hour (0–23) by kind of shop.
HOURS_RETAIL = (
    0.1,
    0.05,
    0.03,
    0.02,
    0.03,
    0.2,
    0.8,
    1.6,
    1.9,
    1.8,
    1.9,
    2.0,
    1.7,
    1.4,
    1.3,
    1.4,
    1.6,
    2.0,
    2.3,
    2.1,
    1.5,
    0.9,
    0.4,
    0.15,
)
HOURS_MEALS = (
    0.1,
    0.05,
    0.02,
    0.02,
    0.05,
    0.6,
    2.2,
    2.6,
    1.6,
    0.7,
    1.0,
    3.0,
    3.2,
    1.6,
    0.6,
    0.5,
    0.8,
    2.4,
    3.3,
    2.6,
    1.3,
    0.7,
    0.4,
    0.2,
)
HOURS_LODGING = (
    0.4,
    0.2,
    0.1,
    0.05,
    0.05,
    0.1,
    0.4,
    1.2,
    1.8,
    1.6,
    1.3,
    1.2,
    1.0,
    1.0,
    1.1,
    1.2,
    1.4,
    1.6,
    1.8,
    1.8,
    1.6,
    1.4,
    1.0,
    0.7,
)
MEAL_MCCS = frozenset({"5812", "5814", "5462"})
LODGING_MCCS = frozenset({"7011", "7991", "7999"})


def hours_for(mcc: str) -> tuple[float, ...]:
    if mcc in MEAL_MCCS:
        return HOURS_MEALS
    if mcc in LODGING_MCCS:
        return HOURS_LODGING
    return HOURS_RETAIL


def festival_factor(day: dt.date) -> float:
    """How much busier than usual a day is: New Year shopping (年货) peaks on the eve, the first days are
    quiet, the Lantern Festival and Golden Week are busy."""
    sf = SPRING_FESTIVAL.get(day.year)
    nxt = SPRING_FESTIVAL.get(day.year + 1)
    factor = 1.0
    for d0 in (sf, nxt):
        if d0 is None:
            continue
        x = (day - d0).days
        if -20 <= x <= -1:
            factor = 1.15 + 0.9 * (21 + x) / 20  # 1.2 three weeks out, about 2 on New Year's Eve
        elif x == 0:
            factor = 0.55
        elif 1 <= x <= 6:
            factor = 0.85
        elif x == 14:
            factor = 1.3
    if day.month == 10 and day.day <= 7:
        factor *= 1.2
    return factor


@functools.lru_cache(maxsize=8192)
def day_factor(day: dt.date) -> float:
    return WEEKDAY[day.weekday()] * festival_factor(day)


def basket_factor(day: dt.date) -> float:
    """Baskets are larger in the New Year shopping weeks."""
    sf = SPRING_FESTIVAL.get(day.year)
    nxt = SPRING_FESTIVAL.get(day.year + 1)
    for d0 in (sf, nxt):
        if d0 is not None and -20 <= (day - d0).days <= -1:
            return 1.35
    return 1.0


def growth(days_since_start: int, yearly_ppm: int) -> float:
    """Compound growth: a yearly rate in ppm applied continuously."""
    return (1 + yearly_ppm / 1_000_000) ** (days_since_start / 365.0)
