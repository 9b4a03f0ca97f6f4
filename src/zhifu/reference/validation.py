"""Checks for Chinese identity numbers and account names; failures raise InvalidRequest naming the field.

Also deterministic generators of valid numbers from a `random.Random`, for the simulator and tests.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from enum import StrEnum

from zhifu.core.clock import now, to_shanghai
from zhifu.core.errors import InvalidRequest
from zhifu.reference.masking import mask_account, mask_id, mask_phone

__all__ = [
    "CREDIT_CODE_CHARSET",
    "MerchantType",
    "account_name_ok",
    "check_credit_code",
    "check_resident_id",
    "credit_code_check_char",
    "generate_credit_code",
    "generate_resident_id",
    "mask_account",
    "mask_id",
    "mask_phone",
    "resident_id_check_char",
    "resident_id_birth_date",
]

# GB 32100-2015: 31 characters (no I, O, S, V, Z); the weights are 3**i mod 31.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_CHARSET)}
# GB 11714-1997 organisation code (positions 9–17 of the credit code): its own check character.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# GB 11643-1999: ISO 7064 MOD 11-2, weights 2**(17-i) mod 11; X stands for ten.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")
_ID_BIRTH_YEAR_MIN = 1900  # no one alive was born earlier; older dates are typos


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 characters are given."""
    total = sum(_CREDIT_VALUE[ch] * w for ch, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def check_credit_code(code: str, *, param: str = "credit_code") -> str:
    """Validate an 18-character unified social credit code (统一社会信用代码); return it upper-cased."""
    if not isinstance(code, str):
        raise InvalidRequest("统一社会信用代码必须是字符串 / credit code must be a string", param=param)
    norm = code.strip().upper()
    if len(norm) != 18:
        raise InvalidRequest(
            f"统一社会信用代码应为18位，实际{len(norm)}位 / credit code must have 18 characters, got {len(norm)}",
            param=param,
        )
    bad = sorted({ch for ch in norm if ch not in _CREDIT_VALUE})
    if bad:
        raise InvalidRequest(
            f"统一社会信用代码含非法字符 {''.join(bad)} / credit code has characters outside "
            "0-9 A-H J-N P-R T-U W-Y: " + "".join(bad),
            param=param,
        )
    if not norm[2:8].isdigit():
        raise InvalidRequest(
            "统一社会信用代码第3至8位应为行政区划码 / credit code positions 3–8 must be a 6-digit area code",
            param=param,
        )
    if credit_code_check_char(norm[:17]) != norm[17]:
        raise InvalidRequest("统一社会信用代码校验位错误 / credit code check character is wrong", param=param)
    return norm


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check: card numbers, biller account numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    """`body` with its Luhn check digit appended."""
    return body + next(str(d) for d in range(10) if luhn_ok(body + str(d)))


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a resident identity number whose first 17 digits are given."""
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_birth_date(number: str) -> dt.date | None:
    """The birth date encoded in positions 7–14, or None when it is not a calendar date."""
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check_resident_id(number: str, *, param: str = "id_number", today: dt.date | None = None) -> str:
    """Validate an 18-character resident identity number (居民身份证号码); return it with X upper-cased."""
    if not isinstance(number, str):
        raise InvalidRequest("身份证号码必须是字符串 / identity number must be a string", param=param)
    norm = number.strip().upper()
    if len(norm) != 18:
        raise InvalidRequest(
            f"身份证号码应为18位，实际{len(norm)}位 / identity number must have 18 characters, got {len(norm)}",
            param=param,
        )
    if _ID_RE.fullmatch(norm) is None:
        raise InvalidRequest(
            "身份证号码格式错误：前17位为数字，末位为数字或X / identity number must be 17 digits "
            "then a digit or X",
            param=param,
        )
    birth = resident_id_birth_date(norm)
    today = today or to_shanghai(now()).date()
    if birth is None or birth.year < _ID_BIRTH_YEAR_MIN or birth > today:
        raise InvalidRequest(
            f"身份证号码出生日期无效：{norm[6:14]} / identity number has an invalid birth date {norm[6:14]}",
            param=param,
        )
    if resident_id_check_char(norm[:17]) != norm[17]:
        raise InvalidRequest("身份证号码校验位错误 / identity number check digit is wrong", param=param)
    return norm


class MerchantType(StrEnum):
    """Merchant types with different account-name rules."""

    ENTERPRISE = "enterprise"  # 企业
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    MICRO = "micro"  # 小微商户 (no business licence)


_MERCHANT_TYPE_ALIASES = {
    "企业": MerchantType.ENTERPRISE,
    "个体工商户": MerchantType.INDIVIDUAL_BUSINESS,
    "小微商户": MerchantType.MICRO,
}


def _merchant_type(value: str) -> MerchantType:
    if value in _MERCHANT_TYPE_ALIASES:
        return _MERCHANT_TYPE_ALIASES[value]
    try:
        return MerchantType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in MerchantType)
        raise InvalidRequest(
            f"未知商户类型 {value!r} / unknown merchant type {value!r}; use one of {allowed}",
            param="merchant_type",
        ) from None


def _name_key(name: str | None) -> str:
    """Names compare after NFKC (full-width brackets and letters fold to half-width) without spaces."""
    if not name:
        return ""
    return "".join(unicodedata.normalize("NFKC", name).split())


def account_name_ok(
    merchant_type: str,
    legal_name: str | None,
    legal_person_name: str | None,
    account_name: str,
) -> bool:
    """Check the settlement account's name fits the merchant; returns True or raises InvalidRequest.

    Enterprise: the account name must be the legal name. Individual business and micro merchant:
    the legal name or the legal person's name.
    """
    kind = _merchant_type(merchant_type)
    account = _name_key(account_name)
    if not account:
        raise InvalidRequest("结算账户户名不能为空 / account name is required", param="account_name")
    legal, person = _name_key(legal_name), _name_key(legal_person_name)
    if kind is MerchantType.ENTERPRISE:
        if not legal:
            raise InvalidRequest(
                "企业商户须提供营业执照名称 / enterprise needs its legal name", param="legal_name"
            )
        if account != legal:
            raise InvalidRequest(
                "企业商户结算账户户名须与营业执照名称一致 / an enterprise's account name must equal its legal name",
                param="account_name",
            )
        return True
    if account not in {n for n in (legal, person) if n}:
        raise InvalidRequest(
            "个体工商户及小微商户结算账户户名须为商户名称或经营者姓名 / an individual business's or micro "
            "merchant's account name must be its legal name or the legal person's name",
            param="account_name",
        )
    return True


def _org_code(rng: random.Random) -> str:
    """A 9-character organisation code (GB 11714) with its own check character."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    total = sum(int(ch, 36) * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def generate_credit_code(
    rng: random.Random, *, area_code: str = "370323", authority: str = "9", org_type: str = "2"
) -> str:
    """A valid credit code: authority 9 (market regulator), type 1 enterprise / 2 individual / 3 co-op."""
    if len(area_code) != 6 or not area_code.isdigit():
        raise InvalidRequest("行政区划码应为6位数字 / area_code must be 6 digits", param="area_code")
    first17 = authority + org_type + area_code + _org_code(rng)
    return first17 + credit_code_check_char(first17)


def generate_resident_id(
    rng: random.Random,
    *,
    area_code: str = "370323",
    born_from: dt.date = dt.date(1950, 1, 1),
    born_to: dt.date = dt.date(2004, 12, 31),
    female: bool | None = None,
) -> str:
    """A valid resident identity number; the 17th digit is odd for men and even for women."""
    if len(area_code) != 6 or not area_code.isdigit() or area_code[0] == "0":
        raise InvalidRequest("行政区划码应为6位数字 / area_code must be 6 digits", param="area_code")
    birth = born_from + dt.timedelta(days=rng.randrange((born_to - born_from).days + 1))
    is_female = rng.random() < 0.5 if female is None else female
    seq = f"{rng.randrange(100):02d}{rng.choice('02468' if is_female else '13579')}"
    first17 = area_code + birth.strftime("%Y%m%d") + seq
    return first17 + resident_id_check_char(first17)
