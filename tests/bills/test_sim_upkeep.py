"""The demo's bill upkeep on both backends: last month's unpaid bills expired with their late fee, the demo
payer's phone payments in their history and saved account, and a refund proposed for the biller's login to
decide; the ledger still verifies."""

from __future__ import annotations

from tests.bills.helpers import make_biller, month_of_bills
from zhifu import ledger, privacy
from zhifu.bills import payer_auth, refunds
from zhifu.bills import service as bills
from zhifu.sim import bills as sim_bills


def test_demo_upkeep(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    make_biller(db, "power", name="国网沂源县供电公司", category="power", adhoc=True, check_digit="none")
    with db.tx() as c:
        bills.import_bills(c, "water", month_of_bills(10, due="2022-07-05"), filename="june.csv")
    today = fixed_clock.now().date()
    out = sim_bills.demo_upkeep(db, ["power", "water"], today)
    assert out == {"expired": sim_bills.OLD_BILLS, "phone_payments": 2, "refund_requests": 1}
    with db.read() as c:
        expired, _ = bills.list_bills(c, "water", status="expired")
        assert len(expired) == sim_bills.OLD_BILLS and all(b["late_fee_fen"] > 0 for b in expired)
        h = payer_auth.history(c, privacy.blind_index(sim_bills.DEMO_PHONE))
        pending = refunds.list_requests(c, "water", status="pending")
        assert ledger.verify(c) == []
    assert len(h["payments"]) == 2 and len(h["accounts"]) == 2
    assert len(pending) == 1 and pending[0]["proposed_by"] == "clerk"
