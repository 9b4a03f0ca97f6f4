"""The demo tells the truth: on a small demo database built the way `make demo` builds it (the simulated history
with the rails' side, targets on the demo's timeline and scale, every merchant's static code, each day reconciled
and settled in order with discrepancies planted), the figures agree with each other and with the history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from zhifu.codes.models import payment_codes
from zhifu.core.clock import SHANGHAI
from zhifu.county.tables import county_targets
from zhifu.merchants.models import merchants
from zhifu.recon import models as recon
from zhifu.settlement.models import settlement_batches
from zhifu.sim.coherence import (
    COUNT_METRICS_SCALED,
    RECON_CHANNELS,
    close_days,
    demo_profile,
    expected_today,
    issue_static_codes,
    live_rate,
    plan_discrepancies,
)

DAYS = 10
SCALE = 0.002
PLANT_EVERY = 5


@pytest.fixture
def demo(db, monkeypatch, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from tests import rails_support
    from zhifu.kpi import rebuild
    from zhifu.sim.engine import SimParams, Simulation, check_params

    monkeypatch.setenv("ZHIFU_SETTLEMENT_DIR", str(tmp_path / "payouts"))
    today = dt.datetime.now(SHANGHAI).date()
    params = SimParams("yiyuan", today - dt.timedelta(days=DAYS), DAYS, 7, SCALE)
    original = check_params(params)
    end = today - dt.timedelta(days=1)
    profile = demo_profile(original, params.start, end, SCALE)
    sim = Simulation(db, params, profile, [])
    sim.rail_store = rails_support.SIM.store  # type: ignore[union-attr]
    sim.run(progress=False)
    codes = issue_static_codes(db)
    days = [params.start + dt.timedelta(days=i) for i in range(DAYS)]
    done = close_days(
        db,
        days,
        rail_store=rails_support.SIM.store,  # type: ignore[union-attr]
        plant_every_days=PLANT_EVERY,
    )
    with db.tx() as c:
        rebuild(c)
    return {
        "sim": sim,
        "original": original,
        "start": params.start,
        "end": end,
        "days": days,
        "done": done,
        "codes": codes,
        "profile": profile,
    }


def test_the_demo_agrees_with_itself(db, demo) -> None:  # type: ignore[no-untyped-def]
    from zhifu import ledger
    from zhifu.kpi import report
    from zhifu.kpi import service as kpi

    sim, start, end = demo["sim"], demo["start"], demo["end"]
    consumers = len(sim.world.consumers)
    with db.tx() as c:
        # active mobile-payment users are people of the county: never more than its consumers
        assert 0 < kpi.active_users(c, end) <= consumers
        # every merchant has its static code
        active = c.execute(
            select(func.count()).select_from(merchants).where(merchants.c.status == "active")
        ).scalar_one()
        coded = c.execute(
            select(func.count(func.distinct(payment_codes.c.merchant_id))).where(
                payment_codes.c.kind == "static", payment_codes.c.status == "active"
            )
        ).scalar_one()
        assert active == coded == demo["codes"] > 0
        # targets on the demo's timeline, counts at the county's scale, shares as the programme states them
        by_id = {t.id: t for t in demo["original"].targets}
        for t in c.execute(select(county_targets)):
            was = by_id[t.id]
            if was.deadline is not None:
                assert start <= t.deadline <= end, t.id
            if t.metric in COUNT_METRICS_SCALED:
                assert t.value == max(1, round(was.value * SCALE)), t.id
            else:
                assert t.value == was.value, t.id
        # each day settled and each rail-day reconciled, in order; the planted discrepancies are cases
        settled = {d for (d,) in c.execute(select(settlement_batches.c.business_date))}
        assert settled == set(demo["days"])
        reconciled = {(b.business_date, b.channel) for b in c.execute(select(recon.batches))}
        assert {d for d, _ in reconciled} == set(demo["days"])
        planted = plan_discrepancies(demo["days"], 7, PLANT_EVERY)
        assert planted and demo["done"]["planted"] == len(planted)
        for (d, ch), kinds in planted.items():
            assert (d, ch) in reconciled
            cases = c.execute(
                select(func.count())
                .select_from(recon.cases)
                .where(  # a line missing at the
                    recon.cases.c.business_date.between(
                        d, d + dt.timedelta(days=2)
                    ),  # rail waits a day in the pool
                    recon.cases.c.channel == ch,
                )
            ).scalar_one()
            assert cases >= 1, (d, ch, kinds)
        assert ledger.verify(c) == []
        # every target's current value comes from the same source as the report's own figures
        doc = report.collect(c, end.strftime("%Y-%m"))
        for t in doc["targets"]:
            if t["metric"] == "merchant_coverage" and t["deadline"] == end:
                key = {"urban": "urban", "towns": "rural"}[t["scope"]]
                assert t["value"] == doc["coverage"]["areas"][key]["coverage_ppm"], t["id"]
                assert report._pct(t["value"]) in " ".join(" ".join(r) for r in report._summary_rows(doc))
            if t["metric"] == "mobile_payment_active_users" and t["deadline"] == end:
                # the target is measured at its deadline, the report's card as of the report's day: one source
                assert t["value"] == kpi.active_users(c, min(doc["end"], t["deadline"])) <= consumers
                assert doc["active_users"] == kpi.active_users(c, doc["end"]) <= consumers
    # live traffic at the model's rate: the hours of a day add up to the history model's day
    daily = expected_today(sim.cum[-1], DAYS, end + dt.timedelta(days=1))
    day0 = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SHANGHAI)
    total = sum(live_rate(daily, day0 + dt.timedelta(hours=h)) * 3600 for h in range(24))
    assert abs(total - daily) < 1e-6 and daily > 0
    assert set(RECON_CHANNELS) <= {ch for _, ch in reconciled}
    _the_showcase_shop_has_the_whole_history(db, demo)  # on the same demo database: one build for both


def test_every_payer_is_one_of_the_county_consumers(db, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The demo's other flows (bills at the counter and on the phone, buses, school passes, the scenic area, the
    agri shop) and its live traffic pay as the county's own consumers, each with one id on every rail (Alipay's
    too, and a pay code's): active users today stay within the consumers."""
    from tests.factories import Platform
    from zhifu.kpi import rebuild
    from zhifu.kpi import service as kpi
    from zhifu.kpi.rollup import MOBILE_CHANNELS
    from zhifu.payments.models import payments
    from zhifu.sim import bills as sim_bills
    from zhifu.sim import rural as sim_rural
    from zhifu.sim import transit as sim_transit
    from zhifu.sim.live import run_live
    from zhifu.sim.world import payer_ref

    sim, county = demo["sim"], demo["profile"]
    consumers = len(sim.world.consumers)
    today = dt.datetime.now(SHANGHAI).date()
    monkeypatch.setattr(sim_bills, "ACCOUNTS_PER_BILLER", 5)
    monkeypatch.setattr(sim_transit, "RIDERS", 12)
    monkeypatch.setattr(sim_transit, "STUDENTS", 3)
    monkeypatch.setattr(sim_transit, "RUSH_BUYERS", 4)
    monkeypatch.setattr(sim_rural, "FARMERS_PER_STATION", 12)
    made = sim_bills.demo_bills(db, county, today, 7, payers=consumers)
    sim_transit.demo_transit(db, county, today, 7, login=False, payers=consumers)
    sim_rural.demo_rural(db, county, today, 7, login=False, cards=60, payers=consumers)
    platform = Platform(db)
    try:
        stats = run_live(
            platform.client,
            platform.operator_secret,
            tps=500,
            seed=3,
            payments_max=30,
            payers=consumers,
            apps=bytes(sim.world.consumers.app),
        )
    finally:
        platform.close()
    assert made["paid"] > 0 and stats.succeeded > 0 and stats.errors == 0, stats.last_error
    people = {payer_ref(i) for i in range(consumers)}
    with db.tx() as c:
        rebuild(c)
        paid = c.execute(
            select(payments.c.channel, payments.c.payer_ref).where(
                payments.c.status == "succeeded",
                payments.c.channel.in_(MOBILE_CHANNELS),
                payments.c.payer_ref.is_not(None),  # a payer the rail does not name counts as no user
            )
        ).all()
        strangers = {(ch, who) for ch, who in paid if who not in people}
        assert not strangers, sorted(strangers)[:10]
        assert {"alipay", "wechat", "unionpay_qr"} <= {ch for ch, _ in paid}
        live = c.execute(
            select(func.count()).select_from(payments).where(payments.c.description == "live")
        ).scalar_one()
        assert live == stats.created
        assert 0 < kpi.active_users(c, today) <= consumers


def _the_showcase_shop_has_the_whole_history(db, demo) -> None:  # type: ignore[no-untyped-def]
    """The merchant login of `make demo` is the showcase shop: on the programme from the first day, taking payments
    on most days of the history, with its static code and a settlement for each day it sold."""
    from zhifu.payments.models import payments
    from zhifu.settlement.models import settlements
    from zhifu.sim.demo import showcase

    shop = showcase(demo["sim"].world)
    assert shop is not None and shop.join_day <= 0 and shop.credit_code is not None
    mid = shop.merchant_id
    with db.read() as c:
        sold = {
            d
            for (d,) in c.execute(
                select(payments.c.business_date).where(
                    payments.c.merchant_id == mid, payments.c.status == "succeeded"
                )
            )
        }
        settled = {
            d
            for (d,) in c.execute(
                select(settlements.c.business_date).where(
                    settlements.c.merchant_id == mid, settlements.c.sales_count > 0
                )
            )
        }
        code = c.execute(
            select(func.count())
            .select_from(payment_codes)
            .where(payment_codes.c.merchant_id == mid, payment_codes.c.kind == "static")
        ).scalar_one()
    assert len(sold & set(demo["days"])) >= 0.8 * DAYS, sorted(sold)
    assert settled == sold & set(demo["days"])
    assert code == 1
