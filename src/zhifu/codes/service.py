"""Payment codes (static 码牌 and dynamic per-payment codes) and the cashier (收银台) that every app opens:
issue, revoke, resolve a scanned code, and pay it through the channel the scanning app belongs to."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

from sqlalchemy import Connection, and_, select, update

from zhifu import payments
from zhifu.channels import facts
from zhifu.codes.config import codes_settings
from zhifu.codes.models import CodeKind, CodeStatus, cashier_payments, payment_codes
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings, secret
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, UnprocessableError, ZhifuError
from zhifu.core.ids import new_id, parse_id
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.core.paging import PAGE_MAX, page_limit
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.incentives import PayerHint
from zhifu.merchants import MerchantStatus, active_merchant_row, county, merchant_row
from zhifu.merchants.read import has_store
from zhifu.payments import CreatePayment, PaymentStatus
from zhifu.qr import LanguageTemplate, MerchantAccount
from zhifu.qr import encode as encode_emv

DESCRIPTION_CHARS_MAX = 128
REASON_CHARS_MAX = 200
DYNAMIC_EXPIRES_IN_S_MIN = 60  # a payer needs a minute to scan and confirm
DYNAMIC_EXPIRES_IN_S_MAX = 86_400
PAYMENT_EXPIRES_IN_S_MIN = 60  # payments.CreatePayment's own floor
STATIC_PAYMENT_EXPIRES_IN_S = 900
EMV_GUI = "CN.ZHIFU.CASHIER"  # sub-tag 00 of our merchant account template (26); 01 carries the code id
EMV_TEMPLATE_TAG = "26"
OPEN = (PaymentStatus.CREATED, PaymentStatus.PROCESSING)
NOT_COUNTED = (PaymentStatus.FAILED, PaymentStatus.CLOSED, PaymentStatus.EXPIRED)
SCENES = ("on_site", "remote")
_TOKEN_RE = re.compile(r"[0-9a-f]{28}")
_SIG_CHARS = 24


# ---------------------------------------------------------------- apps and channels

# The payer's app → the channel that collects from it.
APP_CHANNELS: dict[str, str] = {
    "unionpay": "unionpay_qr",
    "bank": "bank_app",
    "wechat": "wechat",
    "alipay": "alipay",
}
APPS = tuple(APP_CHANNELS)

# User-Agent markers of each app, first match wins. Bank apps carry their own names; "BankApp" is the marker the
# county's banks agreed to put in their in-app browsers.
UA_MARKERS: tuple[tuple[str, str], ...] = (
    ("MicroMessenger", "wechat"),
    ("AlipayClient", "alipay"),
    ("UnionPay", "unionpay"),
    ("CloudPay", "unionpay"),
    ("BankApp", "bank"),
    ("YiyuanRCB", "bank"),
    ("PSBCMobile", "bank"),
    ("ICBCiPhone", "bank"),
    ("ICBCAndroid", "bank"),
    ("CCBMobile", "bank"),
    ("ABCMobile", "bank"),
    ("BOCMobile", "bank"),
)
UA_CHARS_MAX = 1024  # a hostile header must not cost more than this to read


def detect_app(user_agent: str | None) -> str | None:
    """The payer's app from its in-app browser's User-Agent; None when unknown (the payer then chooses)."""
    if not user_agent:
        return None
    head = user_agent[:UA_CHARS_MAX]
    for marker, app in UA_MARKERS:
        if marker in head:
            return app
    return None


def app_channel(app: str) -> str:
    """The channel of an app name; channel names are accepted as they are."""
    if app in APP_CHANNELS:
        return APP_CHANNELS[app]
    if app in APP_CHANNELS.values():
        return app
    raise InvalidRequest(
        f"app must be one of {', '.join(APPS)}, not {app!r}", param="app", code="unknown_app"
    )


def channel_app(channel: str) -> str:
    return next(app for app, ch in APP_CHANNELS.items() if ch == channel)


# ---------------------------------------------------------------- errors a payer can meet


class CodeUnavailable(ZhifuError):
    """A scanned code that cannot be paid: `code` is code_unknown, code_revoked, code_expired or code_used."""

    type = "invalid_request_error"
    http_status = 410

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, param="code")
        if code == "code_unknown":
            self.http_status = 404


# ---------------------------------------------------------------- codes


def code_url(code_id: str) -> str:
    """The https URL a code carries: the cashier page of the code."""
    return f"{get_settings().public_base_url.rstrip('/')}/c/{code_id}"


def _is_expired(row: Any, at: dt.datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= at


def _status(row: Any, at: dt.datetime) -> str:
    if row.status == CodeStatus.ACTIVE and _is_expired(row, at):
        return "expired"
    return str(row.status)


def emv_payload(row: Any, merchant: Any) -> str:
    """The EMV merchant-presented payload of a code, for standard-QR apps: template 26 with our GUI and the code
    id, MCC, CNY, the amount of a dynamic code, the short name (and again in the Chinese language template)."""
    profile = county()
    return encode_emv(
        merchant_accounts=[MerchantAccount.template(EMV_TEMPLATE_TAG, EMV_GUI, {"01": row.id})],
        mcc=merchant.mcc,
        name=merchant.short_name,
        city=profile.name_en[:15],
        dynamic=row.kind == CodeKind.DYNAMIC,
        amount_fen=row.amount_fen,
        language=LanguageTemplate.build(language="ZH", name=merchant.short_name, city=profile.name[:15]),
    )


def _public(row: Any, merchant: Any, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payment_code",
        "code": row.id,
        "merchant_id": row.merchant_id,
        "store_id": row.store_id,
        "kind": row.kind,
        "status": _status(row, at),
        "amount_fen": row.amount_fen,
        "description": row.description,
        "url": code_url(row.id),
        "emv_payload": emv_payload(row, merchant),
        "payment_id": row.payment_id,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "revoke_reason": row.revoke_reason,
    }


def _row(conn: Connection, code_id: str, *, merchant_id: str | None = None, lock: bool = False) -> Any:
    q = select(payment_codes).where(payment_codes.c.id == code_id)
    if merchant_id is not None:
        q = q.where(payment_codes.c.merchant_id == merchant_id)
    return first_row(conn, q, lock=lock)


def _active_merchant(conn: Connection, merchant_id: str) -> Any:
    return active_merchant_row(conn, merchant_id, param="merchant")


def _check_store(conn: Connection, merchant_id: str, store_id: str | None) -> None:
    if store_id is None:
        return
    parse_id(store_id, "sto", param="store_id")
    if not has_store(conn, merchant_id, store_id):
        raise NotFound(f"merchant {merchant_id} has no store {store_id}", param="store_id")


def issue_static(
    conn: Connection,
    merchant_id: str,
    *,
    store_id: str | None = None,
    replace: bool = False,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The static code of a merchant (or of one of its stores): the active one if there is one, else a new one.
    `replace` revokes the active code and issues a new one (a lost or damaged sticker)."""
    at = at or clock.now()
    m = _active_merchant(conn, merchant_id)
    _check_store(conn, merchant_id, store_id)
    scope = store_id or ""
    q = select(payment_codes).where(
        and_(
            payment_codes.c.merchant_id == merchant_id,
            payment_codes.c.scope == scope,
            payment_codes.c.kind == CodeKind.STATIC,
            payment_codes.c.status == CodeStatus.ACTIVE,
        )
    )
    current = conn.execute(q).first()
    if current is not None and not replace:
        return _public(current, m, at)
    if current is not None:
        _revoke_row(conn, current, "replaced by a new static code", at)
    cid = new_id("code", at_ms=int(at.timestamp() * 1000))
    conn.execute(
        payment_codes.insert(),
        [
            {
                "merchant_id": merchant_id,
                "id": cid,
                "kind": CodeKind.STATIC,
                "scope": scope,
                "store_id": store_id,
                "status": CodeStatus.ACTIVE,
                "amount_fen": None,
                "description": "",
                "payment_id": None,
                "revoke_reason": None,
                "created_at": at,
                "expires_at": None,
                "revoked_at": None,
            }
        ],
    )
    return _public(_row(conn, cid), m, at)


def create_dynamic(
    conn: Connection,
    merchant_id: str,
    amount_fen: int,
    *,
    expires_in_s: int | None = None,
    description: str = "",
    store_id: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A code for one payment of `amount_fen`, payable by any app until it expires."""
    at = at or clock.now()
    check_fen(amount_fen, max_fen=get_settings().max_payment_fen, param="amount_fen")
    expires_in_s = codes_settings().dynamic_code_expires_in_s if expires_in_s is None else expires_in_s
    if (
        isinstance(expires_in_s, bool)
        or not isinstance(expires_in_s, int)
        or not (DYNAMIC_EXPIRES_IN_S_MIN <= expires_in_s <= DYNAMIC_EXPIRES_IN_S_MAX)
    ):
        raise InvalidRequest(
            f"expires_in_s must be {DYNAMIC_EXPIRES_IN_S_MIN}–{DYNAMIC_EXPIRES_IN_S_MAX} seconds",
            param="expires_in_s",
        )
    if len(description) > DESCRIPTION_CHARS_MAX:
        raise InvalidRequest(
            f"description is at most {DESCRIPTION_CHARS_MAX} characters", param="description"
        )
    m = _active_merchant(conn, merchant_id)
    _check_store(conn, merchant_id, store_id)
    cid = new_id("code", at_ms=int(at.timestamp() * 1000))
    conn.execute(
        payment_codes.insert(),
        [
            {
                "merchant_id": merchant_id,
                "id": cid,
                "kind": CodeKind.DYNAMIC,
                "scope": store_id or "",
                "store_id": store_id,
                "status": CodeStatus.ACTIVE,
                "amount_fen": amount_fen,
                "description": description,
                "payment_id": None,
                "revoke_reason": None,
                "created_at": at,
                "expires_at": at + dt.timedelta(seconds=expires_in_s),
                "revoked_at": None,
            }
        ],
    )
    return _public(_row(conn, cid), m, at)


def _revoke_row(conn: Connection, row: Any, reason: str, at: dt.datetime) -> None:
    conn.execute(
        update(payment_codes)
        .where(and_(payment_codes.c.merchant_id == row.merchant_id, payment_codes.c.id == row.id))
        .values(status=CodeStatus.REVOKED, revoked_at=at, revoke_reason=reason)
    )


def revoke(
    conn: Connection,
    code_id: str,
    *,
    reason: str,
    merchant_id: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Stop a code from taking payments; revoking a revoked code changes nothing."""
    at = at or clock.now()
    reason = reason.strip()
    if not reason or len(reason) > REASON_CHARS_MAX:
        raise InvalidRequest(f"reason must be 1–{REASON_CHARS_MAX} characters", param="reason")
    row = _row(conn, code_id, merchant_id=merchant_id, lock=True)
    if row is None:
        raise NotFound(f"no payment code {code_id}", param="id")
    if row.status == CodeStatus.USED:
        raise ConflictError(f"code {code_id} has been paid and cannot be revoked", code="code_used")
    if row.status == CodeStatus.ACTIVE:
        _revoke_row(conn, row, reason, at)
    return _public(_row(conn, code_id), merchant_row(conn, row.merchant_id), at)


def get_code(conn: Connection, code_id: str, *, merchant_id: str | None = None) -> dict[str, Any]:
    row = _row(conn, code_id, merchant_id=merchant_id)
    if row is None:
        raise NotFound(f"no payment code {code_id}", param="id")
    return _public(row, merchant_row(conn, row.merchant_id), clock.now())


def list_codes(
    conn: Connection,
    merchant_id: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = PAGE_MAX,
) -> list[dict[str, Any]]:
    """A merchant's codes, newest first (static codes of the console's sticker page among them)."""
    m = merchant_row(conn, merchant_id)
    q = (
        select(payment_codes)
        .where(payment_codes.c.merchant_id == merchant_id)
        .order_by(payment_codes.c.id.desc())
        .limit(page_limit(limit))
    )
    if kind is not None:
        q = q.where(payment_codes.c.kind == kind)
    at = clock.now()
    rows = [_public(r, m, at) for r in conn.execute(q)]
    return [r for r in rows if status is None or r["status"] == status]


def static_code_for(
    conn: Connection, merchant_id: str, *, store_id: str | None = None
) -> dict[str, Any] | None:
    """The active static code of a merchant or store, or None."""
    row = conn.execute(
        select(payment_codes).where(
            and_(
                payment_codes.c.merchant_id == merchant_id,
                payment_codes.c.scope == (store_id or ""),
                payment_codes.c.kind == CodeKind.STATIC,
                payment_codes.c.status == CodeStatus.ACTIVE,
            )
        )
    ).first()
    return None if row is None else _public(row, merchant_row(conn, merchant_id), clock.now())


def code_id_from_scan(text: str) -> str:
    """The code id inside what an app scanned: our cashier URL, or an EMV payload with our template 26."""
    text = text.strip()
    if text.startswith("000201"):
        from zhifu.qr import QRDecodeError, decode

        try:
            qr = decode(text)
        except QRDecodeError as exc:
            raise InvalidRequest(
                f"code_url is not a valid EMV payload: {exc.message}", param="code_url"
            ) from None
        for acc in qr.merchant_accounts:
            if acc.gui == EMV_GUI:
                found = next((f.value for f in acc.fields if f.tag == "01"), None)
                if found:
                    return found
        raise CodeUnavailable("code_unknown", "the EMV payload carries no Zhifu cashier code")
    m = re.fullmatch(r"https?://[^/?#]+(?:/[^?#]*)?/c/([A-Za-z0-9_]{1,40})/?(?:[?#].*)?", text)
    if m is None:
        raise CodeUnavailable("code_unknown", "code_url is not a Zhifu cashier URL (…/c/CODE)")
    return m.group(1)


def resolve(conn: Connection, code_id: str, *, at: dt.datetime | None = None, lock: bool = False) -> Any:
    """The row of a scanned code that can be paid now, or CodeUnavailable saying why not."""
    at = at or clock.now()
    row = None
    if re.fullmatch(r"code_[0-9A-Z]{26}", code_id):
        row = _row(conn, code_id, lock=lock)
    if row is None:
        raise CodeUnavailable("code_unknown", f"no payment code {code_id}")
    if row.status == CodeStatus.REVOKED:
        raise CodeUnavailable("code_revoked", f"code {code_id} was revoked")
    if row.status == CodeStatus.USED:
        raise CodeUnavailable("code_used", f"code {code_id} has already been paid")
    if _is_expired(row, at):
        raise CodeUnavailable("code_expired", f"code {code_id} expired at {row.expires_at.isoformat()}")
    return row


# ---------------------------------------------------------------- page-load tokens


@dataclasses.dataclass(frozen=True, slots=True)
class PageToken:
    """One cashier page load: `token` becomes the payment's merchant order number, `sig` proves we issued it."""

    token: str
    sig: str


def _sign(code_id: str, token: str) -> str:
    key = hashlib.sha256(f"cashier:{secret()}".encode()).digest()
    return hmac.new(key, f"{code_id}|{token}".encode(), hashlib.sha256).hexdigest()[:_SIG_CHARS]


def new_page_token(code_id: str, *, at: dt.datetime | None = None) -> PageToken:
    at = at or clock.now()
    token = f"{int(at.timestamp()):08x}{secrets.token_hex(10)}"
    return PageToken(token, _sign(code_id, token))


def check_page_token(code_id: str, token: str, sig: str) -> dt.datetime:
    """The time a token was issued, if we issued it for this code; else InvalidRequest."""
    if not (
        isinstance(token, str)
        and _TOKEN_RE.fullmatch(token)
        and isinstance(sig, str)
        and hmac.compare_digest(sig, _sign(code_id, token))
    ):
        raise InvalidRequest(
            "this cashier page was not issued for this code; scan the code again",
            param="token",
            code="page_token_invalid",
        )
    return dt.datetime.fromtimestamp(int(token[:8], 16), dt.UTC)


def page_fresh(issued: dt.datetime, at: dt.datetime) -> bool:
    return at - issued <= dt.timedelta(seconds=codes_settings().cashier_page_ttl_s)


def _order_no(token: str) -> str:
    return f"cs{token}"


# ---------------------------------------------------------------- the cashier


@dataclasses.dataclass(frozen=True, slots=True)
class CashierPage:
    """What the cashier shows for a scanned code before the payer pays."""

    code_id: str
    kind: str
    merchant_id: str
    merchant_name: str
    amount_fen: int | None  # fixed for a dynamic code; the payer types it for a static code
    description: str
    expires_at: dt.datetime | None


def open_code(conn: Connection, code_id: str, *, at: dt.datetime | None = None) -> CashierPage:
    """The page of a scanned code; CodeUnavailable for unknown, revoked, used or expired codes."""
    row = resolve(conn, code_id, at=at)
    m = merchant_row(conn, row.merchant_id)
    return CashierPage(
        row.id, row.kind, row.merchant_id, m.short_name, row.amount_fen, row.description, row.expires_at
    )


def _cashier_row(conn: Connection, code_id: str, token: str) -> Any:
    return conn.execute(
        select(cashier_payments).where(
            and_(cashier_payments.c.code_id == code_id, cashier_payments.c.token == token)
        )
    ).first()


def page_started(conn: Connection, code_id: str, page: PageToken) -> bool:
    """True when this page (a token we issued for this code) has already started a payment."""
    try:
        check_page_token(code_id, page.token, page.sig)
    except InvalidRequest:
        return False
    return _cashier_row(conn, code_id, page.token) is not None


def _refresh(conn: Connection, row: Any) -> str:
    """The payment's current status, copied into the cashier's record when it moved."""
    status = payments.get_payment(conn, row.merchant_id, row.payment_id)["status"]
    if status != row.status:
        conn.execute(
            update(cashier_payments)
            .where(
                and_(cashier_payments.c.merchant_id == row.merchant_id, cashier_payments.c.token == row.token)
            )
            .values(status=status)
        )
        if status == PaymentStatus.SUCCEEDED and row.code_kind == CodeKind.DYNAMIC:
            conn.execute(
                update(payment_codes)
                .where(
                    and_(
                        payment_codes.c.merchant_id == row.merchant_id,
                        payment_codes.c.id == row.code_id,
                        payment_codes.c.status == CodeStatus.ACTIVE,
                    )
                )
                .values(status=CodeStatus.USED, payment_id=row.payment_id)
            )
    return str(status)


def payer_spent_today(conn: Connection, payer_ref: str, at: dt.datetime) -> int:
    """What a payer has paid (or is paying) on static codes today, Beijing time, in fen."""
    rows = conn.execute(
        select(cashier_payments).where(
            and_(
                cashier_payments.c.payer_ref == payer_ref,
                cashier_payments.c.local_date == at.astimezone(SHANGHAI).date(),
                cashier_payments.c.code_kind == CodeKind.STATIC,
                cashier_payments.c.status.not_in(NOT_COUNTED),
            )
        )
    ).all()
    spent = 0
    for r in rows:
        status = _refresh(conn, r) if r.status in OPEN else r.status
        if status not in NOT_COUNTED:
            spent += r.amount_fen - r.discount_fen
    return spent


def _check_rules(
    conn: Connection, code: Any, m: Any, payable_fen: int, payer_ref: str, scene: str, at: dt.datetime
) -> None:
    if code.kind != CodeKind.STATIC:
        return
    rules = codes_settings()
    if scene == "remote" and m.type == "micro" and not rules.micro_static_remote_allowed:
        raise UnprocessableError(
            "小微商户和个人收款码不能远程收款，请到店扫码 / a micro merchant's static code cannot "
            "collect remotely (银发〔2021〕259号)",
            param="scene",
            code="remote_collection_forbidden",
        )
    limit = rules.static_code_payer_daily_limit_fen
    spent = payer_spent_today(conn, payer_ref, at)
    if spent + payable_fen > limit:
        raise UnprocessableError(
            f"静态码每人每日限额 {fen_to_yuan_str(limit)} 元，今日已付 {fen_to_yuan_str(spent)} 元 / "
            f"static codes take at most {fen_to_yuan_str(limit)} yuan per payer per day; "
            f"{fen_to_yuan_str(spent)} paid today",
            param="amount_fen",
            code="static_code_daily_limit",
        )


def _free_dynamic(conn: Connection, code: Any, token: str) -> None:
    """A dynamic code takes one payment: close another page's unconfirmed attempt; refuse while one is paying."""
    others = conn.execute(
        select(cashier_payments).where(
            and_(
                cashier_payments.c.merchant_id == code.merchant_id,
                cashier_payments.c.code_id == code.id,
                cashier_payments.c.token != token,
                cashier_payments.c.status.not_in(NOT_COUNTED),
            )
        )
    ).all()
    for r in others:
        status = _refresh(conn, r)
        if status == PaymentStatus.CREATED:  # closed at its rail once this transaction commits
            payments.request_close(conn, r.payment_id)
            continue
        if status == PaymentStatus.SUCCEEDED:
            raise CodeUnavailable("code_used", f"code {code.id} has already been paid")
        if status == PaymentStatus.PROCESSING:
            raise ConflictError(
                "这个码正在支付中 / this code is being paid in another app", code="code_in_progress"
            )


def start_payment(
    conn: Connection,
    code_id: str,
    page: PageToken,
    *,
    app: str,
    payer_ref: str,
    amount_fen: int | None = None,
    scene: str = "on_site",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The payer submits the cashier page: create the payment at the app's channel. The page's token is the
    payment's merchant order number, so a second submit of the same page returns the same payment."""
    at = at or clock.now()
    issued = check_page_token(code_id, page.token, page.sig)
    done = _cashier_row(conn, code_id, page.token)
    if done is not None:
        return cashier_payment(conn, code_id, page)
    if not page_fresh(issued, at):
        raise InvalidRequest(
            "收银页已过期，请重新扫码 / this cashier page has expired; scan the code again",
            param="token",
            code="page_expired",
        )
    if scene not in SCENES:
        raise InvalidRequest(f"scene must be one of {', '.join(SCENES)}", param="scene")
    if not isinstance(payer_ref, str) or not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", payer_ref):
        raise InvalidRequest("payer must be 1–64 letters, digits or _.:-", param="payer")
    channel = app_channel(app)
    code = resolve(conn, code_id, at=at, lock=True)
    if code.kind == CodeKind.DYNAMIC:
        if amount_fen is not None and amount_fen != code.amount_fen:
            raise InvalidRequest(
                f"this code is for {fen_to_yuan_str(code.amount_fen)} yuan",
                param="amount_fen",
                code="amount_fixed_by_code",
            )
        amount_fen = code.amount_fen
        _free_dynamic(conn, code, page.token)
    elif amount_fen is None:
        raise InvalidRequest("enter the amount to pay", param="amount_fen", code="parameter_missing")
    check_fen(amount_fen, max_fen=get_settings().max_payment_fen, param="amount_fen")
    m = merchant_row(conn, code.merchant_id)
    if m.status != MerchantStatus.ACTIVE:
        raise ConflictError(
            "该商户暂停收款 / this merchant cannot take payments now", code="merchant_not_active"
        )
    # the barcode limit is checked on the full amount: a campaign's discount is only drawn when the payment is made
    _check_rules(conn, code, m, amount_fen, payer_ref, scene, at)
    if code.kind == CodeKind.DYNAMIC:
        expires_in_s = max(PAYMENT_EXPIRES_IN_S_MIN, int((code.expires_at - at).total_seconds()))
    else:
        expires_in_s = STATIC_PAYMENT_EXPIRES_IN_S
    req = CreatePayment(
        amount_fen=amount_fen,
        merchant_order_no=_order_no(page.token),
        channel=channel,
        description=(code.description or m.short_name)[:DESCRIPTION_CHARS_MAX],
        expires_in_s=expires_in_s,
        store_id=code.store_id,
        metadata={"code_id": code.id, "app": channel_app(channel), "scene": scene},
        payer=PayerHint(id=payer_ref),
    )  # campaigns price their instant discount on it
    flow = "static_code" if code.kind == CodeKind.STATIC else "dynamic_code"
    p = payments.create_payment(conn, code.merchant_id, req, at=at, flow=flow)
    conn.execute(
        cashier_payments.insert(),
        [
            {
                "merchant_id": code.merchant_id,
                "token": page.token,
                "code_id": code.id,
                "code_kind": code.kind,
                "payment_id": p["id"],
                "app": channel_app(channel),
                "channel": channel,
                "payer_ref": payer_ref,
                "scene": scene,
                "amount_fen": amount_fen,
                "discount_fen": p["discount_fen"],
                "status": p["status"],
                "local_date": at.astimezone(SHANGHAI).date(),
                "created_at": at,
            }
        ],
    )
    return cashier_payment(conn, code_id, page)


def cashier_payment(conn: Connection, code_id: str, page: PageToken) -> dict[str, Any]:
    """The payment a cashier page started, with what its receipt shows."""
    check_page_token(code_id, page.token, page.sig)
    row = _cashier_row(conn, code_id, page.token)
    if row is None:
        raise NotFound("no payment was started on this page", param="token", code="payment_not_started")
    _refresh(conn, row)
    p = payments.get_payment(conn, row.merchant_id, row.payment_id)
    m = merchant_row(conn, row.merchant_id)
    channel = facts(row.channel)
    shown = p["status"]
    if shown == PaymentStatus.CREATED and p["expires_at"] <= clock.now():
        shown = PaymentStatus.EXPIRED  # the sweeper will expire it; the payer can no longer pay it
    return {
        "object": "cashier_payment",
        "code_id": code_id,
        "token": page.token,
        "app": row.app,
        "status": shown,
        "merchant_name": m.short_name,
        "channel_label_zh": channel.label_zh,
        "channel_label_en": channel.label_en,
        "scene": row.scene,
        "payment": p,
    }


def confirm_payment(
    db: Database,
    code_id: str,
    page: PageToken,
    *,
    outcome: str | None = "success",
    payer_ref: str | None = None,
) -> dict[str, Any]:
    """The payer confirms in the app (the channel's simulator plays the app): pay the page's payment once.
    A second confirm, a confirm after a decline or after expiry charges nothing and shows the result."""
    with db.tx() as conn:
        view = cashier_payment(conn, code_id, page)
        row = _cashier_row(conn, code_id, page.token)
    p = view["payment"]
    if p["status"] == PaymentStatus.CREATED and get_settings().simulator:  # a real app pays at its real rail
        from zhifu.railsim.payer import Payer, sim_pay

        try:
            sim_pay(
                db,
                p["id"],
                outcome=outcome,
                payer=Payer(ref=payer_ref or row.payer_ref),
                merchant_id=row.merchant_id,
            )
        except ConflictError as exc:  # paid, declined or expired meanwhile: show what happened
            if exc.code not in ("payment_not_open", "payment_expired", "rail_order_final"):
                raise
    return db.run(lambda c: cashier_payment(c, code_id, page))


def scan_and_pay(
    db: Database,
    code_url_or_payload: str,
    *,
    app: str,
    payer_ref: str,
    amount_fen: int | None = None,
    scene: str = "on_site",
    outcome: str | None = "success",
) -> dict[str, Any]:
    """Pay a code as the payer's app would: open the cashier page, submit it, confirm in the app."""
    code_id = code_id_from_scan(code_url_or_payload)
    app_channel(app)
    with db.tx() as conn:
        open_code(conn, code_id)
    page = new_page_token(code_id)
    db.run(
        lambda c: start_payment(
            c, code_id, page, app=app, payer_ref=payer_ref, amount_fen=amount_fen, scene=scene
        )
    )
    return confirm_payment(db, code_id, page, outcome=outcome, payer_ref=payer_ref)
