"""Masked identity numbers, phones and accounts hide what they should and keep what they promise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zhifu.reference import mask_account, mask_id, mask_phone


def test_id_keeps_first_six_and_last_four() -> None:
    assert mask_id("370323198401221279") == "370323********1279"
    assert mask_id("11010519491231002X") == "110105********002X"


def test_phone_keeps_first_three_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138 1234 5678") == "138****5678"


def test_account_keeps_bin_and_last_four() -> None:
    assert mask_account("6228480012345678901") == "622848*********8901"
    assert mask_account("6217 0000 1111 2222") == "621700******2222"


def test_short_values_reveal_at_most_a_quarter() -> None:
    assert mask_phone("12345") == "****5"
    assert mask_account("123") == "***"
    assert mask_id("") == ""


@given(st.text(alphabet="0123456789", min_size=0, max_size=30))
def test_masks_keep_length_and_hide_most(value: str) -> None:
    for mask in (mask_id, mask_phone, mask_account):
        out = mask(value)
        assert len(out) == len(value)
        if value:
            assert out.count("*") >= min(4, len(value) - len(value) // 4)
            assert out != value or set(value) <= {"*"}
