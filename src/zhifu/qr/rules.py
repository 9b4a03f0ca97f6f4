"""Format rules of the EMV merchant-presented QR fields, shared by the decoder and the encoder."""

from __future__ import annotations

import re
import unicodedata

from zhifu.qr.errors import FieldInvalid
from zhifu.qr.tlv import is_digits

PAYLOAD_CHARS_MAX = 512  # EMV QRCPS MPM: the whole payload is at most 512 characters
GUI_CHARS_MAX = 32  # globally unique identifier (sub-tag 00 of a template)
AMOUNT_CHARS_MAX = 13
NAME_CHARS_MAX = 25
CITY_CHARS_MAX = 15
POSTAL_CODE_CHARS_MAX = 10
ADDITIONAL_FIELD_CHARS_MAX = 25
CURRENCY_CNY = "156"
COUNTRY_CN = "CN"
STATIC = "11"
DYNAMIC = "12"

# ISO 4217 minor units that differ from the usual 2 (numeric code -> digits after the decimal mark).
_MINOR_UNITS = {
    "048": 3, "368": 3, "400": 3, "414": 3, "434": 3, "512": 3, "788": 3,  # BHD IQD JOD KWD LYD OMR TND
    "108": 0, "152": 0, "174": 0, "262": 0, "324": 0, "392": 0, "410": 0, "548": 0,  # BIF CLP KMF DJF GNF JPY KRW VUV
    "600": 0, "646": 0, "704": 0, "800": 0, "950": 0, "952": 0, "953": 0,  # PYG RWF VND UGX XAF XOF XPF
}  # fmt: skip
_DECIMAL_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_TIP_INDICATORS = {"01": "prompt for tip", "02": "fixed convenience fee", "03": "percentage convenience fee"}


def minor_units(currency: str) -> int:
    """Digits after the decimal mark for an ISO 4217 numeric currency code (2 unless listed)."""
    return _MINOR_UNITS.get(currency, 2)


def check_text(value: str, max_chars: int, what: str) -> str:
    if len(value) > max_chars:
        raise FieldInvalid(f"{what} has {len(value)} characters, more than {max_chars}")
    if value.strip() == "":
        raise FieldInvalid(f"{what} is blank")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise FieldInvalid(f"{what} contains the control character U+{ord(ch):04X}")
    return value


def check_digits(value: str, chars: int, what: str) -> str:
    if len(value) != chars or not is_digits(value):
        raise FieldInvalid(f"{what} {value!r} is not {chars} digits")
    return value


def check_letters(value: str, what: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise FieldInvalid(f"{what} {value!r} is not two letters")
    return value


def check_decimal(value: str, what: str) -> str:
    """A positive plain decimal ("23.72", "100"): digits with at most one ".", at most 13 characters."""
    if len(value) > AMOUNT_CHARS_MAX:
        raise FieldInvalid(f"{what} {value!r} is longer than {AMOUNT_CHARS_MAX} characters")
    m = _DECIMAL_RE.fullmatch(value)
    if m is None:
        raise FieldInvalid(f'{what} {value!r} is not a plain positive decimal like "23.72"')
    if int(m.group(1)) == 0 and int(m.group(2) or "0") == 0:
        raise FieldInvalid(f"{what} {value!r} is zero")
    return value


def decimal_to_minor(value: str, currency: str, what: str) -> int:
    """Convert "23.72" in CNY to 2372; rejects more decimals than the currency has."""
    check_decimal(value, what)
    m = _DECIMAL_RE.fullmatch(value)
    assert m is not None
    whole, frac = m.group(1), m.group(2) or ""
    digits = minor_units(currency)
    if len(frac) > digits:
        raise FieldInvalid(f"{what} {value!r} has {len(frac)} decimals; currency {currency} allows {digits}")
    return int(whole) * 10**digits + int(frac.ljust(digits, "0") or "0")


def minor_to_decimal(amount_minor: int, currency: str) -> str:
    """Convert 2372 in CNY to "23.72", 500 in JPY to "500"."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise FieldInvalid(f"amount {amount_minor!r} must be a positive integer of minor units (fen)")
    digits = minor_units(currency)
    if digits == 0:
        return str(amount_minor)
    whole, frac = divmod(amount_minor, 10**digits)
    return f"{whole}.{frac:0{digits}d}"


def check_percentage(value: str) -> str:
    check_decimal(value, "convenience fee percentage")
    if len(value) > 5 or int(value.split(".")[0]) >= 100:
        raise FieldInvalid(f"convenience fee percentage {value!r} is not between 00.01 and 99.99")
    return value


def check_consumer_data_request(value: str) -> str:
    if len(value) > 3 or not value or any(ch not in "AME" for ch in value) or len(set(value)) != len(value):
        raise FieldInvalid(f"consumer data request {value!r} is not up to three of A, M, E, each once")
    return value


def check_top(tag: str, value: str) -> None:
    """Format of one top-level primitive field (templates are checked by their own rules)."""
    number = int(tag)
    if tag == "00":
        if value != "01":
            raise FieldInvalid(f'payload format indicator is {value!r}, not "01"')
    elif tag == "01":
        if value not in (STATIC, DYNAMIC):
            raise FieldInvalid(f'point of initiation is {value!r}, not "11" (static) or "12" (dynamic)')
    elif 2 <= number <= 25:
        check_text(value, 99, "merchant account information")
    elif tag == "52":
        check_digits(value, 4, "merchant category code")
    elif tag == "53":
        check_digits(value, 3, "currency")
    elif tag in ("54", "56"):
        check_decimal(value, "amount" if tag == "54" else "convenience fee")
    elif tag == "55":
        if value not in _TIP_INDICATORS:
            raise FieldInvalid(f"tip or convenience indicator is {value!r}, not 01, 02 or 03")
    elif tag == "57":
        check_percentage(value)
    elif tag == "58":
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise FieldInvalid(f"country code {value!r} is not two upper-case letters")
    elif tag == "59":
        check_text(value, NAME_CHARS_MAX, "merchant name")
    elif tag == "60":
        check_text(value, CITY_CHARS_MAX, "merchant city")
    elif tag == "61":
        check_text(value, POSTAL_CODE_CHARS_MAX, "postal code")


def check_additional(tag: str, value: str) -> None:
    """Format of one sub-field of the additional data template (62)."""
    number = int(tag)
    if 1 <= number <= 8:
        check_text(value, ADDITIONAL_FIELD_CHARS_MAX, ADDITIONAL_NAMES[tag])
    elif tag == "09":
        check_consumer_data_request(value)


def check_language(tag: str, value: str) -> None:
    """Format of one sub-field of the language template (64)."""
    if tag == "00":
        check_letters(value, "language preference")
    elif tag == "01":
        check_text(value, NAME_CHARS_MAX, "alternate merchant name")
    elif tag == "02":
        check_text(value, CITY_CHARS_MAX, "alternate merchant city")


def check_gui(value: str) -> None:
    check_text(value, GUI_CHARS_MAX, "globally unique identifier")


ADDITIONAL_NAMES = {
    "01": "bill number",
    "02": "mobile number",
    "03": "store label",
    "04": "loyalty number",
    "05": "reference label",
    "06": "customer label",
    "07": "terminal label",
    "08": "purpose of transaction",
    "09": "additional consumer data request",
}
