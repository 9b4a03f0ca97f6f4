"""农村金融 in the simulated county: the rural bank issues harvest cards in the villages (past the pilot's 1,000),
farmers open Class II and III e-accounts and spend at village shops, a harvest season's purchase stations weigh
apples and pay their farmers in batches (a closed card returned, then retried to the new card), village service
points pay out small cash and take bills, and agri shop fronts sell online around the festival. One call from
`make demo`; deterministic from the seed."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ZhifuError
from zhifu.db import Database

HARVEST_CARDS = 1_200  # the pilot's target is 1,000
FARMERS_PER_STATION = 60
PRODUCTS = (("苹果", 360, 280), ("桃", 420, 300), ("山楂", 260, 150), ("板栗", 1_200, 800))


def _card(rng: random.Random, *, closed: bool = False) -> str:
    from zhifu.rural.issuer import luhn_complete, luhn_ok

    if closed:
        while True:
            c = f"621{rng.randrange(10**12):012d}0000"
            if luhn_ok(c):
                return c
    while True:
        c = luhn_complete(f"621{rng.randrange(10**15):015d}")
        if not c.endswith(("0000", "1111")):
            return c


def _merchants(db: Database, n: int) -> list[str]:
    from zhifu.merchants import list_merchants

    with db.read() as c:
        rows, _ = list_merchants(c, status="active", limit=max(n, 1))
    return [r["id"] for r in rows]


def demo_rural(
    db: Database,
    county: Any,
    today: dt.date,
    seed: int,
    *,
    login: bool = True,
    cards: int = HARVEST_CARDS,
    payers: int | None = None,
) -> list[tuple[str, str, str]]:
    """`make demo`'s one call; returns console logins (a purchase station and a village agent). The shop's online
    buyers are the county's `payers` consumers."""
    from zhifu.rural import eaccounts as ea
    from zhifu.rural import harvest, payouts, points, shop

    rng = random.Random(seed * 7_919 + 23)
    villages = [
        v for v in county.villages if any(t.code == v.town and t.area_type == "rural" for t in county.towns)
    ]
    rural_bank = next((i.id for i in county.institutions if i.is_county_rural and "issuer" in i.roles), None)
    mids = _merchants(db, 8)
    if not villages or rural_bank is None or len(mids) < 4:
        return []
    now = dt.datetime.combine(today, dt.time(10), SHANGHAI)
    try:
        # harvest cards issued over the spring, village by village
        lines = ["card_no,holder,town_code,village_code,issued_on"]
        card_nos = []
        for _ in range(cards):
            v = rng.choice(villages)
            c_no = _card(rng)
            card_nos.append(c_no)
            lines.append(
                f"{c_no},{rng.choice('王李张刘陈杨赵')}{rng.choice('建国秀英玉兰志强')},{v.town},{v.code},"
                f"{today - dt.timedelta(days=rng.randrange(20, 200))}"
            )
        db.run(lambda c: harvest.import_cards(c, rural_bank, "\n".join(lines).encode(), at=now))
        # e-accounts: farmers with a harvest card open Class II (and a few Class III) on their phones
        accounts = []
        for i in range(40):
            cls = "III" if i % 5 == 0 else "II"
            id_no = f"370323{1960 + rng.randrange(40)}0{rng.randrange(1, 10)}1{rng.randrange(10)}{rng.randrange(1000):03d}X"
            a = db.run(
                lambda c, cls=cls, i=i, id_no=id_no: ea.open_eaccount(
                    c,
                    ea.OpenEAccount(
                        bank_id=rural_bank,
                        account_class=cls,
                        name="农户",
                        id_no=id_no[:18],
                        phone=f"139{rng.randrange(10**8):08d}",
                        card_no=card_nos[i],
                    ),
                    at=now - dt.timedelta(days=30),
                )
            )  # type: ignore[arg-type]
            accounts.append((a["id"], card_nos[i], cls))
        shops_ = mids[:3]
        for aid, c_no, cls in accounts:
            top = 150_000 if cls == "III" else rng.randrange(50_000, 400_000)
            db.run(
                lambda c, aid=aid, c_no=c_no, top=top: ea.top_up(
                    c, aid, c_no, top, "sim-t", at=now - dt.timedelta(days=20)
                )
            )
            for k in range(rng.randrange(1, 5)):
                try:
                    db.run(
                        lambda c, aid=aid, k=k: ea.pay_merchant(
                            c,
                            aid,
                            rng.choice(shops_),
                            rng.randrange(500, 30_000),
                            f"sim-{k}",
                            at=now - dt.timedelta(days=rng.randrange(1, 19), hours=rng.randrange(8)),
                        )
                    )
                except ZhifuError:
                    pass  # a limit or the balance: declined with the limit named, as in life
        # the harvest season: two purchase stations weigh and pay
        for s, mid in enumerate(mids[3:5]):
            db.run(
                lambda c, mid=mid, s=s: payouts.register_buyer(
                    c,
                    payouts.BuyerIn(
                        merchant_id=mid,
                        kind="purchase_station" if s == 0 else "cooperative",
                        name=("鲁村苹果收购站", "东里果品合作社")[s],
                    ),
                )
            )
            db.run(
                lambda c, mid=mid: payouts.fund(
                    c, mid, 50_000_000, "sim-season", at=now - dt.timedelta(days=3)
                )
            )
            fids = []
            for f in range(FARMERS_PER_STATION):
                v = rng.choice(villages)
                closed = f == 7
                kw: dict[str, Any] = {
                    "card_no": _card(rng, closed=closed) if closed else rng.choice(card_nos[40:])
                }
                if f < 10 and not closed:
                    kw = {"eaccount_id": accounts[(s * 10 + f) % len(accounts)][0]}
                fids.append(
                    db.run(
                        lambda c, v=v, kw=kw: payouts.register_farmer(
                            c, payouts.FarmerIn(name="果农", town_code=v.town, village_code=v.code, **kw)
                        )
                    )["id"]
                )
            for fid in fids:
                name, price, _ = rng.choice(PRODUCTS)
                db.run(
                    lambda c, fid=fid, name=name, price=price, mid=mid: payouts.record_purchase(
                        c,
                        mid,
                        payouts.PurchaseIn(
                            farmer_id=fid,
                            product=name,
                            grade=rng.choice(("一级", "二级")),
                            weight_g=rng.randrange(20_000, 400_000),
                            price_fen_per_kg=price,
                            deductions_fen=rng.choice((0, 0, 200, 500)),
                        ),
                        at=now - dt.timedelta(days=2, hours=rng.randrange(8)),
                    )
                )
            b = db.run(lambda c, mid=mid: payouts.pay_batch(c, mid, at=now - dt.timedelta(days=1)))
            with db.read() as c:
                failed = payouts.lines(c, mid, b["id"], status="failed")
            for x in failed:  # the closed card: the farmer brings the new card and the line is paid again
                if x["target"] == "card":
                    db.run(lambda c, x=x: payouts.change_card(c, x["farmer_id"], _card(rng)))
                    db.run(
                        lambda c, x=x, mid=mid, b=b: payouts.retry_line(c, mid, b["id"], x["line_no"], at=now)
                    )
                else:
                    db.run(
                        lambda c, x=x, mid=mid, b=b: payouts.return_line(
                            c, mid, b["id"], x["line_no"], at=now
                        )
                    )
        # village service points
        agent = mids[5] if len(mids) > 5 else mids[0]
        pts = []
        for v in rng.sample(villages, min(12, len(villages))):
            pts.append(
                db.run(
                    lambda c, v=v: points.register_point(
                        c, points.PointIn(merchant_id=agent, name=f"{v.name}助农取款点", village_code=v.code)
                    )
                )["id"]
            )
        for pid in pts:
            for _ in range(rng.randrange(3, 9)):
                try:
                    db.run(
                        lambda c, pid=pid: points.transact(
                            c,
                            agent,
                            pid,
                            points.PointTxnIn(
                                kind=rng.choice(("withdraw", "withdraw", "bill")),
                                card_no=rng.choice(card_nos),
                                amount_fen=rng.randrange(5_000, 80_000),
                            ),
                            at=now - dt.timedelta(hours=rng.randrange(48)),
                        )
                    )
                except ZhifuError:
                    pass
            db.run(
                lambda c, pid=pid: points.report_cash(
                    c, agent, pid, rng.randrange(200_000, 2_000_000), at=now
                )
            )
        # agri shop fronts: festival orders online
        shop_mid = mids[6] if len(mids) > 6 else mids[1]
        db.run(
            lambda c: shop.put_product(
                c,
                shop_mid,
                shop.ProductIn(id="apple-5kg", name="沂源红苹果 5 斤装", price_fen=3_980, stock=500),
            )
        )
        db.run(
            lambda c: shop.put_product(
                c, shop_mid, shop.ProductIn(id="chestnut-1kg", name="板栗 1 千克", price_fen=2_600, stock=300)
            )
        )
        _orders(db, shop_mid, rng, payers)
    except ZhifuError:  # a profile without what the rural demo needs: the rest of the demo goes on
        return []
    if not login:
        return []
    from zhifu.console import create_user

    out = []
    with db.tx() as conn:
        for username, mid, label in (
            ("station", mids[3], "演示 收购站"),
            ("agent", agent, "演示 助农点"),
            ("agrishop", shop_mid, "演示 农产品网店"),
        ):
            password = secrets.token_urlsafe(9)
            create_user(conn, username, "merchant", password, merchant_id=mid, display_name=label)
            out.append(("rural " + username, username, password))
    return out


def _orders(db: Database, mid: str, rng: random.Random, payers: int | None = None) -> None:
    """Online orders at the agri shop, each paid by one of the county's consumers."""
    from zhifu.railsim.payer import Payer, sim_pay
    from zhifu.rural import shop
    from zhifu.sim.world import county_payer

    for i in range(12):
        try:
            o = db.run(
                lambda c: shop.place_order(
                    c,
                    mid,
                    shop.OrderIn(
                        product_id=rng.choice(("apple-5kg", "chestnut-1kg")),
                        quantity=rng.randrange(1, 4),
                        channel=rng.choice(shop.ONLINE_CHANNELS),
                    ),
                )
            )
            sim_pay(
                db, o["payment_id"], outcome="success", payer=Payer(county_payer(rng, payers), None, None)
            )
            o = db.run(lambda c, o=o: shop.refresh(c, mid, o["id"]))
            if i % 3 == 0:
                db.run(lambda c, o=o: shop.advance(c, mid, o["id"], "ship"))
            if i == 5:
                db.run(lambda c, o=o: shop.refund(c, mid, o["id"], reason="运输破损"))
        except ZhifuError:
            continue
