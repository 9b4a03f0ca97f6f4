"""Credit codes, identity numbers, account-name rules: valid examples pass, corruptions are caught."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.core.errors import InvalidRequest
from zhifu.reference.validation import (
    CREDIT_CODE_CHARSET,
    account_name_ok,
    check_credit_code,
    check_resident_id,
    generate_credit_code,
    generate_resident_id,
)


def _credit_check_by_hand(first17: str) -> str:
    """An independent restatement of GB 32100-2015: weights are 3**i mod 31, check = 31 − sum mod 31."""
    total = sum(CREDIT_CODE_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def _id_check_by_hand(first17: str) -> str:
    """GB 11643-1999: weights 2**(17−i) mod 11; the check value c makes sum + c ≡ 1 (mod 11)."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    c = (12 - total % 11) % 11
    return "X" if c == 10 else str(c)


@pytest.mark.parametrize("code", ["91350100M000100Y4", "92370323MA3C4TLL7", "Y1110000000000000"])
def test_credit_code_hand_computed_check(code: str) -> None:
    first17 = code[:17]
    full = first17 + _credit_check_by_hand(first17)
    assert check_credit_code(full) == full


def test_published_credit_code_sample_is_valid_and_lowercase_normalised() -> None:
    assert check_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_credit_code_wrong_check_character_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_credit_code("91350100M000100Y44", param="legal.credit_code")
    assert exc.value.param == "legal.credit_code"
    assert "校验位" in exc.value.message and "check character" in exc.value.message


@pytest.mark.parametrize(
    ("code", "fragment"),
    [("9135010", "18"), ("91350100M000100YI3", "characters"), ("91ABCDEFM000100Y43", "area code")],
)
def test_credit_code_shape_errors(code: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        check_credit_code(code)


@given(seed=st.integers(0, 2**32), pos=st.integers(0, 17), shift=st.integers(1, 30))
def test_any_single_character_change_in_a_credit_code_is_caught(seed: int, pos: int, shift: int) -> None:
    code = generate_credit_code(random.Random(seed))
    assert check_credit_code(code) == code
    assert code[17] == _credit_check_by_hand(code[:17])
    new = CREDIT_CODE_CHARSET[(CREDIT_CODE_CHARSET.index(code[pos]) + shift) % 31]
    corrupted = code[:pos] + new + code[pos + 1 :]
    with pytest.raises(InvalidRequest):
        check_credit_code(corrupted)


def test_resident_id_published_sample_and_lowercase_x() -> None:
    assert check_resident_id("11010519491231002x") == "11010519491231002X"


@given(seed=st.integers(0, 2**32), pos=st.integers(0, 17), shift=st.integers(1, 10))
def test_any_single_character_change_in_an_id_is_caught(seed: int, pos: int, shift: int) -> None:
    number = generate_resident_id(random.Random(seed))
    assert check_resident_id(number) == number
    assert number[17] == _id_check_by_hand(number[:17])
    alphabet = "0123456789X"
    new = alphabet[(alphabet.index(number[pos]) + shift) % 11]
    corrupted = number[:pos] + new + number[pos + 1 :]
    with pytest.raises(InvalidRequest):
        check_resident_id(corrupted)


def test_resident_id_impossible_birth_date_is_refused_even_with_a_right_check_digit() -> None:
    first17 = "370323" + "20210230" + "123"
    number = first17 + _id_check_by_hand(first17)
    with pytest.raises(InvalidRequest, match="birth date") as exc:
        check_resident_id(number)
    assert exc.value.param == "id_number"


def test_resident_id_future_birth_is_refused() -> None:
    first17 = "370323" + "20250101" + "123"
    number = first17 + _id_check_by_hand(first17)
    assert check_resident_id(number, today=dt.date(2025, 1, 1)) == number
    with pytest.raises(InvalidRequest, match="birth date"):
        check_resident_id(number, today=dt.date(2024, 12, 31))


def test_resident_id_x_only_allowed_last() -> None:
    with pytest.raises(InvalidRequest, match="17 digits"):
        check_resident_id("3703231984X1221279")


def test_generated_ids_follow_the_requested_sex_and_area() -> None:
    rng = random.Random(7)
    women = [generate_resident_id(rng, female=True, area_code="370321") for _ in range(50)]
    assert all(int(n[16]) % 2 == 0 and n.startswith("370321") for n in women)
    men = [generate_resident_id(rng, female=False) for _ in range(50)]
    assert all(int(n[16]) % 2 == 1 for n in men)


def test_generators_are_deterministic_from_the_seed() -> None:
    a, b = random.Random(42), random.Random(42)
    assert [generate_credit_code(a) for _ in range(5)] == [generate_credit_code(b) for _ in range(5)]


@pytest.mark.parametrize("kind", ["enterprise", "企业"])
def test_enterprise_account_must_carry_the_legal_name(kind: str) -> None:
    assert account_name_ok(kind, "沂源县某某商贸有限公司", "张三", "沂源县某某商贸有限公司")
    with pytest.raises(InvalidRequest) as exc:
        account_name_ok(kind, "沂源县某某商贸有限公司", "张三", "张三")
    assert exc.value.param == "account_name"


def test_enterprise_name_match_ignores_full_width_brackets_and_spaces() -> None:
    assert account_name_ok("enterprise", "沂源某某（山东）有限公司", None, "沂源某某(山东) 有限公司")


@pytest.mark.parametrize("kind", ["individual_business", "个体工商户", "micro", "小微商户"])
def test_individual_and_micro_accept_legal_name_or_person_name(kind: str) -> None:
    assert account_name_ok(kind, "悦庄镇李记早餐店", "李四", "李四")
    assert account_name_ok(kind, "悦庄镇李记早餐店", "李四", "悦庄镇李记早餐店")
    with pytest.raises(InvalidRequest) as exc:
        account_name_ok(kind, "悦庄镇李记早餐店", "李四", "王五")
    assert exc.value.param == "account_name"


def test_unknown_merchant_type_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as exc:
        account_name_ok("farmer", "x", "y", "x")
    assert exc.value.param == "merchant_type"


def test_enterprise_without_legal_name_is_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        account_name_ok("enterprise", None, "张三", "张三")
    assert exc.value.param == "legal_name"
