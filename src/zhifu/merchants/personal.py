"""完整个人信息的查看 / Reading a merchant's personal data in full: only an acquirer's operator may, only with a
reason, and every such read is an audit entry (who, role, which field of which merchant, why) committed with it.

Everyone else — the regulator, the merchant itself, the public — sees the masked forms (cards and accounts
6+4, phones 3+4, IDs 6+4, names keep the last character); `zhifu.privacy.classification` lists them.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, and_, select, true

from zhifu import audit, privacy
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied
from zhifu.merchants.models import merchants

# The field a person asks for → the encrypted column that holds it.
FIELDS: Final = {
    "legal_person_name": "legal_person_name_enc",
    "legal_person_id": "legal_person_id_enc",
    "phone": "phone_enc",
    "settle_account_no": "settle_account_enc",
}
UNMASKED_ROLES: Final = ("operator",)  # the acquirer's staff who onboard, call and pay the merchant
REASON_CHARS_MIN: Final = 4  # "核对" is too little to explain a read later; a sentence is expected
REASON_CHARS_MAX: Final = 200


def may_unmask(role: str) -> bool:
    return role in UNMASKED_ROLES


def reveal(
    conn: Connection,
    merchant_id: str,
    field: str,
    reason: str,
    *,
    role: str,
    acquirer_id: str | None = None,
) -> dict[str, Any]:
    """One personal field of a merchant in full, audited in the caller's transaction. `acquirer_id` limits an
    operator to its own institution's merchants (another's is not found)."""
    if not may_unmask(role):
        raise PermissionDenied(
            f"{role} 角色只能查看脱敏信息 / a {role} sees personal data masked only", code="forbidden"
        )
    scope = merchants.c.acquirer_id == acquirer_id if acquirer_id is not None else true()
    found = conn.execute(select(merchants.c.id).where(and_(merchants.c.id == merchant_id, scope))).first()
    if found is None:  # another acquirer's merchant is not found, whatever else is wrong with the request
        raise NotFound(f"没有商户 {merchant_id} / no merchant {merchant_id}", param="merchant")
    if field not in FIELDS:
        raise InvalidRequest(
            f"field 须为 {', '.join(FIELDS)} 之一 / field must be one of {', '.join(FIELDS)}", param="field"
        )
    reason = " ".join(reason.split())
    if not REASON_CHARS_MIN <= len(reason) <= REASON_CHARS_MAX:
        raise InvalidRequest(
            f"请写明查看原因（{REASON_CHARS_MIN}–{REASON_CHARS_MAX} 字）/ reason: say why, in "
            f"{REASON_CHARS_MIN}–{REASON_CHARS_MAX} characters",
            param="reason",
        )
    column = merchants.c[FIELDS[field]]
    row = conn.execute(
        select(merchants.c.id, merchants.c.legal_name, column).where(merchants.c.id == found.id)
    ).one()
    value = privacy.decrypt(row[2], conn)
    audit.record(
        conn,
        None,
        "personal_data.read_unmasked",
        "merchant",
        row.id,
        {"field": field, "reason": reason},
        merchant_id=row.id,
    )
    return {
        "object": "personal_data",
        "merchant": row.id,
        "legal_name": row.legal_name,
        "field": field,
        "value": value,
        "audited": True,
    }


__all__ = ["FIELDS", "UNMASKED_ROLES", "may_unmask", "reveal"]
