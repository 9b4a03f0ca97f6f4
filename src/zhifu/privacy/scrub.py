"""日志脱敏 / Log scrubbing: whatever a log line was given, a resident ID number (with a valid check digit), a
mobile number or a bank card number (16–19 digits passing Luhn) in it is written masked (6+4, 3+4, 6+4). The code
never logs personal data on purpose; this is the net under it, for a library's message or an exception's text.

Installed once, process-wide, as a log-record factory: every logger's records pass through it, whoever
configured the handlers (uvicorn, the CLI, a test's capture).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from zhifu.reference.masking import mask_account, mask_id, mask_phone
from zhifu.reference.validation import luhn_ok, resident_id_check_char

_ID: Final = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])"
)
_CARD: Final = re.compile(r"(?<!\d)\d{16,19}(?!\d)")
_PHONE: Final = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
MESSAGE_CHARS_MAX: Final = 100_000  # longer messages are scrubbed in their first 100 000 characters only


def _id_ok(s: str) -> bool:
    return resident_id_check_char(s[:17]) == s[17].upper()


def scrub(text: str) -> str:
    """The text with ID numbers, bank card numbers and mobile numbers masked."""
    if len(text) > MESSAGE_CHARS_MAX:
        return scrub(text[:MESSAGE_CHARS_MAX]) + text[MESSAGE_CHARS_MAX:]
    text = _ID.sub(lambda m: mask_id(m[0]) if _id_ok(m[0]) else m[0], text)
    text = _CARD.sub(lambda m: mask_account(m[0]) if luhn_ok(m[0]) else m[0], text)
    return _PHONE.sub(lambda m: mask_phone(m[0]), text)


_installed: list[Any] = []


def install() -> None:
    """Scrub every log record created from now on in this process (idempotent)."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: leave it to the handler's error
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:  # the traceback's text, formatted once here and scrubbed
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed.append(factory)


__all__ = ["install", "scrub"]
