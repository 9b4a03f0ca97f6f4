"""What campaigns cost a payment: QR payments created and paid per second through the payment service on
SQLite, with no campaign (the baseline, measured in the same run), with a random instant discount campaign
(pricing, a budget hold, its posting) and with the seed's subsidy rule (cost refund and subsidy accrued).

    python benchmarks/incentives.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import timed  # noqa: E402


def _setup(tmp: str, campaign: dict | None):  # type: ignore[no-untyped-def, type-arg]
    from tests.factories import application

    from zhifu import merchants
    from zhifu.db import Database
    from zhifu.db.schema import metadata
    from zhifu.incentives.service import CreateCampaign, create_campaign
    from zhifu.payments import ensure_platform_accounts

    db = Database(f"sqlite:///{tmp}/bench.db")
    metadata.create_all(db.engine)
    with db.tx() as c:
        ensure_platform_accounts(c)
        m = merchants.apply(c, merchants.MerchantApplication.model_validate(application()))
        merchants.review(c, m["id"], "approve")
        if campaign is not None:
            create_campaign(c, CreateCampaign.model_validate(campaign))
    return db, m["id"]


def _run(db, mid: str, n: int) -> None:  # type: ignore[no-untyped-def]
    from zhifu.channels import Payer
    from zhifu.incentives.service import PayerHint
    from zhifu.payments import service as payments

    for i in range(n):
        req = payments.CreatePayment(
            amount_fen=1_000 + i % 40_000,
            merchant_order_no=f"b{i}",
            channel="unionpay_qr",
            payer=PayerHint(id=f"u{i % 500}", issuer="yiyuan_rcb", card_type="debit"),
        )
        p = db.run(lambda c, req=req: payments.create_payment(c, mid, req))
        payments.sim_pay(db, p["id"], outcome="success", payer=Payer(f"u{i % 500}", "yiyuan_rcb", "debit"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 300 if ap.parse_args().quick else 2_000

    from zhifu.core import clock
    from zhifu.core.clock import FixedClock

    clock.set_clock(FixedClock(dt.datetime(2022, 6, 15, 2, 0, tzinfo=dt.UTC)))
    window = {"starts_at": "2022-06-01T00:00:00+08:00", "ends_at": "2022-12-31T00:00:00+08:00"}
    cases = {
        "no campaign (baseline)": None,
        "random instant discount": {
            "name": "立减",
            "funder": "yiyuan_rcb",
            "budget_fen": 10**9,
            "seed": "b",
            "rules": {**window, "discount": {"probability_ppm": 500_000, "min_fen": 10, "max_fen": 500}},
        },
        "seed rule (cost refund + 0.2 % + fee waiver)": {
            "name": "补贴",
            "funder": "government",
            "budget_fen": 10**9,
            "rules": {
                **window,
                "channels": ["unionpay_qr"],
                "county_rural_issuers": True,
                "amount_below_fen": 50_000,
                "cost_refund": True,
                "subsidy_ppm": 2_000,
                "fee_waiver": True,
            },
        },
    }
    base = None
    print(f"{n} QR payments created and paid, one transaction each for create and pay, SQLite")
    for label, doc in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            db, mid = _setup(tmp, doc)
            seconds = timed(lambda db=db, mid=mid: _run(db, mid, n))
            db.dispose()
        rate = n / seconds
        base = base or rate
        print(f"  {label:<46} {rate:8.0f} payments/s   {rate / base:6.0%} of baseline")


if __name__ == "__main__":
    main()
