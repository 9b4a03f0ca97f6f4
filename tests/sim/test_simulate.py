"""The simulator: deterministic from its seed, true to every invariant, scaled by --scale, refusing bad input
before writing anything, and driving a live server over HTTP."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from zhifu import ledger
from zhifu.cli import app
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings
from zhifu.county import load_profile
from zhifu.county.loader import _read
from zhifu.county.service import coverage
from zhifu.db import Database
from zhifu.db.schema import metadata
from zhifu.incentives.models import incentive_payers, merchant_days
from zhifu.ledger.accounts import merchant_payable
from zhifu.merchants import merchants
from zhifu.payments import payments, refunds
from zhifu.payments.batch import DEFERRED_INDEXES, bulk_load
from zhifu.privacy import keyring
from zhifu.reference import account_name_ok
from zhifu.sim import SimParams, simulate
from zhifu.sim.demo import demo_campaigns
from zhifu.sim.engine import DYNAMIC_LIMIT_FEN, STATIC_LIMIT_FEN, Simulation
from zhifu.sim.live import run_live
from zhifu.sim.world import build

START = dt.date(2022, 1, 20)  # the run crosses the Spring Festival of 2022-02-01
DAYS = 16
PARAMS = SimParams("demo_small", START, DAYS, seed=11, scale=0.05)


def _sqlite(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path}/sim-{uuid.uuid4().hex[:6]}.db")
    metadata.create_all(database.engine)
    return database


def _db_totals(db: Database) -> tuple[int, int, int, int]:
    with db.tx() as c:
        ok = payments.c.status == "succeeded"
        n, amount = c.execute(select(func.count(), func.sum(payments.c.amount_fen)).where(ok)).one()
        m = c.execute(select(func.count()).select_from(merchants)).scalar_one()
        r = c.execute(select(func.count()).select_from(refunds)).scalar_one()
    return int(n), int(amount), int(m), int(r)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Any]]:
    database = _sqlite(tmp_path_factory.mktemp("sim"))
    result = simulate(database, PARAMS)
    try:
        yield database, result
    finally:
        database.dispose()


def test_same_seed_same_totals(simulated: tuple[Database, Any], db: Database) -> None:
    first_db, first = simulated
    again = simulate(db, PARAMS)  # the other run on each backend
    assert again.totals() == first.totals()
    assert (
        _db_totals(db)
        == _db_totals(first_db)
        == (first.succeeded, first.amount_fen, first.merchants, first.refunds)
    )
    assert first.payments > 1_000 and first.merchants > 10 and first.refunds > 0 and first.failed > 0


def test_dry_run_models_the_same_county_without_a_database(simulated: tuple[Database, Any]) -> None:
    dry = Simulation(None, PARAMS, load_profile("demo_small"), dry_run=True).run(progress=False)
    first = simulated[1]
    assert (dry.payments, dry.succeeded, dry.amount_fen, dry.merchants, dry.refunds) == (
        first.payments,
        first.succeeded,
        first.amount_fen,
        first.merchants,
        first.refunds,
    )


def test_another_seed_another_county(simulated: tuple[Database, Any], tmp_path: Path) -> None:
    other = _sqlite(tmp_path)
    result = simulate(other, SimParams("demo_small", START, DAYS, seed=12, scale=0.05))
    assert result.totals() != simulated[1].totals()


def test_a_simulated_county_keeps_every_invariant(simulated: tuple[Database, Any]) -> None:
    database, result = simulated
    settings = get_settings()
    with database.tx() as c:
        assert ledger.verify(c) == []
        pays = c.execute(select(payments)).all()
        refs = c.execute(select(refunds)).all()
        shops = c.execute(select(merchants)).all()
        towns = coverage(c)
        ring = keyring(c)
    assert len(pays) == result.payments
    first, last = (
        dt.datetime.combine(START, dt.time(), SHANGHAI),
        dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time(), SHANGHAI),
    )
    static_per_payer_day: dict[tuple[str, dt.date], int] = {}
    for p in pays:
        assert 0 < p.amount_fen <= settings.max_payment_fen
        assert first <= p.created_at < last
        if p.flow == "static_code":
            assert p.amount_fen <= STATIC_LIMIT_FEN
        if p.flow == "dynamic_code":
            assert p.amount_fen <= DYNAMIC_LIMIT_FEN
        assert 0 <= p.refunded_fen <= p.amount_fen and 0 <= p.fee_refunded_fen <= p.fee_fen
        if p.status == "succeeded":
            assert p.payer_ref and p.card_type and p.business_date and p.fee_fen >= 0
            if p.flow == "static_code":
                key = (p.payer_ref, p.created_at.astimezone(SHANGHAI).date())
                static_per_payer_day[key] = static_per_payer_day.get(key, 0) + p.amount_fen
    assert max(static_per_payer_day.values()) <= STATIC_LIMIT_FEN
    by_payment: dict[str, int] = {}
    for r in refs:
        assert r.status == "succeeded"
        by_payment[r.payment_id] = by_payment.get(r.payment_id, 0) + r.amount_fen
    paid = {p.id: p for p in pays}
    for pid, total in by_payment.items():
        assert total == paid[pid].refunded_fen <= paid[pid].amount_fen and paid[pid].status == "succeeded"
    caps: dict[tuple[str, dt.date], int] = {}
    for p in pays:
        if p.status == "succeeded":
            key = (p.merchant_id, p.created_at.astimezone(SHANGHAI).date())
            caps[key] = caps.get(key, 0) + p.amount_fen
    for m in shops:
        assert m.status == "active"
        assert account_name_ok(
            m.type, m.legal_name, ring.decrypt(m.legal_person_name_enc), m.settle_account_name
        )
        if m.daily_cap_fen:
            assert all(v <= m.daily_cap_fen for (mid, _), v in caps.items() if mid == m.id)
    assert sum(t["covered"] for t in towns) > 0
    assert {p.channel for p in pays} >= {"wechat", "alipay", "unionpay_qr"}


def test_the_batch_paths_books_agree_with_its_payments(simulated: tuple[Database, Any]) -> None:
    """What the batch path writes beside each payment (the payers seen, the merchant days, the ledger) says what
    the payments and refunds say: each merchant's payable balance is what its payments and refunds left it, every
    payer is seen first at its first payment, every merchant day counts its payments."""
    database, _result = simulated
    with database.tx() as c:
        pays = [p for p in c.execute(select(payments)).all() if p.status == "succeeded"]
        refs = c.execute(select(refunds)).all()
        payers = {r.payer_key: r for r in c.execute(select(incentive_payers))}
        days = {
            (m, d): (int(n), int(a))
            for m, d, n, a in c.execute(
                select(
                    merchant_days.c.merchant_id,
                    merchant_days.c.day,
                    func.sum(merchant_days.c.payments),
                    func.sum(merchant_days.c.amount_fen),
                ).group_by(merchant_days.c.merchant_id, merchant_days.c.day)
            )
        }
        owed = {
            mid: ledger.get_balance(c, merchant_payable(mid)).posted_fen
            for mid in {p.merchant_id for p in pays}
        }
    expected_owed: dict[str, int] = {}
    expected_days: dict[tuple[str, str], tuple[int, int]] = {}
    first: dict[str, dt.datetime] = {}
    for p in pays:
        expected_owed[p.merchant_id] = expected_owed.get(p.merchant_id, 0) + p.amount_fen - p.fee_fen
        key = (p.merchant_id, p.succeeded_at.astimezone(SHANGHAI).date().isoformat())
        n, a = expected_days.get(key, (0, 0))
        expected_days[key] = (n + 1, a + p.amount_fen)
        first[p.payer_ref] = min(first.get(p.payer_ref, p.succeeded_at), p.succeeded_at)
    for r in refs:
        expected_owed[r.merchant_id] -= r.amount_fen - r.fee_refunded_fen
    assert owed == expected_owed and len(owed) > 10
    assert days == expected_days
    assert {k: r.first_paid_at for k, r in payers.items()} == first
    by_id = {p.id: p for p in pays}
    assert all(by_id[r.first_payment_id].payer_ref == k for k, r in payers.items())


def test_spring_festival_eve_is_busier_than_new_years_day(simulated: tuple[Database, Any]) -> None:
    database, _ = simulated
    with database.tx() as c:
        days = dict(
            c.execute(select(payments.c.business_date, func.count()).group_by(payments.c.business_date)).all()
        )
    eve, new_year = days[dt.date(2022, 1, 31)], days[dt.date(2022, 2, 1)]
    assert eve > 2 * new_year


def test_scale_scales() -> None:
    profile = load_profile("yiyuan")
    small = build(profile, start=START, days=30, scale=0.02, rng=random.Random(1))
    large = build(profile, start=START, days=30, scale=0.04, rng=random.Random(1))
    registered = [sum(1 for b in w.businesses if b.credit_code) for w in (small, large)]
    assert registered[0] == pytest.approx(profile.registered_businesses * 0.02, rel=0.01)
    assert registered[1] == pytest.approx(2 * registered[0], rel=0.01)
    assert len(large.consumers) == pytest.approx(2 * len(small.consumers), rel=0.01)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "bad.db"
    monkeypatch.setenv("ZHIFU_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def _profile_file(tmp_path: Path, change: Any) -> str:
    data = yaml.safe_load(_read("demo_small")[1])
    change(data)
    path = tmp_path / f"p{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_bad_input_is_refused_and_nothing_is_written(cli_env: Path, tmp_path: Path) -> None:
    def drop_town(d: dict) -> None:
        d["towns"] = [
            t for t in d["towns"] if t["code"] != "990101101"
        ]  # its villages now name a missing town

    def negative(d: dict) -> None:
        d["towns"][0]["population"] = -1

    cases = [
        (["--profile", "nowhere"], "unknown county profile 'nowhere'"),
        (["--profile", _profile_file(tmp_path, drop_town)], "unknown town '990101101'"),
        (["--profile", _profile_file(tmp_path, negative)], "towns.0.population"),
        (["--days", "0"], "--days must be 1–3660, got 0"),
        (["--scale", "0"], "--scale must be in (0, 10]"),
        (["--scale", "10.5"], "--scale must be in (0, 10]"),
        (["--from", "2021-02-30"], "--from must be a date"),
        (["--live", "--tps", "5"], "operator_key"),
    ]
    runner = CliRunner()
    for args, message in cases:
        r = runner.invoke(app, ["simulate", *args], env={"ZHIFU_OPERATOR_KEY": ""})
        assert r.exit_code == 1, (args, r.output)
        assert message in " ".join(r.output.split()), (args, r.output)
        assert not cli_env.exists(), args


def test_live_mode_payments_read_back_through_the_api(platform: Any) -> None:
    mid, _ = platform.merchant()
    platform.merchant(legal_name="沂源县南麻李记超市", short_name="李记超市", mcc="5411")
    stats = run_live(platform.client, platform.operator_secret, tps=500, seed=3, payments_max=12)
    assert stats.created == 12 and stats.errors == 0 and stats.succeeded + stats.failed == 12
    key = platform.client.post(f"/v1/merchants/{mid}/keys", headers=platform.op).json()["secret"]
    listed = platform.client.get(
        "/v1/payments", params={"limit": 100}, headers={"Authorization": f"Bearer {key}"}
    ).json()["data"]
    mine = [p for p in listed if p["id"] in stats.payment_ids]
    assert mine, "some live payments belong to the first merchant"
    for p in mine:
        got = platform.client.get(
            f"/v1/payments/{p['id']}", headers={"Authorization": f"Bearer {key}"}
        ).json()
        assert got["status"] == "succeeded" and got["description"] == "live" and got["fee_fen"] >= 0
    with platform.db.tx() as c:
        assert ledger.verify(c) == []


def _index_names(database: Database) -> set[str]:
    with database.read() as c:
        return {
            ix["name"]
            for t in ("payments", "ledger_entries", "ledger_postings")
            for ix in inspect(c).get_indexes(t)
        }


def test_a_simulation_leaves_every_index_of_the_schema(
    simulated: tuple[Database, Any], tmp_path: Path
) -> None:
    expected = _index_names(_sqlite(tmp_path))
    assert DEFERRED_INDEXES <= expected
    assert _index_names(simulated[0]) == expected


def test_indexes_are_rebuilt_when_a_bulk_load_fails(tmp_path: Path) -> None:
    database = _sqlite(tmp_path)
    expected = _index_names(database)
    with pytest.raises(RuntimeError), bulk_load(database):
        assert not DEFERRED_INDEXES & _index_names(database)  # dropped while loading
        raise RuntimeError("the load stops half-way")
    assert _index_names(database) == expected


def test_credit_codes_stay_unique_at_full_scale() -> None:
    """Eight random digits collide among the full county's tens of thousands of registered businesses."""
    world = build(load_profile("yiyuan"), start=START, days=30, scale=1.0, rng=random.Random(7))
    codes = [b.credit_code for b in world.businesses if b.credit_code is not None]
    assert len(codes) > 20_000
    assert len(set(codes)) == len(codes)


def test_a_payment_over_a_micro_cap_is_never_made_even_one_that_would_be_declined() -> None:
    """The platform refuses to create it (the batch path checks every payment, as creation does); only
    successes count towards the cap."""
    sim = Simulation(None, PARAMS, load_profile("demo_small"), dry_run=True)
    shop = SimpleNamespace(merchant_id="mch_micro", kind="micro")
    daily, _ = sim.micro_caps
    assert sim._within_caps(shop, START, daily - 100)
    assert not sim._within_caps(shop, START, 101, counts=False)  # over the cap: not made, decline or not
    assert sim._within_caps(
        shop, START, 100, counts=False
    )  # a decline within the cap is made and not counted
    assert sim._within_caps(shop, START, 100)
    assert not sim._within_caps(shop, START, 1)
    assert sim._within_caps(shop, START + dt.timedelta(days=1), 1)  # a new day


def test_the_demo_runs_the_programmes_campaigns_and_live_traffic_meets_them(platform: Any) -> None:
    from zhifu.incentives.models import campaign_awards

    yiyuan = load_profile("yiyuan")
    platform.merchant(town_code=yiyuan.pilot_towns[0])
    made = demo_campaigns(platform.db, yiyuan, dt.datetime.now(SHANGHAI).date())
    assert [(c["funder"], c["status"], c["funded_fen"], c["remaining_fen"]) for c in made] == [
        ("county_finance", "active", 20_000_000, 20_000_000),
        ("yiyuan_rcb", "active", 5_000_000, 5_000_000),
    ]
    assert made[0]["rules"]["towns"] == yiyuan.pilot_towns and made[0]["rules"]["channels"] == ["unionpay_qr"]
    stats = run_live(platform.client, platform.operator_secret, tps=500, seed=5, payments_max=100)
    assert stats.errors == 0 and stats.succeeded > 90
    with platform.db.read() as c:
        kinds = {k for (k,) in c.execute(select(campaign_awards.c.kind).distinct())}
        discounted = c.execute(
            select(func.count()).select_from(payments).where(payments.c.discount_fen > 0)
        ).scalar()
    assert {"discount", "fee_waiver", "cost_refund"} <= kinds and discounted > 0
    with platform.db.tx() as c:
        assert ledger.verify(c) == []
