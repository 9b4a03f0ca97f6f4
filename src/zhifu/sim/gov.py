"""The simulator's government payments: households paying the year's resident pension and medical insurance for
their members inside the open collection windows (on the phone and at the counter, at the tiers people choose),
and the finance bureau issuing non-tax payment codes that payers pay within their validity (some left to expire).
`demo_gov(db, county, today, seed)` is the one call that gives them life in `make demo`."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from zhifu.bills import nontax, social
from zhifu.bills import service as bills
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.reference import generate_credit_code, generate_resident_id
from zhifu.sim.world import PAYERS_DEFAULT, pay_code, payer_ref

FAMILIES_PER_PLAN = 40
CODES = 36
PAID_PCT = 75  # of the families and codes; the rest are still to pay, or let their code expire
SI_ID = "social_insurance"
FINANCE_ID = "finance"
FINANCE_NAME = "沂源县财政局"  # illustrative, as the profile's billers
# (项目编码, 项目名称, 单位, 标准 fen, 执收单位): common county non-tax items, codes illustrative
NONTAX_ITEMS = (
    ("103050101", "不动产登记费", "件", 8_000, "县自然资源局"),
    ("103040101", "考试报名费", "人", 6_000, "县教育和体育局"),
    ("103010101", "居民身份证工本费", "证", 2_000, "县公安局"),
    ("103050201", "土地复垦费", "亩", 150_000, "县自然资源局"),
    ("103020101", "交通违法罚没收入", "件", 20_000, "县公安局交通警察大队"),
    ("103070101", "国有资产有偿使用收入", "月", 120_000, "县机关事务服务中心"),
)
# Tiers people pick: most take the lower ones (index into the year's tiers, weight).
TIER_WEIGHTS = ((0, 45), (1, 20), (2, 12), (3, 10), (4, 6), (5, 3), (6, 2), (7, 1), (8, 0.6), (9, 0.4))
PHONE_CHANNELS = ("unionpay_qr", "wechat", "alipay", "bank_app")
PAY_CODE_CHANNELS = ("unionpay_qr", "wechat", "alipay")


def _register(db: Database, county: Any, rng: random.Random, biller_id: str, name: str, **rule: Any) -> bool:
    acquirer = next(i.id for i in county.institutions if "acquirer" in i.roles)
    seat = county.towns[0].code
    req = bills.BillerIn(
        id=biller_id,
        name=name,
        town_code=seat,
        acquirer_id=acquirer,
        credit_code=generate_credit_code(rng),
        legal_person_name="王主任",
        legal_person_id=generate_resident_id(rng),
        phone="13800000000",
        address=f"{name}服务大厅",
        settle_bank=acquirer,
        settle_account_no=f"62310009{len(biller_id):08d}",
        settle_account_name=name,
        **rule,
    )
    try:
        db.run(lambda c: bills.register_biller(c, req))
    except ZhifuError:
        return False
    return True


def _has(db: Database, biller_id: str) -> bool:
    with db.read() as c:
        try:
            bills.get_biller(c, biller_id)
        except ZhifuError:
            return False
    return True


def _how(rng: random.Random, idx: int) -> dict[str, Any]:
    """Consumer `idx` pays at the bureau's counter (the cashier scans their pay code) or on the phone."""
    if rng.random() < 0.3:
        return {
            "auth_code": pay_code(rng.choice(PAY_CODE_CHANNELS), idx, serial=rng.randrange(10_000)),
            "via": "counter",
        }
    return {"channel": rng.choice(PHONE_CHANNELS), "via": "phone"}


def _finish(db: Database, payment_id: str | None, status: str, idx: int) -> bool:
    """The payer scans and pays an open payment; True when it is paid."""
    if status in ("created", "processing") and payment_id:
        return (
            sim_pay(db, payment_id, outcome="success", payer=Payer(payer_ref(idx), None, "debit"))["status"]
            == "succeeded"
        )
    return status == "succeeded"


def demo_gov(
    db: Database, county: Any, today: dt.date, seed: int, *, payers: int | None = None
) -> dict[str, Any]:
    """Register the bureaus if the profile has none, then a season of contributions and codes, paid by the
    county's own consumers (`payers` of them)."""
    rng = random.Random(seed * 18 + 2)
    people = max(1, payers or PAYERS_DEFAULT)
    made: dict[str, Any] = {"families": 0, "persons": 0, "contributions_paid": 0, "codes": 0, "codes_paid": 0}
    if not _has(db, SI_ID):
        profile = next((b for b in county.billers if b.kind == "social_insurance"), None)
        _register(
            db,
            county,
            rng,
            SI_ID,
            profile.name if profile else f"{county.name}社会保险事业中心",
            category="social_insurance",
            account_len_min=10,
            account_len_max=10,
            check_digit="luhn",
            mcc="9399",
        )
    _register(
        db,
        county,
        rng,
        FINANCE_ID,
        FINANCE_NAME if county.name == "沂源县" else f"{county.name}财政局",
        category="tax",
        account_len_min=16,
        account_len_max=16,
        check_digit="luhn",
        multiple_payments=False,
        mcc="9311",
    )
    area = getattr(county, "area_code", "370323")
    for p in social.open_plans(today):
        _contributions(db, rng, p, today, area, made, people)
    _codes(db, rng, today, area, made, people)
    return made


def _contributions(
    db: Database,
    rng: random.Random,
    p: dict[str, Any],
    today: dt.date,
    area: str,
    made: dict[str, Any],
    people: int,
) -> None:
    tiers, y = p["tiers_fen"], p["year"]
    for f in range(FAMILIES_PER_PLAN):
        adults = 1 + (rng.random() < 0.7)  # a couple, or one person
        children = rng.randrange(3) if p["scheme"] == "medical" else int(rng.random() < 0.3)
        members = []
        for k in range(adults + children):
            if k < adults:  # pension: 16 to 59 (from 60 it is paid out); medical: any adult
                lo, hi = (dt.date(y - 59, 1, 1), dt.date(y - 20, 12, 31))
                if p["scheme"] == "medical":
                    lo = dt.date(y - 85, 1, 1)
            elif p["scheme"] == "pension":  # a grown child still at home
                lo, hi = dt.date(y - 25, 1, 1), dt.date(y - 16, 12, 31)
            else:
                lo, hi = dt.date(y - 15, 1, 1), min(today, dt.date(y - 1, 12, 31))
            members.append(
                {
                    "name": rng.choice("张王李赵刘陈杨黄孙周")
                    + rng.choice(("建国", "秀英", "志强", "桂兰", "子涵", "浩然")),
                    "id_number": generate_resident_id(rng, area_code=area, born_from=lo, born_to=hi),
                    "relation": ("self", "spouse")[k] if k < adults else "child",
                }
            )
        idx = rng.choices([i for i, _ in TIER_WEIGHTS], [w for _, w in TIER_WEIGHTS])[0]
        who = rng.randrange(people)
        req = social.ContributionIn(
            scheme=p["scheme"],
            year=y,
            tier_fen=tiers[min(idx, len(tiers) - 1)],
            members=members,  # type: ignore[arg-type]
            payer_phone=f"139{rng.randrange(10**8):08d}",
            **_how(rng, who),
        )
        try:
            out = social.contribute(db, req)
        except ZhifuError:
            continue  # a member refused (a pay code declined): the family tries again another day
        made["families"] += 1
        made["persons"] += len(members)
        if f * 100 >= FAMILIES_PER_PLAN * PAID_PCT:
            continue  # still to scan the code
        if _finish(db, out["payment_id"], _payment_status(db, out), who):
            made["contributions_paid"] += len(members)


def _payment_status(db: Database, order: dict[str, Any]) -> str:
    from zhifu import payments as payments_api

    with db.read() as c:
        b = bills.get_biller(c, order["biller_id"])
        return str(payments_api.get_payment(c, b["merchant_id"], order["payment_id"])["status"])


def _codes(
    db: Database, rng: random.Random, today: dt.date, area: str, made: dict[str, Any], people: int
) -> None:
    for n in range(CODES):
        item = rng.choice(NONTAX_ITEMS)
        qty = rng.choice((1, 1, 1, 2, 3))
        late = n % 9 == 8  # issued three weeks ago for ten days: expired unpaid
        issued = today - dt.timedelta(days=21 if late else rng.randrange(0, 10))
        code = nontax.code_complete(f"{area}{today:%y}{rng.randrange(10**7):07d}")
        req = nontax.CodeIn(
            biller_id=FINANCE_ID,
            code=code,
            payer_name=rng.choice("张王李赵刘陈杨黄孙周") + rng.choice(("建国", "秀英", "志强", "桂兰")),
            collector=item[4],
            items=[
                nontax.ItemIn(
                    code=item[0],
                    name=item[1],
                    unit=item[2],
                    quantity=qty,
                    standard_fen=item[3],
                    amount_fen=item[3] * qty,
                )
            ],
            amount_fen=item[3] * qty,
            valid_from=issued,
            valid_until=issued + dt.timedelta(days=10 if late else 30),
        )
        at = dt.datetime.combine(issued, dt.time(9, 30), SHANGHAI)
        try:
            db.run(lambda c, r=req, a=at: nontax.issue_code(c, r, at=a))
        except ZhifuError:
            continue
        made["codes"] += 1
        if late or n * 100 >= CODES * PAID_PCT:
            continue
        who = rng.randrange(people)
        try:
            out = nontax.pay_code(db, nontax.PayCodeIn(code=code, **_how(rng, who)))
        except ZhifuError:
            continue
        if _finish(db, out["payment"]["id"], out["payment"]["status"], who):
            made["codes_paid"] += 1
