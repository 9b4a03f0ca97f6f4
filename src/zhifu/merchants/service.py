"""Merchant onboarding and review, stores and terminals, and API keys."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select, update

from zhifu import audit, ledger, privacy
from zhifu.core import clock
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, Unauthenticated
from zhifu.core.ids import new_id
from zhifu.core.paging import cursor_page
from zhifu.county import CountyProfile, load_profile
from zhifu.db.rows import first_row
from zhifu.merchants.models import MerchantStatus, api_keys, merchants, stores, terminals
from zhifu.reference import (
    MerchantType,
    account_name_ok,
    check_credit_code,
    check_resident_id,
    get_mcc,
)

_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
_ACCOUNT_RE = re.compile(r"[0-9]{8,30}")


class MerchantApplication(BaseModel):
    """What a merchant submits to be onboarded."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["enterprise", "individual_business", "micro"]
    legal_name: str = Field(min_length=1, max_length=100)
    short_name: str = Field(min_length=1, max_length=25)
    credit_code: str | None = Field(default=None, max_length=18)
    legal_person_name: str = Field(min_length=1, max_length=50)
    legal_person_id: str = Field(min_length=1, max_length=18)
    phone: str = Field(min_length=1, max_length=20)
    mcc: str = Field(min_length=4, max_length=4)
    town_code: str = Field(min_length=1, max_length=12)
    village_code: str | None = Field(default=None, max_length=15)
    address: str = Field(min_length=1, max_length=200)
    settle_bank: str = Field(min_length=1, max_length=60)
    settle_account_no: str = Field(min_length=1, max_length=30)
    settle_account_name: str = Field(min_length=1, max_length=100)
    acquirer_id: str = Field(min_length=1, max_length=40)
    settlement_cycle: Literal["T+1", "D+1", "D+0"] = "T+1"
    daily_cap_fen: int | None = Field(default=None, gt=0)
    monthly_cap_fen: int | None = Field(default=None, gt=0)


@functools.lru_cache(maxsize=4)
def _profile(name: str) -> CountyProfile:
    return load_profile(name)


def county() -> CountyProfile:
    return _profile(get_settings().county_profile)


def validate_application(app: MerchantApplication, conn: Connection | None = None) -> dict[str, Any]:
    """Every check of an application, in field order; the first failure raises naming its field. With the
    transaction's connection, personal data is encrypted under the key ring's active key."""
    if app.type in (MerchantType.ENTERPRISE, MerchantType.INDIVIDUAL_BUSINESS):
        if not app.credit_code:
            raise InvalidRequest(
                "企业和个体工商户须提供统一社会信用代码 / credit_code is required for this type",
                param="credit_code",
            )
        credit = check_credit_code(app.credit_code, param="credit_code")
    else:
        if app.credit_code:
            raise InvalidRequest(
                "小微商户以身份证登记，不填统一社会信用代码 / a micro merchant registers with an ID card "
                "only; leave credit_code empty",
                param="credit_code",
            )
        credit = None
    id_number = check_resident_id(app.legal_person_id, param="legal_person_id")
    if not _PHONE_RE.fullmatch(app.phone):
        raise InvalidRequest("手机号须为 11 位 / phone must be an 11-digit mobile number", param="phone")
    get_mcc(app.mcc, param="mcc")
    profile = county()
    town = next((t for t in profile.towns if t.code == app.town_code), None)
    if town is None:
        raise InvalidRequest(f"未知乡镇 / unknown town_code {app.town_code}", param="town_code")
    if app.village_code is not None and not any(
        v.code == app.village_code and v.town == town.code for v in profile.villages
    ):
        raise InvalidRequest(
            f"村居不属于该乡镇 / village_code {app.village_code} is not in {town.name}", param="village_code"
        )
    acquirer = next((i for i in profile.institutions if i.id == app.acquirer_id), None)
    if acquirer is None or "acquirer" not in acquirer.roles:
        raise InvalidRequest(f"未知收单机构 / unknown acquirer_id {app.acquirer_id}", param="acquirer_id")
    account_no = app.settle_account_no.replace(" ", "")
    if not _ACCOUNT_RE.fullmatch(account_no):
        raise InvalidRequest(
            "结算账号须为 8–30 位数字 / settle_account_no must be 8–30 digits", param="settle_account_no"
        )
    try:
        account_name_ok(app.type, app.legal_name, app.legal_person_name, app.settle_account_name)
    except InvalidRequest as exc:
        exc.param = "settle_account_name"
        raise
    settings = get_settings()
    daily, monthly = app.daily_cap_fen, app.monthly_cap_fen
    if app.type == MerchantType.MICRO:
        daily = daily or settings.micro_daily_cap_fen
        monthly = monthly or settings.micro_monthly_cap_fen
    if daily and monthly and daily > monthly:
        raise InvalidRequest(
            "日限额不能高于月限额 / daily_cap_fen exceeds monthly_cap_fen", param="daily_cap_fen"
        )
    return {
        "type": app.type,
        "legal_name": app.legal_name,
        "short_name": app.short_name,
        "credit_code": credit,
        "legal_person_name_enc": privacy.encrypt(app.legal_person_name, conn),
        "legal_person_name_masked": privacy.mask_name(app.legal_person_name),
        "legal_person_id_enc": privacy.encrypt(id_number, conn),
        "legal_person_id_masked": privacy.mask_id(id_number),
        "phone_enc": privacy.encrypt(app.phone, conn),
        "phone_masked": privacy.mask_phone(app.phone),
        "mcc": app.mcc,
        "town_code": app.town_code,
        "village_code": app.village_code,
        "address": app.address,
        "settle_bank": app.settle_bank,
        "settle_account_enc": privacy.encrypt(account_no, conn),
        "settle_account_masked": privacy.mask_account(account_no),
        "settle_account_name": app.settle_account_name,
        "acquirer_id": app.acquirer_id,
        "settlement_cycle": app.settlement_cycle,
        "daily_cap_fen": daily,
        "monthly_cap_fen": monthly,
    }


def apply(conn: Connection, app: MerchantApplication, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Submit an application; it waits for an operator's review."""
    row = validate_application(app, conn)
    at = at or clock.now()
    mid = new_id("mch", at_ms=int(at.timestamp() * 1000))
    row.update(id=mid, status=MerchantStatus.PENDING_REVIEW, created_at=at, updated_at=at, frozen="N")
    conn.execute(merchants.insert(), [row])
    return get_merchant(conn, mid)


def resubmit(conn: Connection, merchant_id: str, app: MerchantApplication) -> dict[str, Any]:
    """Send corrected details after an operator asked for changes."""
    current = _row(conn, merchant_id, lock=True)
    if current.status != MerchantStatus.CHANGES_REQUESTED:
        raise ConflictError(
            f"merchant {merchant_id} is {current.status}; only one sent back for changes can be resubmitted",
            code="merchant_state",
        )
    row = validate_application(app, conn)
    row.update(status=MerchantStatus.PENDING_REVIEW, updated_at=clock.now())
    conn.execute(update(merchants).where(merchants.c.id == merchant_id).values(**row))
    return get_merchant(conn, merchant_id)


_TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "approve": ({MerchantStatus.PENDING_REVIEW}, MerchantStatus.ACTIVE),
    "reject": ({MerchantStatus.PENDING_REVIEW}, MerchantStatus.REJECTED),
    "request_changes": ({MerchantStatus.PENDING_REVIEW}, MerchantStatus.CHANGES_REQUESTED),
    "suspend": ({MerchantStatus.ACTIVE}, MerchantStatus.SUSPENDED),
    "reactivate": ({MerchantStatus.SUSPENDED}, MerchantStatus.ACTIVE),
    "terminate": ({MerchantStatus.ACTIVE, MerchantStatus.SUSPENDED}, MerchantStatus.TERMINATED),
}


def review(
    conn: Connection,
    merchant_id: str,
    action: str,
    *,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move a merchant through its lifecycle; reject and request_changes need a reason."""
    if action not in _TRANSITIONS:
        raise InvalidRequest(f"unknown action {action!r}; one of {sorted(_TRANSITIONS)}", param="action")
    if action in ("reject", "request_changes", "suspend", "terminate") and not (reason and reason.strip()):
        raise InvalidRequest(f"{action} needs a reason", param="reason")
    if reason is not None and len(reason) > 500:
        raise InvalidRequest("reason is at most 500 characters", param="reason")
    current = _row(conn, merchant_id, lock=True)
    allowed, target = _TRANSITIONS[action]
    if current.status not in allowed:
        raise ConflictError(f"cannot {action} a merchant that is {current.status}", code="merchant_state")
    at = at or clock.now()
    values: dict[str, Any] = {"status": target, "updated_at": at, "review_note": reason}
    if action == "approve":
        values["activated_at"] = at
        ledger.open_account(conn, payable_account(merchant_id), "liability")
    conn.execute(update(merchants).where(merchants.c.id == merchant_id).values(**values))
    audit.record(
        conn,
        None,
        f"merchant.{action}",
        "merchant",
        merchant_id,
        {"from": current.status, "to": target, "reason": reason},
        merchant_id=merchant_id,
    )
    return get_merchant(conn, merchant_id)


CORRECTABLE_FIELDS = ("phone", "legal_person_name", "address")  # what a data subject may have corrected


def correct_personal(conn: Connection, merchant_id: str, field: str, value: str) -> dict[str, Any]:
    """Correct a merchant's contact data at its subject's request (PIPL art. 46): the new value is checked as
    onboarding checks it, stored encrypted and masked; the log keeps digests of before and after, not values."""
    value = value.strip()
    if field == "phone":
        if not _PHONE_RE.fullmatch(value):
            raise InvalidRequest("手机号须为 11 位 / phone must be an 11-digit mobile number", param="value")
        values = {"phone_enc": privacy.encrypt(value, conn), "phone_masked": privacy.mask_phone(value)}
    elif field == "legal_person_name":
        if not 1 <= len(value) <= 50:
            raise InvalidRequest("姓名为 1 至 50 个字 / a name is 1 to 50 characters", param="value")
        values = {
            "legal_person_name_enc": privacy.encrypt(value, conn),
            "legal_person_name_masked": privacy.mask_name(value),
        }
    elif field == "address":
        if not 1 <= len(value) <= 200:
            raise InvalidRequest("地址为 1 至 200 个字 / an address is 1 to 200 characters", param="value")
        values = {"address": value}
    else:
        raise InvalidRequest(f"field must be one of {', '.join(CORRECTABLE_FIELDS)}", param="field")
    before = _row(conn, merchant_id, lock=True)
    old = {k: getattr(before, k) for k in values}
    conn.execute(
        update(merchants).where(merchants.c.id == merchant_id).values(**values, updated_at=clock.now())
    )
    audit.record(
        conn,
        None,
        "merchant.corrected",
        "merchant",
        merchant_id,
        {"field": field, "before": audit.digest(old), "after": audit.digest(values)},
        merchant_id=merchant_id,
    )
    return get_merchant(conn, merchant_id)


def set_frozen(conn: Connection, merchant_id: str, frozen: bool) -> None:
    """Hold or release a merchant's settlement (risk control freezes funds, not acceptance)."""
    _row(conn, merchant_id, lock=True)
    conn.execute(update(merchants).where(merchants.c.id == merchant_id).values(frozen="Y" if frozen else "N"))


payable_account = ledger.accounts.merchant_payable  # what the acquirer owes a merchant


def _row(conn: Connection, merchant_id: str, *, lock: bool = False) -> Any:
    q = select(merchants).where(merchants.c.id == merchant_id)
    row = first_row(conn, q, lock=lock)
    if row is None:
        raise NotFound(f"no merchant {merchant_id}", param="merchant")
    return row


PUBLIC_FIELDS = (
    "id",
    "status",
    "type",
    "legal_name",
    "short_name",
    "credit_code",
    "legal_person_name_masked",
    "legal_person_id_masked",
    "phone_masked",
    "mcc",
    "town_code",
    "village_code",
    "address",
    "settle_bank",
    "settle_account_masked",
    "settle_account_name",
    "acquirer_id",
    "settlement_cycle",
    "daily_cap_fen",
    "monthly_cap_fen",
    "review_note",
    "created_at",
    "updated_at",
    "activated_at",
)


def _public(row: Any) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in PUBLIC_FIELDS}
    out["frozen"] = row.frozen == "Y"
    out["object"] = "merchant"
    return out


def get_merchant(conn: Connection, merchant_id: str) -> dict[str, Any]:
    """The merchant as anyone may see it: personal data masked."""
    return _public(_row(conn, merchant_id))


def merchant_row(conn: Connection, merchant_id: str) -> Any:
    return _row(conn, merchant_id)


def active_merchant_row(conn: Connection, merchant_id: str, *, param: str | None = "merchant_id") -> Any:
    """The merchant's row when it may do business (active); otherwise a ConflictError `merchant_not_active`
    naming `param`."""
    m = _row(conn, merchant_id)
    if m.status != MerchantStatus.ACTIVE:
        raise ConflictError(
            f"商户 {merchant_id} 未启用 / merchant {merchant_id} is {m.status}",
            param=param,
            code="merchant_not_active",
        )
    return m


def list_merchants(
    conn: Connection,
    *,
    status: str | None = None,
    town_code: str | None = None,
    acquirer_id: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    where = []
    if status:
        where.append(merchants.c.status == status)
    if town_code:
        where.append(merchants.c.town_code == town_code)
    if acquirer_id:
        where.append(merchants.c.acquirer_id == acquirer_id)
    return cursor_page(conn, merchants, where, limit=limit, starting_after=starting_after, public=_public)


def add_store(conn: Connection, merchant_id: str, name: str, address: str = "") -> dict[str, Any]:
    _row(conn, merchant_id)
    if not name.strip() or len(name) > 60:
        raise InvalidRequest("store name must be 1–60 characters", param="name")
    sid = new_id("sto")
    conn.execute(
        stores.insert(),
        [
            {
                "merchant_id": merchant_id,
                "id": sid,
                "name": name,
                "address": address,
                "created_at": clock.now(),
            }
        ],
    )
    return {"id": sid, "merchant_id": merchant_id, "name": name, "address": address}


def add_terminal(
    conn: Connection, merchant_id: str, terminal_no: str, *, store_id: str | None = None, kind: str = "pos"
) -> dict[str, Any]:
    _row(conn, merchant_id)
    if not re.fullmatch(r"[0-9A-Z]{8}", terminal_no):
        raise InvalidRequest("terminal_no must be 8 digits or capital letters", param="terminal_no")
    tid = new_id("trm")
    conn.execute(
        terminals.insert(),
        [
            {
                "merchant_id": merchant_id,
                "id": tid,
                "store_id": store_id,
                "terminal_no": terminal_no,
                "kind": kind,
                "created_at": clock.now(),
            }
        ],
    )
    return {
        "id": tid,
        "merchant_id": merchant_id,
        "terminal_no": terminal_no,
        "store_id": store_id,
        "kind": kind,
    }


# ---------------------------------------------------------------- API keys

KEY_PREFIX = "sk_"


class Principal(BaseModel):
    """Who is calling: a merchant's key or an operator's key."""

    key_id: str
    role: Literal["merchant", "operator"]
    merchant_id: str | None


class MerchantPrincipal(Principal):
    """商户身份 / A caller proven to be a merchant: its merchant id is always there, so a merchant's service
    call never gets `merchant_id: str | None`. Made only by `as_merchant`."""

    model_config = ConfigDict(frozen=True)

    role: Literal["merchant"] = "merchant"
    merchant_id: str


def as_merchant(p: Principal) -> MerchantPrincipal | None:
    """The principal as a merchant, or None when it is an operator's key (or a merchant key without one)."""
    if p.role != "merchant" or p.merchant_id is None:
        return None
    return MerchantPrincipal(key_id=p.key_id, merchant_id=p.merchant_id)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()  # secrets are 240-bit random: a fast hash is enough


def create_key(
    conn: Connection, *, merchant_id: str | None, role: str = "merchant", label: str = ""
) -> tuple[dict[str, Any], str]:
    """Make a key; the secret is returned this once and only its hash is kept."""
    if role not in ("merchant", "operator"):
        raise InvalidRequest("role must be merchant or operator", param="role")
    if role == "merchant":
        if merchant_id is None:
            raise InvalidRequest("a merchant key needs a merchant", param="merchant")
        m = _row(conn, merchant_id)
        if m.status in (MerchantStatus.REJECTED, MerchantStatus.TERMINATED):
            raise ConflictError(f"merchant {merchant_id} is {m.status}", code="merchant_state")
    body = secrets.token_urlsafe(30)
    secret = f"{KEY_PREFIX}{body}"
    kid = new_id("key")
    row = {
        "id": kid,
        "merchant_id": merchant_id if role == "merchant" else None,
        "role": role,
        "lookup": body[:16],
        "secret_hash": _hash(secret),
        "label": label[:60],
        "status": "active",
        "created_at": clock.now(),
        "revoked_at": None,
    }
    conn.execute(api_keys.insert(), [row])
    return _key_public(row), secret


def _key_public(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {
        "id": get("id"),
        "object": "api_key",
        "role": get("role"),
        "merchant_id": get("merchant_id"),
        "label": get("label"),
        "status": get("status"),
        "hint": f"{KEY_PREFIX}{get('lookup')[:6]}…",
        "created_at": get("created_at"),
        "revoked_at": get("revoked_at"),
    }


def list_keys(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(api_keys).where(api_keys.c.merchant_id == merchant_id).order_by(api_keys.c.id.desc())
    ).all()
    return [_key_public(r) for r in rows]


def revoke_key(conn: Connection, key_id: str, *, merchant_id: str | None = None) -> dict[str, Any]:
    q = select(api_keys).where(api_keys.c.id == key_id)
    if merchant_id is not None:
        q = q.where(api_keys.c.merchant_id == merchant_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no key {key_id}", param="key")
    if row.status == "active":
        conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(status="revoked", revoked_at=clock.now())
        )
    return _key_public(conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one())


def roll_key(conn: Connection, key_id: str, *, merchant_id: str | None = None) -> tuple[dict[str, Any], str]:
    """Revoke a key and issue its replacement with the same role and label."""
    old = revoke_key(conn, key_id, merchant_id=merchant_id)
    return create_key(conn, merchant_id=old["merchant_id"], role=old["role"], label=old["label"])


def authenticate(conn: Connection, authorization: str | None) -> Principal:
    """Resolve `Authorization: Bearer sk_…` to a principal, or raise 401."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("send your secret key as `Authorization: Bearer sk_…`", param="authorization")
    secret = authorization[7:].strip()
    if not secret.startswith(KEY_PREFIX) or len(secret) < 20:
        raise Unauthenticated("malformed API key", param="authorization")
    row = conn.execute(
        select(
            api_keys.c.id, api_keys.c.role, api_keys.c.merchant_id, api_keys.c.secret_hash, api_keys.c.status
        ).where(api_keys.c.lookup == secret[len(KEY_PREFIX) : len(KEY_PREFIX) + 16])
    ).first()
    if row is None or not secrets.compare_digest(row.secret_hash, _hash(secret)) or row.status != "active":
        raise Unauthenticated("invalid or revoked API key", param="authorization")
    return Principal(key_id=row.id, role=row.role, merchant_id=row.merchant_id)
