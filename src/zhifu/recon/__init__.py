"""Reconciliation: channel statement files and matching them against our payments."""

from zhifu.recon.formats import (
    STATEMENT_SCHEMA,
    PayoutResult,
    StatementFormatError,
    StatementLine,
    business_date_of,
    file_sha256,
    lines_to_frame,
    parse_payout_results,
    parse_statement,
    parse_statement_frame,
    write_payout_results,
    write_statement,
)
from zhifu.recon.matching import CLASSES, PAYMENT_COLUMNS, MatchResult, match

__all__ = [
    "CLASSES",
    "PAYMENT_COLUMNS",
    "STATEMENT_SCHEMA",
    "MatchResult",
    "PayoutResult",
    "StatementFormatError",
    "StatementLine",
    "business_date_of",
    "file_sha256",
    "lines_to_frame",
    "match",
    "parse_payout_results",
    "parse_statement",
    "parse_statement_frame",
    "write_payout_results",
    "write_statement",
]
