"""缴费退款复核 / Refunds of bill payments under maker-checker: the biller (or an operator) proposes refunding a
payment it cannot apply, a second person approves or rejects it; on approval the refund goes through the payment
service (`service.refund_line`: the biller's payable gives the money back, the rail is asked after the commit)
and a new receipt replaces the old one. Each step is in the audit log, in the step's own transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from zhifu import audit
from zhifu.bills import service
from zhifu.bills.models import LineStatus, bill_lines
from zhifu.bills.payer_models import bill_refund_requests
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUS_LABELS = {PENDING: "待复核 Pending", APPROVED: "已批准 Approved", REJECTED: "已驳回 Rejected"}


def request_public(row: Any) -> dict[str, Any]:
    return {
        "object": "bill_refund_request",
        "id": row.id,
        "biller_id": row.biller_id,
        "payment_id": row.payment_id,
        "reason": row.reason,
        "status": row.status,
        "proposed_by": row.proposed_by,
        "proposed_role": row.proposed_role,
        "decided_by": row.decided_by,
        "decision_note": row.decision_note,
        "refund_id": row.refund_id,
        "receipt_no": row.receipt_no,
        "created_at": row.created_at,
        "decided_at": row.decided_at,
    }


def propose(
    conn: Connection,
    biller_id: str,
    payment_id: str,
    *,
    reason: str,
    by: str,
    role: str,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The maker: ask to refund a succeeded, unrefunded, unsettled bill payment of this biller; one open request
    a payment."""
    at = at or clock.now()
    b = service._biller(conn, biller_id)  # noqa: SLF001  the same package
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("须填写退款原因 / reason: a reason is required", param="reason")
    if len(reason) > 200:
        raise InvalidRequest("退款原因最多 200 字 / reason: at most 200 characters", param="reason")
    payment_id = (payment_id or "").strip()
    line = conn.execute(
        select(bill_lines).where(
            and_(bill_lines.c.merchant_id == b.merchant_id, bill_lines.c.payment_id == payment_id)
        )
    ).first()
    if line is None:
        raise NotFound(
            f"{b.name}没有缴费 {payment_id} / payment_id: no bill payment {payment_id}", param="payment_id"
        )
    if line.status != LineStatus.SUCCEEDED or line.refunded_fen:
        raise ConflictError(
            f"缴费 {payment_id} 不能退款（{'已退款' if line.refunded_fen else '未成功'}）/ payment_id: "
            f"{payment_id} cannot be refunded ({'refunded already' if line.refunded_fen else line.status})",
            param="payment_id",
            code="bill_payment_not_refundable",
        )
    service.ensure_date_unsettled(conn, b.merchant_id, line.business_date)
    open_one = conn.execute(
        select(bill_refund_requests.c.id).where(
            and_(
                bill_refund_requests.c.merchant_id == b.merchant_id,
                bill_refund_requests.c.payment_id == payment_id,
                bill_refund_requests.c.status == PENDING,
            )
        )
    ).scalar()
    if open_one is not None:
        raise ConflictError(
            f"缴费 {payment_id} 已有待复核的退款申请 {open_one} / payment_id: a refund request is pending",
            param="payment_id",
            code="bill_refund_pending",
        )
    rid = new_id_fast("brr", int(at.timestamp() * 1000))
    conn.execute(
        insert(bill_refund_requests),
        [
            {
                "merchant_id": b.merchant_id,
                "id": rid,
                "biller_id": b.id,
                "payment_id": payment_id,
                "reason": reason,
                "status": PENDING,
                "proposed_by": by,
                "proposed_role": role,
                "decided_by": None,
                "decision_note": "",
                "refund_id": None,
                "receipt_no": None,
                "created_at": at,
                "decided_at": None,
            }
        ],
    )
    audit.record(
        conn,
        by,
        "bill_refund.proposed",
        "bill_refund_request",
        rid,
        {"biller_id": b.id, "payment_id": payment_id, "amount_fen": line.amount_fen, "reason": reason},
        role=role,
        merchant_id=b.merchant_id,
        at=at,
    )
    return get(conn, biller_id, rid)


def decide(
    conn: Connection,
    biller_id: str,
    request_id: str,
    *,
    approve: bool,
    by: str,
    role: str,
    note: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The checker, never the maker: approve (the refund is made and the receipt reissued) or reject."""
    at = at or clock.now()
    b = service._biller(conn, biller_id)  # noqa: SLF001
    key = and_(bill_refund_requests.c.merchant_id == b.merchant_id, bill_refund_requests.c.id == request_id)
    q = select(bill_refund_requests).where(key)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        raise NotFound(f"没有退款申请 {request_id} / no refund request {request_id}", param="request_id")
    if r.status != PENDING:
        raise ConflictError(
            f"退款申请 {request_id} 已{STATUS_LABELS[r.status][:3]} / request {request_id} is {r.status} already",
            code="bill_refund_decided",
        )
    if r.proposed_by == by:
        raise ConflictError(
            "提出人不能复核自己的申请，请由另一人复核 / the maker cannot approve their own request",
            code="maker_checker",
        )
    note = (note or "").strip()[:200]
    values: dict[str, Any] = {"decided_by": by, "decided_at": at, "decision_note": note}
    if approve:
        out = service.refund_line(conn, b.id, r.payment_id, reason=r.reason, at=at)
        values.update(status=APPROVED, refund_id=out["refund"]["id"], receipt_no=out["receipt_no"])
    else:
        if not note:
            raise InvalidRequest("驳回须说明理由 / note: say why it is rejected", param="note")
        values.update(status=REJECTED)
    conn.execute(update(bill_refund_requests).where(key).values(**values))
    audit.record(
        conn,
        by,
        f"bill_refund.{values['status']}",
        "bill_refund_request",
        request_id,
        {
            "biller_id": b.id,
            "payment_id": r.payment_id,
            "maker": r.proposed_by,
            "refund_id": values.get("refund_id"),
            "receipt_no": values.get("receipt_no"),
            "note": note,
        },
        role=role,
        merchant_id=b.merchant_id,
        at=at,
    )
    return get(conn, biller_id, request_id)


def get(conn: Connection, biller_id: str, request_id: str) -> dict[str, Any]:
    b = service._biller(conn, biller_id)  # noqa: SLF001
    r = conn.execute(
        select(bill_refund_requests).where(
            and_(bill_refund_requests.c.merchant_id == b.merchant_id, bill_refund_requests.c.id == request_id)
        )
    ).first()
    if r is None:
        raise NotFound(f"没有退款申请 {request_id} / no refund request {request_id}", param="request_id")
    return request_public(r)


def list_requests(
    conn: Connection, biller_id: str, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    b = service._biller(conn, biller_id)  # noqa: SLF001
    q = (
        select(bill_refund_requests)
        .where(bill_refund_requests.c.merchant_id == b.merchant_id)
        .order_by(bill_refund_requests.c.created_at.desc(), bill_refund_requests.c.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(bill_refund_requests.c.status == status)
    return [request_public(r) for r in conn.execute(q)]
