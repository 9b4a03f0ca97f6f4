"""What keeps `make demo` truthful: the programme's targets on the demo's own timeline and at the county's scale,
a static code for every merchant, the history settled and reconciled day by day (with discrepancies planted on
the rails' side, so cases exist), and live traffic at the rate the history's model gives for the live hour."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from zhifu.county import CountyProfile
from zhifu.sim import rhythm

log = logging.getLogger("zhifu.demo")

# The plan (源政办字〔2021〕61号) starts in 2021 and runs to the end of 2022. The demo shows a year, so the
# programme's two years are laid onto the demo's year: the 2021 deadline falls mid-year, the pilot's after
# about seven months, the 2022 deadline on the last day of history.
PROGRAMME_START: Final = dt.date(2021, 1, 1)
PROGRAMME_END: Final = dt.date(2022, 12, 31)
COUNT_METRICS_SCALED: Final = frozenset(
    {  # targets that grow with the county's population; shares do not
        "county_rural_cards_issued",
        "mobile_payment_active_users",
        "mobile_payment_effective_users",
        "unionpay_app_users",
        "unionpay_app_new_users",
        "aggregated_payment_merchants",
    }
)  # harvest cards: the rural
# simulator issues the pilot's number whatever the scale, so that target keeps the programme's figure
RECON_CHANNELS: Final = (
    "unionpay_qr",
    "wechat",
    "alipay",
)  # the rails whose statements the fake rails produce
PLANT_EVERY_DAYS: Final = 29  # one day in about a month gets a planted discrepancy per rail
PLANT_KINDS: Final = ("amount_mismatch", "missing_channel", "fee_mismatch")


def timeline_date(d: dt.date, start: dt.date, end: dt.date) -> dt.date:
    """A programme date moved onto the demo's history [start, end], keeping its place in the programme."""
    span = (PROGRAMME_END - PROGRAMME_START).days
    pos = min(max((d - PROGRAMME_START).days, 0), span)
    return start + dt.timedelta(days=round(pos * (end - start).days / span))


def demo_profile(profile: CountyProfile, start: dt.date, end: dt.date, scale: float) -> CountyProfile:
    """The profile with its targets dated on the demo's timeline and counts scaled to the simulated county."""
    targets = []
    for t in profile.targets:
        update: dict[str, Any] = {}
        if t.deadline is not None:
            update["deadline"] = timeline_date(t.deadline, start, end)
        if t.metric in COUNT_METRICS_SCALED and t.unit == "count":
            update["value"] = max(1, round(t.value * scale))
        if update:
            was = f"原 {t.value:,}{'（' + str(t.deadline) + '）' if t.deadline else ''}"
            note = f"演示：按县域规模 ×{scale:g} 缩放并平移到演示时间线；{was}"
            update["note"] = note[:200]
        targets.append(t.model_copy(update=update))
    return profile.model_copy(update={"targets": targets})


def issue_static_codes(db: Any) -> int:
    """Every active merchant's static code (the product's first promise: one code per shop)."""
    from zhifu.codes import service as codes
    from zhifu.merchants.read import active_ids

    with db.read() as c:
        ids = active_ids(c)
    for i in range(0, len(ids), 200):
        chunk = ids[i : i + 200]
        db.run(lambda c, chunk=chunk: [codes.issue_static(c, m) for m in chunk])
    return len(ids)


def plan_discrepancies(
    days: Sequence[dt.date], seed: int, every_days: int = PLANT_EVERY_DAYS
) -> dict[tuple[dt.date, str], dict[str, int]]:
    """Which rail-days get which planted discrepancy: one kind on one rail about once a month."""
    rng = random.Random(seed)
    out: dict[tuple[dt.date, str], dict[str, int]] = {}
    for i, d in enumerate(days):
        if i % every_days == every_days // 2:
            out[(d, rng.choice(RECON_CHANNELS))] = {rng.choice(PLANT_KINDS): 1}
    return out


def close_days(
    db: Any,
    days: Sequence[dt.date],
    *,
    rail_store: Any = None,
    seed: int = 7,
    stop: threading.Event | None = None,
    progress: Callable[[dt.date], None] | None = None,
    plant_every_days: int = PLANT_EVERY_DAYS,
) -> dict[str, int]:
    """Each day of history in order, as the acquirer's back office does it: reconcile every rail's statement
    (downloaded through the connector from the fake rails; discrepancies planted first on a few days), then run
    the day's settlement. Stops between days when `stop` is set; returns what it did."""
    from zhifu.channels.registry import FACTS
    from zhifu.core.errors import ZhifuError
    from zhifu.railsim.statements import plant
    from zhifu.recon.statements import fetch_statement, reconcile
    from zhifu.settlement.service import run_settlement

    planted = plan_discrepancies(days, seed, plant_every_days)
    done = {"days": 0, "statements": 0, "planted": 0, "settled": 0, "errors": 0}
    for d in days:
        if stop is not None and stop.is_set():
            break
        for ch in RECON_CHANNELS:
            kinds = planted.get((d, ch))
            try:
                if kinds and rail_store is not None:
                    plant(rail_store, FACTS[ch], d, kinds, seed=seed)
                    done["planted"] += 1
                fetch_statement(db, ch, d, by="demo")
                reconcile(db, d, channel=ch, by="demo")
                done["statements"] += 1
            except (ZhifuError, ValueError) as exc:  # a rail with no traffic that day, or nothing to plant
                done["errors"] += 1
                log.debug("reconcile %s %s: %s", ch, d, exc)
        try:
            run_settlement(db, d)
            done["settled"] += 1
        except ZhifuError as exc:
            done["errors"] += 1
            log.warning("settle %s: %s", d, exc)
        done["days"] += 1
        if progress is not None:
            progress(d)
    return done


def expected_today(active_weight: float, day_index: int, day: dt.date) -> float:
    """The history model's expected count of payments for a day (the engine's own formula)."""
    from zhifu.sim.engine import GROWTH_PPM, PAYMENTS_PER_MERCHANT_DAY

    return (
        active_weight
        * PAYMENTS_PER_MERCHANT_DAY
        * rhythm.day_factor(day)
        * rhythm.growth(day_index, GROWTH_PPM)
    )


def live_rate(daily: float, at: dt.datetime) -> float:
    """Payments a second at a local hour: the day's expected count shaped by the shops' hours of the day."""
    weights = rhythm.HOURS_RETAIL
    hour = at.astimezone(rhythm_zone()).hour
    return daily * weights[hour] / sum(weights) / 3600.0


def rhythm_zone() -> dt.tzinfo:
    from zhifu.core.clock import SHANGHAI

    return SHANGHAI
