"""Class II and III e-accounts: opened on the phone against a bound Class I card of the same person, topped up
from it, spent at merchants on-us, transferred out to it; every movement posts through the ledger with the
account's limits checked and counted in the same transaction.

Concurrency: a movement locks the e-account's row first (FOR UPDATE on PostgreSQL; SQLite takes the write lock
at BEGIN IMMEDIATE), then reads the balance and the day's and year's counters, checks, adds to the counters and
posts the entry. Two movements of one account therefore run one after the other and cannot both pass a limit
that only one fits under."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, insert, select, update

from zhifu import ledger
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen
from zhifu.merchants import active_merchant_row, payable_account
from zhifu.merchants import county as county_profile
from zhifu.privacy import blind_index, encrypt, mask_account, mask_name, mask_phone
from zhifu.rural import limits as L
from zhifu.rural.issuer import issuer
from zhifu.rural.models import eaccount_txns, eaccount_usage, eaccounts

# due from the bank's core for money moved to or from Class I cards
CARD_CLEARING = ledger.accounts.RURAL_CARD_CLEARING
AMOUNT_FEN_MAX = 20_000_000  # one movement never exceeds a Class II account's year


class LimitExceeded(InvalidRequest):
    code = "limit_exceeded"


ledger_code = ledger.accounts.eaccount


class OpenEAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_id: str = Field(min_length=1, max_length=40)
    account_class: Literal["II", "III"]
    name: str = Field(min_length=1, max_length=40)
    id_no: str = Field(min_length=15, max_length=18)
    phone: str = Field(pattern=r"^1[3-9][0-9]{9}$")
    card_no: str = Field(min_length=16, max_length=19)


def _public(r: Any, balance_fen: int | None = None) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "eaccount",
        "bank_id": r.bank_id,
        "account_class": r.account_class,
        "name": r.name_masked,
        "phone": r.phone_masked,
        "bound_card": r.card_masked,
        "status": r.status,
        "opened_at": r.opened_at,
        "balance_fen": balance_fen,
    }


def open_eaccount(conn: Connection, req: OpenEAccount, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Open an account after the issuer confirms the bound card is this person's; one per class per bank."""
    at = at or clock.now()
    banks = {i.id for i in county_profile().institutions if "issuer" in i.roles}
    if req.bank_id not in banks:
        raise InvalidRequest(
            f"未知发卡行 {req.bank_id} / {req.bank_id} is not an issuer of this county", param="bank_id"
        )
    problem = issuer().holder_problem(req.card_no, req.id_no, req.name, req.phone)
    if problem:
        raise InvalidRequest(f"绑定卡验证未通过：{problem}", param="card_no", code="card_verification_failed")
    person = blind_index(req.id_no.upper())
    taken = conn.execute(
        select(eaccounts.c.id).where(
            and_(
                eaccounts.c.bank_id == req.bank_id,
                eaccounts.c.person_index == person,
                eaccounts.c.account_class == req.account_class,
            )
        )
    ).first()
    if taken is not None:
        raise ConflictError(
            f"此人在该行已有{req.account_class}类户 {taken.id} / this person already has a Class "
            f"{req.account_class} account at {req.bank_id}",
            param="account_class",
            code="eaccount_exists",
        )
    aid = new_id_fast("ea", int(at.timestamp() * 1000))
    conn.execute(
        insert(eaccounts),
        [
            {
                "id": aid,
                "bank_id": req.bank_id,
                "account_class": req.account_class,
                "person_index": person,
                "id_no_enc": encrypt(req.id_no.upper(), conn),
                "name_masked": mask_name(req.name),
                "phone_enc": encrypt(req.phone, conn),
                "phone_masked": mask_phone(req.phone),
                "card_index": blind_index(req.card_no),
                "card_enc": encrypt(req.card_no, conn),
                "card_masked": mask_account(req.card_no),
                "status": "open",
                "opened_at": at,
            }
        ],
    )
    ledger.open_accounts(
        conn, [(ledger_code(aid), "liability", "CNY", True), (CARD_CLEARING, "asset", "CNY", False)]
    )
    return get_eaccount(conn, aid)


def get_eaccount(conn: Connection, account_id: str) -> dict[str, Any]:
    r = conn.execute(select(eaccounts).where(eaccounts.c.id == account_id)).first()
    if r is None:
        raise NotFound(f"没有电子账户 {account_id} / no e-account {account_id}", param="account_id")
    return _public(r, ledger.get_balance(conn, ledger_code(account_id)).posted_fen)


def list_eaccounts(conn: Connection, *, bank_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(eaccounts).order_by(eaccounts.c.opened_at.desc()).limit(max(1, min(limit, 500)))
    if bank_id:
        q = q.where(eaccounts.c.bank_id == bank_id)
    return [_public(r) for r in conn.execute(q)]


def find_by_card(conn: Connection, card_no: str) -> list[dict[str, Any]]:
    """The e-accounts bound to a Class I card (the farmer's phone shows these)."""
    rows = conn.execute(
        select(eaccounts)
        .where(eaccounts.c.card_index == blind_index(card_no))
        .order_by(eaccounts.c.account_class)
    ).all()
    return [_public(r, ledger.get_balance(conn, ledger_code(r.id)).posted_fen) for r in rows]


def _lock(conn: Connection, account_id: str) -> Any:
    q = select(eaccounts).where(eaccounts.c.id == account_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        raise NotFound(f"没有电子账户 {account_id} / no e-account {account_id}", param="account_id")
    if r.status != "open":
        raise ConflictError(
            f"电子账户 {account_id} 状态为 {r.status} / the e-account is {r.status}", code="eaccount_not_open"
        )
    return r


def _usage(conn: Connection, account_id: str, direction: str, keys: tuple[str, str]) -> dict[str, int]:
    rows = conn.execute(
        select(eaccount_usage.c.period, eaccount_usage.c.used_fen).where(
            and_(
                eaccount_usage.c.account_id == account_id,
                eaccount_usage.c.direction == direction,
                eaccount_usage.c.period.in_(keys),
            )
        )
    ).all()
    return {p: int(u) for p, u in rows}


def _add_usage(
    conn: Connection,
    account_id: str,
    direction: str,
    keys: tuple[str, str],
    have: dict[str, int],
    amount_fen: int,
) -> None:
    for k in keys:
        if k in have:
            conn.execute(
                update(eaccount_usage)
                .where(
                    and_(
                        eaccount_usage.c.account_id == account_id,
                        eaccount_usage.c.direction == direction,
                        eaccount_usage.c.period == k,
                    )
                )
                .values(used_fen=eaccount_usage.c.used_fen + amount_fen)
            )
        else:
            conn.execute(
                insert(eaccount_usage),
                [{"account_id": account_id, "direction": direction, "period": k, "used_fen": amount_fen}],
            )


def move(
    conn: Connection,
    account_id: str,
    *,
    kind: str,
    amount_fen: int,
    counter_leg: str,
    reference: str,
    merchant_id: str | None = None,
    at: dt.datetime | None = None,
    counted: bool = True,
) -> dict[str, Any]:
    """Move money into (topup, payout_in, refund_in) or out of (spend, transfer_out) an e-account, its limits
    checked and counted, in the caller's transaction. A retry with the same reference returns the first."""
    at = at or clock.now()
    check_fen(amount_fen, max_fen=AMOUNT_FEN_MAX, param="amount_fen")
    if not reference or len(reference) > 64:
        raise InvalidRequest(
            "reference 须为 1–64 个字符 / reference must be 1–64 characters", param="reference"
        )
    acc = _lock(conn, account_id)
    key = ledger.keys.rural_eaccount(kind, account_id, reference)
    done = conn.execute(
        select(eaccount_txns).where(
            and_(eaccount_txns.c.account_id == account_id, eaccount_txns.c.reference == f"{kind}:{reference}")
        )
    ).first()
    if done is not None:
        if done.amount_fen != amount_fen:
            raise ConflictError(
                f"reference {reference} was used for another amount",
                param="reference",
                code="reference_taken",
            )
        return _txn_public(done)
    direction = "out" if kind in ("spend", "transfer_out") else "in"
    balance = ledger.get_balance(conn, ledger_code(account_id)).posted_fen
    keys = L.periods(at)
    have = _usage(conn, account_id, direction, keys)
    refusal = L.check(
        L.limits_for(acc.account_class),
        direction=direction,
        amount_fen=amount_fen,
        balance_fen=balance,
        day_used_fen=have.get(keys[0], 0),
        year_used_fen=have.get(keys[1], 0),
        from_bound_card=not counted,
    )
    if refusal is not None:
        raise LimitExceeded(refusal.message, param="amount_fen", code=refusal.code)
    if counted and (direction == "out" or acc.account_class == "II"):
        _add_usage(conn, account_id, direction, keys, have, amount_fen)
    legs = ledger.movements.eaccount_movement(
        direction="out" if direction == "out" else "in",
        account_id=account_id,
        counter=counter_leg,
        amount_fen=amount_fen,
    )
    posted = ledger.post_entry(conn, ledger.EntryRequest(key, legs, f"e-account {kind} {reference}"), at=at)
    tid = new_id_fast("eat", int(at.timestamp() * 1000))
    conn.execute(
        insert(eaccount_txns),
        [
            {
                "id": tid,
                "account_id": account_id,
                "kind": kind,
                "amount_fen": amount_fen,
                "merchant_id": merchant_id,
                "reference": f"{kind}:{reference}",
                "entry_id": posted.id,
                "created_at": at,
            }
        ],
    )
    return _txn_public(conn.execute(select(eaccount_txns).where(eaccount_txns.c.id == tid)).one())


def _txn_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "eaccount_txn",
        "account_id": r.account_id,
        "kind": r.kind,
        "amount_fen": r.amount_fen,
        "merchant_id": r.merchant_id,
        "reference": r.reference.split(":", 1)[-1],
        "created_at": r.created_at,
    }


def _bound(acc: Any, card_no: str) -> None:
    if blind_index(card_no) != acc.card_index:
        raise InvalidRequest(
            f"只能使用绑定卡 {acc.card_masked} / only the bound card {acc.card_masked} may be used",
            param="card_no",
            code="card_not_bound",
        )


def top_up(
    conn: Connection,
    account_id: str,
    card_no: str,
    amount_fen: int,
    reference: str,
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Money from the bound Class I card into the e-account (only the bound card; Class III up to its cap)."""
    acc = _lock(conn, account_id)
    _bound(acc, card_no)
    from zhifu.rural import harvest

    out = move(
        conn,
        account_id,
        kind="topup",
        amount_fen=amount_fen,
        counter_leg=CARD_CLEARING,
        reference=reference,
        at=at,
        counted=False,
    )
    harvest.card_used(conn, acc.card_index, at or clock.now())  # money left the card: its first use
    return out


def transfer_out(
    conn: Connection, account_id: str, amount_fen: int, reference: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Money back to the bound card (counted against the account's out limits)."""
    acc = _lock(conn, account_id)
    from zhifu.rural import harvest

    out = move(
        conn,
        account_id,
        kind="transfer_out",
        amount_fen=amount_fen,
        counter_leg=CARD_CLEARING,
        reference=reference,
        at=at,
    )
    harvest.card_credited(conn, acc.card_index, at or clock.now())
    return out


def pay_merchant(
    conn: Connection,
    account_id: str,
    merchant_id: str,
    amount_fen: int,
    reference: str,
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Pay a merchant on-us: the e-account and the merchant's payable move in one entry, limits counted."""
    active_merchant_row(conn, merchant_id)
    ledger.open_account(conn, payable_account(merchant_id), "liability")
    return move(
        conn,
        account_id,
        kind="spend",
        amount_fen=amount_fen,
        counter_leg=payable_account(merchant_id),
        reference=reference,
        merchant_id=merchant_id,
        at=at,
    )


def statement(conn: Connection, account_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(eaccount_txns)
        .where(eaccount_txns.c.account_id == account_id)
        .order_by(eaccount_txns.c.created_at.desc(), eaccount_txns.c.id.desc())
        .limit(max(1, min(limit, 1000)))
    ).all()
    return [_txn_public(r) for r in rows]


def usage(conn: Connection, account_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """What the account has used and may still use today and this year (Beijing)."""
    acc = conn.execute(select(eaccounts).where(eaccounts.c.id == account_id)).first()
    if acc is None:
        raise NotFound(f"没有电子账户 {account_id} / no e-account {account_id}", param="account_id")
    keys = L.periods(at or clock.now())
    used = _usage(conn, account_id, "out", keys)
    lim = L.limits_for(acc.account_class)
    return {
        "day_used_fen": used.get(keys[0], 0),
        "year_used_fen": used.get(keys[1], 0),
        "day_limit_fen": lim.out_day_fen,
        "year_limit_fen": lim.out_year_fen,
        "balance_max_fen": lim.balance_max_fen,
    }


def merchant_takings(conn: Connection, merchant_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(eaccount_txns)
        .where(and_(eaccount_txns.c.merchant_id == merchant_id, eaccount_txns.c.kind == "spend"))
        .order_by(eaccount_txns.c.created_at.desc())
        .limit(limit)
    ).all()
    return [_txn_public(r) for r in rows]
