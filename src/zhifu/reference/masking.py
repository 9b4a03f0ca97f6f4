"""Masked display of identity numbers, phones and accounts (JR/T 0171-2020 C2 data is shown masked)."""

from __future__ import annotations

_MASK = "*"
_MASKED_MIN = 4  # below this many hidden characters a mask reveals too much; hide more instead


def _mask_middle(value: str, head: int, tail: int) -> str:
    text = "".join(value.split())
    n = len(text)
    if n >= head + tail + _MASKED_MIN:
        return text[:head] + _MASK * (n - head - tail) + text[n - tail :]
    keep = n // 4  # short input: show at most the last quarter
    return _MASK * (n - keep) + text[n - keep :]


def mask_ends(value: object, head: int = 3, tail: int = 4) -> str:
    """Show only the ends of personal data: "13812345678" → "138****5678" (the console's rule for any value).

    A value too short to keep both ends shows only its last character ("张三" → "*三").
    """
    if value is None:
        return ""
    text = str(value)
    if head < 0 or tail < 0:
        raise ValueError("mask keeps a non-negative number of characters")
    if len(text) <= 1:
        return _MASK * len(text)
    if len(text) <= head + tail:
        return _MASK * (len(text) - 1) + text[-1]
    return text[:head] + _MASK * (len(text) - head - tail) + text[len(text) - tail :]


def mask_id(number: str) -> str:
    """Identity numbers keep the first 6 and last 4: 370323********1234 (the county of issue, never the birth
    date), as the programme's rule asks: cards 6+4, phones 3+4, IDs 6+4."""
    return _mask_middle(number, 6, 4)


def mask_phone(phone: str) -> str:
    """Mobile numbers keep the first 3 and last 4: 138****1234."""
    return _mask_middle(phone, 3, 4)


def mask_account(account: str) -> str:
    """Card and account numbers keep the first 6 (the BIN, naming the issuer) and last 4: 622848******1234."""
    return _mask_middle(account, 6, 4)
