"""Building blocks for bill tests: a biller with a chosen rule, bill files, payments and their completion."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from zhifu.bills import service as bills
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.reference import generate_credit_code, generate_resident_id

_rng = random.Random(18)


def sh(y: int, mo: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, mo, d, h, tzinfo=SHANGHAI)


def biller_in(biller_id: str = "water", **overrides: Any) -> bills.BillerIn:
    name = overrides.pop("name", "沂源县供水公司")
    doc: dict[str, Any] = {
        "id": biller_id,
        "name": name,
        "category": "water",
        "town_code": "370323002",
        "acquirer_id": "yiyuan_rcb",
        "credit_code": generate_credit_code(_rng),
        "legal_person_name": "李四",
        "legal_person_id": generate_resident_id(_rng),
        "phone": "13900139000",
        "address": "南麻街道水厂路 1 号",
        "settle_bank": "沂源农商银行",
        "settle_account_no": "6231000099990001",
        "settle_account_name": name,
        "account_len_min": 10,
        "account_len_max": 10,
        "check_digit": "luhn",
    }
    doc.update(overrides)
    return bills.BillerIn(**doc)


def make_biller(db: Database, biller_id: str = "water", at: dt.datetime | None = None, **rule: Any) -> dict:
    with db.tx() as c:
        ensure_platform_accounts(c)
        return bills.register_biller(c, biller_in(biller_id, **rule), at=at or sh(2022, 6, 1))


def account(n: int) -> str:
    """The n-th valid 10-digit water account (Luhn)."""
    return bills.luhn_complete(f"{370000000 + n:09d}")


def bill_csv(
    rows: list[dict[str, Any]],
    *,
    header: str = "bill_no,account_no,payer_name,period,amount_due,min_due,due_date,late_fee_ppm_per_day",
) -> bytes:
    cols = header.split(",")
    lines = [header] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def month_of_bills(
    n: int, *, period: str = "2022-06", amount: str = "45.60", start: int = 1, due: str = "2022-06-30"
) -> bytes:
    return bill_csv(
        [
            {
                "bill_no": f"W{period.replace('-', '')}{i:06d}",
                "account_no": account(i),
                "payer_name": "张三丰",
                "period": period,
                "amount_due": amount,
                "due_date": due,
            }
            for i in range(start, start + n)
        ]
    )


def complete(db: Database, payment_id: str, outcome: str = "success") -> dict:
    return sim_pay(db, payment_id, outcome=outcome, payer=Payer("u1", None, "debit"))
