"""投诉快速响应 / complaints: intake from every door, routing to whoever can fix it, clocks on the working-day
calendar, refunds through maker-checker and the payments service, messages to the complainant, and analysis.

Design note. A complaint is logged and routed in one step (BBPS: Logged → Assigned), so it is never without an
owner. Its clocks are fixed at receipt from the rules then in force (a later change of rules does not move a
running clock), and only an extension with a reason moves the decision deadline. Money moves only through
`payments.create_refund`, after a second person approves what the handler proposed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu import payments, privacy
from zhifu.complaints import sla
from zhifu.complaints.models import (
    CATEGORIES,
    OPEN,
    OUTCOMES,
    SOURCES,
    Status,
    complaint_attachments,
    complaint_events,
    complaint_messages,
    complaint_otps,
    complaint_payments,
    complaint_refunds,
    complaint_rules,
    complaints,
)
from zhifu.complaints.sms import sender
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.core.ids import new_id
from zhifu.core.money import check_fen, fen_to_yuan_str
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.merchants import county, get_merchant

NARRATIVE_CHARS_MAX: Final = 2000  # a page of text; longer accounts go in an attachment
REASON_CHARS_MAX: Final = 500
ATTACHMENT_BYTES_MAX: Final = 2 * 1024 * 1024  # a phone photo compressed by the page, or a short PDF
ATTACHMENTS_MAX: Final = 5  # per complaint
ATTACHMENT_TYPES: Final = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "application/pdf": b"%PDF-",
}
OTP_TTL_S: Final = 600  # a code is good for ten minutes …
OTP_ATTEMPTS_MAX: Final = 5  # … and five guesses
OTP_PER_HOUR_MAX: Final = 5  # codes sent to one phone an hour: an SMS costs money and annoys
MESSAGE_ATTEMPTS_MAX: Final = 5
CLOCK_INTERVAL_S: Final = 60.0  # the clocks count days: a minute is prompt enough for reminders and texts
PAGE_MAX: Final = 200
NOTIFICATIONS_SCAN_MAX: Final = 500  # a merchant's events after the payment read to find its own
IMPORT_ROWS_MAX: Final = 5000  # a month of 12363 referrals for a county is tens
REPEAT_MIN: Final = 2  # complaints from one phone (or about one merchant) that make them "repeat"
SIGNAL_WINDOW_DAYS: Final = 30
SIGNAL_MIN: Final = 3  # complaints of one kind about one merchant in the window that make a risk signal
SIGNAL_CATEGORIES: Final = ("double_charge", "payment_failed_money_taken", "refund_not_received", "fraud")
PBOC_HOTLINE: Final = "12363"
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
_REF_RE = re.compile(r"[A-Za-z0-9\-]{1,40}")
PLATFORM, PBOC = "platform", "pboc"

# Who can fix what (BBPS: transaction-based complaints go to the party that holds the money).
ROUTES: Final[dict[str, str]] = {
    "payment_failed_money_taken": "acquirer",
    "double_charge": "acquirer",
    "refund_not_received": "acquirer",
    "fees": "acquirer",
    "merchant_refuses_smart_pay": "acquirer",
    "fraud": "issuer",
    "discount_not_given": "platform",
    "data_misuse": "platform",
    "other": "platform",
}
CATEGORY_LABELS: Final[dict[str, str]] = {
    "payment_failed_money_taken": "支付失败但已扣款 / payment failed but money taken",
    "double_charge": "重复扣款 / double charge",
    "refund_not_received": "退款未到账 / refund not received",
    "discount_not_given": "优惠未兑现 / discount not given",
    "merchant_refuses_smart_pay": "商户拒收智付 / merchant refuses smart pay",
    "fees": "收费 / fees",
    "data_misuse": "信息滥用 / data misuse",
    "fraud": "欺诈诈骗 / fraud or scam",
    "other": "其他 / other",
}


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Rules:
    """The handling rules (金融消费者权益保护实施办法, 2020): acknowledge promptly, decide within 15 days,
    extendable with notice and a reason up to 60 days in all."""

    ack_working_days: int = 1
    decide_days: int = 15
    decide_basis: sla.Basis = "calendar"  # "15日": calendar days, the last moved off a rest day
    extend_days_max: int = 45  # 15 + 45 = 60 days at most
    remind_working_days: int = 2


def get_rules(conn: Connection) -> Rules:
    row = conn.execute(select(complaint_rules).where(complaint_rules.c.id == 1)).first()
    if row is None:
        return Rules()
    return Rules(
        row.ack_working_days, row.decide_days, row.decide_basis, row.extend_days_max, row.remind_working_days
    )


def set_rules(conn: Connection, by: str, **changes: Any) -> Rules:
    """Change the rules for complaints received from now on; running clocks keep theirs."""
    unknown = set(changes) - set(Rules.__dataclass_fields__)
    if unknown:
        raise InvalidRequest(f"unknown rule {sorted(unknown)[0]}", param=sorted(unknown)[0])
    new = Rules(**{**asdict(get_rules(conn)), **changes})
    limits = {
        "ack_working_days": (0, 30),
        "decide_days": (1, 366),
        "extend_days_max": (0, 366),
        "remind_working_days": (0, 30),
    }
    for name, (lo, hi) in limits.items():
        v = getattr(new, name)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise InvalidRequest(
                f"{name} 须为 {lo}–{hi} 的整数 / {name} must be an integer {lo}–{hi}", param=name
            )
    if new.decide_basis not in sla.BASES:
        raise InvalidRequest(
            "decide_basis 须为 working 或 calendar / decide_basis is working or calendar",
            param="decide_basis",
        )
    values = {**asdict(new), "updated_by": by, "updated_at": clock.now()}
    if conn.execute(update(complaint_rules).where(complaint_rules.c.id == 1).values(**values)).rowcount == 0:
        conn.execute(insert(complaint_rules), [{"id": 1, **values}])
    return new


# ---------------------------------------------------------------- intake


class FileComplaint(BaseModel):
    """A complaint as any door takes it in: the API body, the public page, the portal, a phone call, 12363."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=20)
    category: str
    narrative: str = Field(default="", max_length=NARRATIVE_CHARS_MAX)
    narrative_consent: StrictBool = False  # may the narrative be published (without personal data)?
    payment_id: str | None = Field(default=None, max_length=32)
    merchant_id: str | None = Field(default=None, max_length=32)
    claimed_fen: StrictInt | None = None
    town_code: str | None = Field(default=None, max_length=12)
    external_ref: str | None = Field(default=None, max_length=40)
    received_at: dt.datetime | None = None  # when another door received it (12363); otherwise now


def _check_phone(phone: str | None) -> str:
    phone = (phone or "").strip().replace(" ", "").replace("-", "")
    if not phone:
        raise InvalidRequest(
            "请留下联系电话 / a complaint needs a contact phone number", param="phone", code="contact_missing"
        )
    if not _PHONE_RE.fullmatch(phone):
        raise InvalidRequest("手机号须为 11 位 / phone must be an 11-digit mobile number", param="phone")
    return phone


def _check_text(value: str, param: str, label: str, chars_max: int = REASON_CHARS_MAX) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidRequest(f"请填写{label} / {param} is required", param=param, code=f"{param}_missing")
    if len(value) > chars_max:
        raise InvalidRequest(
            f"{label}最多 {chars_max} 字 / {param} is at most {chars_max} characters", param=param
        )
    return value


def _institutions() -> dict[str, Any]:
    return {i.id: i for i in county().institutions}


def route(category: str, merchant: dict[str, Any] | None, payment: dict[str, Any] | None) -> tuple[str, str]:
    """(kind, org) of whoever handles a complaint: the merchant's acquirer, the payer's issuer, the platform."""
    want = ROUTES[category]
    insts = _institutions()
    if want == "issuer":
        issuer = (payment or {}).get("payer") or {}
        iid = issuer.get("card_issuer")
        if iid in insts and "issuer" in insts[iid].roles:
            return "issuer", iid
        want = "acquirer"
    if want == "acquirer" and merchant is not None and merchant["acquirer_id"] in insts:
        return "acquirer", merchant["acquirer_id"]
    return PLATFORM, PLATFORM


def _calendar(conn: Connection, is_workday: sla.IsWorkday | None) -> tuple[sla.IsWorkday, Any]:
    """The working-day calendar to count on: the one given (tests), else the operator's."""
    if is_workday is not None:
        return is_workday, lambda d: True
    return sla.project_is_workday(conn)


def _event(conn: Connection, cid: str, what: str, actor: str, at: dt.datetime, /, **data: Any) -> None:
    seq = (
        conn.execute(
            select(func.coalesce(func.max(complaint_events.c.seq), 0)).where(
                complaint_events.c.complaint_id == cid
            )
        ).scalar_one()
        + 1
    )
    conn.execute(
        insert(complaint_events),
        [
            {
                "complaint_id": cid,
                "seq": seq,
                "kind": what,
                "actor": actor[:64],
                "data": {k: v for k, v in data.items() if v is not None} or None,
                "at": at,
            }
        ],
    )


def _message(conn: Connection, row: Any, kind: str, text: str, at: dt.datetime) -> None:
    conn.execute(
        insert(complaint_messages),
        [
            {
                "complaint_id": row.id,
                "phone_enc": row.phone_enc,
                "phone_masked": row.phone_masked,
                "kind": kind,
                "text": text,
                "status": "pending",
                "sender": None,
                "attempts": 0,
                "created_at": at,
                "sent_at": None,
            }
        ],
    )


def _open_on_payment(conn: Connection, merchant_id: str, payment_id: str) -> Any:
    return conn.execute(
        select(complaints)
        .join(complaint_payments, complaint_payments.c.complaint_id == complaints.c.id)
        .where(
            complaint_payments.c.merchant_id == merchant_id,
            complaint_payments.c.payment_id == payment_id,
            complaints.c.status.in_([s.value for s in OPEN]),
        )
        .order_by(complaints.c.received_at)
    ).first()


def file_complaint(
    conn: Connection,
    req: FileComplaint,
    *,
    source: str,
    actor: str,
    at: dt.datetime | None = None,
    is_workday: sla.IsWorkday | None = None,
) -> dict[str, Any]:
    """Log and route a complaint and start its clocks. A second complaint about a payment that already has an
    open complaint is linked to that one (its account added to the timeline), not duplicated."""
    at = at or clock.now()
    if source not in SOURCES:
        raise InvalidRequest(f"source must be one of {', '.join(SOURCES)}", param="source")
    phone = _check_phone(req.phone)
    if req.category not in CATEGORIES:
        raise InvalidRequest(
            f"投诉类别无效 / category must be one of {', '.join(CATEGORIES)}", param="category"
        )
    narrative = _check_text(req.narrative, "narrative", "投诉内容", NARRATIVE_CHARS_MAX)
    if req.claimed_fen is not None:
        check_fen(req.claimed_fen, param="claimed_fen")
    if req.external_ref is not None and not _REF_RE.fullmatch(req.external_ref):
        raise InvalidRequest("external_ref holds letters, digits and - only", param="external_ref")
    received = req.received_at or at
    if received.tzinfo is None or received > at:
        raise InvalidRequest("received_at is a past moment with a time zone", param="received_at")
    payment = payments.get_payment(conn, req.merchant_id, req.payment_id) if req.payment_id else None
    merchant_id = payment["merchant_id"] if payment else req.merchant_id
    merchant = get_merchant(conn, merchant_id) if merchant_id else None
    if req.category == "merchant_refuses_smart_pay" and merchant is None:
        raise InvalidRequest("请指明拒收的商户 / name the merchant that refused", param="merchant_id")
    if req.town_code and req.town_code not in {t.code for t in county().towns}:
        raise InvalidRequest(f"没有乡镇 {req.town_code} / no town {req.town_code}", param="town_code")
    if (
        req.external_ref
        and conn.execute(
            select(complaints.c.id).where(
                complaints.c.source == source, complaints.c.external_ref == req.external_ref
            )
        ).first()
    ):
        raise ConflictError(
            f"转办单 {req.external_ref} 已登记 / referral {req.external_ref} is already logged",
            param="external_ref",
            code="referral_exists",
        )
    if payment is not None:
        existing = _open_on_payment(conn, payment["merchant_id"], payment["id"])
        if existing is not None:
            conn.execute(
                update(complaints)
                .where(complaints.c.id == existing.id)
                .values(repeat_filings=complaints.c.repeat_filings + 1, updated_at=at)
            )
            _event(
                conn,
                existing.id,
                "refiled",
                actor,
                at,
                source=source,
                phone=privacy.mask_phone(phone),
                narrative=narrative,
            )
            return {**get_complaint(conn, existing.id), "linked_to_existing": True}
    rules = get_rules(conn)
    is_workday, covers = _calendar(conn, is_workday)
    clocks = sla.deadlines(
        received,
        ack_working_days=rules.ack_working_days,
        decide_days=rules.decide_days,
        decide_basis=rules.decide_basis,
        remind_working_days=rules.remind_working_days,
        is_workday=is_workday,
    )
    kind, org = route(req.category, merchant, payment)
    cid = new_id("cmpl", at_ms=int(received.timestamp() * 1000))
    conn.execute(
        insert(complaints),
        [
            {
                "id": cid,
                "merchant_id": merchant_id,
                "source": source,
                "external_ref": req.external_ref,
                "category": req.category,
                "kind": "transaction" if payment else "service",
                "status": Status.ASSIGNED,
                "assignee_kind": kind,
                "assignee_org": org,
                "handler": None,
                "phone_enc": privacy.encrypt(phone),
                "phone_masked": privacy.mask_phone(phone),
                "phone_index": privacy.blind_index(phone),
                "narrative": narrative,
                "narrative_consent": req.narrative_consent,
                "claimed_fen": req.claimed_fen,
                "town_code": req.town_code or (merchant["town_code"] if merchant else None),
                "channel": payment["channel"] if payment else None,
                "clock_estimated": not (
                    covers(sla.local_date(received)) and covers(sla.local_date(clocks.decide_due_at))
                ),
                "received_at": received,
                "ack_due_at": clocks.ack_due_at,
                "base_due_at": clocks.decide_due_at,
                "decide_due_at": clocks.decide_due_at,
                "remind_at": clocks.remind_at,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    if payment is not None:
        conn.execute(
            insert(complaint_payments),
            [
                {
                    "complaint_id": cid,
                    "merchant_id": payment["merchant_id"],
                    "payment_id": payment["id"],
                    "linked_at": at,
                }
            ],
        )
    _event(
        conn,
        cid,
        "logged",
        actor,
        at,
        source=source,
        category=req.category,
        payment_id=req.payment_id,
        rules=asdict(rules),
    )
    _event(conn, cid, "assigned", "system", at, org=org, kind=kind, reason="routed by category and payment")
    return {**get_complaint(conn, cid), "linked_to_existing": False}


def add_attachment(
    conn: Connection,
    complaint_id: str,
    filename: str,
    content_type: str,
    data: bytes,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Attach an image or a PDF, checked by its size, declared type and first bytes."""
    at = at or clock.now()
    row = _load(conn, complaint_id)
    if row.status == Status.CLOSED:
        raise ConflictError("投诉已关闭 / the complaint is closed", code="complaint_closed")
    if not data:
        raise InvalidRequest("附件为空 / the attachment is empty", param="attachment")
    if len(data) > ATTACHMENT_BYTES_MAX:
        raise InvalidRequest(
            f"附件不能超过 {ATTACHMENT_BYTES_MAX // (1024 * 1024)} MB / an attachment is at most "
            f"{ATTACHMENT_BYTES_MAX} bytes",
            param="attachment",
            code="attachment_too_large",
        )
    magic = ATTACHMENT_TYPES.get(content_type)
    if magic is None or not data.startswith(magic):
        raise InvalidRequest(
            "附件须为 JPEG、PNG 图片或 PDF / an attachment is a JPEG or PNG image or a PDF",
            param="attachment",
            code="attachment_type",
        )
    n = conn.execute(
        select(func.count()).where(complaint_attachments.c.complaint_id == complaint_id)
    ).scalar_one()
    if n >= ATTACHMENTS_MAX:
        raise InvalidRequest(
            f"附件最多 {ATTACHMENTS_MAX} 个 / at most {ATTACHMENTS_MAX} attachments",
            param="attachment",
            code="attachments_max",
        )
    name = re.sub(r"[^\w.\-]", "_", filename or "attachment")[-120:] or "attachment"
    conn.execute(
        insert(complaint_attachments),
        [
            {
                "complaint_id": complaint_id,
                "seq": n + 1,
                "filename": name,
                "content_type": content_type,
                "size_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "data": data,
                "created_at": at,
            }
        ],
    )
    _event(conn, complaint_id, "attached", actor, at, filename=name, size_bytes=len(data))
    return {
        "complaint_id": complaint_id,
        "seq": n + 1,
        "filename": name,
        "content_type": content_type,
        "size_bytes": len(data),
    }


def get_attachment(conn: Connection, complaint_id: str, seq: int) -> tuple[bytes, str, str]:
    row = conn.execute(
        select(complaint_attachments).where(
            complaint_attachments.c.complaint_id == complaint_id, complaint_attachments.c.seq == seq
        )
    ).first()
    if row is None:
        raise NotFound(f"no attachment {seq} on {complaint_id}", param="seq")
    return row.data, row.content_type, row.filename


# ---------------------------------------------------------------- one-time codes (the public page)


def _code_hash(phone_index: str, code: str) -> str:
    return hashlib.sha256(f"{phone_index}:{code}".encode()).hexdigest()


def request_code(conn: Connection, phone: str, *, at: dt.datetime | None = None) -> str:
    """Make a six-digit code for `phone`; the caller sends it after the commit. At most five an hour."""
    at = at or clock.now()
    phone = _check_phone(phone)
    idx = privacy.blind_index(phone)
    recent = conn.execute(
        select(func.count()).where(
            complaint_otps.c.phone_index == idx, complaint_otps.c.created_at > at - dt.timedelta(hours=1)
        )
    ).scalar_one()
    if recent >= OTP_PER_HOUR_MAX:
        raise ConflictError(
            "验证码发送过于频繁，请一小时后再试 / too many codes for this phone; try in an hour",
            param="phone",
            code="otp_rate_limited",
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    conn.execute(
        insert(complaint_otps),
        [
            {
                "phone_index": idx,
                "code_hash": _code_hash(idx, code),
                "attempts": 0,
                "created_at": at,
                "expires_at": at + dt.timedelta(seconds=OTP_TTL_S),
                "used_at": None,
            }
        ],
    )
    return code


class CodeMismatch(InvalidRequest):
    """A wrong one-time code; `otp_id` names the code whose failed attempt must be counted."""

    def __init__(self, otp_id: int | None) -> None:
        super().__init__(
            "验证码错误或已过期 / the code is wrong or has expired", param="code", code="otp_invalid"
        )
        self.otp_id = otp_id


def verify_code(conn: Connection, phone: str, code: str, *, at: dt.datetime | None = None) -> None:
    """Use up the phone's latest live code if `code` matches it; otherwise raise CodeMismatch (the caller counts
    the failed attempt in its own transaction; five end the code)."""
    at = at or clock.now()
    phone = _check_phone(phone)
    idx = privacy.blind_index(phone)
    row = conn.execute(
        select(complaint_otps)
        .where(
            complaint_otps.c.phone_index == idx,
            complaint_otps.c.used_at.is_(None),
            complaint_otps.c.expires_at > at,
        )
        .order_by(complaint_otps.c.id.desc())
    ).first()
    if row is None or row.attempts >= OTP_ATTEMPTS_MAX:
        raise CodeMismatch(None)
    if not secrets.compare_digest(row.code_hash, _code_hash(idx, (code or "").strip())):
        raise CodeMismatch(row.id)
    conn.execute(update(complaint_otps).where(complaint_otps.c.id == row.id).values(used_at=at))


def _count_miss(conn: Connection, otp_id: int) -> None:
    conn.execute(
        update(complaint_otps)
        .where(complaint_otps.c.id == otp_id)
        .values(attempts=complaint_otps.c.attempts + 1)
    )


def file_verified(
    db: Database,
    req: FileComplaint,
    code: str,
    *,
    source: str = "public_page",
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> dict[str, Any]:
    """The public page: check the code, file the complaint and its attachments, all in one transaction, so a
    refused complaint leaves its code usable; a wrong code's attempt is counted in a transaction of its own."""

    def go(c: Connection) -> dict[str, Any]:
        verify_code(c, req.phone or "", code)
        doc = file_complaint(c, req, source=source, actor="complainant")
        for name, ctype, data in attachments:
            add_attachment(c, doc["id"], name, ctype, data, actor="complainant")
        return get_complaint(c, doc["id"]) | {"linked_to_existing": doc["linked_to_existing"]}

    try:
        return db.run(go)
    except CodeMismatch as exc:
        otp_id = exc.otp_id
        if otp_id is not None:
            db.run(lambda c: _count_miss(c, otp_id))
        raise


# ---------------------------------------------------------------- actions


def _load(conn: Connection, complaint_id: str, *, lock: bool = False) -> Any:
    q = select(complaints).where(complaints.c.id == complaint_id)
    row = first_row(conn, q, lock=lock)
    if row is None:
        raise NotFound(f"没有投诉 {complaint_id} / no complaint {complaint_id}", param="id")
    return row


def _open(conn: Connection, complaint_id: str) -> Any:
    row = _load(conn, complaint_id, lock=True)
    if row.status not in OPEN:
        raise ConflictError(
            f"投诉已{'办结' if row.status == Status.RESOLVED else '关闭'}，不能再处理 / complaint "
            f"{complaint_id} is {row.status}; it cannot be changed",
            code="complaint_closed",
        )
    return row


def _actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise InvalidRequest("who acts must be named", param="actor")
    return actor[:64]


def assign(
    conn: Connection,
    complaint_id: str,
    org: str,
    *,
    actor: str,
    reason: str,
    handler: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Reassign to an institution of the county, the platform or the PBOC office, with a reason."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _open(conn, complaint_id)
    reason = _check_text(reason, "reason", "改派原因")
    insts = _institutions()
    if org in (PLATFORM, PBOC):
        kind = org
    elif org in insts:
        kind = "acquirer" if "acquirer" in insts[org].roles and row.assignee_kind != "issuer" else "issuer"
        if "acquirer" not in insts[org].roles and "issuer" not in insts[org].roles:
            raise InvalidRequest(f"{org} 不受理投诉 / {org} handles no complaints", param="org")
    else:
        raise InvalidRequest(f"没有机构 {org} / no institution {org}", param="org")
    handler = (handler or "").strip()[:64] or None
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(assignee_kind=kind, assignee_org=org, handler=handler, updated_at=at)
    )
    _event(
        conn,
        complaint_id,
        "assigned",
        actor,
        at,
        org=org,
        kind=kind,
        handler=handler,
        reason=reason,
        previous=row.assignee_org,
    )
    return get_complaint(conn, complaint_id)


def respond(
    conn: Connection, complaint_id: str, message: str, *, actor: str, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Tell the complainant how it stands. The first response acknowledges the complaint (its first clock)."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _open(conn, complaint_id)
    message = _check_text(message, "message", "回复内容")
    first = row.acknowledged_at is None
    values: dict[str, Any] = {"updated_at": at, "handler": row.handler or actor}
    if first:
        values["acknowledged_at"] = at
        if row.status == Status.ASSIGNED:
            values["status"] = Status.RESPONDED
    conn.execute(update(complaints).where(complaints.c.id == complaint_id).values(**values))
    _event(
        conn,
        complaint_id,
        "acknowledged" if first else "updated",
        actor,
        at,
        message=message,
        timely=(at <= row.ack_due_at) if first else None,
    )
    _message(
        conn,
        row,
        "ack" if first else "update",
        f"【智付】您的投诉 {complaint_id} 已受理：{message} 我们将于 {_local(row.decide_due_at)} 前答复。",
        at,
    )
    return get_complaint(conn, complaint_id)


def _local(at: dt.datetime) -> str:
    """A deadline as people read it: its last day in Beijing time."""
    return (at - dt.timedelta(microseconds=1)).astimezone(sla.SHANGHAI).date().isoformat()


def extend(
    conn: Connection,
    complaint_id: str,
    days: int,
    reason: str,
    *,
    actor: str,
    at: dt.datetime | None = None,
    is_workday: sla.IsWorkday | None = None,
) -> dict[str, Any]:
    """Move the decision deadline on by `days` (on the complaint's basis), with a reason the complainant is told;
    never beyond the rules' longest extension."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _open(conn, complaint_id)
    reason = _check_text(reason, "reason", "延期原因")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidRequest("延期天数须为正整数 / days must be a positive whole number", param="days")
    rules = get_rules(conn)
    is_workday, _ = _calendar(conn, is_workday)
    basis = _basis_of(conn, complaint_id, rules)
    new_due = sla.extended_due(row.decide_due_at, days, basis, is_workday)
    # the longest extension counts calendar days from receipt (15 + 45 = 60 by default), whatever the basis
    allowed = sla.end_of_day(
        sla.due_date(
            sla.local_date(row.received_at),
            _days_of(conn, complaint_id, rules) + rules.extend_days_max,
            "calendar",
            is_workday,
        )
    )
    if new_due > max(allowed, row.base_due_at):
        raise InvalidRequest(
            f"延期后不得晚于 {_local(allowed)} / an extension may not go past {_local(allowed)}",
            param="days",
            code="extension_too_long",
        )
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(
            decide_due_at=new_due,
            extension_reason=reason,
            extensions=complaints.c.extensions + 1,
            remind_at=sla.remind_at(
                sla.local_date(new_due - dt.timedelta(microseconds=1)), rules.remind_working_days, is_workday
            ),
            reminded_at=None,
            updated_at=at,
        )
    )
    _event(
        conn,
        complaint_id,
        "extended",
        actor,
        at,
        days=days,
        reason=reason,
        due=_local(new_due),
        previous_due=_local(row.decide_due_at),
    )
    _message(
        conn,
        row,
        "extension",
        f"【智付】您的投诉 {complaint_id} 处理期限延长至 {_local(new_due)}，原因：{reason}",
        at,
    )
    return get_complaint(conn, complaint_id)


def _logged_rules(conn: Connection, complaint_id: str) -> dict[str, Any]:
    data = conn.execute(
        select(complaint_events.c.data).where(
            complaint_events.c.complaint_id == complaint_id, complaint_events.c.kind == "logged"
        )
    ).scalar()
    return (data or {}).get("rules") or {}


def _basis_of(conn: Connection, complaint_id: str, rules: Rules) -> sla.Basis:
    return _logged_rules(conn, complaint_id).get("decide_basis", rules.decide_basis)


def _days_of(conn: Connection, complaint_id: str, rules: Rules) -> int:
    return int(_logged_rules(conn, complaint_id).get("decide_days", rules.decide_days))


def escalate(
    conn: Connection, complaint_id: str, reason: str, *, actor: str, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Hand the complaint to the PBOC office (12363): the complainant's right, a handler's call, or a breach."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _open(conn, complaint_id)
    reason = _check_text(reason, "reason", "升级原因")
    if row.status == Status.ESCALATED:
        raise ConflictError("投诉已升级 / the complaint is already escalated", code="already_escalated")
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(status=Status.ESCALATED, escalated_at=at, escalation_reason=reason, updated_at=at)
    )
    _event(conn, complaint_id, "escalated", actor, at, reason=reason, to=PBOC)
    return get_complaint(conn, complaint_id)


def _refundable(conn: Connection, merchant_id: str, payment_id: str) -> int:
    p = payments.get_payment(conn, merchant_id, payment_id)
    if p["status"] != "succeeded":
        return 0
    pending = conn.execute(
        select(func.coalesce(func.sum(complaint_refunds.c.amount_fen), 0)).where(
            complaint_refunds.c.merchant_id == merchant_id,
            complaint_refunds.c.payment_id == payment_id,
            complaint_refunds.c.status == "proposed",
        )
    ).scalar_one()
    return int(p["amount_fen"]) - int(p["refunded_fen"]) - int(pending)


def propose_refund(
    conn: Connection,
    complaint_id: str,
    payment_id: str,
    amount_fen: int,
    *,
    actor: str,
    note: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The handler (maker) proposes refunding part or all of a linked payment; nothing moves until approved."""
    at = at or clock.now()
    actor = _actor(actor)
    _open(conn, complaint_id)
    link = conn.execute(
        select(complaint_payments).where(
            complaint_payments.c.complaint_id == complaint_id, complaint_payments.c.payment_id == payment_id
        )
    ).first()
    if link is None:
        raise InvalidRequest(
            f"支付 {payment_id} 不属于本投诉 / payment {payment_id} is not linked to this complaint",
            param="payment_id",
        )
    check_fen(amount_fen, param="amount_fen")
    left = _refundable(conn, link.merchant_id, payment_id)
    if amount_fen > left:
        raise InvalidRequest(
            f"退款 {fen_to_yuan_str(amount_fen)} 元超过可退金额 {fen_to_yuan_str(max(left, 0))} 元 / "
            f"refund exceeds what is refundable",
            param="amount_fen",
            code="refund_exceeds_refundable",
        )
    seq = (
        conn.execute(
            select(func.coalesce(func.max(complaint_refunds.c.seq), 0)).where(
                complaint_refunds.c.complaint_id == complaint_id
            )
        ).scalar_one()
        + 1
    )
    conn.execute(
        insert(complaint_refunds),
        [
            {
                "complaint_id": complaint_id,
                "seq": seq,
                "merchant_id": link.merchant_id,
                "payment_id": payment_id,
                "amount_fen": amount_fen,
                "status": "proposed",
                "note": (note or "")[:200],
                "proposed_by": actor,
                "decided_by": None,
                "refund_id": None,
                "created_at": at,
                "decided_at": None,
            }
        ],
    )
    _event(
        conn,
        complaint_id,
        "refund_proposed",
        actor,
        at,
        seq=seq,
        payment_id=payment_id,
        amount_fen=amount_fen,
    )
    return get_complaint(conn, complaint_id)


def _proposal(conn: Connection, complaint_id: str, seq: int, checker: str) -> Any:
    _open(conn, complaint_id)
    q = select(complaint_refunds).where(
        complaint_refunds.c.complaint_id == complaint_id, complaint_refunds.c.seq == seq
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no refund proposal {seq} on {complaint_id}", param="seq")
    if row.status != "proposed":
        raise ConflictError(
            f"退款提议已{row.status} / the proposal is already {row.status}", code="proposal_decided"
        )
    if checker == row.proposed_by:
        raise PermissionDenied(
            "提议人不能自己批准 / the maker of a proposal cannot approve it; a second person must",
            param="checker",
            code="maker_is_checker",
        )
    return row


def approve_refund(
    conn: Connection, complaint_id: str, seq: int, *, actor: str, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The checker approves: the refund goes to the payments service, which posts it to the ledger when the
    rail confirms it."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _proposal(conn, complaint_id, seq, actor)
    refund = payments.create_refund(
        conn,
        row.merchant_id,
        row.payment_id,
        payments.CreateRefund(amount_fen=row.amount_fen, reason=f"投诉 {complaint_id}"),
        at=at,
    )
    conn.execute(
        update(complaint_refunds)
        .where(complaint_refunds.c.complaint_id == complaint_id, complaint_refunds.c.seq == seq)
        .values(status="approved", decided_by=actor, decided_at=at, refund_id=refund["id"])
    )
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(relief_fen=complaints.c.relief_fen + row.amount_fen, updated_at=at)
    )
    _event(
        conn,
        complaint_id,
        "refund_approved",
        actor,
        at,
        seq=seq,
        refund_id=refund["id"],
        amount_fen=row.amount_fen,
    )
    return get_complaint(conn, complaint_id)


def reject_refund(
    conn: Connection,
    complaint_id: str,
    seq: int,
    *,
    actor: str,
    note: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    at = at or clock.now()
    actor = _actor(actor)
    _proposal(conn, complaint_id, seq, actor)
    conn.execute(
        update(complaint_refunds)
        .where(complaint_refunds.c.complaint_id == complaint_id, complaint_refunds.c.seq == seq)
        .values(status="rejected", decided_by=actor, decided_at=at)
    )
    _event(conn, complaint_id, "refund_rejected", actor, at, seq=seq, note=(note or "")[:200] or None)
    return get_complaint(conn, complaint_id)


def decide(
    conn: Connection,
    complaint_id: str,
    outcome: str,
    decision: str,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> tuple[dict[str, Any], str]:
    """Decide and tell the complainant, with a link to rate the handling. Returns the complaint and the rating
    token (in the message; only its digest is stored)."""
    at = at or clock.now()
    actor = _actor(actor)
    row = _open(conn, complaint_id)
    if outcome not in OUTCOMES:
        raise InvalidRequest(
            f"处理结果须为 {', '.join(OUTCOMES)} / outcome is one of {', '.join(OUTCOMES)}", param="outcome"
        )
    decision = _check_text(decision, "decision", "处理决定", NARRATIVE_CHARS_MAX)
    pending = conn.execute(
        select(func.count()).where(
            complaint_refunds.c.complaint_id == complaint_id, complaint_refunds.c.status == "proposed"
        )
    ).scalar_one()
    if pending:
        raise ConflictError(
            "有待批准的退款提议 / a refund proposal awaits approval; approve or reject it first",
            code="refund_pending",
        )
    if outcome == "monetary_relief" and row.relief_fen == 0:
        raise InvalidRequest(
            "金钱补偿须先批准退款 / monetary relief needs an approved refund first", param="outcome"
        )
    token = secrets.token_urlsafe(18)
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(
            status=Status.RESOLVED,
            outcome=outcome,
            decision=decision,
            decided_at=at,
            updated_at=at,
            acknowledged_at=row.acknowledged_at or at,
            handler=row.handler or actor,
            rate_token_hash=hashlib.sha256(token.encode()).hexdigest(),
        )
    )
    _event(
        conn,
        complaint_id,
        "decided",
        actor,
        at,
        outcome=outcome,
        decision=decision,
        timely=at <= row.decide_due_at,
    )
    from zhifu.core.config import get_settings

    link = f"{get_settings().public_base_url}/complain/rate/{token}"
    _message(
        conn,
        row,
        "outcome",
        f"【智付】您的投诉 {complaint_id} 已办结：{decision} 请评价：{link} 如不满意可拨打 {PBOC_HOTLINE}。",
        at,
    )
    return get_complaint(conn, complaint_id), token


def rate(
    conn: Connection, token: str, rating: int, comment: str = "", *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The complainant rates a decided complaint (1–5) through the link in the outcome message; it closes."""
    at = at or clock.now()
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    row = conn.execute(select(complaints).where(complaints.c.rate_token_hash == digest)).first()
    if row is None:
        raise NotFound("评价链接无效 / the rating link is not valid", param="token")
    if row.status != Status.RESOLVED:
        raise ConflictError("已评价 / already rated", code="already_rated")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRequest("评分为 1–5 / rating is 1 to 5", param="rating")
    conn.execute(
        update(complaints)
        .where(complaints.c.id == row.id)
        .values(
            status=Status.CLOSED,
            rating=rating,
            rating_comment=(comment or "").strip()[:200] or None,
            closed_at=at,
            updated_at=at,
        )
    )
    _event(conn, row.id, "rated", "complainant", at, rating=rating)
    return get_complaint(conn, row.id)


def outcome_for_token(conn: Connection, token: str) -> dict[str, Any]:
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    row = conn.execute(select(complaints).where(complaints.c.rate_token_hash == digest)).first()
    if row is None:
        raise NotFound("评价链接无效 / the rating link is not valid", param="token")
    return _public(row)


# ---------------------------------------------------------------- clocks and messages in the background


def sweep(conn: Connection, *, at: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Remind before a decision is due, flag a missed acknowledgement, escalate a missed decision. Idempotent."""
    at = at or clock.now()
    out = {"reminded": 0, "ack_overdue": 0, "escalated": 0}
    live = [s.value for s in OPEN]
    for row in conn.execute(
        select(complaints)
        .where(
            complaints.c.status.in_(live), complaints.c.reminded_at.is_(None), complaints.c.remind_at <= at
        )
        .limit(limit)
    ).all():
        conn.execute(update(complaints).where(complaints.c.id == row.id).values(reminded_at=at))
        _event(conn, row.id, "reminded", "system", at, due=_local(row.decide_due_at), org=row.assignee_org)
        out["reminded"] += 1
    for row in conn.execute(
        select(complaints)
        .where(
            complaints.c.status == Status.ASSIGNED,
            complaints.c.ack_overdue_at.is_(None),
            complaints.c.ack_due_at < at,
        )
        .limit(limit)
    ).all():
        conn.execute(update(complaints).where(complaints.c.id == row.id).values(ack_overdue_at=at))
        _event(conn, row.id, "ack_overdue", "system", at, due=_local(row.ack_due_at), org=row.assignee_org)
        out["ack_overdue"] += 1
    for row in conn.execute(
        select(complaints)
        .where(complaints.c.status.in_([Status.ASSIGNED, Status.RESPONDED]), complaints.c.decide_due_at < at)
        .limit(limit)
    ).all():
        conn.execute(
            update(complaints)
            .where(complaints.c.id == row.id)
            .values(
                status=Status.ESCALATED,
                escalated_at=at,
                escalation_reason="逾期未办结 / decision overdue",
                updated_at=at,
            )
        )
        _event(
            conn, row.id, "escalated", "system", at, reason="breach", to=PBOC, due=_local(row.decide_due_at)
        )
        out["escalated"] += 1
    return out


def deliver_messages(db: Database, *, limit: int = 100) -> dict[str, int]:
    """Hand pending messages to the SMS sender, after their commit; a failure is retried on the next pass."""
    with db.read() as c:
        rows = c.execute(
            select(complaint_messages)
            .where(complaint_messages.c.status == "pending")
            .order_by(complaint_messages.c.id)
            .limit(limit)
        ).all()
    out = {"sent": 0, "failed": 0}
    s = sender()
    for r in rows:
        try:
            s.send(privacy.decrypt(r.phone_enc), r.text)
            values: dict[str, Any] = {
                "status": "sent",
                "sender": s.name,
                "sent_at": clock.now(),
                "attempts": r.attempts + 1,
            }
            out["sent"] += 1
        except Exception:  # the gateway's failure is the message's, not the caller's
            values = {
                "attempts": r.attempts + 1,
                "status": "failed" if r.attempts + 1 >= MESSAGE_ATTEMPTS_MAX else "pending",
            }
            out["failed"] += 1
        db.run(
            lambda c, i=r.id, v=values: c.execute(
                update(complaint_messages)
                .where(complaint_messages.c.id == i, complaint_messages.c.status == "pending")
                .values(**v)
            )
        )
    return out


def run_clocks(db: Database) -> None:
    """One background pass: the clocks, then the messages."""
    db.run(lambda c: sweep(c))
    deliver_messages(db)


# ---------------------------------------------------------------- reading


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "complaint",
        "merchant_id": row.merchant_id,
        "source": row.source,
        "external_ref": row.external_ref,
        "category": row.category,
        "category_label": CATEGORY_LABELS[row.category],
        "kind": row.kind,
        "status": row.status,
        "assignee_kind": row.assignee_kind,
        "assignee_org": row.assignee_org,
        "handler": row.handler,
        "phone": row.phone_masked,
        "narrative": row.narrative,
        "narrative_consent": bool(row.narrative_consent),
        "claimed_fen": row.claimed_fen,
        "town_code": row.town_code,
        "channel": row.channel,
        "received_at": row.received_at,
        "ack_due_at": row.ack_due_at,
        "decide_due_at": row.decide_due_at,
        "base_due_at": row.base_due_at,
        "ack_due": _local(row.ack_due_at),
        "decide_due": _local(row.decide_due_at),
        "acknowledged_at": row.acknowledged_at,
        "escalated_at": row.escalated_at,
        "decided_at": row.decided_at,
        "closed_at": row.closed_at,
        "extensions": row.extensions,
        "extension_reason": row.extension_reason,
        "escalation_reason": row.escalation_reason,
        "outcome": row.outcome,
        "decision": row.decision,
        "relief_fen": row.relief_fen,
        "rating": row.rating,
        "repeat_filings": row.repeat_filings,
        "clock_estimated": bool(row.clock_estimated),
        "timely": None if row.decided_at is None else row.decided_at <= row.decide_due_at,
        "ack_timely": None if row.acknowledged_at is None else row.acknowledged_at <= row.ack_due_at,
    }


def get_complaint(conn: Connection, complaint_id: str, *, merchant_id: str | None = None) -> dict[str, Any]:
    """A complaint with its timeline, payments, refund proposals and attachments (a merchant sees its own only)."""
    row = _load(conn, complaint_id)
    if merchant_id is not None and row.merchant_id != merchant_id:
        raise NotFound(f"没有投诉 {complaint_id} / no complaint {complaint_id}", param="id")
    doc = _public(row)
    doc["events"] = [
        {"seq": e.seq, "kind": e.kind, "actor": e.actor, "data": e.data or {}, "at": e.at}
        for e in conn.execute(
            select(complaint_events)
            .where(complaint_events.c.complaint_id == complaint_id)
            .order_by(complaint_events.c.seq)
        )
    ]
    doc["payment_ids"] = [
        r.payment_id
        for r in conn.execute(
            select(complaint_payments.c.payment_id).where(complaint_payments.c.complaint_id == complaint_id)
        )
    ]

    def children(table: Any, order: str, *columns: str) -> list[dict[str, Any]]:
        """The complaint's rows of a child table (these columns, or all), in `order`."""
        q = select(*(table.c[c] for c in columns)) if columns else select(table)
        q = q.where(table.c.complaint_id == complaint_id).order_by(table.c[order])
        return [dict(r._mapping) for r in conn.execute(q)]

    doc["refund_proposals"] = children(complaint_refunds, "seq")
    doc["attachments"] = children(
        complaint_attachments, "seq", "seq", "filename", "content_type", "size_bytes"
    )
    doc["messages"] = children(complaint_messages, "id", "kind", "text", "status", "created_at", "sent_at")
    return doc


def payment_history(conn: Connection, complaint_id: str) -> list[dict[str, Any]]:
    """Each linked payment with its refunds, its ledger entries and the notifications sent to the merchant."""
    from zhifu.ledger import keys as ledger_keys
    from zhifu.ledger.read import entry_legs
    from zhifu.webhooks.read import events_since

    out = []
    for link in conn.execute(
        select(complaint_payments).where(complaint_payments.c.complaint_id == complaint_id)
    ):
        p = payments.get_payment(conn, link.merchant_id, link.payment_id)
        refunds = payments.list_refunds(conn, link.merchant_id, link.payment_id)
        keys = [ledger_keys.payment_success(p["id"]), *(ledger_keys.refund_success(r["id"]) for r in refunds)]
        ledger_rows = entry_legs(conn, keys)
        ids = {p["id"], *(r["id"] for r in refunds)}
        recent = events_since(conn, link.merchant_id, p["created_at"], limit=NOTIFICATIONS_SCAN_MAX)
        notes = [
            {"id": e.id, "type": e.type, "created_at": e.created_at}
            for e in recent
            if isinstance(e.data, dict) and e.data.get("id") in ids
        ]
        out.append(
            {
                "payment": p,
                "refunds": refunds,
                "ledger": ledger_rows,
                "notifications": notes,
                "refundable_fen": max(_refundable(conn, link.merchant_id, link.payment_id), 0),
            }
        )
    return out


def list_complaints(
    conn: Connection,
    *,
    status: str | None = None,
    org: str | None = None,
    merchant_id: str | None = None,
    q: str = "",
    limit: int = 50,
    open_only: bool = False,
) -> list[dict[str, Any]]:
    """The queue: open complaints by the deadline nearest first; closed ones newest first."""
    limit = max(1, min(limit, PAGE_MAX))
    query = select(complaints)
    if status:
        if status not in {s.value for s in Status}:
            raise InvalidRequest(f"status is one of {', '.join(s.value for s in Status)}", param="status")
        query = query.where(complaints.c.status == status)
    if open_only:
        query = query.where(complaints.c.status.in_([s.value for s in OPEN]))
    if org:
        query = query.where(complaints.c.assignee_org == org)
    if merchant_id:
        query = query.where(complaints.c.merchant_id == merchant_id)
    if q:
        query = (
            query.where(complaints.c.id == q.strip())
            if q.strip().startswith("cmpl_")
            else query.where(complaints.c.merchant_id == q.strip())
        )
    if open_only or status in [s.value for s in OPEN]:
        query = query.order_by(complaints.c.decide_due_at, complaints.c.id)
    else:
        query = query.order_by(complaints.c.received_at.desc(), complaints.c.id.desc())
    return [_public(r) for r in conn.execute(query.limit(limit))]


# ---------------------------------------------------------------- 12363 referrals


IMPORT_HEAD: Final = ("ref_no", "received_at", "phone", "category", "narrative", "payment_id", "merchant_id")


def parse_referrals(data: bytes) -> list[tuple[int, FileComplaint]]:
    """The PBOC office's referral list as CSV (UTF-8, with a header row naming at least ref_no, received_at,
    phone, category, narrative). An error names the line and the field."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("文件须为 UTF-8 / the file must be UTF-8", param="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [h for h in IMPORT_HEAD[:5] if h not in (reader.fieldnames or [])]
    if missing:
        raise InvalidRequest(
            f"第 1 行缺少列 {missing[0]} / line 1: column {missing[0]} is missing", param=missing[0]
        )
    out = []
    for i, rec in enumerate(reader, start=2):
        if i - 1 > IMPORT_ROWS_MAX:
            raise InvalidRequest(f"at most {IMPORT_ROWS_MAX} rows per file", param="file")
        try:
            at = dt.datetime.fromisoformat((rec.get("received_at") or "").strip())
        except ValueError:
            raise InvalidRequest(
                f"第 {i} 行 received_at 无效 / line {i}: received_at is not a date-time", param="received_at"
            ) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=sla.SHANGHAI)
        try:
            out.append(
                (
                    i,
                    FileComplaint(
                        phone=rec.get("phone"),
                        category=(rec.get("category") or "").strip(),
                        narrative=rec.get("narrative") or "",
                        narrative_consent=False,
                        payment_id=(rec.get("payment_id") or "").strip() or None,
                        merchant_id=(rec.get("merchant_id") or "").strip() or None,
                        external_ref=(rec.get("ref_no") or "").strip() or None,
                        received_at=at,
                    ),
                )
            )
        except ValueError as exc:
            raise InvalidRequest(f"第 {i} 行无效 / line {i}: {exc}", param="file") from None
    return out


def import_referrals(
    conn: Connection, data: bytes, *, actor: str, at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Log every referral of the file or none: the first bad line is named and nothing is kept."""
    out = []
    for line, req in parse_referrals(data):
        if not req.external_ref:
            raise InvalidRequest(f"第 {line} 行缺少 ref_no / line {line}: ref_no is required", param="ref_no")
        try:
            out.append(file_complaint(conn, req, source="pboc_12363", actor=actor, at=at))
        except (InvalidRequest, ConflictError, NotFound) as exc:
            exc.message = f"第 {line} 行 / line {line}: {exc.message}"
            raise
    return out


# ---------------------------------------------------------------- analysis


def _in_range(start: dt.date, end: dt.date) -> Any:
    return and_(
        complaints.c.received_at >= sla.end_of_day(start - dt.timedelta(days=1)),
        complaints.c.received_at < sla.end_of_day(end),
    )


def _ratio_ppm(part: int, whole: int) -> int | None:
    return (part * 1_000_000 + whole // 2) // whole if whole else None


def timeliness(
    conn: Connection, start: dt.date, end: dt.date, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Complaints received start..end (Beijing dates): how many, decided, decided on time (within the deadline
    including a lawful extension), within the base 15 days, and overdue (undecided past the deadline)."""
    at = at or clock.now()
    rows = conn.execute(
        select(
            complaints.c.decided_at,
            complaints.c.decide_due_at,
            complaints.c.base_due_at,
            complaints.c.acknowledged_at,
            complaints.c.ack_due_at,
            complaints.c.status,
        ).where(_in_range(start, end))
    ).all()
    decided = [r for r in rows if r.decided_at is not None]
    timely = sum(1 for r in decided if r.decided_at <= r.decide_due_at)
    base = sum(1 for r in decided if r.decided_at <= r.base_due_at)
    overdue = sum(1 for r in rows if r.decided_at is None and r.decide_due_at < at)
    acked = [r for r in rows if r.acknowledged_at is not None]
    # due = decided, or undecided past the deadline: the share counts only complaints whose clock has run out
    due = len(decided) + overdue
    return {
        "received": len(rows),
        "decided": len(decided),
        "timely": timely,
        "within_base": base,
        "overdue": overdue,
        "open": sum(1 for r in rows if r.status in OPEN),
        "escalated": sum(1 for r in rows if r.status == Status.ESCALATED),
        "timely_ppm": _ratio_ppm(timely, due),
        "within_base_ppm": _ratio_ppm(base, due),
        "ack_timely_ppm": _ratio_ppm(sum(1 for r in acked if r.acknowledged_at <= r.ack_due_at), len(acked)),
    }


def kpi_complaints_within_sla(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The dashboard's 投诉按时办结率 slot."""
    return timeliness(conn, start, end)


def stats(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Counts by category, institution, merchant, town and channel; timeliness; repeat complainants and merchants;
    the average rating."""
    base = select(complaints).where(_in_range(start, end)).subquery()

    def by(col: str, top: int | None = None) -> list[dict[str, Any]]:
        c = base.c[col]
        q = select(c, func.count()).group_by(c).order_by(func.count().desc(), c)
        if top:
            q = q.where(c.is_not(None)).limit(top)
        return [{"key": k, "count": int(n)} for k, n in conn.execute(q)]

    repeat_phones = conn.execute(
        select(func.count()).select_from(
            select(base.c.phone_index)
            .group_by(base.c.phone_index)
            .having(func.count() >= REPEAT_MIN)
            .subquery()
        )
    ).scalar_one()
    repeat_merchants = [
        {"merchant_id": m, "count": int(n)}
        for m, n in conn.execute(
            select(base.c.merchant_id, func.count())
            .where(base.c.merchant_id.is_not(None))
            .group_by(base.c.merchant_id)
            .having(func.count() >= REPEAT_MIN)
            .order_by(func.count().desc())
            .limit(20)
        )
    ]
    avg = conn.execute(select(func.avg(base.c.rating), func.count(base.c.rating))).one()
    names = {i.id: i.name for i in county().institutions} | {PLATFORM: "智付平台", PBOC: "人民银行县支行"}
    towns = {t.code: t.name for t in county().towns}
    return {
        "start": start,
        "end": end,
        "timeliness": timeliness(conn, start, end),
        "by_category": [{**r, "label": CATEGORY_LABELS.get(r["key"], r["key"])} for r in by("category")],
        "by_status": by("status"),
        "by_source": by("source"),
        "by_institution": [{**r, "label": names.get(r["key"], r["key"])} for r in by("assignee_org")],
        "by_town": [{**r, "label": towns.get(r["key"], r["key"] or "—")} for r in by("town_code")],
        "by_channel": by("channel"),
        "by_merchant": by("merchant_id", top=20),
        "repeat_complainants": int(repeat_phones),
        "repeat_merchants": repeat_merchants,
        "rating_avg_x100": None if not avg[1] else int(round(float(avg[0]) * 100)),
        "ratings": int(avg[1]),
    }


def merchant_signals(
    conn: Connection,
    *,
    at: dt.datetime | None = None,
    window_days: int = SIGNAL_WINDOW_DAYS,
    min_count: int = SIGNAL_MIN,
) -> list[dict[str, Any]]:
    """Risk signals for the risk capability: merchants with at least `min_count` complaints of one money
    category (double charge, money taken, refund missing, fraud) received in the last `window_days`."""
    at = at or clock.now()
    q = (
        select(complaints.c.merchant_id, complaints.c.category, func.count())
        .where(
            complaints.c.merchant_id.is_not(None),
            complaints.c.category.in_(SIGNAL_CATEGORIES),
            complaints.c.received_at >= at - dt.timedelta(days=window_days),
        )
        .group_by(complaints.c.merchant_id, complaints.c.category)
        .having(func.count() >= min_count)
        .order_by(func.count().desc(), complaints.c.merchant_id)
    )
    return [
        {"merchant_id": m, "signal": f"complaints:{cat}", "count": int(n), "window_days": window_days}
        for m, cat, n in conn.execute(q)
    ]


EXPORT_HEAD: Final = (  # the CFPB database's column names, each after its Chinese name
    "投诉编号 Complaint ID",
    "受理日期 Date received",
    "业务 Product",
    "问题 Issue",
    "投诉经过 Consumer complaint narrative",
    "被投诉机构 Company",
    "机构答复 Company response to consumer",
    "是否按时答复 Timely response?",
    "地区 State",
    "投诉途径 Submitted via",
    "转办日期 Date sent to company",
    "是否有异议 Consumer disputed?",
)
_RESPONSES = {
    "monetary_relief": "Closed with monetary relief",
    "non_monetary_relief": "Closed with non-monetary relief",
    "explanation": "Closed with explanation",
    None: "In progress",
}


def export_csv(conn: Connection, start: dt.date, end: dt.date) -> bytes:
    """CFPB-style public export: the narrative only where the complainant consented; no phone, no payment id."""
    names = {i.id: i.name for i in county().institutions} | {PLATFORM: "智付平台", PBOC: "人民银行县支行"}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(EXPORT_HEAD)
    for r in conn.execute(select(complaints).where(_in_range(start, end)).order_by(complaints.c.received_at)):
        w.writerow(
            [
                r.id,
                sla.local_date(r.received_at).isoformat(),
                r.channel or "service",
                r.category,
                r.narrative if r.narrative_consent else "",
                names.get(r.assignee_org, r.assignee_org),
                _RESPONSES.get(r.outcome, "In progress"),
                "" if r.decided_at is None else ("Yes" if r.decided_at <= r.decide_due_at else "No"),
                r.town_code or "",
                r.source,
                sla.local_date(r.received_at).isoformat(),
                "" if r.rating is None else ("Yes" if r.rating <= 2 else "No"),
            ]
        )
    return buf.getvalue().encode("utf-8-sig")


__all__ = [
    "ATTACHMENT_BYTES_MAX",
    "CLOCK_INTERVAL_S",
    "CATEGORY_LABELS",
    "FileComplaint",
    "ROUTES",
    "Rules",
    "add_attachment",
    "approve_refund",
    "assign",
    "decide",
    "deliver_messages",
    "escalate",
    "export_csv",
    "extend",
    "file_complaint",
    "file_verified",
    "get_attachment",
    "get_complaint",
    "get_rules",
    "import_referrals",
    "kpi_complaints_within_sla",
    "list_complaints",
    "merchant_signals",
    "outcome_for_token",
    "parse_referrals",
    "payment_history",
    "propose_refund",
    "rate",
    "reject_refund",
    "request_code",
    "respond",
    "route",
    "run_clocks",
    "set_rules",
    "stats",
    "sweep",
    "timeliness",
    "verify_code",
]
