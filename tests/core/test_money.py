import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.core.errors import MoneyError
from zhifu.core.money import check_fen, fen_to_yuan_str, format_fen, parse_yuan, ppm_of


@pytest.mark.parametrize(
    ("text", "fen"), [("12.34", 1234), ("12", 1200), ("0.01", 1), ("1000000.00", 100_000_000), ("0.5", 50)]
)
def test_parse_valid(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1.234", "more than two decimal"),
        ("-1", "negative"),
        ("1e3", "not a plain decimal"),
        ("", "empty"),
        ("NaN", "not a plain decimal"),
        (" 1", "not a plain decimal"),
        ("1000000.01", "over the maximum"),
        ("0", "positive"),
        ("0.00", "positive"),
        ("01", "not a plain decimal"),
    ],
)
def test_parse_rejects(text: str, needle: str) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_yuan(text)
    assert needle in exc.value.message
    assert exc.value.param == "amount"


def test_configured_maximum() -> None:
    assert parse_yuan("500.00", max_fen=50_000) == 50_000
    with pytest.raises(MoneyError, match="over the maximum"):
        parse_yuan("500.01", max_fen=50_000)


@pytest.mark.parametrize("bad", [1.5, True, "12", None])
def test_check_fen_rejects_non_integers(bad: object) -> None:
    with pytest.raises(MoneyError):
        check_fen(bad)


def test_format() -> None:
    assert format_fen(123456) == "¥1,234.56"
    assert format_fen(5) == "¥0.05"
    assert format_fen(-100_000_000) == "-¥1,000,000.00"
    assert fen_to_yuan_str(1234) == "12.34"


@given(st.integers(min_value=1, max_value=100_000_000))
def test_format_parse_round_trip(fen: int) -> None:
    assert parse_yuan(fen_to_yuan_str(fen)) == fen


def test_ppm_half_up() -> None:
    assert ppm_of(10_000, 3_800) == 38
    assert ppm_of(125, 4_000) == 1  # 0.5 fen rounds up
    assert ppm_of(124, 4_000) == 0  # 0.496 rounds down
    assert ppm_of(-125, 4_000) == -1
