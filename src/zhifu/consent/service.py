"""Consent, checked where data is used: grant, withdraw (effective at once: every check reads the table),
`enforce` (a refused use is audited in its own transaction, so the refusal is on record even though the use
fails), and the data subject's export of what we hold about them and who saw it (from the audit log)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, insert, or_, select, update
from ulid import ULID

from zhifu import audit, privacy
from zhifu.consent.models import METHODS, PURPOSES, consents
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.db import Database

_PHONE_RE: Final = re.compile(r"1[3-9][0-9]{9}")
_MERCHANT_RE: Final = re.compile(r"mch_[0-9A-Z]{26}")
TURNOVER_PAYMENTS_MAX: Final = 50_000  # a county shop's months of payments; a bigger ask is a bulk export
TURNOVER_MONTHS_MAX: Final = 24


class ConsentRequired(PermissionDenied):
    code = "consent_required"


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_type: str = Field(pattern="^(payer|merchant)$")
    phone: str | None = Field(None, max_length=11, description="the payer's phone (payer consents)")
    merchant_id: str | None = Field(None, max_length=32, description="the merchant (merchant consents)")
    purpose: str = Field(max_length=20)
    recipient: str = Field("", max_length=64)
    scope: str = Field(min_length=1, max_length=1000)
    data_categories: list[str] = Field(min_length=1, max_length=10)
    method: str = Field(max_length=8)
    evidence: str | None = Field(None, max_length=10_000, description="the signed form or app record")
    expires_at: dt.datetime | None = None


def subject_key(subject_type: str, *, phone: str | None = None, merchant_id: str | None = None) -> str:
    """The stored name of a subject; a payer's phone is reduced to its blind index here."""
    if subject_type == "payer":
        if not phone or not _PHONE_RE.fullmatch(phone):
            raise InvalidRequest("手机号格式不正确 / phone must be 11 digits starting 1[3-9]", param="phone")
        return privacy.blind_index(phone)
    if subject_type == "merchant":
        if not merchant_id or not _MERCHANT_RE.fullmatch(merchant_id):
            raise InvalidRequest("商户号格式不正确 / merchant_id is not a merchant id", param="merchant_id")
        return merchant_id
    raise InvalidRequest("subject_type must be payer or merchant", param="subject_type")


def _public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "consent",
        "subject_type": r.subject_type,
        "subject": r.subject_key if r.subject_type == "merchant" else "payer:" + r.subject_key[:8] + "…",
        "purpose": r.purpose,
        "recipient": r.recipient,
        "scope": r.scope,
        "data_categories": r.data_categories.split(","),
        "method": r.method,
        "granted_at": r.granted_at,
        "expires_at": r.expires_at,
        "withdrawn_at": r.withdrawn_at,
        "evidence_digest": r.evidence_digest,
    }


def grant(conn: Connection, req: GrantIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    if req.purpose not in PURPOSES:
        raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}", param="purpose")
    if req.method not in METHODS:
        raise InvalidRequest(f"method must be one of {', '.join(METHODS)}", param="method")
    if req.purpose == "credit_sharing" and not req.recipient.strip():
        raise InvalidRequest(
            "向第三方提供须写明接收方 / sharing needs the recipient named (PIPL art. 23)", param="recipient"
        )
    key = subject_key(req.subject_type, phone=req.phone, merchant_id=req.merchant_id)
    at = at or clock.now()
    if req.expires_at is not None and req.expires_at <= at:
        raise InvalidRequest("expires_at must be in the future", param="expires_at")
    cid = f"cns_{ULID()}"
    cats = ",".join(c.strip() for c in req.data_categories if c.strip())
    conn.execute(
        insert(consents),
        [
            {
                "id": cid,
                "subject_type": req.subject_type,
                "subject_key": key,
                "purpose": req.purpose,
                "recipient": req.recipient.strip(),
                "scope": req.scope,
                "data_categories": cats,
                "method": req.method,
                "evidence_digest": audit.digest(req.evidence) if req.evidence else None,
                "granted_at": at,
                "expires_at": req.expires_at,
                "withdrawn_at": None,
            }
        ],
    )
    audit.record(
        conn,
        None,
        "consent.granted",
        f"{req.subject_type}_subject",
        key,
        {"consent": cid, "purpose": req.purpose, "recipient": req.recipient, "method": req.method},
        merchant_id=key if req.subject_type == "merchant" else None,
    )
    return _public(conn.execute(select(consents).where(consents.c.id == cid)).one())


def withdraw(
    conn: Connection,
    subject_type: str,
    key: str,
    purpose: str,
    *,
    recipient: str | None = None,
    at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Withdraw every live consent of a subject for a purpose (and recipient); effective for the next check."""
    at = at or clock.now()
    cond = [
        consents.c.subject_type == subject_type,
        consents.c.subject_key == key,
        consents.c.purpose == purpose,
        consents.c.withdrawn_at.is_(None),
    ]
    if recipient is not None:
        cond.append(consents.c.recipient == recipient)
    ids = [r.id for r in conn.execute(select(consents.c.id).where(and_(*cond)))]
    if not ids:
        raise NotFound(
            "没有可撤回的同意 / no consent of this subject for this purpose to withdraw", param="subject"
        )
    conn.execute(update(consents).where(consents.c.id.in_(ids)).values(withdrawn_at=at))
    audit.record(
        conn,
        None,
        "consent.withdrawn",
        f"{subject_type}_subject",
        key,
        {"consents": ids, "purpose": purpose},
        merchant_id=key if subject_type == "merchant" else None,
    )
    return [_public(r) for r in conn.execute(select(consents).where(consents.c.id.in_(ids)))]


def live(
    conn: Connection,
    subject_type: str,
    key: str,
    purpose: str,
    recipient: str = "",
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The consent in force for this use, or None."""
    at = at or clock.now()
    row = conn.execute(
        select(consents)
        .where(
            consents.c.subject_type == subject_type,
            consents.c.subject_key == key,
            consents.c.purpose == purpose,
            consents.c.recipient == recipient,
            consents.c.withdrawn_at.is_(None),
            consents.c.granted_at <= at,
            or_(consents.c.expires_at.is_(None), consents.c.expires_at > at),
        )
        .order_by(consents.c.granted_at.desc())
        .limit(1)
    ).first()
    return _public(row) if row is not None else None


def enforce(
    db: Database, subject_type: str, key: str, purpose: str, recipient: str = "", *, use: str
) -> dict[str, Any]:
    """The consent for a use, or ConsentRequired; a refusal is logged in its own committed transaction."""
    with db.read() as c:
        found = live(c, subject_type, key, purpose, recipient)
    if found is None:
        db.run(
            lambda c: audit.record(
                c,
                None,
                "consent.refused",
                f"{subject_type}_subject",
                key,
                {"purpose": purpose, "recipient": recipient, "use": use},
                merchant_id=key if subject_type == "merchant" else None,
            )
        )
        raise ConsentRequired(
            f"未经同意，不得{use} / no consent in force for {purpose}"
            + (f" to {recipient}" if recipient else ""),
            param="consent",
        )
    return found


def list_for(conn: Connection, subject_type: str, key: str) -> list[dict[str, Any]]:
    return [
        _public(r)
        for r in conn.execute(
            select(consents)
            .where(consents.c.subject_type == subject_type, consents.c.subject_key == key)
            .order_by(consents.c.granted_at)
        )
    ]


# ---------------------------------------------------------------- uses that need consent


def turnover_evidence(db: Database, merchant_id: str, lender: str, months: int) -> dict[str, Any]:
    """A merchant's monthly turnover for a lender (the programme's credit evidence, seed §二.5): only with the
    merchant's consent to share it with that lender, and the sharing itself is logged."""
    from zhifu import payments

    if not 1 <= months <= TURNOVER_MONTHS_MAX:
        raise InvalidRequest(f"months is 1 to {TURNOVER_MONTHS_MAX}", param="months")
    if not lender.strip() or len(lender) > 64:
        raise InvalidRequest("须写明贷款机构 / the lender is required", param="lender")
    from zhifu.merchants import get_merchant

    with db.read() as c:
        get_merchant(c, merchant_id)  # an unknown merchant is a 404 before anything is said about consent
    consent = enforce(
        db, "merchant", merchant_id, "credit_sharing", lender.strip(), use="向贷款机构提供经营流水"
    )
    since = clock.now() - dt.timedelta(days=31 * months)
    by_month: dict[str, dict[str, int]] = {}
    seen, after = 0, None
    with db.read() as c:
        while seen < TURNOVER_PAYMENTS_MAX:
            page, more = payments.list_payments(
                c, merchant_id, created_gte=since, limit=100, starting_after=after
            )
            for p in page:
                seen += 1
                if p["status"] != "succeeded":
                    continue
                month = str(p["created_at"])[:7]
                m = by_month.setdefault(month, {"count": 0, "amount_fen": 0, "refunded_fen": 0})
                m["count"] += 1
                m["amount_fen"] += int(p["amount_fen"])
                m["refunded_fen"] += int(p.get("refunded_fen") or 0)
            if not more or not page:
                break
            after = page[-1]["id"]
    doc = {
        "object": "turnover_evidence",
        "merchant_id": merchant_id,
        "lender": lender.strip(),
        "consent": consent["id"],
        "months": [{"month": k, **v} for k, v in sorted(by_month.items())],
        "truncated": seen >= TURNOVER_PAYMENTS_MAX,
    }
    db.run(
        lambda c: audit.record(
            c,
            None,
            "data.shared",
            "merchant",
            merchant_id,
            {"recipient": lender.strip(), "consent": consent["id"], "digest": audit.digest(doc)},
            merchant_id=merchant_id,
        )
    )
    return doc


# ---------------------------------------------------------------- offers sent to payers (consent-gated)

NOTICE_PHONES_MAX = 1000
NOTICE_USE = "向付款人发送营销活动优惠 / send a campaign's offer to a payer"


class SendNotices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phones: list[str] = Field(min_length=1, max_length=NOTICE_PHONES_MAX, description="payers' phones")


def campaign_notices(db: Database, campaign_id: str, phones: Sequence[str]) -> dict[str, Any]:
    """Send a campaign's offer to payers by phone: each payer is checked against a live marketing consent at the
    moment of sending (a withdrawal bites on the next send); payers without one are skipped, counted as refused
    and the refusal is audited by `consent.enforce`. A sent notice is an audit entry naming the payer by the
    blind index of the phone, never the phone. A bad phone refuses the whole request before anything is sent."""
    from zhifu import incentives

    keys: list[str] = []
    for i, phone in enumerate(phones):
        try:
            keys.append(subject_key("payer", phone=phone))
        except InvalidRequest:
            raise InvalidRequest(
                f"第 {i + 1} 个手机号格式不正确 / phones[{i}] must be 11 digits starting 1[3-9]",
                param=f"phones[{i}]",
            ) from None
    with db.read() as c:
        if incentives.get_campaign(c, campaign_id)["status"] == incentives.CampaignStatus.ENDED:
            raise ConflictError(
                f"活动 {campaign_id} 已结束，不能再发送优惠 / campaign {campaign_id} has ended",
                code="campaign_status",
            )
    sent: list[str] = []
    refused = 0
    for key in dict.fromkeys(keys):  # one notice per payer, in the order given
        try:
            enforce(db, "payer", key, "marketing", use=NOTICE_USE)
        except ConsentRequired:
            refused += 1
            continue
        db.run(
            lambda c, key=key: audit.record(
                c,
                None,
                "campaign.notice_sent",
                "campaign",
                campaign_id,
                {"payer": key, "purpose": "marketing"},
            )
        )
        sent.append(key)
    return {
        "object": "campaign_notices",
        "campaign": campaign_id,
        "requested": len(keys),
        "payers": len(sent) + refused,
        "sent": len(sent),
        "refused_no_consent": refused,
    }


def subject_export(db: Database, subject_type: str, key: str) -> dict[str, Any]:
    """What we hold about a subject, why, and who saw or shared it (PIPL art. 45); the export is logged."""
    with db.read() as c:
        held = list_for(c, subject_type, key)
        seen = audit.entries_about(c, f"{subject_type}_subject", key)
        if subject_type == "merchant":
            seen += audit.entries_about(c, "merchant", key)
    if not held and not seen:
        raise NotFound("没有这个数据主体的记录 / we hold nothing about this subject", param="subject")
    doc = {
        "object": "subject_export",
        "subject_type": subject_type,
        "consents": held,
        "purposes": sorted({h["purpose"] for h in held}),
        "access_log": [{k: e[k] for k in ("index", "at", "actor", "role", "action")} for e in seen],
    }
    db.run(
        lambda c: audit.record(
            c,
            None,
            "data.exported",
            f"{subject_type}_subject",
            key,
            {"digest": audit.digest(doc)},
            merchant_id=key if subject_type == "merchant" else None,
        )
    )
    return doc


# ---------------------------------------------------------------- the subject's corrections and erasure


def rekey_subject(conn: Connection, subject_type: str, old_key: str, new_key: str) -> int:
    """A payer's phone corrected: their consents follow them to the new phone's blind index."""
    done = conn.execute(
        update(consents)
        .where(consents.c.subject_type == subject_type, consents.c.subject_key == old_key)
        .values(subject_key=new_key)
    ).rowcount
    audit.record(
        conn,
        None,
        "consent.rekeyed",
        f"{subject_type}_subject",
        new_key,
        {"from": audit.digest(old_key), "consents": done},
        merchant_id=new_key if subject_type == "merchant" else None,
    )
    return int(done)


def erase_subject(conn: Connection, subject_type: str, key: str) -> dict[str, int]:
    """Erasure (PIPL art. 47): every live consent is withdrawn now; a payer's consents are unlinked from them
    (the blind index replaced by a random tombstone), so the records prove what was agreed but not by whom.
    A merchant is named by its id, which settlement records keep, so its consents are only withdrawn."""
    at = clock.now()
    live_ids = [
        r.id
        for r in conn.execute(
            select(consents.c.id).where(
                consents.c.subject_type == subject_type,
                consents.c.subject_key == key,
                consents.c.withdrawn_at.is_(None),
            )
        )
    ]
    if live_ids:
        conn.execute(update(consents).where(consents.c.id.in_(live_ids)).values(withdrawn_at=at))
    unlinked = 0
    if subject_type == "payer":
        unlinked = conn.execute(
            update(consents)
            .where(consents.c.subject_type == "payer", consents.c.subject_key == key)
            .values(subject_key="erased_" + ULID().hex[:24])
        ).rowcount
    audit.record(
        conn,
        None,
        "consent.erased",
        f"{subject_type}_subject",
        key,
        {"withdrawn": len(live_ids), "unlinked": int(unlinked)},
        merchant_id=key if subject_type == "merchant" else None,
    )
    return {"withdrawn": len(live_ids), "unlinked": int(unlinked)}


def holds_anything(conn: Connection, subject_type: str, key: str) -> bool:
    """Whether any consent names this subject (a payer is known to us through their consents)."""
    return (
        conn.execute(
            select(consents.c.id)
            .where(consents.c.subject_type == subject_type, consents.c.subject_key == key)
            .limit(1)
        ).first()
        is not None
    )
