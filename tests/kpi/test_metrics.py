"""Every metric against an independent SQL computation over the raw tables of a small simulated county, and the
incremental rollups against a rebuild from scratch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, text

from zhifu.db import Database
from zhifu.kpi import rollup, service
from zhifu.kpi.models import (
    kpi_active_users,
    kpi_daily,
    kpi_daily_sum,
    kpi_monthly,
    kpi_payer_days,
    kpi_payer_first,
)

from .conftest import SIM_DAYS, SIM_START

END = SIM_START + dt.timedelta(days=SIM_DAYS - 1)
MOBILE = "('unionpay_qr','nfc','bank_app','face','sscard','wechat','alipay')"
STANDARD = "('unionpay_qr','nfc','bank_app','face','sscard')"


def q(db: Database, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with db.read() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def test_channel_sets_follow_the_registry() -> None:
    assert service.SMART_PAY == tuple(
        sorted(("unionpay_qr", "nfc", "bank_app", "face", "sscard", "wechat", "alipay"))
    )
    assert service.BANK_STANDARD == tuple(sorted(("unionpay_qr", "nfc", "bank_app", "face", "sscard")))
    assert "unionpay_card" not in service.SMART_PAY


def test_totals_channels_towns_institutions(county: Database) -> None:
    start, end = SIM_START + dt.timedelta(days=5), END - dt.timedelta(days=3)
    raw = q(
        county,
        "SELECT count(*), coalesce(sum(amount_fen),0) FROM payments WHERE status='succeeded' "
        "AND business_date BETWEEN :a AND :b",
        a=start,
        b=end,
    )[0]
    refunds = q(
        county,
        "SELECT count(*), coalesce(sum(amount_fen),0) FROM refunds WHERE status='succeeded' "
        "AND business_date BETWEEN :a AND :b",
        a=start,
        b=end,
    )[0]
    by_channel = dict(
        (ch, (n, a))
        for ch, n, a in q(
            county,
            "SELECT channel, count(*), sum(amount_fen) FROM payments "
            "WHERE status='succeeded' AND business_date BETWEEN :a AND :b GROUP BY channel",
            a=start,
            b=end,
        )
    )
    by_town = {
        t: (n, a, u)
        for t, n, a, u in q(
            county,
            "SELECT m.town_code, count(*), sum(p.amount_fen), "
            "sum(CASE WHEN p.channel='unionpay_qr' THEN 1 ELSE 0 END) FROM payments p JOIN merchants m "
            "ON m.id=p.merchant_id WHERE p.status='succeeded' AND p.business_date BETWEEN :a AND :b "
            "GROUP BY m.town_code",
            a=start,
            b=end,
        )
    }
    by_acq = {
        i: (n, a)
        for i, n, a in q(
            county,
            "SELECT m.acquirer_id, count(*), sum(p.amount_fen) FROM payments p "
            "JOIN merchants m ON m.id=p.merchant_id WHERE p.status='succeeded' AND p.business_date "
            "BETWEEN :a AND :b GROUP BY m.acquirer_id",
            a=start,
            b=end,
        )
    }
    assert raw[0] > 1000 and refunds[0] > 0
    with county.read() as c:
        f = service.Filters(start, end)
        assert service.totals(c, f) == {
            "count": raw[0],
            "amount_fen": raw[1],
            "refunds": refunds[0],
            "refund_fen": refunds[1],
        }
        assert {r["channel"]: (r["count"], r["amount_fen"]) for r in service.by_channel(c, f)} == by_channel
        assert {
            k: (v["count"], v["amount_fen"], v["unionpay_count"]) for k, v in service.by_town(c, f).items()
        } == by_town
        assert {
            r["institution"]: (r["count"], r["amount_fen"]) for r in service.by_institution(c, f)
        } == by_acq
        town = sorted(by_town)[1]
        assert service.totals(c, service.Filters(start, end, town=town))["count"] == by_town[town][0]


@pytest.mark.parametrize(
    "start, end",
    [
        (dt.date(2021, 12, 1), END),  # an empty whole month, a whole month, then days
        (dt.date(2022, 1, 1), dt.date(2022, 1, 31)),  # exactly one month
        (dt.date(2022, 1, 31), dt.date(2022, 2, 1)),  # two days across a month's end
        (dt.date(2022, 1, 1), dt.date(2022, 2, 28)),  # whole months only
        (SIM_START, SIM_START),
        (dt.date(2022, 2, 10), dt.date(2022, 2, 9)),
    ],
)  # one day; an empty range
def test_whole_months_and_their_edges_sum_like_the_payments(
    county: Database, start: dt.date, end: dt.date
) -> None:
    """The dashboard reads whole months from the monthly rollup and the rest by day: any range still sums to
    exactly what the payments say."""
    raw = q(
        county,
        "SELECT count(*), coalesce(sum(amount_fen),0) FROM payments WHERE status='succeeded' "
        "AND business_date BETWEEN :a AND :b",
        a=start,
        b=end,
    )[0]
    by_channel = {
        ch: (n, a)
        for ch, n, a in q(
            county,
            "SELECT channel, count(*), sum(amount_fen) FROM payments "
            "WHERE status='succeeded' AND business_date BETWEEN :a AND :b GROUP BY channel",
            a=start,
            b=end,
        )
    }
    with county.read() as c:
        f = service.Filters(start, end)
        got = service.totals(c, f)
        assert (got["count"], got["amount_fen"]) == raw
        assert {r["channel"]: (r["count"], r["amount_fen"]) for r in service.by_channel(c, f)} == by_channel
    if start <= SIM_START and end >= dt.date(2022, 1, 31):
        assert raw[0] > 0


def test_unionpay_and_share(county: Database) -> None:
    up = q(
        county,
        "SELECT count(*), sum(amount_fen) FROM payments WHERE status='succeeded' AND "
        "channel='unionpay_qr' AND business_date BETWEEN :a AND :b",
        a=SIM_START,
        b=END,
    )[0]
    std = q(
        county,
        f"SELECT count(*), sum(amount_fen) FROM payments WHERE status='succeeded' AND channel IN {STANDARD} "
        "AND business_date BETWEEN :a AND :b",
        a=SIM_START,
        b=END,
    )[0]
    smart = q(
        county,
        f"SELECT count(*), sum(amount_fen) FROM payments WHERE status='succeeded' AND channel IN {MOBILE} "
        "AND business_date BETWEEN :a AND :b",
        a=SIM_START,
        b=END,
    )[0]
    with county.read() as c:
        f = service.Filters(SIM_START, END)
        u = service.unionpay(c, f)
        assert (u["count"], u["amount_fen"]) == up and up[0] > 0
        assert u["prior_count"] == 0 and u["count_growth_ppm"] is None  # no data a year earlier
        s = service.share(c, f)
        assert (s["standard_count"], s["standard_amount_fen"], s["smart_count"], s["smart_amount_fen"]) == (
            std[0],
            std[1],
            smart[0],
            smart[1],
        )
        assert s["count_share_ppm"] == (std[0] * 1_000_000 * 2 + smart[0]) // (2 * smart[0])
        assert 0 < s["count_share_ppm"] < 1_000_000


@pytest.mark.parametrize("offset", [1, 17, 29, 30, 44])
def test_active_users_match_distinct_payers(county: Database, offset: int) -> None:
    day = SIM_START + dt.timedelta(days=offset)
    lo = day - dt.timedelta(days=29)
    base = (
        f"FROM payments p JOIN merchants m ON m.id=p.merchant_id WHERE p.status='succeeded' AND "
        f"p.channel IN {MOBILE} AND p.payer_ref IS NOT NULL AND p.business_date BETWEEN :a AND :b"
    )
    total = q(county, f"SELECT count(DISTINCT p.payer_ref) {base}", a=lo, b=day)[0][0]
    towns = dict(
        q(county, f"SELECT m.town_code, count(DISTINCT p.payer_ref) {base} GROUP BY m.town_code", a=lo, b=day)
    )
    issuers = dict(
        q(
            county,
            f"SELECT p.card_issuer, count(DISTINCT p.payer_ref) {base} AND p.card_issuer IS NOT NULL "
            "GROUP BY p.card_issuer",
            a=lo,
            b=day,
        )
    )
    unionpay = q(
        county, f"SELECT count(DISTINCT p.payer_ref) {base} AND p.channel='unionpay_qr'", a=lo, b=day
    )[0][0]
    with county.read() as c:
        assert service.active_users(c, day) == total
        assert total > 0
        for town, n in towns.items():
            assert service.active_users(c, day, dim="town", key=town) == n
        for issuer, n in issuers.items():
            assert service.active_users(c, day, dim="issuer", key=issuer) == n
        assert service.active_users(c, day, dim="unionpay") == unionpay


def test_new_unionpay_users(county: Database) -> None:
    a, b = SIM_START + dt.timedelta(days=10), SIM_START + dt.timedelta(days=30)
    expected = q(
        county,
        "SELECT count(*) FROM (SELECT payer_ref, min(business_date) AS first FROM payments WHERE "
        "status='succeeded' AND channel='unionpay_qr' AND payer_ref IS NOT NULL GROUP BY payer_ref) x "
        "WHERE first BETWEEN :a AND :b",
        a=a,
        b=b,
    )[0][0]
    with county.read() as c:
        assert service.new_users(c, a, b) == expected


def test_coverage_by_town_village_and_area(county: Database) -> None:
    rows = q(
        county,
        "SELECT b.town_code, count(*), sum(CASE WHEN m.status='active' THEN 1 ELSE 0 END) FROM "
        "county_businesses b LEFT JOIN merchants m ON m.id=b.merchant_id WHERE b.registered_on <= :d "
        "GROUP BY b.town_code",
        d=END,
    )
    areas = dict(q(county, "SELECT code, area_type FROM county_towns"))
    with county.read() as c:
        cov = service.coverage(c, END)
        got = {r["town_code"]: (r["registered"], r["covered"]) for r in cov["towns"] if r["registered"]}
        assert got == {t: (n, int(k or 0)) for t, n, k in rows}
        urban = [(n, int(k or 0)) for t, n, k in rows if areas[t] == "urban"]
        assert (cov["areas"]["urban"]["registered"], cov["areas"]["urban"]["covered"]) == (
            sum(x[0] for x in urban),
            sum(x[1] for x in urban),
        )
        town = max(got, key=lambda t: got[t][0])
        villages = service.coverage(c, END, town=town)["villages"]
        assert sum(v["registered"] for v in villages) == got[town][0]
        assert sum(v["covered"] for v in villages) == got[town][1]
        shops = service.coverage_merchants(c, town=town)
        assert len(shops) == min(got[town][0], service.MERCHANTS_PAGE_MAX)
        assert sum(1 for s in shops if s["merchant_status"] == "active") == got[town][1]


def test_targets_and_pilot(county: Database) -> None:
    merchants_rcb = q(
        county, "SELECT count(*) FROM merchants WHERE status='active' AND acquirer_id='hechuan_rcb'"
    )[0][0]
    with county.read() as c:
        rows = {r["id"]: r for r in service.targets(c, END)}
        pilot = service.pilot(c, service.Filters(SIM_START, END))
    assert rows, "demo_small has targets"
    for r in rows.values():
        if r["metric"] == "aggregated_payment_merchants" and r["institution"] == "hechuan_rcb":
            assert r["value"] == merchants_rcb
        if r["metric"] == "commerce_circles":
            assert r["value"] == q(county, "SELECT count(*) FROM county_commerce_circles")[0][0]
    assert pilot and all(p["count"] > 0 for p in pilot)


def _dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with db.read() as c:
        for t in (kpi_daily, kpi_daily_sum, kpi_monthly, kpi_payer_days, kpi_payer_first, kpi_active_users):
            out[t.name] = sorted(tuple(r) for r in c.execute(t.select()))
    return out


def test_rebuild_equals_incremental(county: Database) -> None:
    incremental = _dump(county)
    assert all(incremental.values())
    county.run(rollup.rebuild)
    assert _dump(county) == incremental
    county.run(rollup.refresh)  # nothing new: the same again
    assert _dump(county) == incremental


def test_the_background_job_reads_outside_the_write_lock_and_gets_the_same(county: Database) -> None:
    """refresh_db recomputes the active-user windows in a read transaction and writes them after: the same rows."""
    county.run(rollup.rebuild)
    expected = _dump(county)
    since = dt.datetime.combine(END - dt.timedelta(days=8), dt.time(), dt.UTC)
    with county.tx() as c:  # lose the last days' active users and move the watermarks back over them
        c.execute(kpi_active_users.delete().where(kpi_active_users.c.day > END - dt.timedelta(days=10)))
        for name, (_, prefix) in rollup._WATERMARKS.items():
            c.execute(
                text("UPDATE kpi_state SET value = :v WHERE name = :n"),
                {"v": rollup.id_floor(prefix, int(since.timestamp() * 1000)), "n": name},
            )
    assert _dump(county) != expected
    assert rollup.refresh_db(county)["days"] >= 8
    assert _dump(county) == expected


def test_rebuild_in_short_transactions_equals_one_transaction(
    county: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zhifu kpi rebuild` writes in short transactions (here one day, month or slice of payers each): it leaves the
    rows a one-transaction rebuild computes, drops rows no payment accounts for, and takes in a payment committed
    on an already rebuilt day while it runs."""
    days = county.run(rollup.rebuild)["days"]
    expected = _dump(county)
    gone = SIM_START - dt.timedelta(days=400)
    with county.tx() as c:  # rows no payment accounts for, and wrong ones
        c.execute(kpi_daily.delete().where(kpi_daily.c.day == SIM_START + dt.timedelta(days=3)))
        c.execute(kpi_payer_first.update().values(day_no=0))
        c.execute(
            kpi_payer_first.insert().values(payer_ref="~gone", kind="mobile", day_no=rollup.day_no(gone))
        )
        c.execute(kpi_active_users.insert().values(day=gone, dim="county", key="", users=3))
        c.execute(
            kpi_payer_days.insert().values(
                day_no=rollup.day_no(gone), payer_ref="~gone", town_code="", issuer="", unionpay=False
            )
        )
    assert _dump(county) != expected

    commits: list[int] = []

    def on_commit(conn: Any) -> None:
        commits.append(1)

    event.listen(county.engine, "commit", on_commit)
    monkeypatch.setattr(rollup, "REBUILD_SLICE_S", 0.0)
    late: list[str] = []
    read_first_days = rollup._first_days_read

    def first_days_read(conn: Any) -> Any:  # every day is rebuilt by now: a payment on the first commits late
        late.append(_commit_a_late_payment(county, SIM_START))
        return read_first_days(conn)

    monkeypatch.setattr(rollup, "_first_days_read", first_days_read)
    try:
        out = rollup.rebuild_db(county)
    finally:
        event.remove(county.engine, "commit", on_commit)
    assert late and out["days"] == days
    assert len(commits) > days  # a transaction a day at the least
    rebuilt = _dump(county)
    county.run(rollup.rebuild)  # a fresh computation in one transaction, the late payment included
    fresh = _dump(county)
    assert rebuilt == fresh
    assert fresh != expected  # the late payment is in
    first = min(r[0] for r in fresh["kpi_daily_sum"])
    day = [r for r in fresh["kpi_daily_sum"] if r[0] == first]
    before = [r for r in expected["kpi_daily_sum"] if r[0] == first]
    assert sum(r[-4] for r in day) == sum(r[-4] for r in before) + 1  # one more payment that day


def _commit_a_late_payment(db: Database, d: dt.date) -> str:
    """A copy of a successful payment of the first business day from d on, committed now under a new (newest)
    id."""
    from zhifu.core.ids import new_id
    from zhifu.payments.models import payments

    with db.tx() as c:
        row = dict(
            c.execute(
                payments.select()
                .where(payments.c.business_date >= d, payments.c.status == "succeeded")
                .order_by(payments.c.business_date)
                .limit(1)
            )
            .mappings()
            .one()
        )
        row["id"] = new_id("pay")
        row["merchant_order_no"] = f"late-{row['id']}"
        c.execute(payments.insert().values(**row))
    return str(row["id"])
