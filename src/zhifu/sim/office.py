"""The programme office in the simulated county: the seven work items loaded from the profile, units reporting
progress, a 会商 whose decisions become actions (one already late), cashier training and publicity in the pilot
towns, circles and pilot streets launched with their shops, merchants sharing turnover with a bank that lends on
it (one withdraws), issuers' SME products, and the day's overdue reminders. Deterministic from the seed."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from zhifu.core.clock import SHANGHAI

SHOPS_PER_CIRCLE = 12
TRAINED_SHOPS_MAX = 20
BORROWERS = 4
COMMERCE_UNIT = "commerce_bureau"


def _shops(db: Any, town: str, limit: int = 100) -> list[dict[str, Any]]:
    from zhifu.merchants import list_merchants

    with db.read() as c:
        rows, _ = list_merchants(c, status="active", town_code=town, limit=limit)
    return rows


def _circles(db: Any, office: Any, county: Any, today: dt.date, rng: random.Random) -> None:
    from zhifu.core.errors import ZhifuError
    from zhifu.office import service

    with db.read() as c:
        rows = service.circles(c, today=today)
    # streets first, then the circles one by one over the last half year; the last two are still planned
    order = sorted(rows, key=lambda r: (r["kind"] != "street", r["id"]))
    for i, r in enumerate(order[:-2]):
        launch = today - dt.timedelta(days=170 - i * 14 + rng.randrange(5))
        db.run(lambda c, r=r, d=launch: service.launch_circle(c, office, r["id"], d))
        shops = [s["id"] for s in _shops(db, r["town_code"])]
        rng.shuffle(shops)
        for mid in shops[:SHOPS_PER_CIRCLE]:
            try:  # a shop already in another live circle stays there
                db.run(lambda c, r=r, m=mid: service.add_circle_merchants(c, office, r["id"], [m]))
            except ZhifuError:
                continue


def _training(db: Any, office: Any, county: Any, today: dt.date, rng: random.Random) -> None:
    from zhifu.office import service

    trainers = [i.id for i in county.institutions if "acquirer" in i.roles]
    towns = list(county.pilot_towns) + [t.code for t in county.towns if t.code not in county.pilot_towns][:2]
    for n, town in enumerate(towns):
        shops = _shops(db, town)
        rng.shuffle(shops)
        for k in range(2):
            held = today - dt.timedelta(days=45 - n * 3 - k * 20)
            picked = shops[k * 8 : (k + 1) * 8][:TRAINED_SHOPS_MAX]
            req = service.TrainingIn(
                held_on=held,
                town_code=town,
                trainer=rng.choice(trainers),
                topic=rng.choice(["云闪付收款与退款操作", "聚合码受理与对账", "防范电信诈骗与收款安全"]),
                attendees=[
                    service.AttendeeIn(merchant_id=s["id"], cashiers=rng.randint(1, 4)) for s in picked
                ],
            )
            db.run(lambda c, r=req: service.record_training(c, office, r))
        db.run(
            lambda c, t=town: service.record_publicity(
                c,
                office,
                service.PublicityIn(
                    held_on=today - dt.timedelta(days=40),
                    town_code=t,
                    kind="on_site",
                    title="赶大集智付现场宣传",
                    reach=rng.randint(600, 3000),
                ),
            )
        )
    db.run(
        lambda c: service.record_publicity(
            c,
            office,
            service.PublicityIn(
                held_on=today - dt.timedelta(days=60),
                town_code=None,
                kind="media",
                title="沂源电视台《智付进万家》专题",
                reach=120_000,
            ),
        )
    )


def _items(db: Any, office: Any, commerce: Any, today: dt.date, rng: random.Random) -> None:
    from zhifu.office import service

    with db.read() as c:
        its = service.items(c, today=today)
    notes = {
        1: "农村银行机构新增发卡，移动支付活跃用户稳步增长",
        2: "公交、医院收费窗口完成聚合码改造",
        3: "农贸市场、早餐店受理改造持续推进",
        4: "农资店、民宿、农家乐低成本受理改造",
        5: "与大数据中心对接商户登记数据",
        6: "各镇街开展收银员培训与现场宣传",
        7: "悦庄镇、石桥镇样板街挂牌，商贸圈陆续建成",
    }
    for it in its:
        for k, days_ago in enumerate((50, 15)):
            at = dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(10), SHANGHAI)
            pct = min(95, 20 + it["number"] * 5 + k * 25 + rng.randrange(10))
            req = service.UpdateIn(
                text=notes.get(it["number"], "按计划推进"),
                status="on_track" if pct < 90 else "at_risk",
                progress_ppm=pct * 10_000,
                figures=["circles_launched", "cashiers_trained"] if it["number"] in (6, 7) else [],
            )
            db.run(lambda c, n=it["number"], r=req, t=at: service.post_update(c, office, n, r, at=t))
    db.run(
        lambda c: service.post_update(
            c,
            commerce,
            3,
            service.UpdateIn(
                text="商务局完成城区 3 个农贸市场摸排，推动 210 户商户受理改造",
                status="on_track",
                progress_ppm=550_000,
                figures=["merchants_active"],
            ),
            at=dt.datetime.combine(today - dt.timedelta(days=8), dt.time(15), SHANGHAI),
        )
    )
    held = today - dt.timedelta(days=30)
    db.run(
        lambda c: service.record_meeting(
            c,
            office,
            service.MeetingIn(
                held_on=held,
                title="商贸圈建设与收银员培训会商",
                units_present=["pboc_yiyuan", COMMERCE_UNIT, "finance_center", "cbirc_yiyuan"],
                problems="部分商贸圈商户对云闪付受理意愿不高；乡镇收银员流动快，培训需常态化。",
                decisions=[
                    service.DecisionIn(
                        item=3,
                        decision="商务局牵头摸排农贸市场未受理商户并建立台账",
                        owner=COMMERCE_UNIT,
                        due=held + dt.timedelta(days=20),
                    ),
                    service.DecisionIn(
                        item=6,
                        decision="各收单机构每月在试点镇开展一次收银员培训",
                        owner="pboc_yiyuan",
                        due=held + dt.timedelta(days=60),
                    ),
                ],
            ),
        )
    )


def _credit(db: Any, county: Any, today: dt.date, rng: random.Random) -> None:
    from zhifu.consent import GrantIn, grant, withdraw
    from zhifu.core.errors import ZhifuError
    from zhifu.office import service

    lender = next((i.id for i in county.institutions if i.is_county_rural), county.institutions[0].id)
    shops = []
    for town in county.pilot_towns:
        shops += _shops(db, town, limit=10)
    rng.shuffle(shops)
    for n, s in enumerate(shops[:BORROWERS]):
        req = GrantIn(
            subject_type="merchant",
            merchant_id=s["id"],
            purpose="credit_sharing",
            recipient=lender,
            scope="向贷款银行提供近 6 个月经营流水，用于小额贷款审批",
            data_categories=["turnover"],
            method="app",
        )
        db.run(lambda c, r=req: grant(c, r))
        try:
            ev = service.credit_evidence(db, s["id"], lender, channel="api", actor="sim-lender")
        except ZhifuError:
            continue
        if ev["takings_fen"] > 0:
            amount = max(1_000_000, ev["average_month_fen"] * 3 // 100_000 * 100_000)
            db.run(
                lambda c, s=s, e=ev, a=amount: service.record_credit(
                    c,
                    lender,
                    service.CreditIn(
                        merchant_id=s["id"],
                        disclosure_id=e["id"],
                        amount_fen=a,
                        term_months=12,
                        granted_on=today - dt.timedelta(days=rng.randrange(1, 20)),
                    ),
                    actor="sim-lender",
                )
            )
        if n == 0:  # the first borrower withdraws once the loan is made: the next look is refused
            db.run(lambda c, s=s: withdraw(c, "merchant", s["id"], "credit_sharing", recipient=lender))


def _sme(db: Any, county: Any, today: dt.date, rng: random.Random) -> None:
    from zhifu.office import service

    month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    issuers = [i.id for i in county.institutions if "issuer" in i.roles][:3]
    rows = [
        service.SmeItem(institution=i, town_code=t.code, month=month, product=p, accounts=rng.randint(5, 80))
        for i in issuers
        for t in county.towns
        for p in ("sme_card", "yinqitong")
    ]
    db.run(lambda c: service.submit_sme(c, rows, submitted_by="sim"))


def demo_office(
    db: Any, county: Any, today: dt.date, seed: int, *, login: bool = True
) -> list[tuple[str, str, str]]:
    """Give the programme office its life on the simulated history; returns a member unit's login."""
    from zhifu.console import create_user
    from zhifu.office import Actor, service

    if county.programme is None:
        return []
    rng = random.Random(seed * 7919 + 24)
    db.run(lambda c: service.load_programme(c, county))
    office = Actor("sim-office", next(u.id for u in county.programme.units if u.hosts_office), True)
    commerce = Actor("sim-commerce", COMMERCE_UNIT, False)
    _circles(db, office, county, today, rng)
    _training(db, office, county, today, rng)
    _items(db, office, commerce, today, rng)
    _credit(db, county, today, rng)
    _sme(db, county, today, rng)
    db.run(lambda c: service.sweep(c, today=today))
    if not login:
        return []
    password = secrets.token_urlsafe(9)

    def user(c: Any) -> None:
        u = create_user(c, "commerce", "regulator", password, display_name="县商务局")
        service.set_member(c, u.id, COMMERCE_UNIT)

    db.run(user)
    return [("unit (县商务局)", "commerce", password)]
