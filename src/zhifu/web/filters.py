"""Jinja filters for money, Beijing time and masked personal data; strict about what they accept."""

from __future__ import annotations

import datetime as dt
from typing import Final

from zhifu.core.clock import to_shanghai
from zhifu.core.money import fen_to_yuan_str, format_fen
from zhifu.reference.masking import mask_ends

SHANGHAI_FORMAT: Final = "%Y-%m-%d %H:%M"


def _fen(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{param} filter expects an integer number of fen, got {type(value).__name__}")
    return value


def fen(value: int | None) -> str:
    """12345 → "¥123.45" (grouped: 1234567 → "¥12,345.67"); None → ""."""
    if value is None:
        return ""
    return format_fen(_fen(value, "fen"))


def yuan(value: int | None) -> str:
    """12345 → "123.45", no symbol and no grouping; None → ""."""
    if value is None:
        return ""
    return fen_to_yuan_str(_fen(value, "yuan"))


def shanghai(value: dt.datetime | None, fmt: str = SHANGHAI_FORMAT) -> str:
    """An aware datetime shown in Beijing time, "2026-11-24 15:04"; a naive one is refused, not guessed."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"shanghai filter expects a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("shanghai filter refuses a naive datetime; store times as aware UTC")
    return to_shanghai(value).strftime(fmt)


def mask(value: object, head: int = 3, tail: int = 4) -> str:
    """Show only the ends of personal data: "13812345678" → "138****5678" (zhifu.reference.masking's rule)."""
    return mask_ends(value, head, tail)


# Which badge colour a status gets in the console (see .badge--* in zhifu.css).
STATUS_TONES: Final[dict[str, str]] = {
    "succeeded": "ok",
    "active": "ok",
    "approved": "ok",
    "settled": "ok",
    "matched": "ok",
    "pending": "wait",
    "processing": "wait",
    "under_review": "wait",
    "pending_review": "wait",
    "changes_requested": "wait",
    "terminated": "muted",
    "unsettled": "wait",
    "failed": "bad",
    "rejected": "bad",
    "mismatched": "bad",
    "suspended": "bad",
    "revoked": "bad",
    "closed": "muted",
    "expired": "muted",
    "refunded": "info",
    "partially_refunded": "info",
}


def status_tone(status: str) -> str:
    """The badge tone of a status: ok, wait, bad, info or muted (unknown statuses are muted)."""
    return STATUS_TONES.get(status, "muted")
