"""风险控制 / Risk control: limits at authorisation, real-time rules, typologies, alerts and cases."""

from zhifu.risk.limits import LIMITS, LimitExceeded, limit_value, list_limits, set_limit
from zhifu.risk.service import (
    RiskBlocked,
    active_ruleset,
    add_to_list,
    approve,
    assign_case,
    authorise,
    decide,
    get_case,
    kpi_risk_alerts,
    list_alerts,
    list_cases,
    load_rules,
    note_case,
    release,
    scan,
    scan_all,
    str_report,
    summary,
)

__all__ = [
    "LIMITS", "LimitExceeded", "RiskBlocked", "active_ruleset", "add_to_list", "approve", "assign_case", "authorise",
    "decide", "get_case", "kpi_risk_alerts", "limit_value", "list_alerts", "list_cases", "list_limits", "load_rules",
    "note_case", "release", "scan", "scan_all", "set_limit", "str_report", "summary",
]
