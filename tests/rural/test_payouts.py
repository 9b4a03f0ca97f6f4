"""Purchase payouts on both backends: a station pays 200 farmers in one batch (one card closed: the line fails,
is retried to the farmer's new card; another is returned), a batch larger than the funds is refused whole,
purchases with a negative weight or a zero price are refused, and a file import is refused whole naming the
line and the field."""

from __future__ import annotations

import csv
import io

import pytest

from tests.rural.helpers import buyer, card, farmer, open_account
from zhifu import ledger
from zhifu.core.errors import InvalidRequest
from zhifu.db import Database
from zhifu.rural import eaccounts as ea
from zhifu.rural import harvest, payouts


def _buy(
    db: Database, mid: str, fid: str, weight_g: int = 12_345, price: int = 286, deductions: int = 0
) -> dict:
    with db.tx() as c:
        return payouts.record_purchase(
            c,
            mid,
            payouts.PurchaseIn(
                farmer_id=fid,
                product="苹果",
                grade="一级",
                weight_g=weight_g,
                price_fen_per_kg=price,
                deductions_fen=deductions,
            ),
        )


def test_amounts_round_half_up_once() -> None:
    assert payouts.amounts(12_345, 286, 0) == (3531, 3531)  # 3530.67 fen → 3531
    assert payouts.amounts(1_500, 1, 0) == (2, 2)  # 1.5 fen rounds up
    assert payouts.amounts(1_499, 1, 1) == (1, 0)


def test_a_station_pays_200_farmers_one_card_closed_then_retried(db: Database) -> None:
    mid = buyer(db, funds_fen=5_000_000)
    bad = card("0000")
    fids = [farmer(db) for _ in range(197)] + [farmer(db, card_no=bad)]
    aid, _ = open_account(db, "II")
    fids.append(farmer(db, eaccount_id=aid))
    aid3, _ = open_account(db, "III")
    fids.append(farmer(db, eaccount_id=aid3))
    for fid in fids[:-1]:
        _buy(db, mid, fid)
    _buy(db, mid, fids[-1], weight_g=100_000, price=2_500)  # 2,500 yuan: over a Class III balance cap
    with db.tx() as c:
        b = payouts.pay_batch(c, mid)
    assert b["lines"] == 200 and b["status"] == "exceptions"
    assert b["by_status"]["paid"]["lines"] == 198 and b["by_status"]["failed"]["lines"] == 2
    with db.read() as c:
        failed = payouts.lines(c, mid, b["id"], status="failed")
        assert {f["farmer_id"] for f in failed} == {fids[197], fids[199]}
        assert ledger.get_balance(c, ea.ledger_code(aid)).posted_fen == 3531
        assert ledger.get_balance(c, payouts.IN_TRANSIT).posted_fen == 3531 + 250_000
        assert payouts.buyer(c, mid)["funds_fen"] == 5_000_000 - 199 * 3531 - 250_000
    bad_line = next(f for f in failed if f["farmer_id"] == fids[197])
    with db.tx() as c:
        payouts.change_card(c, fids[197], card())
        again = payouts.retry_line(c, mid, b["id"], bad_line["line_no"])
    assert again["status"] == "paid" and again["attempts"] == 2
    big = next(f for f in failed if f["farmer_id"] == fids[199])
    with db.tx() as c:
        back = payouts.return_line(c, mid, b["id"], big["line_no"])
    assert back["status"] == "returned"
    with db.read() as c:
        assert payouts.batch(c, mid, b["id"])["status"] == "done"
        assert ledger.get_balance(c, payouts.IN_TRANSIT).posted_fen == 0
        assert payouts.buyer(c, mid)["funds_fen"] == 5_000_000 - 199 * 3531
        st = payouts.farmer_statement(c, fids[199])
        assert st["owed_fen"] == 250_000 and st["purchases"][0]["batch_id"] is None  # unpaid again
        cells = {
            cell
            for row in csv.reader(io.StringIO(payouts.buyer_statement_csv(c, mid, b["id"])))
            for cell in row
        }
        assert (
            "3531" not in cells and "35.31" in cells
        )  # yuan in the file, never bare fen (ids may hold any digits)
        assert not ledger.verify(c)


def test_a_batch_larger_than_the_funds_is_refused_whole(db: Database) -> None:
    mid = buyer(db, funds_fen=10_000)
    for _ in range(3):
        _buy(db, mid, farmer(db))  # 3 × 35.31 = 105.93 > 100.00
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        payouts.pay_batch(c, mid)
    assert e.value.code == "insufficient_funds"
    with db.read() as c:
        assert payouts.buyer(c, mid)["funds_fen"] == 10_000
        assert len(payouts.list_purchases(c, mid, unpaid=True)) == 3
        assert payouts.list_batches(c, mid) == []


@pytest.mark.parametrize(
    ("field", "weight", "price", "deductions"),
    [
        ("weight_g", -5, 100, 0),
        ("weight_g", 0, 100, 0),
        ("price_fen_per_kg", 1000, 0, 0),
        ("deductions_fen", 1000, 100, -1),
        ("deductions_fen", 1000, 100, 101),
    ],
)
def test_bad_purchases_are_refused_naming_the_field(
    db: Database, field: str, weight: int, price: int, deductions: int
) -> None:
    mid = buyer(db)
    fid = farmer(db)
    with pytest.raises(InvalidRequest) as e:
        _buy(db, mid, fid, weight, price, deductions)
    assert e.value.param == field
    with db.read() as c:
        assert payouts.list_purchases(c, mid) == []


def test_import_refused_whole_naming_line_and_field(db: Database) -> None:
    mid = buyer(db)
    f1, f2 = farmer(db), farmer(db)
    head = "farmer_id,product,grade,weight_g,price_fen_per_kg,deductions_fen\n"
    bad = head + f"{f1},苹果,一级,1000,300,0\n{f2},苹果,二级,2000,0,0\n"
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        payouts.import_purchases(c, mid, bad.encode())
    assert e.value.param == "line 3: price_fen_per_kg" and "第 3 行" in e.value.message
    unknown = head + f"{f1},苹果,一级,1000,300,0\nfar_nobody,梨,,10,3,0\n"
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        payouts.import_purchases(c, mid, unknown.encode())
    assert e.value.param == "line 3: farmer_id"
    with db.read() as c:
        assert payouts.list_purchases(c, mid) == []
    with db.tx() as c:
        assert payouts.import_purchases(c, mid, (head + f"{f1},苹果,一级,1000,300,0\n").encode()) == 1


def test_payout_to_a_harvest_card_activates_it(db: Database) -> None:
    mid = buyer(db, funds_fen=100_000)
    c_no = card()
    with db.tx() as c:
        harvest.register_card(
            c,
            harvest.HarvestCardIn(
                issuer_id="yiyuan_rcb",
                card_no=c_no,
                holder="赵六",
                town_code="370323101",
                village_code="370323101001",
                issued_on="2022-03-01",
            ),
        )  # type: ignore[arg-type]
    _buy(db, mid, farmer(db, card_no=c_no))
    with db.tx() as c:
        payouts.pay_batch(c, mid)
    with db.read() as c:
        card_row = harvest.list_cards(c)[0]
        assert card_row["activated_at"] is not None and card_row["first_used_at"] is None
