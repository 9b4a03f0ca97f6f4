"""缴费记录的手机验证 / A payer proves their phone with a one-time code before their bill history is shown.

The code is six digits, kept only as a keyed hash (HMAC-SHA256 under a key derived from the platform secret, so
a copy of the database cannot be searched for it), lives five minutes, allows five attempts, and a new code
replaces the old one. Sending is limited per phone (3 in 15 minutes) and per caller address (10 an hour), each
address kept as a keyed hash. The text goes out after the commit (no network call inside a transaction) through
a pluggable sender: in the simulator a simulated SMS outbox the demo shows on a page, otherwise the platform's
SMS gateway (`zhifu.complaints.sms`). A proven phone gets a signed session (30 minutes) naming its blind index,
never the number, so a payer sees their own payments and saved accounts and no one else's."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import secrets
import threading
from typing import Any, Protocol

from sqlalchemy import Connection, and_, delete, insert, select, update

from zhifu import privacy
from zhifu.bills.models import LineStatus, bill_households, bill_lines
from zhifu.bills.payer_models import bill_code_limits, bill_phone_codes
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest, Unauthenticated, ZhifuError
from zhifu.db import Database
from zhifu.db.engine import after_commit
from zhifu.reference import mask_phone

CODE_TTL = dt.timedelta(minutes=5)
ATTEMPTS_MAX = 5
PHONE_SENDS_MAX, PHONE_WINDOW = 3, dt.timedelta(minutes=15)
IP_SENDS_MAX, IP_WINDOW = 10, dt.timedelta(hours=1)
SESSION_TTL = dt.timedelta(minutes=30)
SESSION_COOKIE = "zhifu_payer"
HISTORY_MAX = 50
_PHONE_DIGITS = 11


class TooManyRequests(ZhifuError):
    type = "rate_limit_error"
    code = "too_many_requests"
    http_status = 429


# ---------------------------------------------------------------- senders


class SmsSender(Protocol):
    name: str

    def send(self, phone: str, text: str) -> None:
        """Deliver `text` to the 11-digit mobile number `phone`, or raise."""


class SimulatedOutbox:
    """The simulator's SMS gateway: the last messages in memory, each with the phone masked, for the demo's page."""

    name = "simulated_outbox"

    def __init__(self, keep: int = 50) -> None:
        self.messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        with self._lock:
            self.messages.appendleft({"phone": mask_phone(phone), "text": text, "at": clock.now()})

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)


class GatewaySender:
    """The platform's SMS gateway, as installed for complainants' texts (`zhifu.complaints.sms.set_sender`)."""

    name = "gateway"

    def send(self, phone: str, text: str) -> None:
        from zhifu.complaints import sms

        sms.sender().send(phone, text)


OUTBOX = SimulatedOutbox()
_sender: SmsSender | None = None


def sender() -> SmsSender:
    if _sender is not None:
        return _sender
    return OUTBOX if get_settings().simulator else GatewaySender()


def set_sender(new: SmsSender | None) -> SmsSender | None:
    """Install a sender (None: the default for the settings); returns the previous one."""
    global _sender
    old, _sender = _sender, new
    return old


# ---------------------------------------------------------------- codes


def _key() -> bytes:
    return hashlib.sha256(b"zhifu-bill-payer-codes:" + get_settings().secret_key.encode()).digest()


def _code_hash(phone_index: str, code: str) -> str:
    return hmac.new(_key(), f"{phone_index}:{code}".encode(), hashlib.sha256).hexdigest()


def check_phone(phone: str) -> str:
    phone = (phone or "").strip().replace(" ", "")
    if len(phone) != _PHONE_DIGITS or not phone.isdigit() or phone[0] != "1" or phone[1] in "012":
        raise InvalidRequest(
            "手机号须为 11 位手机号码 / phone must be an 11-digit mobile number",
            param="phone",
            code="invalid_phone",
        )
    return phone


def _count_send(
    conn: Connection, key: str, window: dt.timedelta, most: int, at: dt.datetime, what: str
) -> None:
    row = conn.execute(select(bill_code_limits).where(bill_code_limits.c.key == key)).first()
    if row is None:
        conn.execute(insert(bill_code_limits), [{"key": key, "window_start": at, "sent": 1}])
        return
    if at - row.window_start >= window:
        conn.execute(
            update(bill_code_limits).where(bill_code_limits.c.key == key).values(window_start=at, sent=1)
        )
        return
    if row.sent >= most:
        wait = max(1, int((row.window_start + window - at).total_seconds() // 60) + 1)
        raise TooManyRequests(
            f"{what}获取验证码过于频繁，请 {wait} 分钟后再试 / too many codes for this {what_en(what)}; "
            f"try again in {wait} min",
            param="phone",
            code="code_rate_limited",
        )
    conn.execute(update(bill_code_limits).where(bill_code_limits.c.key == key).values(sent=row.sent + 1))


def what_en(what: str) -> str:
    return {"该手机号": "phone", "本网络": "address"}.get(what, "caller")


def request_code(conn: Connection, phone: str, ip: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Make a code for `phone` (replacing any earlier one) and send it after the commit; limits per phone and per
    caller address. Nothing says whether the phone has paid anything: the answer is the same for every phone."""
    at = at or clock.now()
    phone = check_phone(phone)
    idx = privacy.blind_index(phone)
    _count_send(conn, "ip:" + privacy.blind_index("ip:" + (ip or "?")), IP_WINDOW, IP_SENDS_MAX, at, "本网络")
    _count_send(conn, "phone:" + idx, PHONE_WINDOW, PHONE_SENDS_MAX, at, "该手机号")
    code = f"{secrets.randbelow(1_000_000):06d}"
    conn.execute(delete(bill_phone_codes).where(bill_phone_codes.c.phone_index == idx))
    conn.execute(
        insert(bill_phone_codes),
        [
            {
                "phone_index": idx,
                "code_hash": _code_hash(idx, code),
                "attempts": 0,
                "expires_at": at + CODE_TTL,
                "created_at": at,
            }
        ],
    )
    text = f"【智付】您查询缴费记录的验证码为 {code}，5 分钟内有效，请勿告诉他人。"
    out = sender()
    after_commit(conn, lambda _db: out.send(phone, text))
    return {
        "object": "payer_code",
        "phone": mask_phone(phone),
        "expires_at": at + CODE_TTL,
        "sender": out.name,
    }


def verify(db: Database, phone: str, code: str, *, at: dt.datetime | None = None) -> str:
    """Check the code; on success the code is used up and a session token is returned. A wrong code counts its
    attempt in a committed transaction before the error is raised; the fifth wrong one ends the code."""
    at = at or clock.now()
    phone = check_phone(phone)
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        raise InvalidRequest("验证码为 6 位数字 / code: six digits", param="code", code="invalid_code")
    idx = privacy.blind_index(phone)

    def check(conn: Connection) -> tuple[str, int]:
        row = conn.execute(select(bill_phone_codes).where(bill_phone_codes.c.phone_index == idx)).first()
        if row is None:
            return "missing", 0
        if row.expires_at <= at:
            return "expired", 0
        if row.attempts >= ATTEMPTS_MAX:
            return "locked", 0
        if not hmac.compare_digest(row.code_hash, _code_hash(idx, code)):
            conn.execute(
                update(bill_phone_codes)
                .where(bill_phone_codes.c.phone_index == idx)
                .values(attempts=bill_phone_codes.c.attempts + 1)
            )
            return "wrong", ATTEMPTS_MAX - row.attempts - 1
        conn.execute(delete(bill_phone_codes).where(bill_phone_codes.c.phone_index == idx))
        return "ok", 0

    outcome, left = db.run(check)
    if outcome == "missing":
        raise InvalidRequest("请先获取验证码 / code: ask for a code first", param="code", code="code_missing")
    if outcome == "expired":
        raise InvalidRequest(
            "验证码已过期，请重新获取 / code: it has expired; ask for a new one",
            param="code",
            code="code_expired",
        )
    if outcome == "locked" or (outcome == "wrong" and left == 0):
        raise ConflictError(
            "验证码错误次数过多，请重新获取 / code: too many wrong attempts; ask for a new one",
            param="code",
            code="code_locked",
        )
    if outcome == "wrong":
        raise InvalidRequest(
            f"验证码不对，还可再试 {left} 次 / code: wrong, {left} attempt(s) left",
            param="code",
            code="code_wrong",
        )
    return make_session(idx, mask_phone(phone), at)


# ---------------------------------------------------------------- the session


def _session_key() -> bytes:
    return hashlib.sha256(b"zhifu-bill-payer-session:" + get_settings().secret_key.encode()).digest()


def make_session(phone_index: str, masked: str, at: dt.datetime) -> str:
    expires = int((at + SESSION_TTL).timestamp())
    body = f"v1.{phone_index}.{masked}.{expires}"
    sig = hmac.new(_session_key(), body.encode(), hashlib.sha256).digest()
    return body + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


def read_session(token: str | None, *, at: dt.datetime | None = None) -> tuple[str, str]:
    """(phone index, masked phone) of a valid session, or Unauthenticated."""
    at = at or clock.now()
    parts = (token or "").split(".")
    if len(parts) == 5 and parts[0] == "v1":
        body = ".".join(parts[:4])
        want = hmac.new(_session_key(), body.encode(), hashlib.sha256).digest()
        got = parts[4] + "=" * (-len(parts[4]) % 4)
        try:
            ok = hmac.compare_digest(want, base64.urlsafe_b64decode(got))
        except ValueError:
            ok = False
        if ok and parts[3].isdigit() and int(parts[3]) > at.timestamp():
            return parts[1], parts[2]
    raise Unauthenticated("请先验证手机号 / prove your phone first", code="payer_session_missing")


# ---------------------------------------------------------------- what the payer sees


def history(conn: Connection, phone_index: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """The proven phone's bill payments (newest first, with their receipts) and saved accounts."""
    from zhifu.bills import service

    at = at or clock.now()
    rows = conn.execute(
        select(bill_lines)
        .where(
            and_(bill_lines.c.payer_phone_index == phone_index, bill_lines.c.status == LineStatus.SUCCEEDED)
        )
        .order_by(bill_lines.c.paid_at.desc())
        .limit(HISTORY_MAX)
    ).all()
    names = {b["id"]: b["name"] for b in service.list_billers(conn)}
    payments = [
        service.line_public(r)
        | {
            "biller_name": names.get(r.biller_id, r.biller_id),
            "paid_at_local": r.paid_at.astimezone(SHANGHAI) if r.paid_at else None,
        }
        for r in rows
    ]
    accounts = []
    for h in conn.execute(
        select(bill_households)
        .where(bill_households.c.phone_index == phone_index)
        .order_by(bill_households.c.created_at)
    ).all():
        try:
            bills = service.present(conn, h.biller_id, h.account_no, at=at)["bills"]
        except ZhifuError:
            bills = []
        accounts.append(
            {
                "biller_id": h.biller_id,
                "biller_name": names.get(h.biller_id, h.biller_id),
                "account_no": h.account_no,
                "label": h.label,
                "bills": bills,
                "outstanding_fen": sum(b["outstanding_fen"] for b in bills),
            }
        )
    return {"object": "payer_history", "payments": payments, "accounts": accounts}
