"""Fare capping against a plain model: any set of taps, uploaded in any order, in several batches, with exact
re-uploads and a second reader's copies, with charge runs in between, charges each rider exactly what the plain
model says (daily cap, then monthly cap), and never more at any point. Pure functions first, then the database
on both backends."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transit import helpers as h
from zhifu.core.clock import SHANGHAI
from zhifu.transit import fares, service

LINES = {"la": 200, "lb": 150, "lc": 300}
DAY0 = dt.datetime(2022, 6, 28, 6, tzinfo=SHANGHAI)  # the month turns within the generated days


def plain(taps: list[tuple[int, str, int]], discount_ppm: int, dcap: int | None, mcap: int | None) -> int:
    """What a rider owes, written as simply as possible: taps are (minute, line, reader)."""
    by_day: dict[dt.date, list[tuple[int, str]]] = defaultdict(list)
    for minute, line, _reader in taps:
        by_day[(DAY0 + dt.timedelta(minutes=minute)).date()].append((minute, line))
    by_month: dict[tuple[int, int], int] = defaultdict(int)
    for day, day_taps in by_day.items():
        last_kept: dict[str, int] = {}
        total = 0
        for minute, line in sorted(day_taps):
            if line in last_kept and (minute - last_kept[line]) * 60 < fares.DEDUP_WINDOW_S:
                continue
            last_kept[line] = minute
            fare = LINES[line]
            total += fare - (fare * discount_ppm + 500_000) // 1_000_000
        by_month[(day.year, day.month)] += total if dcap is None else min(total, dcap)
    return sum(v if mcap is None else min(v, mcap) for v in by_month.values())


tap_lists = st.lists(
    st.tuples(st.integers(0, 5 * 24 * 60), st.sampled_from(sorted(LINES)), st.integers(1, 2)), max_size=30
)
caps = st.one_of(st.none(), st.integers(100, 900))


@settings(max_examples=300, deadline=None)
@given(taps=tap_lists, discount=st.sampled_from([0, 500_000, 1_000_000]), dcap=caps, mcap=caps)
def test_day_fares_and_month_caps_equal_the_plain_model(taps, discount, dcap, mcap) -> None:  # type: ignore[no-untyped-def]
    lines = {k: fares.Line(k, "flat", v, (), {}) for k, v in LINES.items()}
    by_day: dict[dt.date, list[fares.Tap]] = defaultdict(list)
    for i, (minute, line, _r) in enumerate(taps):
        at = DAY0 + dt.timedelta(minutes=minute)
        by_day[at.date()].append(fares.Tap(f"t{i}", at, line, "on", None))
    months: dict[str, list[int]] = defaultdict(list)
    for day, ts in by_day.items():
        df = fares.day_fare(ts, lines, discount_ppm=discount, daily_cap_fen=dcap)
        assert df.capped_fen == sum(df.tap_fare.values()) <= df.fare_fen
        assert (
            df.capped_fen
            == fares.day_fare(list(reversed(ts)), lines, discount_ppm=discount, daily_cap_fen=dcap).capped_fen
        )
        months[f"{day:%Y-%m}"].append(df.capped_fen)
    assert sum(fares.month_owed(v, mcap) for v in months.values()) == plain(taps, discount, dcap, mcap)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(taps=tap_lists, order=st.randoms(use_true_random=False), dcap=caps, mcap=caps, runs=st.integers(0, 3))
def test_uploads_in_any_order_charge_exactly_the_plain_model(
    db, fixed_clock, taps, order, dcap, mcap, runs
) -> None:  # type: ignore[no-untyped-def]
    if dcap is not None and mcap is not None and mcap < dcap:
        mcap = dcap
    fixed_clock.set(DAY0 - dt.timedelta(hours=1))
    op = h.operator(db, daily_cap_fen=dcap, monthly_cap_fen=mcap)
    mid = op["merchant_id"]
    for name, fare in LINES.items():
        h.line(db, mid, name, fare_fen=fare)
        h.validator(db, mid, f"{name}1", name)
        h.validator(db, mid, f"{name}2", name)
    r = h.rider(db)
    code = h.qr(db, r["id"], DAY0, ttl_s=7 * 86_400)
    records = [
        (f"{line}{reader}", h.tap(f"{i}", code, DAY0 + dt.timedelta(minutes=m)))
        for i, (m, line, reader) in enumerate(taps)
    ]
    records += [records[i] for i in range(0, len(records), 3)]  # exact re-uploads of every third tap
    order.shuffle(records)
    end = DAY0 + dt.timedelta(days=6)
    cut = sorted(order.sample(range(len(records) + 1), min(runs, len(records) + 1)))
    for part, (lo, hi) in enumerate(zip([0, *cut], [*cut, len(records)], strict=True)):
        fixed_clock.set(end + dt.timedelta(minutes=part))
        for vid, t in records[lo:hi]:
            h.upload(db, mid, vid, [t], at=end + dt.timedelta(minutes=part))
        service.charge_due(db, through=end.date())
        with db.read() as c:
            charged = sum(
                ch["amount_fen"]
                for ch in service.list_charges(c, mid, limit=200)
                if ch["status"] == "succeeded"
            )
        assert charged <= plain(taps, 0, dcap, mcap)
    assert charged == plain(taps, 0, dcap, mcap)
