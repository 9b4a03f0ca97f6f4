"""Console use cases: users, argon2 passwords, sessions, login throttling, and each role's scope over the data.

Every function that shows or changes data takes the logged-in `User` and enforces its scope here, so a page
(or a test) cannot reach another institution's or merchant's rows by forgetting a check in a template.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Connection, and_, delete, false, func, or_, select, true, update
from ulid import ULID

from zhifu import audit, codes, privacy, webhooks
from zhifu import merchants as merchants_svc
from zhifu import payments as payments_svc
from zhifu.channels import REGISTRY
from zhifu.console.models import console_sessions, console_users, login_failures
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.core.ids import new_id
from zhifu.core.messages import N_
from zhifu.core.money import parse_yuan
from zhifu.core.paging import page_of
from zhifu.merchants import MerchantStatus
from zhifu.merchants.read import merchants_view as merchants
from zhifu.payments.read import payments_view as payments
from zhifu.payments.read import refunds_view as refunds
from zhifu.payments.service import refund_public
from zhifu.reference import account_name_ok, check_credit_code, check_resident_id, get_mcc
from zhifu.reference.masking import mask_ends
from zhifu.settlement import service as settlement_service
from zhifu.settlement import statements as settlement_statements

ROLES: Final = ("regulator", "operator", "merchant", "biller", "complaints")
USERNAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_.\-]{2,63}")
USERNAME_CHARS_MAX: Final = 64
PASSWORD_CHARS_MIN: Final = 10
PASSWORD_CHARS_MAX: Final = 256  # argon2 hashes anything, but a megabyte "password" is an attack, not a user
DISPLAY_NAME_CHARS_MAX: Final = 60
SESSION_TTL_S: Final = 12 * 3600  # one working day; a shop's phone logs in again the next morning
LOGIN_FAILURES_MAX: Final = 5  # per username and address …
LOGIN_WINDOW_S: Final = 15 * 60  # … in this window, then the login page answers 429
SEARCH_CHARS_MAX: Final = 64
REASON_CHARS_MAX: Final = 200  # the refunds table holds 200
REVIEW_REASON_CHARS_MAX: Final = 500
KEY_LABEL_CHARS_MAX: Final = 60
URL_CHARS_MAX: Final = 512
PAGE_SIZE: Final = 20
RECENT_PAYMENTS: Final = 10

# argon2id with the library's RFC 9106 low-memory profile; tests swap in cheaper parameters.
hasher = PasswordHasher()
_DUMMY_HASH: list[str] = []  # verified against for unknown usernames, so timing does not reveal which exist


class LoginThrottled(ZhifuError):
    type = "rate_limit_error"
    code = "rate_limited"
    http_status = 429


@dataclass(frozen=True, slots=True)
class User:
    """A person logged in to the console, with the scope their role gives them."""

    id: str
    username: str
    role: str
    merchant_id: str | None
    institution_id: str | None
    biller_id: str | None
    display_name: str

    @property
    def masks_personal_data(self) -> bool:
        return self.role == "regulator"


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: str
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Either a user with a fresh session token (shown to the browser once), or why not."""

    user: User | None
    token: str | None = None
    session: Session | None = None
    throttled: bool = False


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=row.role,
        merchant_id=row.merchant_id,
        institution_id=row.institution_id,
        biller_id=row.biller_id,
        display_name=row.display_name or row.username,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_length(value: str, chars_max: int, param: str) -> str:
    if len(value) > chars_max:
        raise InvalidRequest(f"{param} is at most {chars_max} characters", param=param, code="too_long")
    return value


# ---------------------------------------------------------------- users


def create_user(
    conn: Connection,
    username: str,
    role: str,
    password: str,
    *,
    merchant_id: str | None = None,
    institution_id: str | None = None,
    biller_id: str | None = None,
    display_name: str = "",
) -> User:
    """Add a console user; a merchant user belongs to one merchant, an operator to one acquirer."""
    username = username.strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidRequest("username is 3–64 lower-case letters, digits, '.', '_' or '-'", param="username")
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", param="role")
    if not PASSWORD_CHARS_MIN <= len(password) <= PASSWORD_CHARS_MAX:
        raise InvalidRequest(
            f"password must be {PASSWORD_CHARS_MIN}–{PASSWORD_CHARS_MAX} characters", param="password"
        )
    _check_length(display_name, DISPLAY_NAME_CHARS_MAX, "display_name")
    if role == "merchant":
        if not merchant_id:
            raise InvalidRequest("a merchant user needs --merchant", param="merchant")
        merchants_svc.get_merchant(conn, merchant_id)  # NotFound names the field
    elif merchant_id:
        raise InvalidRequest("only a merchant user belongs to a merchant", param="merchant")
    if role == "operator":
        inst = next((i for i in merchants_svc.county().institutions if i.id == institution_id), None)
        if inst is None or "acquirer" not in inst.roles:
            known = ", ".join(i.id for i in merchants_svc.county().institutions if "acquirer" in i.roles)
            raise InvalidRequest(
                f"an operator needs --institution, one of the county's acquirers: {known}",
                param="institution",
            )
    elif institution_id:
        raise InvalidRequest("only an operator belongs to an institution", param="institution")
    if role == "biller" and not biller_id:
        raise InvalidRequest("a biller user needs --biller", param="biller")
    if conn.execute(select(console_users.c.id).where(console_users.c.username == username)).first():
        raise InvalidRequest(f"username {username} is taken", param="username", code="username_taken")
    row = {
        "id": new_id("usr"),
        "username": username,
        "password_hash": hasher.hash(password),
        "role": role,
        "merchant_id": merchant_id,
        "institution_id": institution_id,
        "biller_id": biller_id if role == "biller" else None,
        "display_name": display_name or username,
        "status": "active",
        "created_at": clock.now(),
        "last_login_at": None,
    }
    conn.execute(console_users.insert(), [row])
    return _user(conn.execute(select(console_users).where(console_users.c.id == row["id"])).one())


def _failures(conn: Connection, username: str, ip: str, at: dt.datetime) -> int:
    since = at - dt.timedelta(seconds=LOGIN_WINDOW_S)
    return int(
        conn.execute(
            select(func.count())
            .select_from(login_failures)
            .where(
                and_(
                    login_failures.c.username == username,
                    login_failures.c.ip == ip,
                    login_failures.c.at > since,
                )
            )
        ).scalar_one()
    )


def login(
    conn: Connection, username: str, password: str, ip: str, *, at: dt.datetime | None = None
) -> LoginResult:
    """Check a password; record a failure (committed with the caller's transaction) or open a session."""
    at = at or clock.now()
    username = _check_length(username.strip().lower(), USERNAME_CHARS_MAX, "username")
    _check_length(password, PASSWORD_CHARS_MAX, "password")
    ip = ip[:64]
    if _failures(conn, username, ip, at) >= LOGIN_FAILURES_MAX:
        _login_failed(conn, username, None, ip, "throttled", at)
        return LoginResult(None, throttled=True)
    row = conn.execute(select(console_users).where(console_users.c.username == username)).first()
    ok = False
    if row is not None:
        try:
            ok = hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hasher.hash(secrets.token_hex(8)))
        try:
            hasher.verify(_DUMMY_HASH[0], password)
        except (VerificationError, InvalidHashError):
            pass
    if not ok or row is None or row.status != "active":
        conn.execute(login_failures.insert(), [{"username": username, "ip": ip, "at": at}])
        reason = "unknown_user" if row is None else "bad_password" if not ok else "disabled"
        _login_failed(conn, username, row, ip, reason, at)
        return LoginResult(None)
    conn.execute(
        delete(login_failures).where(
            or_(
                and_(login_failures.c.username == username, login_failures.c.ip == ip),
                login_failures.c.at <= at - dt.timedelta(seconds=LOGIN_WINDOW_S),
            )
        )
    )
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= at))
    values: dict[str, Any] = {"last_login_at": at}
    if hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = hasher.hash(password)
    conn.execute(update(console_users).where(console_users.c.id == row.id).values(**values))
    token = secrets.token_urlsafe(32)
    session = Session(
        _token_hash(token), row.id, secrets.token_urlsafe(32), at + dt.timedelta(seconds=SESSION_TTL_S)
    )
    conn.execute(
        console_sessions.insert(),
        [
            {
                "token_hash": session.token_hash,
                "user_id": row.id,
                "csrf_token": session.csrf_token,
                "ip": ip,
                "created_at": at,
                "expires_at": session.expires_at,
            }
        ],
    )
    audit.record(
        conn, row.username, "console.login", "console_user", str(row.id), {"ip": ip}, role=row.role, at=at
    )
    return LoginResult(_user(row), token, session)


def _login_failed(conn: Connection, username: str, row: Any, ip: str, reason: str, at: dt.datetime) -> None:
    """A refused login in the audit log with its reason, never the password. A name no account has is kept as
    its SM3 digest: people type their password into the name field, and the log is never rewritten."""
    if row is None:
        actor, role, object_id = "unknown-user", "public", audit.digest(username)[:32]
    else:
        actor, role, object_id = row.username, row.role, str(row.id)
    audit.record(
        conn,
        actor,
        "console.login_failed",
        "console_user",
        object_id,
        {"ip": ip, "reason": reason},
        role=role,
        at=at,
    )


def session_user(
    conn: Connection, token: str | None, *, at: dt.datetime | None = None
) -> tuple[User, Session] | None:
    """The user behind a session cookie, or None when it is missing, unknown, expired or the user disabled."""
    if not token or len(token) > 128:
        return None
    at = at or clock.now()
    row = conn.execute(
        select(
            console_users,
            console_sessions.c.token_hash,
            console_sessions.c.csrf_token,
            console_sessions.c.expires_at,
        )
        .join(console_sessions, console_sessions.c.user_id == console_users.c.id)
        .where(console_sessions.c.token_hash == _token_hash(token))
    ).first()
    if row is None or row.expires_at <= at or row.status != "active":
        return None
    return _user(row), Session(row.token_hash, row.id, row.csrf_token, row.expires_at)


def logout(conn: Connection, token: str | None) -> None:
    if token:
        conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _token_hash(token)))


# ---------------------------------------------------------------- scope


def require(user: User, *roles: str) -> None:
    """Refuse a role that may not use this function at all (403)."""
    if user.role not in roles:
        raise PermissionDenied(f"a {user.role} account cannot do this", code="forbidden")


def _merchant_clause(user: User) -> ColumnElement[bool]:
    """Which merchants a user may see: all (regulator), its acquirer's (operator), its own (merchant)."""
    if user.role == "regulator":
        return true()
    if user.role == "operator" and user.institution_id:
        return merchants.c.acquirer_id == user.institution_id
    if user.role == "merchant" and user.merchant_id:
        return merchants.c.id == user.merchant_id
    return false()


def _visible(conn: Connection, user: User, merchant_id: str) -> Any:
    """The merchant row if the user may see it; another's merchant is simply not found (404)."""
    row = conn.execute(
        select(merchants).where(and_(merchants.c.id == merchant_id, _merchant_clause(user)))
    ).first()
    if row is None:
        raise NotFound(f"no merchant {merchant_id}", param="merchant")
    return row


def _own_merchant(user: User) -> str:
    require(user, "merchant")
    assert user.merchant_id is not None
    return user.merchant_id


def _shown_merchant(user: User, m: dict[str, Any]) -> dict[str, Any]:
    """Personal data as this user may see it: masked already; the regulator also gets names masked."""
    if user.masks_personal_data:
        m = {
            **m,
            "settle_account_name": mask_ends(m["settle_account_name"]),
        }  # the legal person's is masked for all
    return m


def _day_start(at: dt.datetime) -> dt.datetime:
    local = at.astimezone(SHANGHAI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _id_floor(prefix: str, at: dt.datetime) -> str:
    """The smallest id of a prefix created at or after `at` (ids are time-ordered ULIDs)."""
    return f"{prefix}_{ULID.from_int(int(at.timestamp() * 1000) << 80)}"


def channel_label(channel: str, lang: str) -> str:
    rail = REGISTRY.get(channel)
    if rail is None:
        return channel
    return rail.label_zh if lang == "zh" else rail.label_en


# ---------------------------------------------------------------- merchant pages


def takings_today(conn: Connection, user: User, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Today's (Beijing) succeeded payments of the merchant: count, gross, refunded, net; the latest ones."""
    mid = _own_merchant(user)
    at = at or clock.now()
    day0 = _day_start(at)
    base = and_(
        payments.c.merchant_id == mid,
        payments.c.id >= _id_floor("pay", day0 - dt.timedelta(hours=1)),
        payments.c.status == "succeeded",
        payments.c.succeeded_at >= day0,
    )
    count, gross, refunded = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(payments.c.amount_fen), 0),
            func.coalesce(func.sum(payments.c.refunded_fen), 0),
        ).where(base)
    ).one()
    recent = conn.execute(
        select(payments).where(base).order_by(payments.c.id.desc()).limit(RECENT_PAYMENTS)
    ).all()
    events, _ = webhooks.list_events(conn, mid, type_="payment.succeeded", limit=1)
    return {
        "count": int(count),
        "gross_fen": int(gross),
        "refunded_fen": int(refunded),
        "net_fen": int(gross) - int(refunded),
        "recent": [payments_svc.public(r) for r in recent],
        "cursor": events[0]["id"] if events else "evt_0",
        "day": day0.astimezone(SHANGHAI).date(),
    }


STREAM_BATCH: Final = 50


def payments_since(conn: Connection, user: User, cursor: str) -> list[dict[str, Any]]:
    """Payment events after a cursor, oldest first: what the live takings page announces."""
    mid = _own_merchant(user)
    rows, _ = webhooks.list_events(
        conn, mid, type_="payment.succeeded", limit=STREAM_BATCH, ending_before=cursor
    )
    return rows


def search_payments(
    conn: Connection,
    user: User,
    *,
    q: str = "",
    status: str = "",
    channel: str = "",
    starting_after: str = "",
    limit: int = PAGE_SIZE,
) -> tuple[list[dict[str, Any]], bool]:
    """Payments a user may see, newest first; `q` is a payment id, an order number or a merchant id."""
    require(user, "merchant", "operator", "regulator")
    q = _check_length(q.strip(), SEARCH_CHARS_MAX, "q")
    _check_length(starting_after, SEARCH_CHARS_MAX, "starting_after")
    stmt = select(payments, merchants.c.short_name).join(merchants, merchants.c.id == payments.c.merchant_id)
    stmt = stmt.where(_merchant_clause(user))
    if q:
        stmt = stmt.where(
            or_(payments.c.id == q, payments.c.merchant_order_no == q, payments.c.merchant_id == q)
        )
    if status:
        stmt = stmt.where(payments.c.status == status)
    if channel:
        stmt = stmt.where(payments.c.channel == channel)
    return page_of(
        conn,
        stmt,
        payments.c.id,
        limit=limit,
        starting_after=starting_after or None,
        public=lambda r: {**payments_svc.public(r), "merchant_name": r.short_name},
    )


def payment_detail(conn: Connection, user: User, payment_id: str) -> dict[str, Any]:
    """One payment and its refunds, if the user may see its merchant."""
    require(user, "merchant", "operator", "regulator")
    _check_length(payment_id, SEARCH_CHARS_MAX, "payment")
    row = conn.execute(select(payments).where(payments.c.id == payment_id)).first()
    if row is None:
        raise NotFound(f"no payment {payment_id}", param="payment")
    m = _visible(conn, user, row.merchant_id)
    pay = payments_svc.public(row)
    pay["merchant_name"] = m.short_name
    pay["refunds"] = [
        refund_public(r)
        for r in conn.execute(
            select(refunds)
            .where(and_(refunds.c.payment_id == payment_id, refunds.c.merchant_id == row.merchant_id))
            .order_by(refunds.c.id.desc())
        )
    ]
    pay["refundable_fen"] = row.amount_fen - row.refunded_fen if row.status == "succeeded" else 0
    return pay


def parse_refund(amount_yuan: str, reason: str) -> tuple[int | None, str]:
    """The refund form: an amount in yuan (blank = all that is left) and a reason."""
    amount_yuan = _check_length(amount_yuan.strip(), 20, "amount")
    reason = _check_length(reason.strip(), REASON_CHARS_MAX, "reason")
    return (parse_yuan(amount_yuan) if amount_yuan else None), reason


def refund(conn: Connection, user: User, payment_id: str, amount_yuan: str, reason: str) -> dict[str, Any]:
    """A merchant refunds its own payment (all of what is left, or part)."""
    mid = _own_merchant(user)
    amount_fen, reason = parse_refund(amount_yuan, reason)
    return payments_svc.create_refund(
        conn, mid, payment_id, payments_svc.CreateRefund(amount_fen=amount_fen, reason=reason)
    )


def list_refunds(conn: Connection, user: User, *, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    mid = _own_merchant(user)
    rows = conn.execute(
        select(refunds)
        .where(refunds.c.merchant_id == mid)
        .order_by(refunds.c.id.desc())
        .limit(max(1, min(limit, 100)))
    ).all()
    return [refund_public(r) for r in rows]


def profile(conn: Connection, user: User) -> dict[str, Any]:
    return merchants_svc.get_merchant(conn, _own_merchant(user))


def list_keys(conn: Connection, user: User) -> list[dict[str, Any]]:
    return merchants_svc.list_keys(conn, _own_merchant(user))


def create_key(conn: Connection, user: User, label: str) -> tuple[dict[str, Any], str]:
    label = _check_length(label.strip(), KEY_LABEL_CHARS_MAX, "label")
    return merchants_svc.create_key(conn, merchant_id=_own_merchant(user), role="merchant", label=label)


def revoke_key(conn: Connection, user: User, key_id: str) -> dict[str, Any]:
    return merchants_svc.revoke_key(
        conn, _check_length(key_id, SEARCH_CHARS_MAX, "key"), merchant_id=_own_merchant(user)
    )


def list_endpoints(conn: Connection, user: User) -> list[dict[str, Any]]:
    return webhooks.list_endpoints(conn, _own_merchant(user))


def create_endpoint(conn: Connection, user: User, url: str, events: list[str]) -> dict[str, Any]:
    url = _check_length(url.strip(), URL_CHARS_MAX, "url")
    return webhooks.create_endpoint(conn, _own_merchant(user), url, events or ["*"])


def delete_endpoint(conn: Connection, user: User, endpoint_id: str) -> dict[str, Any]:
    return webhooks.delete_endpoint(
        conn, _own_merchant(user), _check_length(endpoint_id, SEARCH_CHARS_MAX, "id")
    )


def settlements(conn: Connection, user: User) -> list[dict[str, Any]]:
    """The merchant's latest settlements (the first page, newest first)."""
    rows, _more = settlement_service.list_settlements(conn, _own_merchant(user))
    return [dict(r) for r in rows]


def merchant_code(conn: Connection, user: User) -> dict[str, Any] | None:
    """The merchant's active static code: {"code", "url"}; None while none is issued."""
    row = codes.static_code_for(conn, _own_merchant(user))
    return None if row is None else {"code": row["code"], "url": row["url"]}


STATEMENT_FORMATS: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def statement(conn: Connection, user: User, month: str, fmt: str) -> tuple[bytes, str]:
    """The merchant's statement for a month (YYYY-MM) as CSV or Excel."""
    mid = _own_merchant(user)
    if fmt not in STATEMENT_FORMATS:
        raise InvalidRequest("format is csv or xlsx", param="format")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month):
        raise InvalidRequest("month is written YYYY-MM", param="month")
    doc = settlement_statements.statement(conn, mid, month=month)
    data = settlement_statements.to_csv(doc) if fmt == "csv" else settlement_statements.to_xlsx(doc)
    return data, f"{mid}-{doc.get('period', month)}.{fmt}"


def sticker_pdf(conn: Connection, user: User) -> bytes | None:
    from zhifu.qr.sticker import StickerInfo, render_pdf

    code = merchant_code(conn, user)
    if code is None:
        return None
    m = profile(conn, user)
    return render_pdf(StickerInfo(short_name=m["short_name"], merchant_id=m["id"], code_url=code["url"]))


# ---------------------------------------------------------------- operator pages

REVIEW_ACTIONS: Final = ("approve", "reject", "request_changes")
QUEUE_STATUSES: Final = (MerchantStatus.PENDING_REVIEW, MerchantStatus.CHANGES_REQUESTED)


def review_queue(conn: Connection, user: User) -> list[dict[str, Any]]:
    """Applications waiting for this operator's institution, oldest first."""
    require(user, "operator")
    rows = conn.execute(
        select(merchants)
        .where(and_(merchants.c.status.in_(QUEUE_STATUSES), _merchant_clause(user)))
        .order_by(merchants.c.created_at.asc())
        .limit(200)
    ).all()
    return [merchants_svc.get_merchant(conn, r.id) for r in rows]


def list_merchants(
    conn: Connection, user: User, *, status: str = "", town_code: str = "", starting_after: str = ""
) -> tuple[list[dict[str, Any]], bool]:
    require(user, "operator", "regulator")
    _check_length(starting_after, SEARCH_CHARS_MAX, "starting_after")
    rows, more = merchants_svc.list_merchants(
        conn,
        status=status or None,
        town_code=town_code or None,
        acquirer_id=user.institution_id if user.role == "operator" else None,
        limit=PAGE_SIZE,
        starting_after=starting_after or None,
    )
    return [_shown_merchant(user, m) for m in rows], more


def _check(label: str, fn: Any) -> dict[str, Any]:
    try:
        fn()
    except ZhifuError as exc:
        return {"label": label, "ok": False, "message": exc.message}
    return {"label": label, "ok": True, "message": ""}


def application_checks(row: Any, conn: Connection | None = None) -> list[dict[str, Any]]:
    """Each onboarding check run on its own, so the reviewer sees every problem, not only the first."""
    profile = merchants_svc.county()
    ring = privacy.keyring(conn) if conn is not None else privacy.KeyRing(None)

    def credit() -> None:
        if row.type == "micro":
            if row.credit_code:
                raise InvalidRequest("a micro merchant registers without a credit code")
        elif not row.credit_code:
            raise InvalidRequest("missing unified social credit code")
        else:
            check_credit_code(row.credit_code)

    def phone() -> None:
        if not re.fullmatch(r"1[3-9][0-9]{9}", ring.decrypt(row.phone_enc)):
            raise InvalidRequest("not an 11-digit mobile number")

    def town() -> None:
        if not any(t.code == row.town_code for t in profile.towns):
            raise InvalidRequest(f"unknown town {row.town_code}")

    def acquirer() -> None:
        if not any(i.id == row.acquirer_id and "acquirer" in i.roles for i in profile.institutions):
            raise InvalidRequest(f"unknown acquirer {row.acquirer_id}")

    return [
        _check(N_("Unified social credit code"), credit),
        _check(N_("Resident ID number"), lambda: check_resident_id(ring.decrypt(row.legal_person_id_enc))),
        _check(N_("Mobile number"), phone),
        _check(N_("Merchant category (MCC)"), lambda: get_mcc(row.mcc)),
        _check(N_("Town"), town),
        _check(N_("Acquirer"), acquirer),
        _check(
            N_("Settlement account name"),
            lambda: account_name_ok(
                row.type, row.legal_name, ring.decrypt(row.legal_person_name_enc), row.settle_account_name
            ),
        ),
    ]


def merchant_review(conn: Connection, user: User, merchant_id: str) -> dict[str, Any]:
    """A merchant as its operator reviews it: the (masked) application and the result of every check."""
    require(user, "operator")
    row = _visible(conn, user, _check_length(merchant_id, SEARCH_CHARS_MAX, "merchant"))
    return {
        **merchants_svc.get_merchant(conn, row.id),
        "checks": application_checks(merchants_svc.merchant_row(conn, row.id), conn),
        "reviewable": row.status == MerchantStatus.PENDING_REVIEW,
    }


def review_merchant(
    conn: Connection, user: User, merchant_id: str, action: str, reason: str
) -> dict[str, Any]:
    """Approve, reject (with a reason) or send back for changes (with a reason) one of the operator's merchants."""
    require(user, "operator")
    if action not in REVIEW_ACTIONS:
        raise InvalidRequest(f"action must be one of {', '.join(REVIEW_ACTIONS)}", param="action")
    reason = _check_length(reason.strip(), REVIEW_REASON_CHARS_MAX, "reason")
    row = _visible(conn, user, _check_length(merchant_id, SEARCH_CHARS_MAX, "merchant"))
    return merchants_svc.review(conn, row.id, action, reason=reason or None)


# ---------------------------------------------------------------- regulator pages


def programme_figures(conn: Connection, user: User, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """A few live figures for the dashboard: merchants by status and town; today's payments by channel."""
    require(user, "regulator")
    at = at or clock.now()
    day0 = _day_start(at)
    by_status = {
        s: int(n)
        for s, n in conn.execute(select(merchants.c.status, func.count()).group_by(merchants.c.status)).all()
    }
    towns = {t.code: t.name for t in merchants_svc.county().towns}
    by_town = [
        {"town_code": code, "town": towns.get(code, code), "status": s, "count": int(n)}
        for code, s, n in conn.execute(
            select(merchants.c.town_code, merchants.c.status, func.count()).group_by(
                merchants.c.town_code, merchants.c.status
            )
        ).all()
    ]
    town_rows: dict[str, dict[str, Any]] = {}
    for r in by_town:
        t = town_rows.setdefault(
            r["town_code"], {"town_code": r["town_code"], "town": r["town"], "active": 0, "total": 0}
        )
        t["total"] += r["count"]
        if r["status"] == MerchantStatus.ACTIVE:
            t["active"] += r["count"]
    channels = [
        {"channel": c, "count": int(n), "amount_fen": int(a)}
        for c, n, a in conn.execute(
            select(payments.c.channel, func.count(), func.coalesce(func.sum(payments.c.amount_fen), 0))
            .where(
                and_(
                    payments.c.id >= _id_floor("pay", day0 - dt.timedelta(hours=1)),
                    payments.c.status == "succeeded",
                    payments.c.succeeded_at >= day0,
                )
            )
            .group_by(payments.c.channel)
            .order_by(payments.c.channel)
        ).all()
    ]
    return {
        "merchants_by_status": by_status,
        "merchants_total": sum(by_status.values()),
        "towns": sorted(town_rows.values(), key=lambda t: t["town_code"]),
        "channels": channels,
        "payments_count": sum(c["count"] for c in channels),
        "payments_amount_fen": sum(c["amount_fen"] for c in channels),
        "day": day0.astimezone(SHANGHAI).date(),
    }


def announcement(payment: dict[str, Any]) -> str:
    """What the shop's phone says aloud, always in Mandarin: "微信支付收款 12.50 元"."""
    from zhifu.core.money import fen_to_yuan_str

    label = channel_label(payment.get("channel", ""), "zh").split("/")[0]
    return f"{label}收款 {fen_to_yuan_str(payment['amount_fen'])} 元"
