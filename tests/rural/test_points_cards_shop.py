"""Village service points, harvest cards and the agri shop front on both backends: a withdrawal over the point's
per-card daily limit is refused and moves nothing, the agent earns its commission in the ledger, coverage by
village; harvest cards only from county rural banks, counted on the dashboard's target; an online agri order
paid through the rails and refunded."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.rural.helpers import VILLAGE, card, merchant, sh
from zhifu import ledger
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.rural import harvest, points, service, shop


def test_withdrawals_limit_commission_and_coverage(db: Database) -> None:
    agent = merchant(db)
    with db.tx() as c:
        p = points.register_point(
            c,
            points.PointIn(
                merchant_id=agent,
                name="曾家台村助农点",
                village_code=VILLAGE,
                card_daily_limit_fen=100_000,
                commission_fen=150,
            ),
        )
    c_no = card()
    with db.tx() as c:
        points.transact(
            c, agent, p["id"], points.PointTxnIn(card_no=c_no, amount_fen=60_000), at=sh(2022, 6, 1)
        )
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        points.transact(
            c, agent, p["id"], points.PointTxnIn(card_no=c_no, amount_fen=40_001), at=sh(2022, 6, 1, 18)
        )
    assert e.value.code == "point_limit_exceeded" and e.value.param == "amount_fen"
    with db.tx() as c:
        points.transact(
            c, agent, p["id"], points.PointTxnIn(card_no=c_no, amount_fen=40_001), at=sh(2022, 6, 2)
        )
        points.transact(
            c,
            agent,
            p["id"],
            points.PointTxnIn(kind="bill", card_no=c_no, amount_fen=8_800, note="电费"),
            at=sh(2022, 6, 2),
        )
        points.report_cash(c, agent, p["id"], 1_234_500)
    with db.read() as c:
        assert ledger.get_balance(c, f"merchant_payable:{agent}").posted_fen == 100_001 + 3 * 150
        assert ledger.get_balance(c, points.COMMISSION).posted_fen == 450
        cov = points.coverage(c, sh(2022, 6, 1, 0), sh(2022, 6, 3, 0))
        assert cov["points"] == 1 and cov["villages_covered"] == 1 and cov["withdrawals"]["count"] == 2
        assert cov["by_town"]["370323101"]["covered"] == 1
        assert points.point(c, p["id"])["cash_fen"] == 1_234_500
        assert not ledger.verify(c)
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        points.register_point(c, points.PointIn(merchant_id=agent, name="x", village_code="370323999999"))
    assert e.value.param == "village_code"


def test_harvest_cards_from_rural_banks_count_on_the_target(db: Database) -> None:
    def req(**kw: object) -> harvest.HarvestCardIn:
        doc = {
            "issuer_id": "yiyuan_rcb",
            "card_no": card(),
            "holder": "孙七",
            "town_code": "370323101",
            "village_code": VILLAGE,
            "issued_on": dt.date(2022, 1, 10),
            **kw,
        }
        return harvest.HarvestCardIn(**doc)  # type: ignore[arg-type]

    with db.tx() as c:
        harvest.register_card(c, req())
        assert (
            harvest.import_cards(
                c,
                "yiyuan_rcb",
                (
                    "card_no,holder,town_code,village_code,issued_on\n"
                    f"{card()},周八,370323101,{VILLAGE},2022-02-01\n{card()},吴九,370323101,,2022-02-02\n"
                ).encode(),
            )
            == 2
        )
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        harvest.register_card(c, req(issuer_id="big_four_icbc"))
    assert e.value.param == "issuer_id"
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        harvest.import_cards(
            c,
            "yiyuan_rcb",
            (
                "card_no,holder,town_code,village_code,issued_on\n"
                f"{card()},郑十,370323101,,2022-02-01\n"
                f"{card()},钱一,370323101,370323001001,2022-02-01\n"
            ).encode(),
        )
    assert e.value.param == "line 3: village_code"
    with db.read() as c:
        assert service.kpi_harvest_cards(c, dt.date(2022, 3, 31)) == 3
        assert service.kpi_harvest_cards(c, dt.date(2022, 1, 31)) == 1
        assert (
            "yiyuan_rcb" in harvest.county_rural_issuers()
        )  # the incentives' county-rural rule matches them
        fig = service.kpi_rural(c, dt.date(2022, 1, 1), dt.date(2022, 3, 31))
        assert fig["harvest_cards"]["issued"] == 3
    from zhifu.county.service import load_county
    from zhifu.kpi.service import targets
    from zhifu.merchants import county

    with db.tx() as c:
        load_county(c, county(), source="test")
    with db.read() as c:
        rows = [t for t in targets(c, dt.date(2022, 3, 31)) if t["metric"] == "harvest_cards_issued"]
    assert rows and rows[0]["value"] == 3


def test_an_online_agri_order_is_paid_shipped_and_refunded(db: Database) -> None:
    mid = merchant(db, mcc="5499")
    with db.tx() as c:
        shop.put_product(
            c, mid, shop.ProductIn(id="apple-5kg", name="沂源红苹果 5 斤装", price_fen=3_980, stock=10)
        )
    o = db.run(
        lambda c: shop.place_order(
            c,
            mid,
            shop.OrderIn(product_id="apple-5kg", quantity=2, channel="unionpay_qr", phone="13700001111"),
        )
    )
    assert o["status"] == "pending" and o["amount_fen"] == 7_960
    with db.read() as c:
        assert shop.product(c, mid, "apple-5kg")["stock"] == 8
    sim_pay(db, o["payment_id"], outcome="success", payer=Payer("buyer-1", "yiyuan_rcb", "debit"))
    assert db.run(lambda c: shop.refresh(c, mid, o["id"]))["status"] == "paid"
    assert db.run(lambda c: shop.advance(c, mid, o["id"], "ship"))["status"] == "shipped"
    with db.tx() as c, pytest.raises(ConflictError):
        shop.advance(c, mid, o["id"], "ship")
    r = db.run(lambda c: shop.refund(c, mid, o["id"], reason="苹果磕伤"))
    assert r["status"] == "refunded"
    with db.read() as c:
        from zhifu.payments import service as payments

        assert payments.get_payment(c, mid, o["payment_id"])["refunded_fen"] == 7_960
        assert shop.product(c, mid, "apple-5kg")["stock"] == 10
    with db.tx() as c, pytest.raises(ConflictError) as e:
        shop.place_order(c, mid, shop.OrderIn(product_id="apple-5kg", quantity=11))
    assert e.value.code == "out_of_stock"
