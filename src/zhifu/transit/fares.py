"""Fares as pure functions of a rider's taps on one day: duplicates dropped, journeys formed, each priced by
its line (flat, or by distance band between the stops tapped on and off), the rider's concession applied per
journey, and the day capped. Computed from the whole set of the day's taps every time, so the result does not
depend on the order in which validators uploaded them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

DEDUP_WINDOW_S = 120  # taps of one rider, line and direction this close are one tap (two readers, one door)
JOURNEY_S_MAX = 3 * 3600  # a tap off this long after the tap on is not the same journey


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    fare_mode: str  # flat | distance
    flat_fare_fen: int
    bands: tuple[tuple[int, int], ...]  # (up_to_m, fare_fen), ascending; the last is the line's maximum fare
    stops: dict[int, int]  # seq → metres from the first stop

    @property
    def max_fare_fen(self) -> int:
        return self.flat_fare_fen if self.fare_mode == "flat" else self.bands[-1][1]

    def distance_fare(self, on_seq: int | None, off_seq: int | None) -> int:
        if on_seq not in self.stops or off_seq not in self.stops:
            return self.max_fare_fen
        metres = abs(self.stops[off_seq] - self.stops[on_seq])  # type: ignore[index]
        return next((fare for up_to, fare in self.bands if metres <= up_to), self.max_fare_fen)


@dataclass(frozen=True, slots=True)
class Tap:
    id: str
    at: dt.datetime
    line_id: str | None
    direction: str  # on | off
    stop_seq: int | None


@dataclass(frozen=True, slots=True)
class DayFare:
    fare_fen: int  # after concessions, before the cap
    capped_fen: int
    journeys: int
    tap_fare: dict[str, int]  # tap id → its share of the capped fare
    status: dict[str, str]  # tap id → counted | duplicate | capped | free


def dedupe(taps: Sequence[Tap]) -> tuple[list[Tap], set[str]]:
    """Keep a tap unless a kept tap of the same line and direction came less than the window before it."""
    kept: list[Tap] = []
    last: dict[tuple[str | None, str], dt.datetime] = {}
    dups: set[str] = set()
    for t in sorted(taps, key=lambda t: (t.at, t.id)):
        k = (t.line_id, t.direction)
        if k in last and (t.at - last[k]).total_seconds() < DEDUP_WINDOW_S:
            dups.add(t.id)
            continue
        last[k] = t.at
        kept.append(t)
    return kept, dups


def journeys(kept: Sequence[Tap], lines: dict[str, Line]) -> list[tuple[int, list[str]]]:
    """(full fare, tap ids) per journey. Flat line: each tap on. Distance line: a tap on and the next tap off
    on that line within the journey limit; a tap on or off left alone pays the line's maximum fare."""
    out: list[tuple[int, list[str]]] = []
    open_on: dict[str, Tap] = {}
    for t in kept:
        line = lines.get(t.line_id or "")
        if line is None:
            continue
        if line.fare_mode == "flat":
            if t.direction == "on":
                out.append((line.flat_fare_fen, [t.id]))
            continue
        started = open_on.pop(line.id, None)
        if t.direction == "on":
            if started is not None:
                out.append((line.max_fare_fen, [started.id]))
            open_on[line.id] = t
        elif started is not None and (t.at - started.at).total_seconds() <= JOURNEY_S_MAX:
            out.append((line.distance_fare(started.stop_seq, t.stop_seq), [started.id, t.id]))
        else:
            if started is not None:
                out.append((line.max_fare_fen, [started.id]))
            out.append((line.max_fare_fen, [t.id]))
    out.extend((lines[lid].max_fare_fen, [t.id]) for lid, t in open_on.items())
    return out


def concession(fare_fen: int, discount_ppm: int) -> int:
    """The fare after a concession of discount_ppm, rounded half-up to the fen."""
    assert 0 <= discount_ppm <= 1_000_000 and fare_fen >= 0, (fare_fen, discount_ppm)
    return fare_fen - (fare_fen * discount_ppm + 500_000) // 1_000_000


def day_fare(
    taps: Sequence[Tap],
    lines: dict[str, Line],
    *,
    discount_ppm: int,
    daily_cap_fen: int | None,
    on_pass: bool = False,
) -> DayFare:
    kept, dups = dedupe(taps)
    status = {t: "duplicate" for t in dups}
    tap_fare: dict[str, int] = dict.fromkeys(dups, 0)
    total = left = 0
    js = journeys(kept, lines)
    left = daily_cap_fen if daily_cap_fen is not None else 1 << 62
    for full, ids in js:
        fare = 0 if on_pass else concession(full, discount_ppm)
        total += fare
        share = min(fare, left)
        left -= share
        for i, tid in enumerate(ids):
            tap_fare[tid] = share if i == 0 else 0
            status[tid] = "free" if fare == 0 else ("counted" if share > 0 else "capped")
    for t in kept:
        status.setdefault(t.id, "free")  # a tap off on a flat line, or on a line no longer known
        tap_fare.setdefault(t.id, 0)
    capped = min(total, daily_cap_fen) if daily_cap_fen is not None else total
    assert sum(tap_fare.values()) == capped, (tap_fare, capped)
    return DayFare(total, capped, len(js), tap_fare, status)


def month_owed(capped_days: Sequence[int], monthly_cap_fen: int | None) -> int:
    """What a rider owes for a month: the days' capped fares, capped again by the month."""
    total = sum(capped_days)
    return min(total, monthly_cap_fen) if monthly_cap_fen is not None else total
