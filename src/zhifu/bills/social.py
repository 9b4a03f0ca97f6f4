"""Resident social insurance (城乡居民基本养老保险 / 基本医疗保险): a payer pays the year's contribution for
several insured persons at once, at a tier (档次) of the year's table, inside the collection window (征收期).

Design note. A family's contribution order is one bill of the social insurance bureau's biller (amount: tier ×
persons, exact, due on the window's last day) with one `si_contributions` row per insured person, and it is paid
by `service.pay_bill` in the same transaction as it is made: the bill's reservation, receipt, payment file,
settlement and the regulator's figures are the bills' own, and the order is paid exactly when its bill is. An
insured person has one live contribution a scheme and year (`live_key`, unique): a second order for them is
refused while the first is paid or being paid; an order left unpaid with no payment in flight is dropped (its
bill cancelled) when a new one is made. ID numbers are stored encrypted, found by blind index, shown masked;
the bureau's download carries them in full and is recorded in the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from zhifu import privacy
from zhifu.bills import service
from zhifu.bills.gov_models import si_contributions
from zhifu.bills.models import BillStatus, LineStatus, bill_lines, billers, bills
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import fen_to_yuan_str
from zhifu.db import Database
from zhifu.reference import check_resident_id, mask_id
from zhifu.reference.validation import resident_id_birth_date

TIERS_FILE = Path(__file__).with_name("social_tiers.yaml")
MEMBERS_MAX = 10  # a household book (户口簿) rarely lists more; a larger order is a mistake, not a family
PENSION_AGE_MIN = 16  # resident pension: 16 and over, students excepted
SCHEMES = ("pension", "medical")
RELATIONS = {"self": "本人", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
SCHEME_SHORT = {"pension": "养老", "medical": "医疗"}
LIST_MAX = 500


# ---------------------------------------------------------------- the tier table


@functools.lru_cache(maxsize=1)
def tier_table() -> dict[str, Any]:
    """The tiers and windows as data (`social_tiers.yaml`), checked once: tiers ascending, windows ordered."""
    doc = yaml.safe_load(TIERS_FILE.read_text(encoding="utf-8"))
    years: dict[tuple[str, int], dict[str, Any]] = {}
    for scheme in SCHEMES:
        for row in doc["years"][scheme]:
            tiers = [int(t) * 100 for t in row["tiers"]]
            assert tiers == sorted(tiers) and tiers[0] > 0, (scheme, row)
            assert row["opens"] <= row["closes"], (scheme, row)
            years[(scheme, int(row["year"]))] = {
                "scheme": scheme,
                "year": int(row["year"]),
                "name": doc["schemes"][scheme]["name"],
                "name_en": doc["schemes"][scheme]["name_en"],
                "tiers_fen": tiers,
                "opens": row["opens"],
                "closes": row["closes"],
            }
    return {"illustrative": bool(doc.get("illustrative")), "years": years}


def plan(scheme: str, year: int) -> dict[str, Any]:
    p = tier_table()["years"].get((scheme, year))
    if p is None:
        raise InvalidRequest(
            f"没有 {year} 年{SCHEME_SHORT.get(scheme, scheme)}保险的缴费档次 / no tiers for {scheme} {year}",
            param="year",
            code="no_tiers",
        )
    return p


def open_plans(today: dt.date) -> list[dict[str, Any]]:
    """The scheme-years whose collection window contains `today` (Asia/Shanghai), for the payer's page."""
    return [p for p in tier_table()["years"].values() if p["opens"] <= today <= p["closes"]]


def plans_public() -> list[dict[str, Any]]:
    return [
        {**p, "opens": p["opens"].isoformat(), "closes": p["closes"].isoformat()}
        for p in sorted(tier_table()["years"].values(), key=lambda p: (p["scheme"], p["year"]))
    ]


# ---------------------------------------------------------------- an order


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=20)
    id_number: str = Field(min_length=1, max_length=20)
    relation: Literal["self", "spouse", "child", "parent", "other"] = "self"


class ContributionIn(BaseModel):
    """One payer paying one scheme-year at one tier for each insured person listed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    biller_id: str | None = Field(
        default=None, max_length=40
    )  # default: the county's social insurance bureau
    scheme: Literal["pension", "medical"]
    year: StrictInt
    tier_fen: StrictInt
    members: list[MemberIn] = Field(min_length=1, max_length=MEMBERS_MAX)
    payer_name: str | None = Field(default=None, max_length=20)
    payer_phone: str | None = Field(default=None, max_length=11)
    channel: str | None = None
    auth_code: str | None = Field(default=None, max_length=32)
    via: Literal["phone", "counter", "qr"] = "phone"


def bureau(conn: Connection, biller_id: str | None) -> Any:
    """The social insurance biller named, or the county's one active social insurance biller."""
    if biller_id:
        b = service._biller(conn, biller_id)
        if b.category != "social_insurance":
            raise InvalidRequest(
                f"{b.name}不是社保经办机构 / biller {b.id} does not collect social insurance",
                param="biller_id",
                code="not_social_insurance",
            )
    else:
        rows = conn.execute(
            select(billers)
            .where(and_(billers.c.category == "social_insurance", billers.c.status == "active"))
            .order_by(billers.c.id)
        ).all()
        if not rows:
            raise NotFound("本县尚无社保缴费单位 / no social insurance biller", param="biller_id")
        b = rows[0]
    if b.adhoc:
        raise InvalidRequest(
            f"{b.name}设为直缴，不能收取按人缴费 / biller {b.id} takes direct payments only",
            param="biller_id",
            code="biller_adhoc",
        )
    return b


def _check(conn: Connection, req: ContributionIn, today: dt.date) -> tuple[Any, dict[str, Any], list[str]]:
    """Every rule an order must meet, before anything is written; returns the biller, the plan, the IDs."""
    if req.scheme not in SCHEMES:
        raise InvalidRequest(
            "险种须为 pension 或 medical / scheme must be pension or medical", param="scheme"
        )
    p = plan(req.scheme, req.year)
    if not p["opens"] <= today <= p["closes"]:
        raise ConflictError(
            f"{req.year} 年{p['name']}征收期为 {p['opens']} 至 {p['closes']}，今天 {today} 不在征收期内 / the "
            f"collection window of {req.scheme} {req.year} is {p['opens']}..{p['closes']}",
            param="year",
            code="collection_window_closed",
        )
    if req.tier_fen not in p["tiers_fen"]:
        tiers = "、".join(fen_to_yuan_str(t) for t in p["tiers_fen"])
        raise InvalidRequest(
            f"缴费档次须为 {tiers} 元之一 / tier_fen must be one of the year's tiers ({tiers} yuan)",
            param="tier_fen",
            code="unknown_tier",
        )
    ids: list[str] = []
    for i, m in enumerate(req.members):
        try:
            number = check_resident_id(m.id_number, param=f"members[{i}].id_number", today=today)
        except InvalidRequest as exc:  # say which person: a family's numbers look alike
            raise InvalidRequest(
                f"第 {i + 1} 位参保人：{exc.message}", param=exc.param, code=exc.code
            ) from None
        if number in ids:
            raise InvalidRequest(
                f"第 {i + 1} 位参保人身份证号码与第 {ids.index(number) + 1} 位重复 / members[{i}] repeats "
                f"members[{ids.index(number)}]",
                param=f"members[{i}].id_number",
                code="duplicate_member",
            )
        if req.scheme == "pension":
            birth = resident_id_birth_date(number)
            assert birth is not None  # checked above
            age = req.year - birth.year
            if age < PENSION_AGE_MIN:
                raise InvalidRequest(
                    f"第 {i + 1} 位参保人 {req.year} 年未满 {PENSION_AGE_MIN} 周岁，不能参加城乡居民养老保险 / "
                    f"members[{i}] is under {PENSION_AGE_MIN} in {req.year}",
                    param=f"members[{i}].id_number",
                    code="under_pension_age",
                )
        ids.append(number)
    if req.payer_phone and not service._PHONE_RE.fullmatch(req.payer_phone):
        raise InvalidRequest(
            "手机号须为 11 位 / payer_phone must be an 11-digit mobile number", param="payer_phone"
        )
    if (req.channel is None) == (req.auth_code is None):
        raise InvalidRequest(
            "须给出 channel（扫码）或 auth_code（付款码）之一 / give exactly one of channel or auth_code",
            param="channel",
        )
    return bureau(conn, req.biller_id), p, ids


def _live_key(scheme: str, year: int, id_index: str) -> str:
    return f"{scheme}:{year}:{id_index}"


def _clear_way(conn: Connection, b: Any, req: ContributionIn, ids: list[str], at: dt.datetime) -> None:
    """Refuse a person already paid or being paid for; drop an earlier order of theirs left unpaid."""
    keys = {_live_key(req.scheme, req.year, privacy.blind_index(n)): i for i, n in enumerate(ids)}
    rows = conn.execute(
        select(si_contributions.c.live_key, si_contributions.c.bill_id).where(
            and_(si_contributions.c.merchant_id == b.merchant_id, si_contributions.c.live_key.in_(list(keys)))
        )
    ).all()
    for key, bill_id in sorted(rows, key=lambda r: keys[r[0]]):  # the first person listed is named first
        i = keys[key]
        service._release_finished(conn, b, bill_id, at)
        bill = service._bill(conn, b, bill_id, lock=True)
        if bill.status == BillStatus.PAID or bill.paid_fen:
            raise ConflictError(
                f"第 {i + 1} 位参保人 {req.year} 年{SCHEME_SHORT[req.scheme]}保险已缴费 / members[{i}] has paid "
                f"{req.scheme} {req.year} already",
                param=f"members[{i}].id_number",
                code="already_contributed",
            )
        if bill.open_payments:
            raise ConflictError(
                f"第 {i + 1} 位参保人有一笔缴费正在支付中，请稍后再试 / members[{i}] has a payment in progress",
                param=f"members[{i}].id_number",
                code="contribution_in_progress",
            )
    for bill_id in {r.bill_id for r in rows}:
        _drop(conn, b, bill_id, at)


def _drop(conn: Connection, b: Any, bill_id: str, at: dt.datetime) -> None:
    conn.execute(
        update(si_contributions)
        .where(and_(si_contributions.c.merchant_id == b.merchant_id, si_contributions.c.bill_id == bill_id))
        .values(live_key=None)
    )
    conn.execute(
        update(bills)
        .where(
            and_(
                bills.c.merchant_id == b.merchant_id,
                bills.c.id == bill_id,
                bills.c.status == BillStatus.UNPAID,
                bills.c.open_payments == 0,
            )
        )
        .values(status=BillStatus.CANCELLED, updated_at=at)
    )


def _order_account(b: Any) -> str:
    """A number in the biller's own account format for the order (random, so it says nothing of the payer)."""
    n = b.account_len_max
    if b.check_digit == "luhn":
        return service.luhn_complete("9" + "".join(str(secrets.randbelow(10)) for _ in range(n - 2)))
    return "9" + "".join(str(secrets.randbelow(10)) for _ in range(n - 1))


def make_and_pay(conn: Connection, req: ContributionIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Check the order, write its bill and one contribution per person, and create the payment, all in the
    caller's transaction (the rail is called after it commits)."""
    at = at or clock.now()
    today = at.astimezone(SHANGHAI).date()
    b, p, ids = _check(conn, req, today)
    _clear_way(conn, b, req, ids, at)
    ms = int(at.timestamp() * 1000)
    bill_id = new_id_fast("bil", ms)
    acc = _order_account(b)
    amount = req.tier_fen * len(ids)
    payer = req.payer_name or req.members[0].name
    conn.execute(
        insert(bills),
        [
            {
                "merchant_id": b.merchant_id,
                "id": bill_id,
                "biller_id": b.id,
                "bill_no": f"SI{req.year}{bill_id.split('_', 1)[1]}",
                "account_no": acc,
                "payer_name_enc": privacy.encrypt(payer),
                "payer_name_masked": service.mask_name(payer),
                "period": f"{req.year}年{SCHEME_SHORT[req.scheme]}保险",
                "amount_due_fen": amount,
                "min_due_fen": amount,
                "due_date": p["closes"],
                "late_fee_ppm_per_day": 0,
                "credit_applied_fen": 0,
                "late_fee_fen": 0,
                "paid_fen": 0,
                "reserved_fen": 0,
                "open_payments": 0,
                "status": BillStatus.UNPAID,
                "import_id": None,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    phone_index = privacy.blind_index(req.payer_phone) if req.payer_phone else None
    conn.execute(
        insert(si_contributions),
        [
            {
                "merchant_id": b.merchant_id,
                "id": new_id_fast("sic", ms + i),  # ids sort in the order the payer listed the persons
                "biller_id": b.id,
                "bill_id": bill_id,
                "scheme": req.scheme,
                "year": req.year,
                "tier_fen": req.tier_fen,
                "insured_name_enc": privacy.encrypt(m.name),
                "insured_name_masked": service.mask_name(m.name),
                "insured_id_enc": privacy.encrypt(number),
                "insured_id_index": privacy.blind_index(number),
                "insured_id_masked": mask_id(number),
                "relation": m.relation,
                "payer_phone_index": phone_index,
                "live_key": _live_key(req.scheme, req.year, privacy.blind_index(number)),
                "created_at": at,
            }
            for i, (m, number) in enumerate(zip(req.members, ids, strict=True))
        ],
    )
    out = service.pay_bill(
        conn,
        service.PayBillIn(
            biller_id=b.id,
            account_no=acc,
            bill_id=bill_id,
            channel=req.channel,
            auth_code=req.auth_code,
            payer_phone=req.payer_phone,
            via=req.via,
        ),
        at=at,
    )
    return {"order_id": bill_id, "payment": out["payment"]}


def contribute(db: Database, req: ContributionIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Make and pay an order in its own transaction, then show it as the rail left it (a refused pay code gives
    its reservation back at once)."""
    try:
        made = db.run(lambda c: make_and_pay(c, req, at=at))
    except IntegrityError:  # another phone made an order for one of these persons in the same instant
        raise ConflictError(
            "参保人有一笔缴费正在支付中，请稍后再试 / one of the members has a payment in progress",
            param="members",
            code="contribution_in_progress",
        ) from None

    def after(conn: Connection) -> dict[str, Any]:
        b = service._biller(conn, (req.biller_id or bureau(conn, None).id))
        service._release_finished(conn, b, made["order_id"], clock.now())
        return get_order(conn, made["order_id"])

    return db.run(after)


# ---------------------------------------------------------------- reading orders


def _order_rows(conn: Connection, order_id: str) -> tuple[Any, Any, Sequence[Any]]:
    rows = conn.execute(
        select(si_contributions).where(si_contributions.c.bill_id == order_id).order_by(si_contributions.c.id)
    ).all()
    if not rows:
        raise NotFound(f"没有缴费订单 {order_id} / no contribution order {order_id}", param="order_id")
    b = service._biller(conn, rows[0].biller_id)
    return b, service._bill(conn, b, order_id), rows


def _status(bill_status: str, open_payments: int, dropped: bool) -> str:
    if bill_status == BillStatus.PAID:
        return "paid"
    if bill_status in (BillStatus.CANCELLED, BillStatus.EXPIRED) or dropped:
        return "dropped"
    return "paying" if open_payments else "unpaid"


STATUS_LABELS = {"paid": "已缴费", "paying": "支付中", "unpaid": "未支付", "dropped": "已作废"}


def get_order(conn: Connection, order_id: str) -> dict[str, Any]:
    """An order as the payer sees it: persons masked, the status of its bill, its payment and receipt."""
    b, bill, rows = _order_rows(conn, order_id)
    line = conn.execute(
        select(bill_lines)
        .where(and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.bill_id == order_id))
        .order_by(bill_lines.c.created_at.desc())
    ).first()
    status = _status(bill.status, bill.open_payments, all(r.live_key is None for r in rows))
    return {
        "object": "si_order",
        "id": order_id,
        "biller_id": b.id,
        "biller_name": b.name,
        "scheme": rows[0].scheme,
        "scheme_name": plan(rows[0].scheme, rows[0].year)["name"],
        "year": rows[0].year,
        "tier_fen": rows[0].tier_fen,
        "amount_fen": bill.amount_due_fen,
        "payer_name": bill.payer_name_masked,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "members": [
            {
                "name": r.insured_name_masked,
                "id_number": r.insured_id_masked,
                "relation": r.relation,
                "relation_label": RELATIONS[r.relation],
            }
            for r in rows
        ],
        "payment_id": line.payment_id if line is not None else None,
        "payment_status": line.status if line is not None else None,
        "receipt_no": line.receipt_no if line is not None and line.status == LineStatus.SUCCEEDED else None,
        "created_at": bill.created_at,
    }


def list_contributions(
    conn: Connection,
    biller_id: str,
    *,
    year: int | None = None,
    scheme: str | None = None,
    status: str | None = None,
    limit: int = LIST_MAX,
) -> list[dict[str, Any]]:
    """The bureau's list: one row per insured person, newest first, with its order's status (masked)."""
    b = service._biller(conn, biller_id)
    cond = [si_contributions.c.merchant_id == b.merchant_id]
    if year is not None:
        cond.append(si_contributions.c.year == year)
    if scheme:
        cond.append(si_contributions.c.scheme == scheme)
    q = (
        select(si_contributions, bills.c.status.label("bill_status"), bills.c.open_payments, bills.c.paid_fen)
        .join(
            bills,
            and_(
                bills.c.merchant_id == si_contributions.c.merchant_id,
                bills.c.id == si_contributions.c.bill_id,
            ),
        )
        .where(and_(*cond))
        .order_by(si_contributions.c.created_at.desc(), si_contributions.c.id)
    )
    out = []
    for r in conn.execute(q.limit(min(limit, LIST_MAX) * 4)):
        st = _status(r.bill_status, r.open_payments, r.live_key is None)
        if status and st != status:
            continue
        out.append(
            {
                "id": r.id,
                "order_id": r.bill_id,
                "scheme": r.scheme,
                "scheme_label": SCHEME_SHORT[r.scheme],
                "year": r.year,
                "tier_fen": r.tier_fen,
                "name": r.insured_name_masked,
                "id_number": r.insured_id_masked,
                "relation_label": RELATIONS[r.relation],
                "status": st,
                "status_label": STATUS_LABELS[st],
                "created_at": r.created_at,
                "created_at_local": r.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            }
        )
        if len(out) >= limit:
            break
    return out


def summary(conn: Connection, biller_id: str) -> list[dict[str, Any]]:
    """Paid persons and amounts by scheme, year and tier (the bureau's page)."""
    b = service._biller(conn, biller_id)
    rows = conn.execute(
        select(
            si_contributions.c.scheme,
            si_contributions.c.year,
            si_contributions.c.tier_fen,
            func.count(),
            func.sum(si_contributions.c.tier_fen),
        )
        .join(
            bills,
            and_(
                bills.c.merchant_id == si_contributions.c.merchant_id,
                bills.c.id == si_contributions.c.bill_id,
            ),
        )
        .where(and_(si_contributions.c.merchant_id == b.merchant_id, bills.c.status == BillStatus.PAID))
        .group_by(si_contributions.c.scheme, si_contributions.c.year, si_contributions.c.tier_fen)
        .order_by(si_contributions.c.year.desc(), si_contributions.c.scheme, si_contributions.c.tier_fen)
    ).all()
    return [
        {
            "scheme": s,
            "scheme_label": SCHEME_SHORT[s],
            "year": y,
            "tier_fen": int(t),
            "persons": int(n),
            "amount_fen": int(a),
        }
        for s, y, t, n, a in rows
    ]


EXPORT_HEADER = (
    "险种 Scheme",
    "年度 Year",
    "档次（元）Tier",
    "参保人 Insured",
    "身份证号码 ID number",
    "与交款人关系 Relation",
    "订单号 Order",
    "支付单号 Payment",
    "电子回单号 Receipt",
    "缴费时间 Paid at",
)


def export_paid(conn: Connection, biller_id: str, year: int, scheme: str) -> tuple[bytes, int]:
    """The bureau's file of paid contributions for a scheme-year, with names and ID numbers in full (the bureau
    credits each person's account by them): CSV, UTF-8 with BOM for spreadsheet programs. Returns (file, rows)."""
    b = service._biller(conn, biller_id)
    plan(scheme, year)
    q = (
        select(si_contributions, bill_lines.c.payment_id, bill_lines.c.receipt_no, bill_lines.c.paid_at)
        .join(
            bills,
            and_(
                bills.c.merchant_id == si_contributions.c.merchant_id,
                bills.c.id == si_contributions.c.bill_id,
            ),
        )
        .join(
            bill_lines,
            and_(
                bill_lines.c.merchant_id == bills.c.merchant_id,
                bill_lines.c.bill_id == bills.c.id,
                bill_lines.c.status == LineStatus.SUCCEEDED,
            ),
        )
        .where(
            and_(
                si_contributions.c.merchant_id == b.merchant_id,
                si_contributions.c.year == year,
                si_contributions.c.scheme == scheme,
                bills.c.status == BillStatus.PAID,
            )
        )
        .order_by(bill_lines.c.paid_at, si_contributions.c.id)
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(EXPORT_HEADER)
    n = 0
    for r in conn.execute(q):
        w.writerow(
            [
                plan(r.scheme, r.year)["name"],
                r.year,
                fen_to_yuan_str(r.tier_fen),
                privacy.decrypt(r.insured_name_enc, conn),
                privacy.decrypt(r.insured_id_enc, conn),
                RELATIONS[r.relation],
                r.bill_id,
                r.payment_id,
                r.receipt_no or "",
                r.paid_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if r.paid_at else "",
            ]
        )
        n += 1
    return ("\ufeff" + buf.getvalue()).encode("utf-8"), n
