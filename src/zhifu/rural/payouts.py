"""Farm-produce purchasing (农产品收购): a buyer (cooperative, agri company, purchase station) on one of the
acquirer's merchants records purchases at the scale, tops up its funded account, and pays farmers in a batch
to their harvest/Class I cards or e-accounts.

Amounts: gross = weight_g × price_fen_per_kg ÷ 1000, rounded half-up to the fen, once per purchase; the farmer
is paid gross − deductions. A batch pays one line per farmer (the sum of that farmer's unpaid purchases).

Money: the batch is refused whole unless the buyer's funded account covers it; the whole total moves
DR rural_buyer_funds:<mch> → CR rural_payouts_in_transit, then each line DR in_transit → CR the farmer's
e-account (its limits checked and counted) or CR rural_card_clearing (the bank's core credits the card). A line
the card or the e-account refuses stays in transit as `failed`; the buyer retries it (after the farmer's card is
corrected) or returns it (DR in_transit → CR buyer funds)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, insert, select, update

from zhifu import ledger
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.merchants import active_merchant_row
from zhifu.merchants import county as county_profile
from zhifu.privacy import blind_index, encrypt, mask_account, mask_name
from zhifu.rural import eaccounts as ea
from zhifu.rural import harvest
from zhifu.rural.issuer import issuer
from zhifu.rural.models import (
    buyers,
    farmers,
    payout_batches,
    payouts,
    purchases,
)

IN_TRANSIT = ledger.accounts.RURAL_PAYOUTS_IN_TRANSIT
BATCH_LINES_MAX = 200_000  # a county's whole harvest season in one batch; bounds one transaction
CHUNK = 5_000  # lines posted per ledger call (the ledger takes at most 10,000 entries a call)
IMPORT_ROWS_MAX = 200_000
WEIGHT_G_MAX = 100_000_000  # 100 tonnes on one ticket is a lorry too many
PRICE_FEN_PER_KG_MAX = 10_000_000  # 100,000 yuan a kilo: no farm product costs that
IMPORT_FIELDS = ("farmer_id", "product", "grade", "weight_g", "price_fen_per_kg", "deductions_fen")


funds_account = ledger.accounts.rural_buyer_funds


# ---------------------------------------------------------------- buyers and farmers


class BuyerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: str = Field(min_length=1, max_length=32)
    kind: Literal["cooperative", "agri_company", "purchase_station"]
    name: str = Field(min_length=1, max_length=80)


def register_buyer(conn: Connection, req: BuyerIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    at = at or clock.now()
    active_merchant_row(conn, req.merchant_id)
    if (
        conn.execute(select(buyers.c.merchant_id).where(buyers.c.merchant_id == req.merchant_id)).first()
        is None
    ):
        conn.execute(
            insert(buyers),
            [{"merchant_id": req.merchant_id, "kind": req.kind, "name": req.name, "created_at": at}],
        )
    ledger.open_accounts(
        conn,
        [
            (funds_account(req.merchant_id), "liability", "CNY", True),
            (IN_TRANSIT, "liability", "CNY", False),
            (ea.CARD_CLEARING, "asset", "CNY", False),
        ],
    )
    return buyer(conn, req.merchant_id)


def buyer(conn: Connection, merchant_id: str) -> dict[str, Any]:
    r = conn.execute(select(buyers).where(buyers.c.merchant_id == merchant_id)).first()
    if r is None:
        raise NotFound(
            f"商户 {merchant_id} 未开通农产品收购 / merchant is not an agri buyer", param="merchant_id"
        )
    return {
        "merchant_id": r.merchant_id,
        "kind": r.kind,
        "name": r.name,
        "funds_fen": ledger.get_balance(conn, funds_account(merchant_id)).posted_fen,
    }


def list_buyers(conn: Connection) -> list[dict[str, Any]]:
    return [buyer(conn, r.merchant_id) for r in conn.execute(select(buyers).order_by(buyers.c.name))]


def fund(
    conn: Connection, merchant_id: str, amount_fen: int, reference: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The buyer moves money from its bank account into its funded account."""
    buyer(conn, merchant_id)
    check_fen(amount_fen, max_fen=10**12, param="amount_fen")
    ledger.post_entry(
        conn,
        ledger.EntryRequest(
            ledger.keys.rural_funding(merchant_id, reference),
            ledger.movements.rural_buyer_funding(merchant_id=merchant_id, amount_fen=amount_fen),
            f"buyer {merchant_id} tops up",
        ),
        at=at,
    )
    return buyer(conn, merchant_id)


class FarmerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    town_code: str = Field(pattern=r"^[0-9]{9}$")
    village_code: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    card_no: str | None = Field(default=None, min_length=16, max_length=19)
    eaccount_id: str | None = Field(default=None, max_length=32)


def register_farmer(
    conn: Connection, req: FarmerIn, *, at: dt.datetime | None = None, farmer_id: str | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    if req.card_no is None and req.eaccount_id is None:
        raise InvalidRequest("须提供银行卡号或电子账户 / give a card number or an e-account", param="card_no")
    if req.card_no is not None and not (req.card_no.isdigit() and req.card_no.startswith("62")):
        raise InvalidRequest("卡号格式错误 / not a bank card number", param="card_no")
    if req.town_code not in {t.code for t in county_profile().towns}:
        raise InvalidRequest(f"未知乡镇 {req.town_code} / unknown town", param="town_code")
    if req.eaccount_id is not None:
        ea.get_eaccount(conn, req.eaccount_id)
    fid = farmer_id or new_id_fast("far", int(at.timestamp() * 1000))
    conn.execute(
        insert(farmers),
        [
            {
                "id": fid,
                "name_masked": mask_name(req.name),
                "name_enc": encrypt(req.name, conn),
                "town_code": req.town_code,
                "village_code": req.village_code,
                "card_index": blind_index(req.card_no) if req.card_no else None,
                "card_enc": encrypt(req.card_no, conn) if req.card_no else None,
                "card_masked": mask_account(req.card_no) if req.card_no else None,
                "eaccount_id": req.eaccount_id,
                "created_at": at,
            }
        ],
    )
    return farmer(conn, fid)


def farmer(conn: Connection, farmer_id: str) -> dict[str, Any]:
    r = conn.execute(select(farmers).where(farmers.c.id == farmer_id)).first()
    if r is None:
        raise NotFound(f"没有农户 {farmer_id} / no farmer {farmer_id}", param="farmer_id")
    return {
        "id": r.id,
        "name": r.name_masked,
        "town_code": r.town_code,
        "village_code": r.village_code,
        "card": r.card_masked,
        "eaccount_id": r.eaccount_id,
    }


def change_card(conn: Connection, farmer_id: str, card_no: str) -> dict[str, Any]:
    """The farmer's new card (after a payout to the old one came back)."""
    farmer(conn, farmer_id)
    problem = issuer().card_problem(card_no)
    if problem:
        raise InvalidRequest(problem, param="card_no")
    conn.execute(
        update(farmers)
        .where(farmers.c.id == farmer_id)
        .values(
            card_index=blind_index(card_no),
            card_enc=encrypt(card_no, conn),
            card_masked=mask_account(card_no),
        )
    )
    return farmer(conn, farmer_id)


# ---------------------------------------------------------------- purchases


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    farmer_id: str = Field(min_length=1, max_length=32)
    product: str = Field(min_length=1, max_length=40)
    grade: str = Field(default="", max_length=20)
    weight_g: StrictInt
    price_fen_per_kg: StrictInt
    deductions_fen: StrictInt = 0


def amounts(weight_g: int, price_fen_per_kg: int, deductions_fen: int) -> tuple[int, int]:
    """(gross, net) in fen: gross = weight_g × price_fen_per_kg / 1000 rounded half-up; net = gross − deductions."""
    gross = (weight_g * price_fen_per_kg + 500) // 1000
    return gross, gross - deductions_fen


def _check_purchase(req: PurchaseIn) -> tuple[int, int]:
    if req.weight_g <= 0 or req.weight_g > WEIGHT_G_MAX:
        raise InvalidRequest(
            f"重量须为 1–{WEIGHT_G_MAX} 克 / weight_g must be 1–{WEIGHT_G_MAX} grams", param="weight_g"
        )
    if req.price_fen_per_kg <= 0 or req.price_fen_per_kg > PRICE_FEN_PER_KG_MAX:
        raise InvalidRequest(
            "单价须大于零 / price_fen_per_kg must be more than zero", param="price_fen_per_kg"
        )
    if req.deductions_fen < 0:
        raise InvalidRequest("扣款不能为负 / deductions_fen cannot be negative", param="deductions_fen")
    gross, net = amounts(req.weight_g, req.price_fen_per_kg, req.deductions_fen)
    if net < 0:
        raise InvalidRequest(
            f"扣款 {fen_to_yuan_str(req.deductions_fen)} 超过货款 {fen_to_yuan_str(gross)} / "
            f"deductions exceed the gross amount",
            param="deductions_fen",
        )
    return gross, net


def _purchase_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "purchase",
        "merchant_id": r.merchant_id,
        "farmer_id": r.farmer_id,
        "product": r.product,
        "grade": r.grade,
        "weight_g": r.weight_g,
        "price_fen_per_kg": r.price_fen_per_kg,
        "gross_fen": r.gross_fen,
        "deductions_fen": r.deductions_fen,
        "amount_fen": r.amount_fen,
        "batch_id": r.batch_id,
        "created_at": r.created_at,
    }


def _purchase_row(
    merchant_id: str, pid: str, req: PurchaseIn, gross: int, net: int, at: dt.datetime
) -> dict[str, Any]:
    """A purchase as it is stored, not yet in a batch (one recorded at the scale or a line of an import)."""
    return {
        "merchant_id": merchant_id,
        "id": pid,
        "farmer_id": req.farmer_id,
        "product": req.product,
        "grade": req.grade,
        "weight_g": req.weight_g,
        "price_fen_per_kg": req.price_fen_per_kg,
        "gross_fen": gross,
        "deductions_fen": req.deductions_fen,
        "amount_fen": net,
        "batch_id": None,
        "created_at": at,
    }


def record_purchase(
    conn: Connection, merchant_id: str, req: PurchaseIn, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    at = at or clock.now()
    buyer(conn, merchant_id)
    gross, net = _check_purchase(req)
    farmer(conn, req.farmer_id)
    pid = new_id_fast("pur", int(at.timestamp() * 1000))
    conn.execute(insert(purchases), [_purchase_row(merchant_id, pid, req, gross, net, at)])
    return _purchase_public(
        conn.execute(
            select(purchases).where(and_(purchases.c.merchant_id == merchant_id, purchases.c.id == pid))
        ).one()
    )


def receipt(conn: Connection, merchant_id: str, purchase_id: str) -> str:
    """The scale ticket the farmer takes home (printed, or sent as text)."""
    r = conn.execute(
        select(purchases).where(and_(purchases.c.merchant_id == merchant_id, purchases.c.id == purchase_id))
    ).first()
    if r is None:
        raise NotFound(f"没有收购单 {purchase_id} / no purchase {purchase_id}", param="purchase_id")
    b = buyer(conn, merchant_id)
    f = farmer(conn, r.farmer_id)
    at = r.created_at.astimezone(clock.SHANGHAI)
    return "\n".join(
        [
            f"{b['name']} 收购凭证 / purchase receipt",
            f"单号 No.: {r.id}",
            f"时间 Time: {at:%Y-%m-%d %H:%M}",
            f"农户 Farmer: {f['name']} ({r.farmer_id})",
            f"品名 Product: {r.product} {r.grade}".rstrip(),
            f"重量 Weight: {r.weight_g / 1000:.3f} kg",
            f"单价 Price: {fen_to_yuan_str(r.price_fen_per_kg)} 元/kg",
            f"货款 Gross: {fen_to_yuan_str(r.gross_fen)} 元（四舍五入到分 / rounded half-up to the fen）",
            f"扣款 Deductions: {fen_to_yuan_str(r.deductions_fen)} 元",
            f"应付 Net: {fen_to_yuan_str(r.amount_fen)} 元",
            f"付款 Paid by batch: {r.batch_id or '待付 / to be paid'}",
        ]
    )


def import_purchases(
    conn: Connection, merchant_id: str, data: bytes, *, at: dt.datetime | None = None
) -> int:
    """A scale's CSV (farmer_id,product,grade,weight_g,price_fen_per_kg,deductions_fen): every line or none; a bad
    line is refused with its line number and field."""
    at = at or clock.now()
    buyer(conn, merchant_id)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("文件须为 UTF-8 / the file must be UTF-8", param="file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != IMPORT_FIELDS:
        raise InvalidRequest(
            f"第 1 行：表头须为 {','.join(IMPORT_FIELDS)} / line 1: the header must be "
            f"{','.join(IMPORT_FIELDS)}",
            param="line 1",
        )
    known: set[str] = set()
    rows: list[dict[str, Any]] = []
    ms = int(at.timestamp() * 1000)
    for n, rec in enumerate(reader, start=2):
        if not rec or not any(x.strip() for x in rec):
            continue
        if len(rows) >= IMPORT_ROWS_MAX:
            raise InvalidRequest(
                f"第 {n} 行：最多 {IMPORT_ROWS_MAX} 行 / at most {IMPORT_ROWS_MAX} rows", param=f"line {n}"
            )
        if len(rec) != len(IMPORT_FIELDS):
            raise InvalidRequest(
                f"第 {n} 行：应有 {len(IMPORT_FIELDS)} 列，实有 {len(rec)} 列 / line {n} has "
                f"{len(rec)} fields, not {len(IMPORT_FIELDS)}",
                param=f"line {n}",
            )
        doc = dict(zip(IMPORT_FIELDS, (x.strip() for x in rec), strict=True))
        for f in ("weight_g", "price_fen_per_kg", "deductions_fen"):
            v = doc[f] or "0"
            if not v.lstrip("-").isdigit():
                raise InvalidRequest(
                    f"第 {n} 行 {f}：须为整数 / line {n} {f}: a whole number", param=f"line {n}: {f}"
                )
            doc[f] = int(v)  # type: ignore[assignment]
        for f, most in (("farmer_id", 32), ("product", 40), ("grade", 20)):
            if len(doc[f]) > most or (f != "grade" and not doc[f]):
                raise InvalidRequest(
                    f"第 {n} 行 {f}：须为 1–{most} 个字符 / line {n} {f}: 1–{most} characters",
                    param=f"line {n}: {f}",
                )
        req = PurchaseIn(**doc)  # type: ignore[arg-type]
        try:
            gross, net = _check_purchase(req)
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"第 {n} 行 {exc.param}：{exc.message}", param=f"line {n}: {exc.param}"
            ) from None
        known.add(req.farmer_id)
        rows.append({**_purchase_row(merchant_id, new_id_fast("pur", ms), req, gross, net, at), "_line": n})
    if not rows:
        raise InvalidRequest("文件没有数据行 / the file has no rows", param="file")
    have: set[str] = set()
    ids = sorted(known)
    for start in range(0, len(ids), 500):
        have |= {
            i for (i,) in conn.execute(select(farmers.c.id).where(farmers.c.id.in_(ids[start : start + 500])))
        }
    for r in rows:
        if r["farmer_id"] not in have:
            raise InvalidRequest(
                f"第 {r['_line']} 行 farmer_id：没有农户 {r['farmer_id']} / no such farmer",
                param=f"line {r['_line']}: farmer_id",
            )
    for r in rows:
        del r["_line"]
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(purchases), rows[start : start + 5_000])
    return len(rows)


def list_purchases(
    conn: Connection, merchant_id: str, *, unpaid: bool = False, limit: int = 100
) -> list[dict]:
    q = select(purchases).where(purchases.c.merchant_id == merchant_id)
    if unpaid:
        q = q.where(purchases.c.batch_id.is_(None))
    q = q.order_by(purchases.c.created_at.desc(), purchases.c.id.desc()).limit(max(1, min(limit, 1000)))
    return [_purchase_public(r) for r in conn.execute(q)]


# ---------------------------------------------------------------- payout batches


def pay_batch(conn: Connection, merchant_id: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Pay every unpaid purchase of the buyer, one line per farmer; refused whole when the funds fall short."""
    at = at or clock.now()
    b = buyer(conn, merchant_id)
    due: dict[str, int] = defaultdict(int)
    for fid, amount in conn.execute(
        select(purchases.c.farmer_id, purchases.c.amount_fen).where(
            and_(purchases.c.merchant_id == merchant_id, purchases.c.batch_id.is_(None))
        )
    ):
        due[fid] += int(amount)
    due = {f: a for f, a in due.items() if a > 0}
    if not due:
        raise InvalidRequest(
            "没有待付的收购单 / no unpaid purchases", param="purchases", code="nothing_to_pay"
        )
    if len(due) > BATCH_LINES_MAX:
        raise InvalidRequest(
            f"一批最多 {BATCH_LINES_MAX} 户 / at most {BATCH_LINES_MAX} farmers a batch", param="purchases"
        )
    total = sum(due.values())
    if total > b["funds_fen"]:
        raise InvalidRequest(
            f"资金不足：本批 {fen_to_yuan_str(total)} 元，账户余额 {fen_to_yuan_str(b['funds_fen'])} 元，"
            f"整批未付 / the batch of {fen_to_yuan_str(total)} exceeds the funds of "
            f"{fen_to_yuan_str(b['funds_fen'])}; nothing was paid",
            param="amount_fen",
            code="insufficient_funds",
        )
    bid = new_id_fast("pob", int(at.timestamp() * 1000))
    ledger.post_entry(
        conn,
        ledger.EntryRequest(
            ledger.keys.rural_payout_batch(merchant_id, bid),
            ledger.movements.rural_payout_batch(merchant_id=merchant_id, amount_fen=total),
            f"payout batch {bid}",
        ),
        at=at,
    )
    fids = sorted(due)
    targets = _targets(conn, fids)
    lines = [
        {
            "merchant_id": merchant_id,
            "batch_id": bid,
            "line_no": i + 1,
            "farmer_id": fid,
            "target": targets[fid][0],
            "target_index": targets[fid][1],
            "target_masked": targets[fid][2],
            "amount_fen": due[fid],
            "status": "paid",
            "failure": None,
            "attempts": 1,
            "updated_at": at,
        }
        for i, fid in enumerate(fids)
    ]
    for start in range(0, len(lines), CHUNK):
        _execute(conn, merchant_id, bid, lines[start : start + CHUNK], at)
    for start in range(0, len(lines), CHUNK):
        conn.execute(insert(payouts), lines[start : start + CHUNK])
    for start in range(0, len(fids), 500):
        conn.execute(
            update(purchases)
            .where(
                and_(
                    purchases.c.merchant_id == merchant_id,
                    purchases.c.batch_id.is_(None),
                    purchases.c.farmer_id.in_(fids[start : start + 500]),
                )
            )
            .values(batch_id=bid)
        )
    failed = sum(1 for x in lines if x["status"] == "failed")
    conn.execute(
        insert(payout_batches),
        [
            {
                "merchant_id": merchant_id,
                "id": bid,
                "status": "exceptions" if failed else "done",
                "lines": len(lines),
                "total_fen": total,
                "source": "purchases",
                "created_at": at,
            }
        ],
    )
    return batch(conn, merchant_id, bid)


def _targets(conn: Connection, fids: list[str]) -> dict[str, tuple[str, str, str]]:
    """Each farmer's payout target: the e-account when the farmer has one, else the card."""
    out: dict[str, tuple[str, str, str]] = {}
    for start in range(0, len(fids), 500):
        for r in conn.execute(
            select(farmers.c.id, farmers.c.eaccount_id, farmers.c.card_index, farmers.c.card_masked).where(
                farmers.c.id.in_(fids[start : start + 500])
            )
        ):
            if r.eaccount_id:
                out[r.id] = ("eaccount", r.eaccount_id, r.eaccount_id)
            else:
                out[r.id] = ("card", r.card_index or "", r.card_masked or "")
    return out


def _execute(
    conn: Connection, merchant_id: str, bid: str, lines: list[dict[str, Any]], at: dt.datetime
) -> None:
    """Pay a chunk of lines out of transit: cards in bulk, e-accounts with their limits; failures stay in transit."""
    requests: list[ledger.EntryRequest] = []
    credited: list[str] = []
    for x in lines:
        key = ledger.keys.rural_payout_line(merchant_id, bid, x["line_no"], x["attempts"])
        if x["target"] == "card":
            if not x["target_index"] or not issuer().card_open_by_mask(x["target_masked"]):
                x.update(status="failed", failure="卡片已销户或无效 / the card is closed or invalid")
                continue
            requests.append(
                ledger.EntryRequest(
                    key,
                    ledger.movements.rural_card_payout(amount_fen=x["amount_fen"]),
                    f"payout {bid}/{x['line_no']}",
                )
            )
            credited.append(x["target_index"])
        else:
            problem = _eaccount_credit(conn, x["target_index"], x["amount_fen"], f"{bid}:{x['line_no']}", at)
            if problem:
                x.update(status="failed", failure=problem)
    if requests:
        ledger.post_entries(conn, requests, at=at)
    if credited:
        harvest.cards_credited(conn, credited, at)


def _eaccount_credit(
    conn: Connection, account_id: str, amount_fen: int, reference: str, at: dt.datetime
) -> str | None:
    """Credit an e-account from transit (limits counted); the reason it refuses, or None."""
    try:
        with conn.begin_nested():
            ea.move(
                conn,
                account_id,
                kind="payout_in",
                amount_fen=amount_fen,
                counter_leg=IN_TRANSIT,
                reference=reference,
                at=at,
            )
    except (ea.LimitExceeded, NotFound, ConflictError) as exc:
        return exc.message
    return None


def batch(conn: Connection, merchant_id: str, batch_id: str) -> dict[str, Any]:
    b = conn.execute(
        select(payout_batches).where(
            and_(payout_batches.c.merchant_id == merchant_id, payout_batches.c.id == batch_id)
        )
    ).first()
    if b is None:
        raise NotFound(f"没有付款批次 {batch_id} / no payout batch {batch_id}", param="batch_id")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for status, amount in conn.execute(
        select(payouts.c.status, payouts.c.amount_fen).where(
            and_(payouts.c.merchant_id == merchant_id, payouts.c.batch_id == batch_id)
        )
    ):
        counts[status][0] += 1
        counts[status][1] += int(amount)
    return {
        "id": b.id,
        "object": "payout_batch",
        "merchant_id": merchant_id,
        "status": b.status,
        "lines": b.lines,
        "total_fen": b.total_fen,
        "created_at": b.created_at,
        "by_status": {k: {"lines": v[0], "amount_fen": v[1]} for k, v in counts.items()},
    }


def list_batches(conn: Connection, merchant_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    ids = [
        r.id
        for r in conn.execute(
            select(payout_batches.c.id)
            .where(payout_batches.c.merchant_id == merchant_id)
            .order_by(payout_batches.c.created_at.desc())
            .limit(limit)
        )
    ]
    return [batch(conn, merchant_id, i) for i in ids]


def lines(
    conn: Connection, merchant_id: str, batch_id: str, *, status: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    q = select(payouts).where(and_(payouts.c.merchant_id == merchant_id, payouts.c.batch_id == batch_id))
    if status:
        q = q.where(payouts.c.status == status)
    q = q.order_by(payouts.c.line_no).limit(max(1, min(limit, 10_000)))
    return [
        {
            "line_no": r.line_no,
            "farmer_id": r.farmer_id,
            "target": r.target,
            "to": r.target_masked,
            "amount_fen": r.amount_fen,
            "status": r.status,
            "failure": r.failure,
            "attempts": r.attempts,
            "updated_at": r.updated_at,
        }
        for r in conn.execute(q)
    ]


def _failed_line(conn: Connection, merchant_id: str, batch_id: str, line_no: int) -> Any:
    q = select(payouts).where(
        and_(
            payouts.c.merchant_id == merchant_id, payouts.c.batch_id == batch_id, payouts.c.line_no == line_no
        )
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        raise NotFound(f"批次 {batch_id} 没有第 {line_no} 行 / no such line", param="line_no")
    if r.status != "failed":
        raise ConflictError(
            f"第 {line_no} 行状态为 {r.status}，只能重付或退回失败的行 / only a failed line can be "
            f"retried or returned",
            param="line_no",
            code="line_not_failed",
        )
    return r


def _settle_batch_status(conn: Connection, merchant_id: str, batch_id: str) -> None:
    left = conn.execute(
        select(payouts.c.line_no)
        .where(
            and_(
                payouts.c.merchant_id == merchant_id,
                payouts.c.batch_id == batch_id,
                payouts.c.status == "failed",
            )
        )
        .limit(1)
    ).first()
    if left is None:
        conn.execute(
            update(payout_batches)
            .where(and_(payout_batches.c.merchant_id == merchant_id, payout_batches.c.id == batch_id))
            .values(status="done")
        )


def retry_line(
    conn: Connection, merchant_id: str, batch_id: str, line_no: int, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Pay a failed line again, to the farmer's current card or e-account."""
    at = at or clock.now()
    r = _failed_line(conn, merchant_id, batch_id, line_no)
    target = _targets(conn, [r.farmer_id]).get(r.farmer_id) if r.farmer_id else None
    if target is None:
        raise NotFound(f"没有农户 {r.farmer_id} / no farmer", param="farmer_id")
    x = {
        "line_no": line_no,
        "target": target[0],
        "target_index": target[1],
        "target_masked": target[2],
        "amount_fen": r.amount_fen,
        "status": "paid",
        "failure": None,
        "attempts": r.attempts + 1,
    }
    _execute(conn, merchant_id, batch_id, [x], at)
    conn.execute(
        update(payouts)
        .where(
            and_(
                payouts.c.merchant_id == merchant_id,
                payouts.c.batch_id == batch_id,
                payouts.c.line_no == line_no,
            )
        )
        .values(
            target=x["target"],
            target_index=x["target_index"],
            target_masked=x["target_masked"],
            status=x["status"],
            failure=x["failure"],
            attempts=x["attempts"],
            updated_at=at,
        )
    )
    _settle_batch_status(conn, merchant_id, batch_id)
    return lines(conn, merchant_id, batch_id)[line_no - 1]


def return_line(
    conn: Connection, merchant_id: str, batch_id: str, line_no: int, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Give a failed line's money back to the buyer's funded account; its purchases become unpaid again."""
    at = at or clock.now()
    r = _failed_line(conn, merchant_id, batch_id, line_no)
    ledger.post_entry(
        conn,
        ledger.EntryRequest(
            ledger.keys.rural_payout_return(merchant_id, batch_id, line_no),
            ledger.movements.rural_payout_return(merchant_id=merchant_id, amount_fen=r.amount_fen),
            f"payout {batch_id}/{line_no} returned",
        ),
        at=at,
    )
    conn.execute(
        update(payouts)
        .where(
            and_(
                payouts.c.merchant_id == merchant_id,
                payouts.c.batch_id == batch_id,
                payouts.c.line_no == line_no,
            )
        )
        .values(status="returned", updated_at=at)
    )
    conn.execute(
        update(purchases)
        .where(
            and_(
                purchases.c.merchant_id == merchant_id,
                purchases.c.batch_id == batch_id,
                purchases.c.farmer_id == r.farmer_id,
            )
        )
        .values(batch_id=None)
    )
    _settle_batch_status(conn, merchant_id, batch_id)
    return lines(conn, merchant_id, batch_id)[line_no - 1]


def farmer_statement(conn: Connection, farmer_id: str) -> dict[str, Any]:
    """Everything bought from a farmer and paid to them, by every buyer."""
    f = farmer(conn, farmer_id)
    bought = [
        _purchase_public(r)
        for r in conn.execute(
            select(purchases).where(purchases.c.farmer_id == farmer_id).order_by(purchases.c.created_at)
        )
    ]
    paid = [
        {
            "merchant_id": r.merchant_id,
            "batch_id": r.batch_id,
            "line_no": r.line_no,
            "to": r.target_masked,
            "amount_fen": r.amount_fen,
            "status": r.status,
            "updated_at": r.updated_at,
        }
        for r in conn.execute(
            select(payouts).where(payouts.c.farmer_id == farmer_id).order_by(payouts.c.updated_at)
        )
    ]
    return {
        "farmer": f,
        "purchases": bought,
        "payouts": paid,
        "owed_fen": sum(p["amount_fen"] for p in bought)
        - sum(p["amount_fen"] for p in paid if p["status"] == "paid")
        - sum(p["amount_fen"] for p in paid if p["status"] == "failed"),
    }


BUYER_STATEMENT_HEADINGS = (  # Chinese first, the machine name after it
    "行号 line_no",
    "农户 farmer_id",
    "收款账户 to",
    "金额（元）amount_yuan",
    "状态 status",
    "失败原因 failure",
    "尝试次数 attempts",
)


def buyer_statement_csv(conn: Connection, merchant_id: str, batch_id: str) -> str:
    """The buyer's statement of a batch: one line per farmer with its result."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(BUYER_STATEMENT_HEADINGS)
    for x in lines(conn, merchant_id, batch_id, limit=10_000):
        w.writerow(
            [
                x["line_no"],
                x["farmer_id"],
                x["to"],
                fen_to_yuan_str(x["amount_fen"]),
                x["status"],
                x["failure"] or "",
                x["attempts"],
            ]
        )
    return out.getvalue()


def figures(conn: Connection, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    from sqlalchemy import func

    n, amount = conn.execute(
        select(func.count(), func.coalesce(func.sum(payouts.c.amount_fen), 0)).where(
            and_(payouts.c.status == "paid", payouts.c.updated_at >= start, payouts.c.updated_at < end)
        )
    ).one()
    return {
        "payouts": int(n),
        "amount_fen": int(amount),
        "buyers": int(conn.execute(select(func.count()).select_from(buyers)).scalar_one()),
    }


__all__ = [
    "BuyerIn",
    "FarmerIn",
    "PurchaseIn",
    "amounts",
    "batch",
    "buyer",
    "change_card",
    "farmer",
    "farmer_statement",
    "fund",
    "import_purchases",
    "lines",
    "pay_batch",
    "record_purchase",
    "retry_line",
    "return_line",
]
