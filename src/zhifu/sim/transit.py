"""公交、校车与景区 in the simulated county: the bus company's town lines and a rural line priced by distance,
validators deciding offline (one of them without a network all yesterday, uploading this morning and sending a
batch twice), riders with the platform's transit QR or a pay code, students and elderly on concessions, a few
whose fare is declined and who end up on the deny list; a school-bus operator selling monthly passes to parents;
a scenic area with time slots at 75 % of its maximum, today's visitors at the gate and tomorrow's holiday rush
selling out. `demo_transit(db, county, today, seed)` is the one call that gives it life in `make demo`.
Deterministic from the seed."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.sim.world import county_payer

RIDERS = 160
STUDENTS = 24
DECLINED_SHARE_PCT = 3  # riders whose bound card declines: they end on the deny list
OFFLINE_VALIDATOR = "bus-3b"  # no network all yesterday: its taps arrive this morning
RUSH_BUYERS = 300  # tomorrow's holiday slot: ten times its capacity try to buy


def _code(rng: random.Random, channel: str, *, declined: bool = False, payers: int | None = None) -> str:
    """A pay code shown by one of the county's consumers (the fake rails read the payer from it)."""
    from zhifu.sim.world import PAYERS_DEFAULT, pay_code

    idx = rng.randrange(max(1, payers or PAYERS_DEFAULT))
    last = "8" if declined else rng.choice("0123456")  # the fake rails decline codes ending in 8
    return pay_code(channel, idx, last=last, serial=rng.randrange(10_000))


def _merchant(
    db: Database, county: Any, biller_id: str, name: str, mcc: str, town: str, rng: random.Random
) -> str:
    """The unit's own merchant: the biller's when the county's billers are registered, else a new one."""
    from zhifu.bills import service as bills
    from zhifu.merchants import MerchantApplication
    from zhifu.merchants import service as merchants
    from zhifu.reference import generate_credit_code, generate_resident_id

    with db.read() as c:
        try:
            return bills.get_biller(c, biller_id)["merchant_id"]
        except ZhifuError:
            pass
    acquirer = next(i.id for i in county.institutions if "acquirer" in i.roles)

    def go(c: Any) -> str:
        m = merchants.apply(
            c,
            MerchantApplication(
                type="enterprise",
                legal_name=name,
                short_name=name[:25],
                credit_code=generate_credit_code(rng),
                legal_person_name="刘经理",
                legal_person_id=generate_resident_id(rng),
                phone="13800000001",
                mcc=mcc,
                town_code=town,
                address=f"{name}营业部",
                settle_bank="沂源农商银行",
                settle_account_no=f"6231{rng.randrange(10**11):011d}",
                settle_account_name=name,
                acquirer_id=acquirer,
            ),
        )
        merchants.review(c, m["id"], "approve")
        return str(m["id"])

    return db.run(go)


def _pay(db: Database, payment_id: str, who: str) -> None:
    """`who` is one of the county's consumers (zhifu.sim.world.county_payer)."""
    from zhifu.railsim.payer import Payer, sim_pay

    sim_pay(db, payment_id, outcome="success", payer=Payer(who, None, "debit"))


def _bus(
    db: Database, county: Any, today: dt.date, rng: random.Random, now: dt.datetime, payers: int | None = None
) -> dict[str, Any]:
    from zhifu.transit import Validator
    from zhifu.transit import service as tr

    town = next((b.town for b in county.billers if b.kind == "bus"), county.towns[0].code)
    mid = _merchant(db, county, "bus", "沂源县公共交通公司", "4111", town, rng)
    db.run(
        lambda c: tr.register_operator(
            c,
            tr.OperatorIn(
                id="yiyuan_bus",
                name="沂源县公共交通公司",
                kind="bus",
                merchant_id=mid,
                daily_cap_fen=600,
                monthly_cap_fen=12_000,
                concessions={"student": 500_000, "elderly": 1_000_000, "free": 1_000_000},
            ),
        )
    )
    lines = [
        ("bus-1", "1路 汽车站—历山", 100),
        ("bus-2", "2路 南麻—县医院", 100),
        ("bus-3", "3路 城区环线", 200),
    ]
    for lid, name, fare in lines:
        db.run(
            lambda c, lid=lid, name=name, fare=fare: tr.add_line(
                c, mid, tr.LineIn(id=lid, name=name, flat_fare_fen=fare)
            )
        )
    db.run(
        lambda c: tr.add_line(
            c,
            mid,
            tr.LineIn(
                id="rural-1",
                name="城乡公交 县城—鲁村",
                fare_mode="distance",
                bands=[(5_000, 200), (15_000, 400), (40_000, 600)],
                stops=[
                    tr.StopIn(name=n, at_m=m)
                    for n, m in (
                        ("县汽车站", 0),
                        ("南麻", 3_000),
                        ("悦庄", 12_000),
                        ("大张庄", 21_000),
                        ("鲁村", 30_000),
                    )
                ],
            ),
        )
    )
    vids = []
    for lid in ("bus-1", "bus-2", "bus-3", "rural-1"):
        for door in ("a", "b"):
            vid = f"{lid}{door}"
            db.run(
                lambda c, v=vid, line=lid, d=door: tr.add_validator(
                    c, mid, v, line, "前门" if d == "a" else "后门"
                )
            )
            vids.append((vid, lid))
    riders = []
    for i in range(RIDERS):
        channel = rng.choice(("unionpay_qr", "unionpay_qr", "wechat", "alipay"))
        declined = i % (100 // DECLINED_SHARE_PCT) == 7
        category = rng.choices(("adult", "student", "elderly"), (75, 15, 10))[0]
        if rng.random() < 0.7:
            r = db.run(
                lambda c, ch=channel, d=declined, cat=category: tr.issue_rider(
                    c,
                    tr.RiderIn(
                        channel=ch, method_token=_code(rng, ch, declined=d, payers=payers), category=cat
                    ),
                )
            )
            riders.append(("qr", r["id"]))
        else:
            riders.append(
                (
                    "paycode",
                    _code(
                        rng,
                        "unionpay_qr" if channel == "unionpay_qr" else channel,
                        declined=declined,
                        payers=payers,
                    ),
                )
            )
    yesterday = today - dt.timedelta(days=1)
    start = dt.datetime.combine(yesterday, dt.time(5, 30), SHANGHAI)
    with db.tx() as c:
        device = {vid: Validator.from_sync(tr.sync(c, mid, vid, at=start), start) for vid, _ in vids}
    for vid, lid in vids:
        device[vid].line_id = lid

    def ride(kind: str, ref: str, at: dt.datetime, vid: str, **kw: Any) -> None:
        v = device[vid]
        cred = ref
        if kind == "qr":
            with db.read() as c:
                cred = tr.ride_token(c, ref, at=at)
        v.stop_seq = kw.get("stop_seq")
        v.tap(cred, at, direction=kw.get("direction", "on"))

    for kind, ref in riders:
        for _ in range(rng.choice((1, 2, 2, 3, 4))):  # journeys yesterday
            at = start + dt.timedelta(minutes=rng.randrange(15 * 60))
            vid, lid = rng.choice(vids)
            if lid == "rural-1":
                on, off = sorted(rng.sample(range(1, 6), 2))
                ride(kind, ref, at, vid, stop_seq=on)
                ride(
                    kind, ref, at + dt.timedelta(minutes=10 * (off - on)), vid, stop_seq=off, direction="off"
                )
            else:
                ride(kind, ref, at, vid)
                if rng.random() < 0.05:  # the same boarding read by the other door's reader
                    other = vid[:-1] + ("b" if vid.endswith("a") else "a")
                    ride(kind, ref, at + dt.timedelta(seconds=20), other)
    made = {"taps": 0, "late": 0, "duplicates_sent": 0}
    end_of_day = dt.datetime.combine(yesterday, dt.time(22), SHANGHAI)
    for vid, v in device.items():
        taps = sorted(v.queue, key=lambda t: t["tapped_at"])
        v.queue.clear()
        late = vid == OFFLINE_VALIDATOR
        for i in range(0, len(taps), 200):
            chunk = taps[i : i + 200]
            at = (
                now - dt.timedelta(minutes=5)
                if late
                else min(
                    end_of_day, dt.datetime.fromisoformat(chunk[-1]["tapped_at"]) + dt.timedelta(minutes=3)
                )
            )
            batch = tr.TapBatch(
                validator_time=at,
                pending_after=len(taps) - i - len(chunk),
                taps=[tr.TapIn(**t) for t in chunk],
            )
            db.run(lambda c, b=batch, v=vid, a=at: tr.upload_taps(c, mid, v, b, at=a))
            made["taps"] += len(chunk)
            made["late"] += len(chunk) if late else 0
        if late and taps:  # the answer to its last batch was lost: it sends the batch again
            again = tr.TapBatch(validator_time=now, taps=[tr.TapIn(**t) for t in taps[-50:]])
            db.run(lambda c, b=again: tr.upload_taps(c, mid, OFFLINE_VALIDATOR, b, at=now))
            made["duplicates_sent"] += len(again.taps)
    made["charges"] = tr.charge_due(db, merchant_id=mid, through=yesterday)
    with db.tx() as c:  # validators that are online pick up the new deny list this morning
        for vid, _ in vids:
            if vid != OFFLINE_VALIDATOR:
                tr.sync(c, mid, vid, at=now - dt.timedelta(seconds=rng.randrange(5, 50)), pending_taps=0)
    return {"merchant_id": mid, **made}


def _school(
    db: Database, county: Any, today: dt.date, rng: random.Random, now: dt.datetime, payers: int | None = None
) -> dict[str, Any]:
    from zhifu.transit import service as tr

    town = next((b.town for b in county.billers if b.kind == "school"), county.towns[0].code)
    mid = _merchant(db, county, "school_bus_service", "沂源县校车服务中心", "4111", town, rng)
    db.run(
        lambda c: tr.register_operator(
            c,
            tr.OperatorIn(
                id="yiyuan_school_bus",
                name="沂源县校车服务中心",
                kind="school_bus",
                merchant_id=mid,
                daily_cap_fen=400,
                concessions={"student": 500_000},
            ),
        )
    )
    db.run(
        lambda c: tr.add_line(c, mid, tr.LineIn(id="school-1", name="校车 鲁村—县一中", flat_fare_fen=200))
    )
    db.run(lambda c: tr.add_validator(c, mid, "school-1a", "school-1", "校车前门"))
    month0 = today.replace(day=1)
    month_end = (month0 + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    db.run(
        lambda c: tr.add_pass_product(
            c,
            mid,
            tr.PassProductIn(
                id=f"month-{month0:%Y%m}",
                name=f"{month0:%Y年%m月}校车月票",
                kind="month",
                price_fen=9_000,
                valid_from=month0,
                valid_to=month_end,
                refund_fee_ppm=50_000,
            ),
        )
    )
    sold = refunded = 0
    for i in range(STUDENTS):
        kid = db.run(
            lambda c: tr.issue_rider(
                c,
                tr.RiderIn(
                    channel="wechat",
                    method_token=_code(rng, "wechat", payers=payers),
                    category="student",
                    holder_name="学生",
                ),
            )
        )
        try:
            out = db.run(
                lambda c, k=kid["id"]: tr.buy_pass(
                    c,
                    mid,
                    tr.BuyPassIn(
                        product_id=f"month-{month0:%Y%m}",
                        rider_id=k,
                        student_name=rng.choice("张王李赵刘") + "同学",
                        channel=rng.choice(("wechat", "unionpay_qr", "alipay")),
                    ),
                )
            )
            _pay(db, out["payment"]["id"], county_payer(rng, payers))
            db.run(lambda c, p=out["pass"]["id"]: tr.confirm_pass(c, mid, p))
            sold += 1
            if i == 0:  # a family moves to town mid-month: the unused days come back
                db.run(lambda c, p=out["pass"]["id"]: tr.refund_pass(c, mid, p, reason="转学 / moved school"))
                refunded += 1
        except ZhifuError:
            continue
    return {"merchant_id": mid, "passes": sold, "refunded": refunded}


def _scenic(
    db: Database, county: Any, today: dt.date, rng: random.Random, now: dt.datetime, payers: int | None = None
) -> dict[str, Any]:
    from zhifu.transit import scenic
    from zhifu.transit import service as tr

    park = next((b for b in county.billers if b.kind == "scenic"), None)
    town = park.town if park else county.towns[0].code
    mid = _merchant(
        db, county, park.id if park else "scenic", park.name if park else "县森林公园", "7991", town, rng
    )
    db.run(
        lambda c: tr.register_operator(
            c,
            tr.OperatorIn(
                id=park.id if park else "scenic_park",
                name=park.name if park else "县森林公园",
                kind="scenic",
                merchant_id=mid,
            ),
        )
    )
    for t in (
        scenic.TicketTypeIn(id="adult", name="成人票", price_fen=6_000, refund_fee_ppm=0),
        scenic.TicketTypeIn(id="senior", name="老年优惠票", price_fen=3_000),
        scenic.TicketTypeIn(id="group", name="团体票", price_fen=4_500, group_min=10),
    ):
        db.run(lambda c, t=t: scenic.add_ticket_type(c, mid, t))
    windows = ["07:00-10:00", "10:00-13:00", "13:00-16:00", "16:00-19:00"]
    for day in (today, today + dt.timedelta(days=1)):
        db.run(
            lambda c, d=day: scenic.add_slots(
                c,
                mid,
                scenic.SlotsIn(day=d, windows=windows, max_capacity=120, capacity_ppm=750_000),
                at=dt.datetime.combine(today, dt.time(0), SHANGHAI),
            )
        )
    made = {"sold": 0, "admitted": 0, "second_scans_refused": 0, "rush_sold": 0, "rush_refused": 0}
    tickets: list[tuple[str, dt.datetime]] = []
    for w in windows:  # today's visitors, for the slots not over yet or under way
        slot_id = f"{today:%Y%m%d}-{w[:5].replace(':', '')}"
        start = dt.datetime.combine(today, dt.time(int(w[:2])), SHANGHAI)
        for _ in range(rng.randrange(20, 45)):
            kind = rng.choices(("adult", "senior", "group"), (70, 20, 10))[0]
            qty = rng.randrange(10, 16) if kind == "group" else rng.choice((1, 1, 2, 3))
            at = min(now, start - dt.timedelta(hours=2))
            try:
                o = db.run(
                    lambda c, s=slot_id, k=kind, q=qty, a=at: scenic.reserve(
                        c,
                        mid,
                        scenic.ReserveIn(
                            slot_id=s,
                            type_id=k,
                            quantity=q,
                            channel=rng.choice(("unionpay_qr", "wechat", "alipay")),
                        ),
                        at=a,
                    )
                )
                _pay(db, o["payment_id"], county_payer(rng, payers))
                o = db.run(lambda c, i=o["id"]: scenic.confirm(c, mid, i))
            except ZhifuError:
                continue
            made["sold"] += o["quantity"]
            tickets += [(t["code"], start + dt.timedelta(minutes=rng.randrange(150))) for t in o["tickets"]]
    for code, at in tickets:
        if at > now:
            continue
        if db.run(lambda c, k=code, a=at: scenic.scan(c, mid, k, gate=rng.choice(("东门", "西门")), at=a))[
            "accepted"
        ]:
            made["admitted"] += 1
            if rng.random() < 0.05:  # a ticket shown twice: refused with the time of the first scan
                again = db.run(
                    lambda c, k=code, a=at: scenic.scan(
                        c, mid, k, gate="东门", at=a + dt.timedelta(minutes=3)
                    )
                )
                made["second_scans_refused"] += not again["accepted"]
    rush = f"{today + dt.timedelta(days=1):%Y%m%d}-1000"  # the holiday's most wanted slot
    for _ in range(RUSH_BUYERS):
        try:
            o = db.run(
                lambda c: scenic.reserve(
                    c,
                    mid,
                    scenic.ReserveIn(
                        slot_id=rush,
                        type_id="adult",
                        quantity=1,
                        auth_code=_code(rng, "unionpay_qr", payers=payers),
                    ),
                )
            )
            made["rush_sold"] += db.run(lambda c, o=o: scenic.confirm(c, mid, o["id"]))["status"] == "paid"
        except ZhifuError:
            made["rush_refused"] += 1
    return {"merchant_id": mid, **made}


def demo_transit(
    db: Database,
    county: Any,
    today: dt.date,
    seed: int,
    *,
    now: dt.datetime | None = None,
    login: bool = True,
    payers: int | None = None,
) -> list[tuple[str, str, str]]:
    """`make demo`'s one call: the bus company's yesterday charged, the school bus's passes, the scenic area's
    today and tomorrow's rush; returns console logins (merchant users of the bus company and the scenic area).
    Every rider, parent and visitor is one of the county's `payers` consumers."""
    rng = random.Random(seed * 1_019 + 19)
    now = now or clock.now()
    try:
        bus = _bus(db, county, today, rng, now, payers)
        _school(db, county, today, rng, now, payers)
        park = _scenic(db, county, today, rng, now, payers)
    except ZhifuError:  # a profile without the units the transit demo needs: the rest of the demo goes on
        return []
    if not login:
        return []
    from zhifu.console import create_user

    out = []
    with db.tx() as conn:
        for username, mid, label in (
            ("bus", bus["merchant_id"], "演示 公交公司"),
            ("scenic", park["merchant_id"], "演示 景区"),
        ):
            password = secrets.token_urlsafe(9)
            create_user(conn, username, "merchant", password, merchant_id=mid, display_name=label)
            out.append(("transit " + username, username, password))
    return out
