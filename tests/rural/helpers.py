"""Building blocks for rural tests: merchants, e-accounts with valid cards, buyers, farmers and points."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from tests.factories import application
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.merchants import MerchantApplication
from zhifu.merchants import service as merchants
from zhifu.payments import ensure_platform_accounts
from zhifu.reference import generate_resident_id
from zhifu.rural import eaccounts as ea
from zhifu.rural import payouts
from zhifu.rural.issuer import luhn_complete

_seq = itertools.count(1)
_rng = random.Random(23)
VILLAGE = "370323101001"  # a village of 鲁村镇 in the Yiyuan profile
TOWN = "370323101"


def sh(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def card(last4: str | None = None) -> str:
    """A valid 19-digit card of the county rural bank; `last4` forces its ending (0000: closed, 1111: not theirs)."""
    while True:
        body = f"621{_rng.randrange(10**15):015d}"
        c = luhn_complete(body)
        if last4 is None:
            if not c.endswith(("0000", "1111")):
                return c
            continue
        # keep the ending and fix the check digit inside the number
        for d in range(10):
            c = f"621{_rng.randrange(10**11):011d}{d}{last4}"
            from zhifu.rural.issuer import luhn_ok

            if luhn_ok(c):
                return c


def merchant(db: Database, **overrides: Any) -> str:
    with db.tx() as c:
        ensure_platform_accounts(c)
        n = next(_seq)
        m = merchants.apply(
            c,
            MerchantApplication(
                **application(
                    legal_name=f"沂源县鲁村合作社{n}",
                    settle_account_name=f"沂源县鲁村合作社{n}",
                    short_name="合作社",
                    town_code=TOWN,
                    **overrides,
                )
            ),
        )
        merchants.review(c, m["id"], "approve")
        return str(m["id"])


def open_account(
    db: Database,
    account_class: str = "II",
    *,
    card_no: str | None = None,
    id_no: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[str, str]:
    card_no = card_no or card()
    with db.tx() as c:
        a = ea.open_eaccount(
            c,
            ea.OpenEAccount(
                bank_id="yiyuan_rcb",
                account_class=account_class,  # type: ignore[arg-type]
                name="李四",
                id_no=id_no or generate_resident_id(_rng),
                phone="13912345678",
                card_no=card_no,
            ),
            at=at,
        )
    return a["id"], card_no


def buyer(db: Database, funds_fen: int = 0) -> str:
    mid = merchant(db)
    with db.tx() as c:
        payouts.register_buyer(
            c, payouts.BuyerIn(merchant_id=mid, kind="purchase_station", name="鲁村收购站")
        )
        if funds_fen:
            payouts.fund(c, mid, funds_fen, "initial")
    return mid


def farmer(db: Database, *, card_no: str | None = None, eaccount_id: str | None = None) -> str:
    with db.tx() as c:
        return str(
            payouts.register_farmer(
                c,
                payouts.FarmerIn(
                    name="王五",
                    town_code=TOWN,
                    village_code=VILLAGE,
                    card_no=card_no if eaccount_id else card_no or card(),
                    eaccount_id=eaccount_id,
                ),
            )["id"]
        )
