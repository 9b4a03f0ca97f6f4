"""同意管理 / Consent (PIPL arts. 14–16, 23, 29) enforced where data is used, and the data subject's export."""

from zhifu.consent.service import (
    ConsentRequired,
    GrantIn,
    SendNotices,
    campaign_notices,
    enforce,
    grant,
    list_for,
    live,
    subject_export,
    subject_key,
    turnover_evidence,
    withdraw,
)

__all__ = [
    "ConsentRequired",
    "GrantIn",
    "SendNotices",
    "campaign_notices",
    "enforce",
    "grant",
    "list_for",
    "live",
    "subject_export",
    "subject_key",
    "turnover_evidence",
    "withdraw",
]
