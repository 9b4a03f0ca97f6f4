"""Public-service payments: the biller registry, bill import, presentment, paying a bill through the payment
service, e-receipts, the biller's payment file, settlement and return-file reconciliation.

Design note. A biller is backed by a merchant of its own (one to one), so a bill payment is an ordinary payment
to that merchant, on any channel, with a bill line (`bill_lines`) written in the same transaction before the
payment is created and keyed by the payment's order number. The line reserves its amount on the bill with a
conditional update of the bill row (locked on PostgreSQL), so two phones paying one bill cannot both pass the
rule; the reservation is released when its payment ends failed, closed or expired, and a payment the payer made
after all is still applied (money received is never refused: what the bill cannot take becomes credit). When a
payment succeeds, `on_payment_succeeded` (bills' subscriber to `PaymentSucceeded`, `zhifu.bills.events`) applies it
to the bill, moves the money from `merchant_payable:<biller's merchant>` to `biller_payable:<biller>` with the
biller's own fee terms, and signs a receipt."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from zhifu import ledger, privacy
from zhifu import payments as payments_api
from zhifu.bills import expiry, importer, receipts
from zhifu.bills.hooks import BILL_KEY
from zhifu.bills.models import (
    CATEGORY_LABELS,
    BillStatus,
    Category,
    LineStatus,
    bill_credits,
    bill_households,
    bill_imports,
    bill_lines,
    bill_receipts,
    bill_recon_cases,
    biller_settlements,
    billers,
    bills,
)
from zhifu.core import clock
from zhifu.core.business_day import business_date
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, fen_to_yuan_str, ppm_of
from zhifu.core.paging import PAGE_MAX, cursor_page
from zhifu.db import Database
from zhifu.merchants import service as merchants
from zhifu.payments import CreatePayment, PaymentStatus
from zhifu.reference import mask_account, mask_phone
from zhifu.reference.validation import luhn_complete as luhn_complete
from zhifu.reference.validation import luhn_ok

INSERT_CHUNK = 2_000
IN_CHUNK = 500
SUGGESTIONS_MAX = 3
SWEEP_BATCH = 500
OPEN = (BillStatus.UNPAID, BillStatus.PARTIALLY_PAID)
FINAL_UNPAID = (PaymentStatus.FAILED, PaymentStatus.CLOSED, PaymentStatus.EXPIRED)
_SLUG_RE = re.compile(r"[a-z][a-z0-9_]{1,39}")
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
# The county profile's kinds of unit and the categories the programme reports.
PROFILE_KINDS = {"school": "tuition", "bus": "other", "scenic": "other"}
CATEGORY_MCC = {
    "water": "4900",
    "power": "4900",
    "gas": "4900",
    "heating": "4900",
    "tuition": "8211",
    "social_insurance": "9399",
    "housing_fund": "9399",
    "tax": "9311",
    "medical": "8062",
    "other": "9399",
}


payable_account = ledger.accounts.biller_payable


# ---------------------------------------------------------------- billers


class BillerIn(BaseModel):
    """A biller's registration: who it is, where its money goes, and its payment rule."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    short_name: str | None = Field(default=None, max_length=25)
    category: Category
    town_code: str
    acquirer_id: str
    credit_code: str
    legal_person_name: str = Field(min_length=1, max_length=50)
    legal_person_id: str
    phone: str
    address: str = Field(min_length=1, max_length=200)
    settle_bank: str = Field(min_length=1, max_length=60)
    settle_account_no: str
    settle_account_name: str
    settlement_cycle: Literal["T+1", "D+1", "D+0"] = "T+1"
    fee_payer: Literal["biller", "payer", "waived"] = "biller"
    fee_ppm: int = Field(default=0, ge=0, le=50_000)
    partial_allowed: bool = False
    overpay_allowed: bool = False
    adhoc: bool = False
    multiple_payments: bool = True
    min_payment_fen: int = Field(default=100, gt=0)
    account_len_min: int = Field(default=8, ge=4, le=30)
    account_len_max: int = Field(default=12, ge=4, le=30)
    check_digit: Literal["none", "luhn"] = "none"
    grace_days: int = Field(default=30, ge=0, le=366)  # after the due date; then an unpaid bill expires
    mcc: str | None = None


def biller_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "biller",
        "merchant_id": row.merchant_id,
        "name": row.name,
        "category": row.category,
        "town_code": row.town_code,
        "acquirer_id": row.acquirer_id,
        "fee_payer": row.fee_payer,
        "fee_ppm": row.fee_ppm,
        "rule": {
            "partial_allowed": row.partial_allowed,
            "overpay_allowed": row.overpay_allowed,
            "adhoc": row.adhoc,
            "multiple_payments": row.multiple_payments,
            "min_payment_fen": row.min_payment_fen,
            "grace_days": row.grace_days,
        },
        "account_format": {
            "length_min": row.account_len_min,
            "length_max": row.account_len_max,
            "check_digit": row.check_digit,
        },
        "status": row.status,
        "created_at": row.created_at,
    }


def register_biller(conn: Connection, req: BillerIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Register a biller with a merchant of its own (own-name settlement account, as any merchant), approved at
    once: the operator registering it is the review."""
    at = at or clock.now()
    if not _SLUG_RE.fullmatch(req.id):
        raise InvalidRequest(
            "id 须为小写字母开头的 2–40 位字母、数字或 _ / id must be 2–40 lower-case letters, digits "
            "or _, starting with a letter",
            param="id",
        )
    if req.account_len_min > req.account_len_max:
        raise InvalidRequest(
            "户号最短长度大于最长长度 / account_len_min exceeds account_len_max", param="account_len_min"
        )
    if req.partial_allowed and not req.multiple_payments:
        raise InvalidRequest(
            "允许部分缴费须允许多次缴费 / partial payments need multiple_payments", param="partial_allowed"
        )
    if req.adhoc and (req.partial_allowed or req.overpay_allowed):
        raise InvalidRequest(
            "直缴（任意金额）不与部分或超额缴费同设 / an ad hoc biller has no bills to pay partly or over",
            param="adhoc",
        )
    if conn.execute(select(billers.c.id).where(billers.c.id == req.id)).first() is not None:
        raise ConflictError(
            f"缴费单位 {req.id} 已存在 / biller {req.id} exists", param="id", code="biller_exists"
        )
    app = merchants.MerchantApplication(
        type="enterprise",
        legal_name=req.name,
        short_name=(req.short_name or req.name)[:25],
        credit_code=req.credit_code,
        legal_person_name=req.legal_person_name,
        legal_person_id=req.legal_person_id,
        phone=req.phone,
        mcc=req.mcc or CATEGORY_MCC[req.category],
        town_code=req.town_code,
        address=req.address,
        settle_bank=req.settle_bank,
        settle_account_no=req.settle_account_no,
        settle_account_name=req.settle_account_name,
        acquirer_id=req.acquirer_id,
        settlement_cycle=req.settlement_cycle,
    )
    m = merchants.apply(conn, app, at=at)
    merchants.review(conn, m["id"], "approve", at=at)
    row = {
        "id": req.id,
        "merchant_id": m["id"],
        "name": req.name,
        "category": req.category,
        "town_code": req.town_code,
        "acquirer_id": req.acquirer_id,
        "fee_payer": req.fee_payer,
        "fee_ppm": req.fee_ppm,
        "partial_allowed": req.partial_allowed,
        "overpay_allowed": req.overpay_allowed,
        "adhoc": req.adhoc,
        "multiple_payments": req.multiple_payments,
        "min_payment_fen": req.min_payment_fen,
        "account_len_min": req.account_len_min,
        "account_len_max": req.account_len_max,
        "check_digit": req.check_digit,
        "grace_days": req.grace_days,
        "status": "active",
        "created_at": at,
    }
    conn.execute(insert(billers), [row])
    ledger.open_account(conn, payable_account(req.id), "liability")
    return get_biller(conn, req.id)


_BILLER_Q = select(billers).where(billers.c.id == bindparam("biller_id"))


def _biller(conn: Connection, biller_id: str) -> Any:
    row = conn.execute(_BILLER_Q, {"biller_id": biller_id}).first()
    if row is None:
        raise NotFound(f"没有缴费单位 {biller_id} / no biller {biller_id}", param="biller_id")
    return row


def get_biller(conn: Connection, biller_id: str) -> dict[str, Any]:
    return biller_public(_biller(conn, biller_id))


def biller_of_merchant(conn: Connection, merchant_id: str) -> str | None:
    return conn.execute(select(billers.c.id).where(billers.c.merchant_id == merchant_id)).scalar()


def list_billers(conn: Connection, *, category: str | None = None) -> list[dict[str, Any]]:
    q = select(billers).order_by(billers.c.category, billers.c.id)
    if category:
        q = q.where(billers.c.category == category)
    return [biller_public(r) for r in conn.execute(q)]


# ---------------------------------------------------------------- account numbers


def check_account(b: Any, account_no: str, *, param: str = "account_no") -> str:
    """A biller's account number, or an error saying what is wrong with it, before any money moves."""
    acc = account_no.replace(" ", "")
    if not acc.isdigit() or not acc.isascii():
        raise InvalidRequest(
            f"户号只能是数字 / {param} must be digits only", param=param, code="invalid_account_no"
        )
    if not b.account_len_min <= len(acc) <= b.account_len_max:
        span = (
            str(b.account_len_min)
            if b.account_len_min == b.account_len_max
            else f"{b.account_len_min}–{b.account_len_max}"
        )
        raise InvalidRequest(
            f"{b.name}的户号为 {span} 位，收到 {len(acc)} 位 / {param} has {span} digits at {b.id}, got "
            f"{len(acc)}",
            param=param,
            code="invalid_account_no",
        )
    if b.check_digit == "luhn" and not luhn_ok(acc):
        raise InvalidRequest(
            f"户号校验位不对，请核对 / {param} fails its check digit: a digit is mistyped",
            param=param,
            code="invalid_account_no",
        )
    return acc


def _suggest(conn: Connection, b: Any, acc: str) -> list[str]:
    """Known account numbers that differ from `acc` by one digit."""
    variants = [acc[:i] + d + acc[i + 1 :] for i in range(len(acc)) for d in "0123456789" if d != acc[i]]
    found: set[str] = set()
    for chunk in (variants[i : i + IN_CHUNK] for i in range(0, len(variants), IN_CHUNK)):
        found.update(
            conn.execute(
                select(bills.c.account_no).where(
                    and_(bills.c.merchant_id == b.merchant_id, bills.c.account_no.in_(chunk))
                )
            ).scalars()
        )
    return sorted(found)[:SUGGESTIONS_MAX]


# ---------------------------------------------------------------- bills


def bill_public(row: Any, b: Any | None = None, *, at: dt.datetime | None = None) -> dict[str, Any]:
    late = _late_fee(row, at or clock.now())
    due = row.amount_due_fen + row.late_fee_fen - row.credit_applied_fen
    left = max(0, due - row.paid_fen)
    doc = {
        "id": row.id,
        "object": "bill",
        "biller_id": row.biller_id,
        "bill_no": row.bill_no,
        "account_no": row.account_no,
        "payer_name": row.payer_name_masked,
        "period": row.period,
        "amount_due_fen": row.amount_due_fen,
        "min_due_fen": row.min_due_fen,
        "due_date": row.due_date,
        "late_fee_ppm_per_day": row.late_fee_ppm_per_day,
        "late_fee_fen": row.late_fee_fen + late,
        "credit_applied_fen": row.credit_applied_fen,
        "paid_fen": row.paid_fen,
        "reserved_fen": row.reserved_fen,
        "outstanding_fen": left + late if row.status in OPEN else 0,
        "status": row.status,
        "in_progress": row.open_payments > 0,
        "created_at": row.created_at,
    }
    if b is not None:
        doc["biller_name"] = b.name
    return doc


def _late_fee(row: Any, at: dt.datetime) -> int:
    """The late fee due now on what is left of an open bill: ppm a day past the due date, simple interest."""
    if row.status not in OPEN or not row.late_fee_ppm_per_day:
        return 0
    days = (at.astimezone(SHANGHAI).date() - row.due_date).days
    if days <= 0:
        return 0
    left = row.amount_due_fen + row.late_fee_fen - row.credit_applied_fen - row.paid_fen - row.reserved_fen
    return ppm_of(max(0, left), row.late_fee_ppm_per_day * days)


def import_bills(
    conn: Connection, biller_id: str, data: bytes, *, filename: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Import a bill file whole or not at all: any fault refuses the file, naming every line and field (up to
    fifty), and nothing is written. A biller's month must match its own system, so half a file is worse than
    none. Credit carried on an account is applied to its new bill."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    if b.adhoc:
        raise InvalidRequest(
            f"{b.name}为直缴单位，不需上传账单 / {biller_id} takes direct payments and has no bills",
            param="biller_id",
            code="biller_takes_no_bills",
        )
    digest = hashlib.sha256(data).hexdigest()
    done = conn.execute(
        select(bill_imports.c.id).where(
            and_(bill_imports.c.merchant_id == b.merchant_id, bill_imports.c.sha256 == digest)
        )
    ).scalar()
    if done is not None:
        raise ConflictError(
            f"同一文件已于导入 {done} 导入 / this file was imported already as {done}",
            param="file",
            code="bill_file_duplicate",
        )
    rows, encoding = importer.read_rows(data, filename)
    good, faults = importer.parse(
        rows,
        lambda v: check_account(b, v),
        partial_allowed=b.partial_allowed,
        default_min_fen=b.min_payment_fen,
    )
    taken = _taken_bill_nos(conn, b, [r.bill_no for r in good])
    faults.extend(
        importer.Fault(
            r.line, "bill_no", f"账单号 {r.bill_no} 已导入过 / bill_no {r.bill_no} was imported before"
        )
        for r in good
        if r.bill_no in taken
    )
    if faults:
        faults.sort(key=lambda f: f.line)
        raise importer.BillFileRefused(faults)
    credits = _credits(conn, b.merchant_id, sorted({r.account_no for r in good}))
    imp = new_id_fast("bim", int(at.timestamp() * 1000))
    out, report = [], []
    ms = int(at.timestamp() * 1000)
    for r in good:
        credit = min(credits.get(r.account_no, 0), r.amount_due_fen)
        if credit:
            credits[r.account_no] -= credit
        bid = new_id_fast("bil", ms)
        out.append(
            {
                "merchant_id": b.merchant_id,
                "id": bid,
                "biller_id": b.id,
                "bill_no": r.bill_no,
                "account_no": r.account_no,
                "payer_name_enc": privacy.encrypt(r.payer_name),
                "payer_name_masked": mask_name(r.payer_name),
                "period": r.period,
                "amount_due_fen": r.amount_due_fen,
                "min_due_fen": r.min_due_fen,
                "due_date": r.due_date,
                "late_fee_ppm_per_day": r.late_fee_ppm_per_day,
                "credit_applied_fen": credit,
                "late_fee_fen": 0,
                "paid_fen": 0,
                "reserved_fen": 0,
                "open_payments": 0,
                "status": BillStatus.PAID if credit == r.amount_due_fen else BillStatus.UNPAID,
                "import_id": imp,
                "created_at": at,
                "updated_at": at,
            }
        )
        report.append({"line": r.line, "bill_no": r.bill_no, "bill_id": bid, "credit_applied_fen": credit})
    for i in range(0, len(out), INSERT_CHUNK):
        conn.execute(insert(bills), out[i : i + INSERT_CHUNK])
    for acc, left in credits.items():
        conn.execute(
            update(bill_credits)
            .where(and_(bill_credits.c.merchant_id == b.merchant_id, bill_credits.c.account_no == acc))
            .values(balance_fen=left, updated_at=at)
        )
    total = sum(r.amount_due_fen for r in good)
    conn.execute(
        insert(bill_imports),
        [
            {
                "merchant_id": b.merchant_id,
                "id": imp,
                "biller_id": b.id,
                "filename": filename[:200],
                "sha256": digest,
                "encoding": encoding,
                "lines": len(good),
                "total_fen": total,
                "created_at": at,
            }
        ],
    )
    return {
        "object": "bill_import",
        "id": imp,
        "biller_id": b.id,
        "encoding": encoding,
        "accepted": len(good),
        "total_fen": total,
        "credit_applied_fen": sum(r["credit_applied_fen"] for r in report),
        "lines": report if len(report) <= 1_000 else report[:1_000],
        "lines_truncated": len(report) > 1_000,
    }


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳明华 → 欧**华: the family name, and the last character of longer names."""
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _taken_bill_nos(conn: Connection, b: Any, nos: list[str]) -> set[str]:
    taken: set[str] = set()
    for i in range(0, len(nos), IN_CHUNK):
        taken.update(
            conn.execute(
                select(bills.c.bill_no).where(
                    and_(
                        bills.c.merchant_id == b.merchant_id,
                        bills.c.biller_id == b.id,
                        bills.c.bill_no.in_(nos[i : i + IN_CHUNK]),
                    )
                )
            ).scalars()
        )
    return taken


def _credits(conn: Connection, merchant_id: str, accounts: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    has_any = conn.execute(
        select(bill_credits.c.account_no)
        .where(and_(bill_credits.c.merchant_id == merchant_id, bill_credits.c.balance_fen > 0))
        .limit(1)
    ).first()
    if has_any is None:
        return out
    for i in range(0, len(accounts), IN_CHUNK):
        out.update(
            {
                a: int(v)
                for a, v in conn.execute(
                    select(bill_credits.c.account_no, bill_credits.c.balance_fen).where(
                        and_(
                            bill_credits.c.merchant_id == merchant_id,
                            bill_credits.c.account_no.in_(accounts[i : i + IN_CHUNK]),
                            bill_credits.c.balance_fen > 0,
                        )
                    )
                )
            }
        )
    return out


def list_bills(
    conn: Connection,
    biller_id: str,
    *,
    status: str | None = None,
    account_no: str | None = None,
    limit: int = 50,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    b = _biller(conn, biller_id)
    where = [bills.c.merchant_id == b.merchant_id]
    if status:
        where.append(bills.c.status == status)
    if account_no:
        where.append(bills.c.account_no == account_no)
    return cursor_page(
        conn, bills, where, limit=limit, starting_after=starting_after, public=lambda r: bill_public(r, b)
    )


def cancel_bill(
    conn: Connection, biller_id: str, bill_id: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    b = _biller(conn, biller_id)
    row = _bill(conn, b, bill_id, lock=True)
    if row.status != BillStatus.UNPAID or row.open_payments:
        raise ConflictError(
            f"账单状态为 {row.status}，只能撤销未缴的账单 / only an unpaid bill with no payment in progress "
            f"can be cancelled",
            code="bill_not_cancellable",
        )
    conn.execute(
        update(bills)
        .where(and_(bills.c.merchant_id == b.merchant_id, bills.c.id == bill_id))
        .values(status=BillStatus.CANCELLED, updated_at=at)
    )
    return bill_public(_bill(conn, b, bill_id), b, at=at)


_BILL_Q = select(bills).where(and_(bills.c.merchant_id == bindparam("mid"), bills.c.id == bindparam("bid")))
_BILL_Q_LOCK = _BILL_Q.with_for_update()


def _bill(conn: Connection, b: Any, bill_id: str, *, lock: bool = False) -> Any:
    q = _BILL_Q_LOCK if lock and conn.dialect.name == "postgresql" else _BILL_Q
    row = conn.execute(q, {"mid": b.merchant_id, "bid": bill_id}).first()
    if row is None:
        raise NotFound(f"没有账单 {bill_id} / no bill {bill_id}", param="bill_id")
    return row


def present(
    conn: Connection, biller_id: str, account_no: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """What a payer sees after typing an account number: the open bills, oldest first, what each asks now, and
    the biller's rule; an unknown number comes back with near numbers that exist."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    acc = check_account(b, account_no)
    rows = conn.execute(
        select(bills)
        .where(and_(bills.c.merchant_id == b.merchant_id, bills.c.account_no == acc))
        .order_by(bills.c.due_date, bills.c.id)
    ).all()
    if not rows and not b.adhoc:
        near = _suggest(conn, b, acc)
        hint = f"；您是否要找 {'、'.join(near)}？/ did you mean {', '.join(near)}?" if near else ""
        raise NotFound(
            f"{b.name}没有户号 {acc} 的账单{hint} / no bills for account {acc} at {b.id}", param="account_no"
        )
    credit = (
        conn.execute(
            select(bill_credits.c.balance_fen).where(
                and_(bill_credits.c.merchant_id == b.merchant_id, bill_credits.c.account_no == acc)
            )
        ).scalar()
        or 0
    )
    open_bills = [bill_public(r, b, at=at) for r in rows if r.status in OPEN]
    name = rows[-1].payer_name_masked if rows else None
    return {
        "object": "presentment",
        "biller": biller_public(b),
        "account_no": acc,
        "payer_name": name,
        "bills": open_bills,
        "paid_bills": sum(1 for r in rows if r.status == BillStatus.PAID),
        "expired_bills": [bill_public(r, b, at=at) for r in rows if r.status == BillStatus.EXPIRED],
        "credit_fen": int(credit),
    }


def bill_qr_url(biller_id: str, account_no: str) -> str:
    """The URL a bill's QR code carries: it opens the payer's page with the biller and account filled in."""
    from zhifu.core.config import get_settings

    return f"{get_settings().public_base_url.rstrip('/')}/pay/bills?biller={biller_id}&account={account_no}"


# ---------------------------------------------------------------- paying


class PayBillIn(BaseModel):
    """A payer paying a bill (or a direct-pay biller): by a code to scan or a terminal, or the payer's pay code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    biller_id: str = Field(min_length=1, max_length=40)
    account_no: str = Field(min_length=1, max_length=40)
    bill_id: str | None = Field(default=None, max_length=32)
    amount_fen: StrictInt | None = None  # default: what is left to pay
    channel: str | None = None
    auth_code: str | None = Field(default=None, max_length=32)
    payer_phone: str | None = Field(default=None, max_length=11)
    via: Literal["phone", "counter", "qr"] = "phone"


def pay_bill(conn: Connection, req: PayBillIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Reserve the amount on the bill by the biller's rule, write the bill line, and create the payment, all in
    the caller's transaction. A second payment of the same bill waits on the bill's row and then meets the rule
    with the first one's reservation counted."""
    at = at or clock.now()
    b = _biller(conn, req.biller_id)
    if b.status != "active":
        raise ConflictError(f"{b.name}暂停收费 / biller {b.id} is suspended", code="biller_suspended")
    acc = check_account(b, req.account_no)
    if (req.channel is None) == (req.auth_code is None):
        raise InvalidRequest(
            "须给出 channel（扫码或终端）或 auth_code（付款码）之一 / give exactly one of channel or auth_code",
            param="channel",
        )
    phone_index = None
    if req.payer_phone:
        if not _PHONE_RE.fullmatch(req.payer_phone):
            raise InvalidRequest(
                "手机号须为 11 位 / payer_phone must be an 11-digit mobile number", param="payer_phone"
            )
        phone_index = privacy.blind_index(req.payer_phone)
    order_no = new_id_fast("bl", int(at.timestamp() * 1000))
    if b.adhoc:
        if req.amount_fen is None:
            raise InvalidRequest(
                "直缴须填写金额 / amount_fen is required for a direct payment", param="amount_fen"
            )
        check_fen(req.amount_fen, param="amount_fen")
        if req.amount_fen < b.min_payment_fen:
            raise InvalidRequest(
                f"最低缴费 {fen_to_yuan_str(b.min_payment_fen)} 元 / amount_fen is below the minimum of "
                f"{fen_to_yuan_str(b.min_payment_fen)} yuan",
                param="amount_fen",
                code="amount_below_minimum",
            )
        bill, bill_fen, late = None, req.amount_fen, 0
    else:
        bill = _open_bill(conn, b, acc, req.bill_id, at)
        bill_fen, late = _reserve(conn, b, bill, req.amount_fen, at)
    surcharge = ppm_of(bill_fen, b.fee_ppm) if b.fee_payer == "payer" else 0
    row = {
        "merchant_id": b.merchant_id,
        "order_no": order_no,
        "payment_id": None,
        "biller_id": b.id,
        "bill_id": bill.id if bill is not None else None,
        "account_no": acc,
        "bill_fen": bill_fen,
        "surcharge_fen": surcharge,
        "late_fee_fen": late,
        "credit_fen": 0,
        "amount_fen": bill_fen + surcharge,
        "biller_fen": 0,
        "channel": req.channel or "",
        "town_code": b.town_code,
        "category": b.category,
        "payer_phone_index": phone_index,
        "status": LineStatus.PENDING,
        "refunded_fen": 0,
        "receipt_no": None,
        "business_date": None,
        "created_at": at,
        "updated_at": at,
        "paid_at": None,
    }
    conn.execute(insert(bill_lines), [row])
    period = f" {bill.period}" if bill is not None else ""
    meta = {
        BILL_KEY: b.id,
        "account_no": acc,
        "bill_no": bill.bill_no if bill is not None else "",
        "via": req.via,
    }
    p = payments_api.create_payment(
        conn,
        b.merchant_id,
        CreatePayment(
            amount_fen=bill_fen + surcharge,
            merchant_order_no=order_no,
            channel=req.channel,
            auth_code=req.auth_code,
            description=f"{b.name}{period}"[:128],
            metadata=meta,
        ),
        at=at,
    )
    conn.execute(
        _LINE_PAYMENT_SET, {"mid": b.merchant_id, "ono": order_no, "pid": p["id"], "ch": p["channel"]}
    )
    if p["status"] in FINAL_UNPAID:  # refused at once (a limit): give the reservation back
        line_key = and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.order_no == order_no)
        _release(conn, conn.execute(select(bill_lines).where(line_key)).one(), at)
        line: Any = conn.execute(select(bill_lines).where(line_key)).one()
        after = _bill(conn, b, bill.id) if bill is not None else None
    else:  # the rows as they now stand, without reading them again
        line = SimpleNamespace(**{**row, "payment_id": p["id"], "channel": p["channel"]})
        after = None
        if bill is not None:
            after = SimpleNamespace(
                **{
                    **bill._mapping,
                    "reserved_fen": bill.reserved_fen + bill_fen,
                    "open_payments": bill.open_payments + 1,
                }
            )
    return {
        "object": "bill_payment",
        "payment": p,
        "line": line_public(line),
        "bill": bill_public(after, b, at=at) if after is not None else None,
    }


_LINE_PAYMENT_SET = (
    update(bill_lines)
    .where(and_(bill_lines.c.merchant_id == bindparam("mid"), bill_lines.c.order_no == bindparam("ono")))
    .values(payment_id=bindparam("pid"), channel=bindparam("ch"))
)


def pay(db: Database, req: PayBillIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Pay a bill in its own transaction; the rail is asked after that commit, so the answer shown is the payment
    as the rail left it, and a refused pay code gives its reservation back at once."""
    out = db.run(lambda c: pay_bill(c, req, at=at))

    def settle(conn: Connection, release: bool) -> dict[str, Any] | None:
        b = _biller(conn, req.biller_id)
        line_key = and_(
            bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.payment_id == out["payment"]["id"]
        )
        line = conn.execute(select(bill_lines).where(line_key)).one()
        p = payments_api.get_payment(conn, b.merchant_id, line.payment_id)
        if p["status"] in FINAL_UNPAID and line.status == LineStatus.PENDING:
            if not release:
                return None  # a write is needed: done again in a transaction
            _release(conn, line, clock.now())
            line = conn.execute(select(bill_lines).where(line_key)).one()
        bill = _bill(conn, b, line.bill_id) if line.bill_id is not None else None
        return {
            "object": "bill_payment",
            "payment": p,
            "line": line_public(line),
            "bill": bill_public(bill, b, at=clock.now()) if bill is not None else None,
        }

    def settled(conn: Connection) -> dict[str, Any]:
        doc = settle(conn, True)
        assert doc is not None  # allowed to write, it always answers
        return doc

    with db.read() as c:  # usually only a read: the writer's lock is not taken to show the answer
        doc = settle(c, False)
    return doc if doc is not None else db.run(settled)


_OLDEST_OPEN_Q = (
    select(bills)
    .where(
        and_(
            bills.c.merchant_id == bindparam("mid"),
            bills.c.account_no == bindparam("acc"),
            bills.c.status.in_([s.value for s in OPEN]),
        )
    )
    .order_by(bills.c.due_date, bills.c.id)
    .limit(1)
)
_OLDEST_OPEN_Q_LOCK = _OLDEST_OPEN_Q.with_for_update()


def _open_bill(conn: Connection, b: Any, acc: str, bill_id: str | None, at: dt.datetime) -> Any:
    bill = None
    if bill_id is None:  # the oldest open bill of the account, read (and locked) at once
        q = _OLDEST_OPEN_Q_LOCK if conn.dialect.name == "postgresql" else _OLDEST_OPEN_Q
        bill = conn.execute(q, {"mid": b.merchant_id, "acc": acc}).first()
        if bill is None:
            known = conn.execute(
                select(bills.c.id)
                .where(and_(bills.c.merchant_id == b.merchant_id, bills.c.account_no == acc))
                .limit(1)
            ).first()
            if known is not None:
                last = conn.execute(  # the account's latest bill: expired is said as such
                    select(bills)
                    .where(and_(bills.c.merchant_id == b.merchant_id, bills.c.account_no == acc))
                    .order_by(bills.c.due_date.desc(), bills.c.id.desc())
                    .limit(1)
                ).one()
                if last.status == BillStatus.EXPIRED:
                    expiry.refuse_if_expired(b, last, at)
                raise ConflictError(
                    f"户号 {acc} 没有待缴账单 / account {acc} has no unpaid bill",
                    param="account_no",
                    code="bill_already_paid",
                )
            near = _suggest(conn, b, acc)
            hint = f"；您是否要找 {'、'.join(near)}？/ did you mean {', '.join(near)}?" if near else ""
            raise NotFound(
                f"{b.name}没有户号 {acc}{hint} / unknown account {acc} at {b.id}", param="account_no"
            )
        bill_id = bill.id
    if bill is None or bill.status not in OPEN:  # on PostgreSQL, a row read while another payment held it
        bill = _bill(conn, b, bill_id, lock=True)
    if bill.open_payments:  # give back what payments that ended unpaid still hold, then read it again
        _release_finished(conn, b, bill_id, at)
        bill = _bill(conn, b, bill_id, lock=True)
    if bill.status in OPEN:
        expiry.refuse_if_expired(b, bill, at)
    if bill.account_no != acc:
        raise NotFound(
            f"账单 {bill_id} 不属于户号 {acc} / bill {bill_id} is not account {acc}'s", param="bill_id"
        )
    if bill.status == BillStatus.PAID:
        raise ConflictError(
            f"账单 {bill.bill_no} 已缴清 / bill {bill.bill_no} is paid already",
            param="bill_id",
            code="bill_already_paid",
        )
    if bill.status not in OPEN:
        raise ConflictError(
            f"账单 {bill.bill_no} 已{ {'cancelled': '撤销', 'expired': '过期'}[bill.status] } / bill "
            f"{bill.bill_no} is {bill.status}",
            param="bill_id",
            code=f"bill_{bill.status}",
        )
    return bill


def _reserve(conn: Connection, b: Any, bill: Any, amount_fen: int | None, at: dt.datetime) -> tuple[int, int]:
    """Check the amount against the biller's rule, counting payments in progress, and reserve it on the bill
    with a conditional update: it succeeds only if the bill is as read, so no race passes the rule."""
    late = _late_fee(bill, at)
    left = (
        bill.amount_due_fen
        + bill.late_fee_fen
        + late
        - bill.credit_applied_fen
        - bill.paid_fen
        - bill.reserved_fen
    )
    if bill.open_payments and not b.multiple_payments:
        raise ConflictError(
            f"账单 {bill.bill_no} 正在支付中，请稍后再试 / bill {bill.bill_no} has a payment in progress",
            param="bill_id",
            code="bill_payment_in_progress",
        )
    if left <= 0 and not b.overpay_allowed:
        code = "bill_payment_in_progress" if bill.reserved_fen else "bill_already_paid"
        raise ConflictError(
            f"账单 {bill.bill_no} 已缴清或正在支付 / bill {bill.bill_no} is paid or being paid",
            param="bill_id",
            code=code,
        )
    amount = max(left, 0) if amount_fen is None else amount_fen
    check_fen(amount, param="amount_fen")
    if amount > left and not b.overpay_allowed:
        raise InvalidRequest(
            f"金额 {fen_to_yuan_str(amount)} 超过应缴 {fen_to_yuan_str(left)} 元 / amount_fen is above what "
            f"is due ({fen_to_yuan_str(left)} yuan)",
            param="amount_fen",
            code="amount_above_due",
        )
    if amount < left:
        if not b.partial_allowed:
            raise InvalidRequest(
                f"须足额缴纳 {fen_to_yuan_str(left)} 元 / this biller takes the exact amount "
                f"({fen_to_yuan_str(left)} yuan)",
                param="amount_fen",
                code="amount_not_exact",
            )
        minimum = min(left, max(bill.min_due_fen - bill.paid_fen - bill.reserved_fen, b.min_payment_fen))
        if amount < minimum:
            raise InvalidRequest(
                f"金额低于最低缴费 {fen_to_yuan_str(minimum)} 元 / amount_fen is below the minimum due "
                f"({fen_to_yuan_str(minimum)} yuan)",
                param="amount_fen",
                code="amount_below_minimum",
            )
    res = conn.execute(
        update(bills)
        .where(
            and_(
                bills.c.merchant_id == bill.merchant_id,
                bills.c.id == bill.id,
                bills.c.status.in_(OPEN),
                bills.c.paid_fen == bill.paid_fen,
                bills.c.reserved_fen == bill.reserved_fen,
                bills.c.open_payments == bill.open_payments,
            )
        )
        .values(
            reserved_fen=bills.c.reserved_fen + amount, open_payments=bills.c.open_payments + 1, updated_at=at
        )
    )
    if res.rowcount != 1:
        raise ConflictError(
            "账单刚被另一笔支付更新，请重试 / the bill changed under another payment; try again",
            param="bill_id",
            code="bill_changed",
        )
    return amount, min(late, amount)


def line_public(row: Any) -> dict[str, Any]:
    return {
        "object": "bill_line",
        "payment_id": row.payment_id,
        "biller_id": row.biller_id,
        "bill_id": row.bill_id,
        "account_no": row.account_no,
        "bill_fen": row.bill_fen,
        "surcharge_fen": row.surcharge_fen,
        "late_fee_fen": row.late_fee_fen,
        "credit_fen": row.credit_fen,
        "amount_fen": row.amount_fen,
        "biller_fen": row.biller_fen,
        "channel": row.channel,
        "status": row.status,
        "refunded_fen": row.refunded_fen,
        "receipt_no": row.receipt_no,
        "business_date": row.business_date,
        "paid_at": row.paid_at,
    }


def _release(conn: Connection, line: Any, at: dt.datetime) -> None:
    if line.status != LineStatus.PENDING:
        return
    conn.execute(
        update(bill_lines)
        .where(and_(bill_lines.c.merchant_id == line.merchant_id, bill_lines.c.order_no == line.order_no))
        .values(status=LineStatus.RELEASED, updated_at=at)
    )
    if line.bill_id is not None:
        conn.execute(
            update(bills)
            .where(and_(bills.c.merchant_id == line.merchant_id, bills.c.id == line.bill_id))
            .values(
                reserved_fen=bills.c.reserved_fen - line.bill_fen,
                open_payments=bills.c.open_payments - 1,
                updated_at=at,
            )
        )


def _release_finished(conn: Connection, b: Any, bill_id: str, at: dt.datetime) -> None:
    """Give back what payments that ended unpaid still hold on this bill."""
    for line in conn.execute(
        select(bill_lines).where(
            and_(
                bill_lines.c.merchant_id == b.merchant_id,
                bill_lines.c.bill_id == bill_id,
                bill_lines.c.status == LineStatus.PENDING,
            )
        )
    ).all():
        if line.payment_id is None:
            continue
        status = payments_api.get_payment(conn, b.merchant_id, line.payment_id)["status"]
        if status in FINAL_UNPAID:
            _release(conn, line, at)


def sweep(conn: Connection, *, at: dt.datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Release the reservations of payments that ended failed, closed or expired (background work)."""
    at = at or clock.now()
    n = 0
    for line in conn.execute(
        select(bill_lines)
        .where(bill_lines.c.status == LineStatus.PENDING)
        .order_by(bill_lines.c.created_at)
        .limit(limit)
    ).all():
        if line.payment_id is None:
            continue
        status = payments_api.get_payment(conn, line.merchant_id, line.payment_id)["status"]
        if status in FINAL_UNPAID:
            _release(conn, line, at)
            n += 1
    return n


_LINE_BY_ORDER = select(bill_lines).where(
    and_(bill_lines.c.merchant_id == bindparam("mid"), bill_lines.c.order_no == bindparam("ono"))
)
_BILL_APPLY = (
    update(bills)
    .where(and_(bills.c.merchant_id == bindparam("mid"), bills.c.id == bindparam("bid")))
    .values(
        paid_fen=bindparam("paid"),
        late_fee_fen=bindparam("late"),
        status=bindparam("st"),
        reserved_fen=bills.c.reserved_fen - bindparam("held_fen"),
        open_payments=bills.c.open_payments - bindparam("held_n"),
        updated_at=bindparam("at"),
    )
)
_LINE_SUCCEED = (
    update(bill_lines)
    .where(and_(bill_lines.c.merchant_id == bindparam("mid"), bill_lines.c.order_no == bindparam("ono")))
    .values(
        status=LineStatus.SUCCEEDED.value,
        payment_id=bindparam("pid"),
        credit_fen=bindparam("credit"),
        biller_fen=bindparam("bfen"),
        receipt_no=bindparam("rno"),
        business_date=bindparam("bd"),
        paid_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
)


def on_payment_succeeded(
    conn: Connection, merchant_id: str, order_no: str, at: dt.datetime, payment: Any | None = None
) -> None:
    """Apply a succeeded payment to its bill, book it to the biller, and sign its receipt (idempotent).
    `payment` is the payment as it now stands when the caller has it (id, amount, fee, channel)."""
    line = conn.execute(_LINE_BY_ORDER, {"mid": merchant_id, "ono": order_no}).first()
    if line is None or line.status == LineStatus.SUCCEEDED:
        return
    b = _biller(conn, line.biller_id)
    p = payment if payment is not None else _payment(conn, merchant_id, order_no=order_no)
    credit = 0
    bill = None
    if line.bill_id is not None:
        bill = _bill(conn, b, line.bill_id, lock=True)
        held = line.status == LineStatus.PENDING
        due = bill.amount_due_fen + bill.late_fee_fen + line.late_fee_fen - bill.credit_applied_fen
        room = max(0, due - bill.paid_fen) if bill.status in OPEN else 0
        applied = min(line.bill_fen, room)
        credit = line.bill_fen - applied  # an allowed overpayment, or a payment made after its order expired
        paid = bill.paid_fen + applied
        status = bill.status
        if bill.status in OPEN:
            status = BillStatus.PAID if paid >= due else BillStatus.PARTIALLY_PAID
        conn.execute(
            _BILL_APPLY,
            {
                "mid": merchant_id,
                "bid": bill.id,
                "paid": paid,
                "late": bill.late_fee_fen + (line.late_fee_fen if applied else 0),
                "st": str(status),
                "held_fen": line.bill_fen if held else 0,
                "held_n": 1 if held else 0,
                "at": at,
            },
        )
    if credit:
        _add_credit(conn, merchant_id, line.account_no, credit, at)
    biller_fen = _book(conn, b, p, line, at)
    receipt_no = _issue_receipt(conn, b, p, line, "payment", None, at, bill=bill)
    conn.execute(
        _LINE_SUCCEED,
        {
            "mid": merchant_id,
            "ono": order_no,
            "pid": p.id,
            "credit": credit,
            "bfen": biller_fen,
            "rno": receipt_no,
            "bd": business_date(at),
            "at": at,
        },
    )


def _payment(
    conn: Connection, merchant_id: str, *, order_no: str | None = None, payment_id: str | None = None
) -> SimpleNamespace:
    """A payment as the payment service shows it, by order number or id."""
    if payment_id is not None:
        return SimpleNamespace(**payments_api.get_payment(conn, merchant_id, payment_id))
    rows, _ = payments_api.list_payments(conn, merchant_id, merchant_order_no=order_no, limit=1)
    if not rows:
        raise NotFound(f"no payment with order number {order_no}", param="order_no")
    return SimpleNamespace(**rows[0])


def _add_credit(conn: Connection, merchant_id: str, account_no: str, fen: int, at: dt.datetime) -> None:
    key = and_(bill_credits.c.merchant_id == merchant_id, bill_credits.c.account_no == account_no)
    res = conn.execute(
        update(bill_credits).where(key).values(balance_fen=bill_credits.c.balance_fen + fen, updated_at=at)
    )
    if res.rowcount == 0:
        conn.execute(
            insert(bill_credits),
            [{"merchant_id": merchant_id, "account_no": account_no, "balance_fen": fen, "updated_at": at}],
        )


def _book(conn: Connection, b: Any, p: Any, line: Any, at: dt.datetime) -> int:
    """Move the payment from the biller's merchant payable to the biller's payable, pricing the biller's own fee
    terms over the merchant fee plan's: biller pays fee_ppm of the bill; payer paid it as a surcharge; waived."""
    from_merchant = p.amount_fen - p.fee_fen
    if b.fee_payer == "biller":
        biller_fen = line.bill_fen - ppm_of(line.bill_fen, b.fee_ppm)
    else:
        biller_fen = line.bill_fen
    assert biller_fen > 0 and from_merchant >= 0, (biller_fen, from_merchant)
    legs = ledger.movements.bill_payment(
        biller_id=b.id, merchant_id=b.merchant_id, biller_fen=biller_fen, from_merchant_fen=from_merchant
    )
    ledger.post_entry(
        conn, ledger.EntryRequest(ledger.keys.bill_success(p.id), legs, f"bill payment {p.id}"), at=at
    )
    return biller_fen


# ---------------------------------------------------------------- receipts


def _issue_receipt(
    conn: Connection,
    b: Any,
    p: Any,
    line: Any,
    kind: str,
    replaces: str | None,
    at: dt.datetime,
    refunded_fen: int = 0,
    bill: Any | None = None,
) -> str:
    receipt_no = new_id_fast("R", int(at.timestamp() * 1000)).replace("_", "")
    period = ""
    payer = ""
    if line.bill_id is not None:
        bill = bill if bill is not None else _bill(conn, b, line.bill_id)
        period, payer = bill.period, bill.payer_name_masked
    body = {
        "receipt_no": receipt_no,
        "kind": kind,
        "replaces": replaces,
        "biller_id": b.id,
        "biller_name": b.name,
        "category": b.category,
        "account_masked": mask_account(line.account_no),
        "payer_masked": payer,
        "period": period,
        "amount_fen": line.amount_fen,
        "refunded_fen": refunded_fen,
        "paid_at": (line.paid_at or at).astimezone(SHANGHAI).isoformat(timespec="seconds"),
        "payment_id": p.id,
        "channel": p.channel,
        "issued_at": at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
    }
    text = receipts.canonical(body)
    conn.execute(
        insert(bill_receipts),
        [
            {
                "merchant_id": b.merchant_id,
                "receipt_no": receipt_no,
                "payment_id": p.id,
                "kind": kind,
                "replaces": replaces,
                "body": text,
                "signature": receipts.sign(text),
                "created_at": at,
            }
        ],
    )
    return receipt_no


def receipt_public(row: Any, conn: Connection | None = None) -> dict[str, Any]:
    import json

    doc = {
        "object": "receipt",
        "receipt_no": row.receipt_no,
        "body": json.loads(row.body),
        "signature": row.signature,
        "key_id": receipts.KEY_ID,
        "verify_url": receipts.verify_url(row.receipt_no, row.signature),
        "replaced_by": None,
    }
    if conn is not None:
        doc["replaced_by"] = conn.execute(
            select(bill_receipts.c.receipt_no).where(
                and_(
                    bill_receipts.c.merchant_id == row.merchant_id, bill_receipts.c.replaces == row.receipt_no
                )
            )
        ).scalar()
    return doc


def get_receipt(conn: Connection, receipt_no: str) -> dict[str, Any]:
    row = conn.execute(select(bill_receipts).where(bill_receipts.c.receipt_no == receipt_no)).first()
    if row is None:
        raise NotFound(f"没有凭证 {receipt_no} / no receipt {receipt_no}", param="receipt_no")
    return receipt_public(row, conn)


def verify_receipt(
    conn: Connection, receipt_no: str, signature: str | None = None, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Is this receipt ours and unaltered? The stored body must carry a valid signature; a signature or body the
    payer shows must be exactly the stored one. A replaced receipt verifies, and says what replaced it."""
    row = conn.execute(select(bill_receipts).where(bill_receipts.c.receipt_no == receipt_no)).first()
    if row is None:
        return {
            "object": "receipt_verification",
            "receipt_no": receipt_no,
            "genuine": False,
            "reason": "unknown_receipt",
        }
    ok = receipts.verify(row.body, row.signature)
    reason = None if ok else "bad_signature"
    if ok and signature is not None and signature != row.signature:
        ok, reason = False, "signature_mismatch"
    if ok and body is not None and receipts.canonical(body) != row.body:
        ok, reason = False, "altered"
    doc = receipt_public(row, conn)
    return {
        "object": "receipt_verification",
        "receipt_no": receipt_no,
        "genuine": ok,
        "reason": reason,
        "receipt": doc if ok else None,
        "replaced_by": doc["replaced_by"],
    }


# ---------------------------------------------------------------- refunds of rejected payments


def ensure_date_unsettled(conn: Connection, merchant_id: str, business_date: dt.date) -> None:
    """A bill payment is refundable only while its business date has no settlement to the biller yet (used by the
    biller's refund and by the payer's refund request)."""
    settled = conn.execute(
        select(biller_settlements.c.id).where(
            and_(
                biller_settlements.c.merchant_id == merchant_id,
                biller_settlements.c.business_date == business_date,
            )
        )
    ).scalar()
    if settled is not None:
        raise ConflictError(
            f"{business_date} 已结算给缴费单位（{settled}），不能退款 / payment_id: its date is settled to the "
            f"biller ({settled})",
            param="payment_id",
            code="bill_payment_settled",
        )


def refund_line(
    conn: Connection, biller_id: str, payment_id: str, *, reason: str, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Refund a bill payment the biller could not apply: the money goes back from the biller's payable to the
    merchant payable the payment service refunds from, the bill gives back what it was credited, and a new
    receipt replaces the old one (receipts are reissued, never edited)."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    line = conn.execute(
        select(bill_lines).where(
            and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.payment_id == payment_id)
        )
    ).first()
    if line is None:
        raise NotFound(f"没有缴费 {payment_id} / no bill payment {payment_id}", param="payment_id")
    if line.status != LineStatus.SUCCEEDED or line.refunded_fen:
        raise ConflictError(
            f"缴费 {payment_id} 不能退款（{line.status}）/ payment {payment_id} cannot be refunded",
            code="bill_payment_not_refundable",
        )
    if not reason.strip():
        raise InvalidRequest("须填写退款原因 / a reason is required", param="reason")
    ensure_date_unsettled(conn, b.merchant_id, line.business_date)
    p = _payment(conn, b.merchant_id, payment_id=payment_id)
    from_merchant = p.amount_fen - p.fee_fen
    paid = ledger.movements.bill_payment(
        biller_id=b.id, merchant_id=b.merchant_id, biller_fen=line.biller_fen, from_merchant_fen=from_merchant
    )
    ledger.post_entry(
        conn,
        ledger.EntryRequest(
            ledger.keys.bill_refund(payment_id),
            ledger.movements.reversal("bill payment", paid),
            f"bill payment {payment_id} refunded",
        ),
        at=at,
    )
    refund = payments_api.create_refund(
        conn, b.merchant_id, payment_id, payments_api.CreateRefund(reason=reason[:200]), at=at
    )
    if line.bill_id is not None:
        back = line.bill_fen - line.credit_fen
        bill = _bill(conn, b, line.bill_id, lock=True)
        paid = bill.paid_fen - back
        status = BillStatus.UNPAID if paid == 0 else BillStatus.PARTIALLY_PAID
        conn.execute(
            update(bills)
            .where(and_(bills.c.merchant_id == b.merchant_id, bills.c.id == bill.id))
            .values(
                paid_fen=paid,
                status=status if bill.status in (*OPEN, BillStatus.PAID) else bill.status,
                late_fee_fen=bills.c.late_fee_fen - (line.late_fee_fen if back else 0),
                updated_at=at,
            )
        )
    if line.credit_fen:
        conn.execute(
            update(bill_credits)
            .where(
                and_(
                    bill_credits.c.merchant_id == b.merchant_id, bill_credits.c.account_no == line.account_no
                )
            )
            .values(
                balance_fen=func.max(bill_credits.c.balance_fen - line.credit_fen, 0)
                if conn.dialect.name == "sqlite"
                else func.greatest(bill_credits.c.balance_fen - line.credit_fen, 0),
                updated_at=at,
            )
        )
    new_no = _issue_receipt(conn, b, p, line, "reissue", line.receipt_no, at, refunded_fen=line.amount_fen)
    conn.execute(
        update(bill_lines)
        .where(and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.order_no == line.order_no))
        .values(refunded_fen=line.amount_fen, receipt_no=new_no, updated_at=at)
    )
    return {"object": "bill_refund", "refund": refund, "receipt_no": new_no}


# ---------------------------------------------------------------- households and history


def link_household(
    conn: Connection,
    phone: str,
    biller_id: str,
    account_no: str,
    label: str = "",
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A payer saves an account (their parents' water, their own power) under their phone number."""
    if not _PHONE_RE.fullmatch(phone):
        raise InvalidRequest("手机号须为 11 位 / phone must be an 11-digit mobile number", param="phone")
    b = _biller(conn, biller_id)
    acc = check_account(b, account_no)
    idx = privacy.blind_index(phone)
    key = and_(
        bill_households.c.phone_index == idx,
        bill_households.c.merchant_id == b.merchant_id,
        bill_households.c.account_no == acc,
    )
    if conn.execute(select(bill_households.c.account_no).where(key)).first() is None:
        conn.execute(
            insert(bill_households),
            [
                {
                    "phone_index": idx,
                    "merchant_id": b.merchant_id,
                    "account_no": acc,
                    "biller_id": b.id,
                    "label": label[:40],
                    "created_at": at or clock.now(),
                }
            ],
        )
    return {
        "object": "household_account",
        "phone": mask_phone(phone),
        "biller_id": b.id,
        "account_no": acc,
        "label": label[:40],
    }


def households(conn: Connection, phone: str, *, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each saved account with what it owes now."""
    idx = privacy.blind_index(phone)
    out = []
    for h in conn.execute(
        select(bill_households)
        .where(bill_households.c.phone_index == idx)
        .order_by(bill_households.c.created_at)
    ).all():
        try:
            pres = present(conn, h.biller_id, h.account_no, at=at)
        except NotFound:
            pres = {"bills": [], "credit_fen": 0}
        out.append(
            {
                "biller_id": h.biller_id,
                "account_no": h.account_no,
                "label": h.label,
                "outstanding_fen": sum(x["outstanding_fen"] for x in pres["bills"]),
                "bills": pres["bills"],
            }
        )
    return out


def history(conn: Connection, phone: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """A payer's bill payments by the phone number they gave, newest first."""
    idx = privacy.blind_index(phone)
    rows = conn.execute(
        select(bill_lines)
        .where(and_(bill_lines.c.payer_phone_index == idx, bill_lines.c.status == LineStatus.SUCCEEDED))
        .order_by(bill_lines.c.paid_at.desc())
        .limit(min(limit, PAGE_MAX))
    ).all()
    return [line_public(r) for r in rows]


# ---------------------------------------------------------------- collections, files, settlement, returns


def collections(conn: Connection, biller_id: str, *, days: int = 31) -> list[dict[str, Any]]:
    """Bill payments by business date and channel: count, amount, what the biller gets."""
    b = _biller(conn, biller_id)
    q = (
        select(
            bill_lines.c.business_date,
            bill_lines.c.channel,
            func.count(),
            func.sum(bill_lines.c.amount_fen),
            func.sum(bill_lines.c.biller_fen),
        )
        .where(and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.status == LineStatus.SUCCEEDED))
        .group_by(bill_lines.c.business_date, bill_lines.c.channel)
        .order_by(bill_lines.c.business_date.desc(), bill_lines.c.channel)
    )
    rows = conn.execute(q).all()
    dates = sorted({r[0] for r in rows}, reverse=True)[:days]
    return [
        {
            "business_date": r[0],
            "channel": r[1],
            "count": int(r[2]),
            "amount_fen": int(r[3]),
            "biller_fen": int(r[4]),
        }
        for r in rows
        if r[0] in dates
    ]


def _day_lines(conn: Connection, b: Any, d: dt.date) -> Sequence[Any]:
    return conn.execute(
        select(bill_lines)
        .where(
            and_(
                bill_lines.c.merchant_id == b.merchant_id,
                bill_lines.c.business_date == d,
                bill_lines.c.status == LineStatus.SUCCEEDED,
            )
        )
        .order_by(bill_lines.c.paid_at, bill_lines.c.order_no)
    ).all()


FIXED_WIDTH = (
    ("payment_id", 32),
    ("bill_no", 40),
    ("account_no", 30),
    ("amount_fen", 12),
    ("bill_fen", 12),
    ("paid_at", 14),
    ("channel", 12),
    ("biller_name", 40),
)


def payment_file(conn: Connection, biller_id: str, d: dt.date, fmt: str = "csv") -> tuple[bytes, str]:
    """The biller's daily payment file: every paid bill of business date `d`. CSV (UTF-8), or fixed-width GBK
    lines (widths in GBK bytes, amounts in fen right-aligned zero-padded, text left-aligned, CRLF)."""
    b = _biller(conn, biller_id)
    lines = _day_lines(conn, b, d)
    nos = _bill_nos(conn, b, [x.bill_id for x in lines if x.bill_id])
    rows = [
        {
            "payment_id": x.payment_id,
            "bill_no": nos.get(x.bill_id, ""),
            "account_no": x.account_no,
            "amount_fen": x.amount_fen,
            "bill_fen": x.bill_fen,
            "refunded_fen": x.refunded_fen,
            "paid_at": x.paid_at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S"),
            "channel": x.channel,
            "biller_name": b.name,
        }
        for x in lines
    ]
    if fmt == "csv":
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["payment_id"], lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
        return out.getvalue().encode("utf-8"), f"{b.id}_{d:%Y%m%d}_payments.csv"
    if fmt != "fixed":
        raise InvalidRequest("format 须为 csv 或 fixed / format must be csv or fixed", param="format")
    text = b""
    for r in rows:
        parts = []
        for name, width in FIXED_WIDTH:
            v = r[name]
            raw = (f"{v:0{width}d}" if isinstance(v, int) else str(v)).encode("gbk")
            raw = raw[:width] if isinstance(v, int) else _gbk_cut(str(v), width)
            parts.append(raw if isinstance(v, int) else raw.ljust(width, b" "))
        text += b" ".join(parts) + b"\r\n"
    return text, f"{b.id}_{d:%Y%m%d}_payments.txt"


def _gbk_cut(text: str, width: int) -> bytes:
    """At most `width` GBK bytes, never half a character."""
    out = b""
    for ch in text:
        enc = ch.encode("gbk")
        if len(out) + len(enc) > width:
            break
        out += enc
    return out


def _bill_nos(conn: Connection, b: Any, ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(ids), IN_CHUNK):
        out.update(
            dict(
                conn.execute(
                    select(bills.c.id, bills.c.bill_no).where(
                        and_(bills.c.merchant_id == b.merchant_id, bills.c.id.in_(ids[i : i + IN_CHUNK]))
                    )
                ).all()
            )
        )
    return out


def settle(conn: Connection, biller_id: str, d: dt.date, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Pay the biller what business date `d` collected (net of what was refunded): biller_payable →
    settlement_in_transit, with a payout file line; once per date."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    if at < dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), SHANGHAI):
        raise InvalidRequest(
            f"业务日 {d} 尚未结束 / business date {d} is not over", param="date", code="date_not_cut_off"
        )
    done = conn.execute(
        select(biller_settlements).where(
            and_(biller_settlements.c.merchant_id == b.merchant_id, biller_settlements.c.business_date == d)
        )
    ).first()
    if done is not None:
        return settlement_public(done)
    lines = _day_lines(conn, b, d)
    amount = sum(x.biller_fen for x in lines if not x.refunded_fen)
    sid = new_id_fast("bst", int(at.timestamp() * 1000))
    if amount:
        ledger.post_entry(
            conn,
            ledger.EntryRequest(
                ledger.keys.biller_settlement(b.id, d),
                ledger.movements.biller_settlement(biller_id=b.id, amount_fen=amount),
                f"biller settlement {b.id} {d}",
            ),
            at=at,
        )
    m = merchants.merchant_row(conn, b.merchant_id)
    name = f"{b.id}_{d:%Y%m%d}_payout.csv"
    row = {
        "merchant_id": b.merchant_id,
        "id": sid,
        "biller_id": b.id,
        "business_date": d,
        "payments": sum(1 for x in lines if not x.refunded_fen),
        "amount_fen": amount,
        "file_name": name,
        "created_at": at,
    }
    conn.execute(insert(biller_settlements), [row])
    doc = settlement_public(
        conn.execute(
            select(biller_settlements).where(
                and_(biller_settlements.c.merchant_id == b.merchant_id, biller_settlements.c.id == sid)
            )
        ).one()
    )
    doc["payout_file"] = (
        f"batch_no,biller_id,account_name,account_masked,bank,amount_fen\r\n"
        f"{sid},{b.id},{m.settle_account_name},{m.settle_account_masked},{m.settle_bank},{amount}\r\n"
    )
    return doc


def settlement_public(row: Any) -> dict[str, Any]:
    return {
        "object": "biller_settlement",
        "id": row.id,
        "biller_id": row.biller_id,
        "business_date": row.business_date,
        "payments": row.payments,
        "amount_fen": row.amount_fen,
        "file_name": row.file_name,
        "created_at": row.created_at,
    }


def list_settlements(conn: Connection, biller_id: str) -> list[dict[str, Any]]:
    b = _biller(conn, biller_id)
    return [
        settlement_public(r)
        for r in conn.execute(
            select(biller_settlements)
            .where(biller_settlements.c.merchant_id == b.merchant_id)
            .order_by(biller_settlements.c.business_date.desc())
        )
    ]


RETURN_COLUMNS = ("payment_id", "bill_no", "amount_fen", "result")


def import_return_file(
    conn: Connection, biller_id: str, d: dt.date, data: bytes, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The biller says which paid bills of date `d` it applied and which it rejected; every difference with our
    payment file becomes a case: rejected, missing in the return, unknown to us, amount differs."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    text, _enc = importer.decode(data)
    reader = list(csv.reader(io.StringIO(text, newline="")))
    if not reader or [h.strip() for h in reader[0]] != list(RETURN_COLUMNS):
        raise importer.BillFileRefused(
            [
                importer.Fault(
                    1,
                    "header",
                    f"表头须为 {','.join(RETURN_COLUMNS)} / the header must be {','.join(RETURN_COLUMNS)}",
                )
            ]
        )
    theirs: dict[str, tuple[int, str, str, int]] = {}
    faults = []
    for n, r in enumerate(reader[1:], start=2):
        if not any(r):
            continue
        if (
            len(r) != len(RETURN_COLUMNS)
            or not r[2].strip().isdigit()
            or r[3].strip() not in ("applied", "rejected")
        ):
            faults.append(
                importer.Fault(
                    n,
                    "line",
                    "须为 payment_id,bill_no,金额(分),applied|rejected / expected "
                    "payment_id,bill_no,amount_fen,applied|rejected",
                )
            )
            continue
        theirs[r[0].strip()] = (int(r[2]), r[3].strip(), r[1].strip(), n)
    if faults:
        raise importer.BillFileRefused(faults)
    ours = {x.payment_id: x for x in _day_lines(conn, b, d)}
    nos = _bill_nos(conn, b, [x.bill_id for x in ours.values() if x.bill_id])
    cases: list[tuple[str, str, str, int | None, int | None, str]] = []
    for pid, x in ours.items():
        t = theirs.get(pid)
        if t is None:
            cases.append(("missing_in_return", pid, nos.get(x.bill_id, ""), x.amount_fen, None, ""))
        elif t[0] != x.amount_fen:
            cases.append(("amount_mismatch", pid, t[2], x.amount_fen, t[0], ""))
        elif t[1] == "rejected":
            cases.append(
                ("rejected", pid, t[2], x.amount_fen, t[0], "缴费单位拒绝入账 / the biller rejected it")
            )
    for pid, t in theirs.items():
        if pid not in ours:
            cases.append(("unknown_in_return", pid, t[2], None, t[0], f"line {t[3]}"))
    made = 0
    for kind, pid, bill_no, o, th, detail in cases:
        exists = conn.execute(
            select(bill_recon_cases.c.id).where(
                and_(
                    bill_recon_cases.c.merchant_id == b.merchant_id,
                    bill_recon_cases.c.business_date == d,
                    bill_recon_cases.c.kind == kind,
                    bill_recon_cases.c.payment_id == pid,
                )
            )
        ).first()
        if exists is not None:
            continue
        conn.execute(
            insert(bill_recon_cases),
            [
                {
                    "merchant_id": b.merchant_id,
                    "id": new_id_fast("bcs", int(at.timestamp() * 1000)),
                    "biller_id": b.id,
                    "business_date": d,
                    "kind": kind,
                    "payment_id": pid,
                    "bill_no": bill_no,
                    "ours_fen": o,
                    "theirs_fen": th,
                    "detail": detail,
                    "status": "open",
                    "created_at": at,
                }
            ],
        )
        made += 1
    applied = sum(
        1 for pid, t in theirs.items() if t[1] == "applied" and pid in ours and t[0] == ours[pid].amount_fen
    )
    return {
        "object": "bill_return_reconciliation",
        "biller_id": b.id,
        "business_date": d,
        "ours": len(ours),
        "theirs": len(theirs),
        "matched": applied,
        "differences": len(cases),
        "new_cases": made,
    }


def list_cases(
    conn: Connection, biller_id: str | None = None, *, status: str = "open"
) -> list[dict[str, Any]]:
    q = (
        select(bill_recon_cases)
        .where(bill_recon_cases.c.status == status)
        .order_by(bill_recon_cases.c.business_date.desc(), bill_recon_cases.c.id)
    )
    if biller_id:
        q = q.where(bill_recon_cases.c.merchant_id == _biller(conn, biller_id).merchant_id)
    return [
        {
            "object": "bill_case",
            "id": r.id,
            "biller_id": r.biller_id,
            "business_date": r.business_date,
            "kind": r.kind,
            "payment_id": r.payment_id,
            "bill_no": r.bill_no,
            "ours_fen": r.ours_fen,
            "theirs_fen": r.theirs_fen,
            "detail": r.detail,
            "status": r.status,
        }
        for r in conn.execute(q)
    ]


def resolve_case(conn: Connection, biller_id: str, case_id: str) -> dict[str, Any]:
    b = _biller(conn, biller_id)
    res = conn.execute(
        update(bill_recon_cases)
        .where(
            and_(
                bill_recon_cases.c.merchant_id == b.merchant_id,
                bill_recon_cases.c.id == case_id,
                bill_recon_cases.c.status == "open",
            )
        )
        .values(status="resolved")
    )
    if res.rowcount != 1:
        raise NotFound(f"没有待处理差错 {case_id} / no open case {case_id}", param="case_id")
    return {"object": "bill_case", "id": case_id, "status": "resolved"}


# ---------------------------------------------------------------- the programme's figures


def public_service_figures(
    conn: Connection,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    town: str | None = None,
    channel: str | None = None,
    category: str | None = None,
    acquirer: str | None = None,
) -> dict[str, Any]:
    """Public-service payments by category, town and channel (succeeded, refunds not netted), for the
    regulator: count and amount; restricted, where given, to a town, a channel, a category and the acquirer
    that serves the biller."""
    if category and category not in CATEGORY_LABELS:
        raise InvalidRequest(
            f"类别 {category} 不存在 / category: unknown {category!r}; one of {', '.join(CATEGORY_LABELS)}",
            param="category",
        )
    cond = [bill_lines.c.status == LineStatus.SUCCEEDED]
    if start:
        cond.append(bill_lines.c.business_date >= start)
    if end:
        cond.append(bill_lines.c.business_date <= end)
    if town:
        cond.append(bill_lines.c.town_code == town)
    if channel:
        cond.append(bill_lines.c.channel == channel)
    if category:
        cond.append(bill_lines.c.category == category)
    if acquirer:
        served = select(billers.c.id).where(billers.c.acquirer_id == acquirer)
        cond.append(bill_lines.c.biller_id.in_(served.scalar_subquery()))
    out: dict[str, Any] = {
        "object": "public_service_figures",
        "start": start,
        "end": end,
        "filters": {"town": town, "channel": channel, "category": category, "acquirer": acquirer},
    }
    total = conn.execute(
        select(func.count(), func.coalesce(func.sum(bill_lines.c.amount_fen), 0)).where(and_(*cond))
    ).one()
    out["count"], out["amount_fen"] = int(total[0]), int(total[1])
    for dim in ("category", "town_code", "channel"):
        col = getattr(bill_lines.c, dim)
        out[f"by_{dim.removesuffix('_code')}"] = [
            {dim.removesuffix("_code"): k, "count": int(n), "amount_fen": int(a)}
            | ({"label": CATEGORY_LABELS.get(k, k)} if dim == "category" else {})
            for k, n, a in conn.execute(
                select(col, func.count(), func.sum(bill_lines.c.amount_fen))
                .where(and_(*cond))
                .group_by(col)
                .order_by(func.count().desc(), col)
            )
        ]
    return out


def kpi_public_services(
    conn: Connection,
    start: dt.date,
    end: dt.date,
    *,
    town: str | None = None,
    institution: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The dashboard's and the monthly report's figure: public-service payments paid on business dates
    start..end, by category, town and channel, under the dashboard's filters (its institution is the acquirer
    serving the biller); the same query as the bills' own figures."""
    return public_service_figures(
        conn, start=start, end=end, town=town, channel=channel, acquirer=institution
    )


def biller_overview(conn: Connection, biller_id: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """The biller's page: bills by status with amounts, today's collections, balance owed to it, open cases."""
    at = at or clock.now()
    b = _biller(conn, biller_id)
    by_status = {
        s: (int(n), int(a))
        for s, n, a in conn.execute(
            select(bills.c.status, func.count(), func.sum(bills.c.amount_due_fen))
            .where(bills.c.merchant_id == b.merchant_id)
            .group_by(bills.c.status)
        )
    }
    paid_total = conn.execute(
        select(func.coalesce(func.sum(bills.c.paid_fen), 0)).where(bills.c.merchant_id == b.merchant_id)
    ).scalar_one()
    imports = [
        dict(r._mapping)
        for r in conn.execute(
            select(
                bill_imports.c.id,
                bill_imports.c.filename,
                bill_imports.c.lines,
                bill_imports.c.total_fen,
                bill_imports.c.encoding,
                bill_imports.c.created_at,
            )
            .where(bill_imports.c.merchant_id == b.merchant_id)
            .order_by(bill_imports.c.id.desc())
            .limit(10)
        )
    ]
    open_cases = conn.execute(
        select(func.count())
        .select_from(bill_recon_cases)
        .where(and_(bill_recon_cases.c.merchant_id == b.merchant_id, bill_recon_cases.c.status == "open"))
    ).scalar_one()
    return {
        "biller": biller_public(b),
        "by_status": by_status,
        "paid_fen": int(paid_total),
        "payable_fen": ledger.get_balance(conn, payable_account(b.id)).posted_fen,
        "imports": imports,
        "collections": collections(conn, biller_id, days=14),
        "open_cases": int(open_cases),
        "today": business_date(at),
    }


def find_lines(conn: Connection, biller_id: str, *, q: str = "", limit: int = 50) -> list[dict[str, Any]]:
    b = _biller(conn, biller_id)
    cond = [bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.status == LineStatus.SUCCEEDED]
    if q:
        cond.append(or_(bill_lines.c.payment_id == q, bill_lines.c.account_no == q))
    rows = conn.execute(
        select(bill_lines)
        .where(and_(*cond))
        .order_by(bill_lines.c.paid_at.desc())
        .limit(min(limit, PAGE_MAX))
    ).all()
    return [line_public(r) for r in rows]
