"""投诉快速响应 / complaints: intake, routing, working-day clocks, refunds through maker-checker, analysis."""

from zhifu.complaints.models import CATEGORIES, OUTCOMES, SOURCES, Status, complaints
from zhifu.complaints.service import (
    CLOCK_INTERVAL_S,
    FileComplaint,
    Rules,
    add_attachment,
    approve_refund,
    assign,
    decide,
    deliver_messages,
    escalate,
    export_csv,
    extend,
    file_complaint,
    file_verified,
    get_complaint,
    get_rules,
    import_referrals,
    kpi_complaints_within_sla,
    list_complaints,
    merchant_signals,
    propose_refund,
    rate,
    reject_refund,
    request_code,
    respond,
    run_clocks,
    set_rules,
    stats,
    sweep,
    timeliness,
    verify_code,
)
from zhifu.complaints.sms import LogSender, MemorySender, SmsSender, sender, set_sender

__all__ = [
    "CLOCK_INTERVAL_S", "CATEGORIES", "OUTCOMES", "SOURCES", "FileComplaint", "LogSender", "MemorySender", "Rules", "SmsSender", "Status",
    "add_attachment", "approve_refund", "assign", "complaints", "decide", "deliver_messages", "escalate",
    "export_csv", "extend", "file_complaint", "file_verified", "get_complaint", "get_rules", "import_referrals",
    "kpi_complaints_within_sla", "list_complaints", "merchant_signals", "propose_refund", "rate", "reject_refund",
    "request_code", "respond", "run_clocks", "sender", "set_rules", "set_sender", "stats", "sweep", "timeliness",
    "verify_code",
]
