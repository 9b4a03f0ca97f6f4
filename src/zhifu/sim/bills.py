"""The simulator's public-service payments: the county's billers (one per unit in the profile), a month of
bills for the metered utilities and a term's fees for the school, and households paying them on the phone (QR)
and at the counter (pay code), early, partially and two phones at once. `demo_bills(db, county, today, seed)` is
the one call that gives them life in `make demo`."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from zhifu.bills import service as bills
from zhifu.core.errors import ZhifuError
from zhifu.core.money import fen_to_yuan_str
from zhifu.db import Database
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.reference import generate_credit_code, generate_resident_id
from zhifu.sim.world import PAYERS_DEFAULT, county_payer, pay_code, payer_ref

ACCOUNTS_PER_BILLER = 120
PAY_SHARE_PCT = 70  # of the month's bills paid in the demo's first minute; the rest wait for payers
KIND_CATEGORY = {"school": "tuition", "bus": "other", "scenic": "other"}
PAY_CODE_CHANNELS = ("unionpay_qr", "wechat", "alipay")  # the codes a household shows at the counter
PHONE_CHANNELS = ("unionpay_qr", "wechat", "alipay", "bank_app")


def _rule(category: str) -> dict[str, Any]:
    if category == "power":
        return {"adhoc": True, "check_digit": "none"}  # prepaid power: any amount, no bill
    if category in ("heating", "tuition"):
        return {"partial_allowed": True, "check_digit": "luhn"}
    if category == "gas":
        return {"overpay_allowed": True, "check_digit": "luhn"}
    return {"check_digit": "luhn"}


def _account(rng: random.Random, biller_no: int, i: int, luhn: bool) -> str:
    body = f"{biller_no:02d}{i:07d}"
    return bills.luhn_complete(body) if luhn else body + "0"


def demo_bills(
    db: Database, county: Any, today: dt.date, seed: int, *, payers: int | None = None
) -> dict[str, Any]:
    """Register the county's billers, import their bills, and pay most of them (every payer one of the county's
    `payers` consumers); returns what it made."""
    rng = random.Random(seed * 18 + 1)
    acquirer = next(i.id for i in county.institutions if "acquirer" in i.roles)
    made: dict[str, Any] = {"billers": [], "bills": 0, "paid": 0, "partial": 0, "raced": 0}
    for no, b in enumerate(county.billers, start=1):
        category = KIND_CATEGORY.get(b.kind, b.kind)
        rule = _rule(category)
        req = bills.BillerIn(
            id=b.id,
            name=b.name,
            category=category,
            town_code=b.town,
            acquirer_id=acquirer,
            credit_code=generate_credit_code(rng),
            legal_person_name="王主任",
            legal_person_id=generate_resident_id(rng),
            phone="13800000000",
            address=f"{b.name}营业厅",
            settle_bank=b.settlement_institution,
            settle_account_no=f"62310000{no:08d}",
            settle_account_name=b.name,
            mcc=b.mcc,
            account_len_min=10,
            account_len_max=10,
            multiple_payments=True,
            **rule,
        )
        try:
            db.run(lambda c, r=req: bills.register_biller(c, r))
        except ZhifuError:
            continue
        made["billers"].append(b.id)
        if rule.get("adhoc"):
            for i in range(ACCOUNTS_PER_BILLER // 4):
                _pay(
                    db,
                    rng,
                    b.id,
                    _account(rng, no, i, False),
                    made,
                    amount_fen=rng.choice((5_000, 10_000, 20_000)),
                    payers=payers,
                )
            continue
        luhn = rule.get("check_digit") == "luhn"
        amount = {"tuition": 120_000, "heating": 180_000}.get(category, 0)
        lines = ["bill_no,account_no,payer_name,period,amount_due,min_due,due_date,late_fee_ppm_per_day"]
        period = f"{today:%Y-%m}" if not amount else f"{today:%Y}"
        for i in range(ACCOUNTS_PER_BILLER):
            due = amount or rng.randrange(1_500, 25_000)
            minimum = due // 4 if rule.get("partial_allowed") else due
            lines.append(
                f"{b.id.upper()}{today:%Y%m}{i:05d},{_account(rng, no, i, luhn)},"
                f"{rng.choice('张王李赵刘陈杨黄')}{rng.choice('建国秀英志强海燕玉兰')},{period},"
                f"{fen_to_yuan_str(due)},{fen_to_yuan_str(minimum)},"
                f"{today + dt.timedelta(days=20)},500"
            )
        out = db.run(
            lambda c, data="\n".join(lines).encode(), bid=b.id, name=f"{b.id}_{period}.csv": (
                bills.import_bills(c, bid, data, filename=name)
            )
        )
        made["bills"] += out["accepted"]
        for i in range(ACCOUNTS_PER_BILLER * PAY_SHARE_PCT // 100):
            acc = _account(rng, no, i, luhn)
            if rule.get("partial_allowed") and i % 3 == 0:
                _pay(db, rng, b.id, acc, made, amount_fen=(amount or 10_000) // 2, payers=payers)
                made["partial"] += 1
            else:
                _pay(db, rng, b.id, acc, made, payers=payers)
        made["raced"] += _two_phones(
            db, b.id, _account(rng, no, ACCOUNTS_PER_BILLER - 1, luhn), county_payer(rng, payers)
        )
    return made


def _pay(
    db: Database,
    rng: random.Random,
    biller_id: str,
    acc: str,
    made: dict[str, Any],
    *,
    amount_fen: int | None = None,
    payers: int | None = None,
) -> None:
    """One of the county's consumers pays the account's bill: showing a pay code at the counter, or scanning on
    the phone."""
    idx = rng.randrange(max(1, payers or PAYERS_DEFAULT))
    counter = rng.random() < 0.35  # the cashier scans the payer's code; else the payer scans on the phone
    kw: dict[str, Any] = (
        {
            "auth_code": pay_code(rng.choice(PAY_CODE_CHANNELS), idx, serial=rng.randrange(10_000)),
            "via": "counter",
        }
        if counter
        else {"channel": rng.choice(PHONE_CHANNELS), "via": "qr"}
    )
    try:
        out = bills.pay(db, bills.PayBillIn(biller_id=biller_id, account_no=acc, amount_fen=amount_fen, **kw))
        if out["payment"]["status"] in ("created", "processing"):
            sim_pay(db, out["payment"]["id"], outcome="success", payer=Payer(payer_ref(idx), None, "debit"))
        made["paid"] += 1
    except ZhifuError:
        pass  # a declined pay code or a rule the household did not meet: it tries again another day


def _two_phones(db: Database, biller_id: str, acc: str, payer: str) -> int:
    """Two family members pay the same bill at once: the second is refused while the first is open."""
    try:
        first = bills.pay(db, bills.PayBillIn(biller_id=biller_id, account_no=acc, channel="wechat"))
    except ZhifuError:
        return 0
    try:
        bills.pay(db, bills.PayBillIn(biller_id=biller_id, account_no=acc, channel="alipay"))
    except ZhifuError:
        pass
    sim_pay(db, first["payment"]["id"], outcome="success", payer=Payer(payer, None, "debit"))
    return 1


def demo_life(
    db: Database, county: Any, today: dt.date, seed: int, *, payers: int | None = None
) -> list[tuple[str, str, str]]:
    """`make demo`'s one call: the billers and their month, social insurance and non-tax codes, and console logins
    for the first biller, the social insurance bureau and the finance bureau."""
    import secrets

    from zhifu.console import create_user

    made = demo_bills(db, county, today, seed, payers=payers)
    if not made["billers"]:
        return []
    demo_upkeep(db, made["billers"], today)
    password = secrets.token_urlsafe(9)
    with db.tx() as conn:
        create_user(
            conn, "biller", "biller", password, biller_id=made["billers"][0], display_name="演示 缴费单位"
        )
    logins = [("biller", "biller", password)]
    from zhifu.sim.gov import FINANCE_ID, SI_ID, demo_gov

    # families' contributions in the open windows, the finance bureau's non-tax codes
    demo_gov(db, county, today, seed, payers=payers)
    for user, biller_id, shown in (
        ("social", SI_ID, "演示 社保中心"),
        ("finance", FINANCE_ID, "演示 财政局"),
    ):
        pw = secrets.token_urlsafe(9)
        with db.tx() as conn:
            create_user(conn, user, "biller", pw, biller_id=biller_id, display_name=shown)
        logins.append(("biller", user, pw))
    return logins


DEMO_PHONE = "13800138000"  # the demo's payer: prove it at /pay/history, the code is on /pay/sms-outbox
OLD_BILLS = 6


def demo_upkeep(db: Database, biller_ids: list[str], today: dt.date) -> dict[str, int]:
    """The biller's daily upkeep in the demo: last month's unpaid bills of the first biller that takes bills
    expired with their late fee; two of this month's bills paid by the demo's payer giving their phone (their
    history after a one-time code), the account saved; a refund proposed by a clerk for the biller's login to
    approve or reject."""
    from zhifu.bills import expiry, refunds

    out = {"expired": 0, "phone_payments": 0, "refund_requests": 0}
    with db.read() as c:
        takers = [b for b in biller_ids if not bills.get_biller(c, b)["rule"]["adhoc"]]
        if not takers:
            return out
        biller = takers[0]
        unpaid, _ = bills.list_bills(c, biller, status="unpaid", limit=OLD_BILLS + 2)
    if len(unpaid) < 2:
        return out
    with db.read() as c:
        grace = bills.get_biller(c, biller)["rule"]["grace_days"]
    due = today - dt.timedelta(days=grace + 10)
    lines = ["bill_no,account_no,payer_name,period,amount_due,min_due,due_date,late_fee_ppm_per_day"]
    for i, b in enumerate(unpaid[:OLD_BILLS]):
        lines.append(f"OLD{due:%Y%m}{i:05d},{b['account_no']},王秀英,{due:%Y-%m},38.50,38.50,{due},500")
    try:
        db.run(lambda c: bills.import_bills(c, biller, "\n".join(lines).encode(), filename="overdue.csv"))
        out["expired"] = db.run(lambda c: expiry.expire_bills(c))["expired"]
    except ZhifuError:
        pass
    for b in unpaid[-2:]:
        try:
            p = bills.pay(
                db,
                bills.PayBillIn(
                    biller_id=biller,
                    account_no=b["account_no"],
                    channel="unionpay_qr",
                    payer_phone=DEMO_PHONE,
                ),
            )
            sim_pay(db, p["payment"]["id"], outcome="success", payer=Payer(payer_ref(0), None, "debit"))
            db.run(
                lambda c, acc=b["account_no"]: bills.link_household(c, DEMO_PHONE, biller, acc, "家里 home")
            )
            out["phone_payments"] += 1
        except ZhifuError:
            pass
    with db.read() as c:
        paid = bills.find_lines(c, biller, limit=1)
    if paid:
        try:
            db.run(
                lambda c: refunds.propose(
                    c,
                    biller,
                    paid[0]["payment_id"],
                    reason="户号已过户，新户主另行缴费 / the account changed hands",
                    by="clerk",
                    role="biller",
                )
            )
            out["refund_requests"] = 1
        except ZhifuError:
            pass
    return out
