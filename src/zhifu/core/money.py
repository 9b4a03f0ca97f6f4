"""Money is an integer number of fen (分). Parsing is strict; formatting is for people."""

from __future__ import annotations

import re

from zhifu.core.errors import MoneyError

PAYMENT_FEN_MAX = 100_000_000  # 1,000,000.00 yuan: the default ceiling of one payment
_YUAN_RE = re.compile(r"(0|[1-9][0-9]{0,12})(?:\.([0-9]{1,2}))?")


def parse_yuan(text: str, *, max_fen: int = PAYMENT_FEN_MAX, param: str = "amount") -> int:
    """Parse "12.34" into 1234 fen. Rejects signs, exponents, spaces, >2 decimals, zero and over-maximum."""
    if not isinstance(text, str):
        raise MoneyError(f'{param} must be a string of yuan like "12.34"', param=param)
    if text == "":
        raise MoneyError(f"{param} is empty", param=param)
    m = _YUAN_RE.fullmatch(text)
    if m is None:
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
            raise MoneyError(f"{param} {text!r} has more than two decimal places", param=param)
        if text.startswith("-"):
            raise MoneyError(f"{param} {text!r} is negative", param=param)
        raise MoneyError(f'{param} {text!r} is not a plain decimal amount of yuan like "12.34"', param=param)
    whole, frac = m.group(1), (m.group(2) or "")
    fen = int(whole) * 100 + int(frac.ljust(2, "0") or "0")
    check_fen(fen, max_fen=max_fen, param=param)
    return fen


def check_fen(fen: object, *, max_fen: int = PAYMENT_FEN_MAX, param: str = "amount_fen") -> int:
    """Validate an amount already in fen: a positive integer not above the maximum."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyError(f"{param} must be an integer number of fen", param=param)
    if fen <= 0:
        raise MoneyError(f"{param} must be positive, got {fen}", param=param)
    if fen > max_fen:
        raise MoneyError(
            f"{param} {fen} is over the maximum of {format_fen(max_fen)}",
            param=param,
            code="amount_too_large",
        )
    return fen


def format_fen(fen: int, *, symbol: str = "¥") -> str:
    """1234567 → "¥12,345.67"; negative amounts keep their sign in front."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}"


def fen_to_yuan_str(fen: int) -> str:
    """1234 → "12.34" with no grouping, for files and speech."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{cents:02d}"


def ppm_of(amount_fen: int, rate_ppm: int) -> int:
    """amount × rate / 1e6, rounded half-up to the fen, in integers only."""
    if amount_fen < 0:
        return -ppm_of(-amount_fen, rate_ppm)
    return (amount_fen * rate_ppm + 500_000) // 1_000_000
