"""数据主体请求 / Data-subject requests (PIPL arts. 46, 47): a payer's or merchant's request to correct or delete
what we hold about them, filed by one operator and applied only when a second approves it; every step is in the
audit log, and each change is made by the service that owns the data.

What deletion does (PIPL art. 47 allows keeping what a law requires to be kept, "停止除存储和采取必要的安全保护措施之外
的处理"): consents are withdrawn at once and a payer's are unlinked from them; payments, refunds, bills and
settlement records are kept five years (Anti-Money Laundering Law art. 19) and only stored — no consent is left
for any other use, so every consent-gated use is refused; the audit log is append-only and names a payer only by
the blind index of their phone. The result of each request says what was done and what was kept, and why.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, insert, select, update
from ulid import ULID

from zhifu import audit, privacy
from zhifu.consent import service
from zhifu.consent.models import REQUEST_KINDS, subject_requests
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.db.rows import first_row

REASON_CHARS_MAX: Final = 500
NOTE_CHARS_MAX: Final = 500
LIST_MAX: Final = 200  # a county's requests in a page; older ones are in the audit log
CORRECTABLE: Final = {"merchant": ("phone", "legal_person_name", "address"), "payer": ("phone",)}
KEPT: Final = [
    {
        "category": "payments_refunds_bills",
        "why": "交易记录保存五年（反洗钱法第十九条），仅存储 / transaction records are kept five years "
        "(Anti-Money Laundering Law art. 19), stored only",
    },
    {
        "category": "audit_log",
        "why": "审计日志只追加，以盲索引指代付款人 / the audit log is append-only and names a payer only by "
        "a keyed blind index",
    },
]
_PHONE_RE: Final = re.compile(r"1[3-9][0-9]{9}")


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    subject_type: str = Field(pattern="^(payer|merchant)$")
    phone: str | None = Field(None, max_length=11, description="the payer's phone (payer requests)")
    merchant_id: str | None = Field(None, max_length=32, description="the merchant (merchant requests)")
    kind: str = Field(max_length=12, description="correction or deletion")
    field: str | None = Field(None, max_length=24, description="what to correct (corrections)")
    value: str | None = Field(None, max_length=200, description="the corrected value (corrections)")
    reason: str = Field(min_length=1, max_length=REASON_CHARS_MAX, description="what the person asked, why")


def _public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "subject_request",
        "subject_type": r.subject_type,
        "subject": r.subject_masked,
        "merchant_id": r.merchant_id,
        "kind": r.kind,
        "field": r.field,
        "value": r.value_masked,
        "reason": r.reason,
        "status": r.status,
        "filed_by": r.filed_by,
        "filed_at": r.filed_at,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at,
        "note": r.note,
        "result": json.loads(r.result) if r.result else None,
    }


def _mask(field: str, value: str) -> str:
    if field == "phone":
        return privacy.mask_phone(value)
    if field == "legal_person_name":
        return privacy.mask_name(value)
    return value[:60]


def file_request(
    conn: Connection, req: FileIn, *, filed_by: str, acquirer_id: str | None = None
) -> dict[str, Any]:
    """File a request (the maker). `acquirer_id` scopes an acquirer's operator to its own merchants."""
    from zhifu.merchants import get_merchant

    if req.kind not in REQUEST_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(REQUEST_KINDS)}", param="kind")
    key = service.subject_key(req.subject_type, phone=req.phone, merchant_id=req.merchant_id)
    merchant_id = None
    if req.subject_type == "merchant":
        m = get_merchant(conn, key)  # an unknown merchant is a 404
        if acquirer_id is not None and m["acquirer_id"] != acquirer_id:
            raise NotFound(f"no merchant {key}", param="merchant_id")
        merchant_id, masked = key, key
    else:
        if not service.holds_anything(conn, "payer", key):
            raise NotFound("没有这个付款人的记录 / we hold nothing about this payer", param="phone")
        masked = privacy.mask_phone(req.phone or "")
    field = value_enc = value_masked = None
    if req.kind == "correction":
        if req.field not in CORRECTABLE[req.subject_type]:
            raise InvalidRequest(
                f"field must be one of {', '.join(CORRECTABLE[req.subject_type])}", param="field"
            )
        value = (req.value or "").strip()
        if not value:
            raise InvalidRequest("更正须写明新值 / a correction needs the new value", param="value")
        if req.field == "phone" and not _PHONE_RE.fullmatch(value):
            raise InvalidRequest("手机号须为 11 位 / phone must be an 11-digit mobile number", param="value")
        field, value_enc, value_masked = req.field, privacy.encrypt(value, conn), _mask(req.field, value)
    elif req.field or req.value:
        raise InvalidRequest("删除请求不带字段和值 / a deletion names no field or value", param="field")
    pending = conn.execute(
        select(subject_requests.c.id).where(
            subject_requests.c.subject_type == req.subject_type,
            subject_requests.c.subject_key == key,
            subject_requests.c.kind == req.kind,
            subject_requests.c.status == "pending",
        )
    ).first()
    if pending is not None:
        raise ConflictError(
            f"这个主体已有待批准的同类请求 {pending.id} / a {req.kind} request for this subject is pending",
            code="request_pending",
        )
    rid = f"dsr_{ULID()}"
    at = clock.now()
    conn.execute(
        insert(subject_requests),
        [
            {
                "id": rid,
                "subject_type": req.subject_type,
                "subject_key": key,
                "subject_masked": masked,
                "merchant_id": merchant_id,
                "acquirer_id": acquirer_id,
                "kind": req.kind,
                "field": field,
                "value_enc": value_enc,
                "value_masked": value_masked,
                "reason": req.reason,
                "status": "pending",
                "filed_by": filed_by[:64],
                "filed_at": at,
            }
        ],
    )
    audit.record(
        conn,
        None,
        "subject_request.filed",
        "subject_request",
        rid,
        {"kind": req.kind, "subject_type": req.subject_type, "subject": key, "field": field},
        merchant_id=merchant_id,
    )
    return get_request(conn, rid)


def _row(conn: Connection, request_id: str, acquirer_id: str | None, *, lock: bool = False) -> Any:
    q = select(subject_requests).where(subject_requests.c.id == request_id)
    row = first_row(conn, q, lock=lock)
    if row is None or (acquirer_id is not None and row.acquirer_id != acquirer_id):
        raise NotFound(f"没有请求 {request_id[:40]} / no request {request_id[:40]}", param="request")
    return row


def get_request(conn: Connection, request_id: str, *, acquirer_id: str | None = None) -> dict[str, Any]:
    return _public(_row(conn, request_id, acquirer_id))


def list_requests(
    conn: Connection, *, status: str | None = None, acquirer_id: str | None = None, limit: int = LIST_MAX
) -> list[dict[str, Any]]:
    """Newest first; an acquirer's operator sees the requests filed at its acquirer."""
    q = select(subject_requests).order_by(subject_requests.c.filed_at.desc()).limit(min(limit, LIST_MAX))
    if status:
        q = q.where(subject_requests.c.status == status)
    if acquirer_id is not None:
        q = q.where(subject_requests.c.acquirer_id == acquirer_id)
    return [_public(r) for r in conn.execute(q)]


def decide(
    conn: Connection,
    request_id: str,
    decision: str,
    *,
    decided_by: str,
    note: str = "",
    acquirer_id: str | None = None,
) -> dict[str, Any]:
    """Approve (apply it now, in this transaction) or reject a pending request (the checker). The one who filed
    it may not decide it."""
    note = note.strip()
    if decision not in ("approve", "reject"):
        raise InvalidRequest("decision must be approve or reject", param="decision")
    if len(note) > NOTE_CHARS_MAX:
        raise InvalidRequest(f"note is at most {NOTE_CHARS_MAX} characters", param="note")
    row = _row(conn, request_id, acquirer_id, lock=True)
    if row.status != "pending":
        raise ConflictError(
            f"请求已{'执行' if row.status == 'applied' else '驳回'} / the request is already {row.status}",
            code="request_decided",
        )
    if row.filed_by == decided_by[:64]:
        raise PermissionDenied(
            "提交人不能批准或驳回自己的请求，须由另一人复核 / the person who filed a request cannot decide it; "
            "a second person must",
            code="maker_checker",
        )
    if decision == "reject" and not note:
        raise InvalidRequest("驳回须写明理由 / say why the request is rejected", param="note")
    result = _apply(conn, row) if decision == "approve" else None
    status = "applied" if decision == "approve" else "rejected"
    conn.execute(
        update(subject_requests)
        .where(subject_requests.c.id == request_id)
        .values(
            status=status,
            decided_by=decided_by[:64],
            decided_at=clock.now(),
            note=note or None,
            value_enc=None,  # the value now lives with its owner, or nowhere
            result=json.dumps(result, ensure_ascii=False) if result is not None else None,
        )
    )
    audit.record(
        conn,
        None,
        f"subject_request.{'approved' if decision == 'approve' else 'rejected'}",
        "subject_request",
        request_id,
        {"kind": row.kind, "filed_by": row.filed_by, "note": note or None},
        merchant_id=row.merchant_id,
    )
    return get_request(conn, request_id)


def _apply(conn: Connection, row: Any) -> dict[str, Any]:
    """Carry out an approved request through the owners' services; say what was done and what was kept."""
    from zhifu import merchants

    if row.kind == "correction":
        value = privacy.decrypt(row.value_enc, conn)
        if row.subject_type == "merchant":
            merchants.correct_personal(conn, row.subject_key, row.field, value)
            return {"corrected": row.field, "merchant": row.subject_key}
        moved = service.rekey_subject(conn, "payer", row.subject_key, privacy.blind_index(value))
        return {"corrected": row.field, "consents_moved": moved}
    erased = service.erase_subject(conn, row.subject_type, row.subject_key)
    kept = list(KEPT)
    if row.subject_type == "merchant":
        kept.append(
            {
                "category": "merchant_register",
                "why": "商户档案在合作期内及结束后五年保存（特约商户管理） / the merchant's register is kept while "
                "it is a merchant and five years after",
            }
        )
    return {"consents_withdrawn": erased["withdrawn"], "consents_unlinked": erased["unlinked"], "kept": kept}
