"""Every bad payload raises QRDecodeError naming the first bad tag and its character offset."""

from __future__ import annotations

import pytest

from tests.qr.samples import EMVCO_CN, minimal_body, tlv, with_crc
from zhifu.qr import QRDecodeError, decode

CRC_AT = len(EMVCO_CN) - 8


def _error(payload: str) -> QRDecodeError:
    with pytest.raises(QRDecodeError) as info:
        decode(payload)
    error = info.value
    assert f"tag {error.tag}" in error.message and f"offset {error.offset}" in error.message
    return error


def test_wrong_crc() -> None:
    error = _error(EMVCO_CN[:-1] + "B")
    assert (error.tag, error.offset) == ("63", CRC_AT)
    assert "A13A" in error.message


def test_lower_case_crc_is_rejected() -> None:
    error = _error(EMVCO_CN[:-4] + "a13a")
    assert (error.tag, error.offset) == ("63", CRC_AT)


@pytest.mark.parametrize(
    ("cut", "tag", "offset"),
    [
        (1, "63", CRC_AT),  # CRC value one short: the length runs past the end
        (6, "63", CRC_AT),  # only "63" left: no length
        (7, "6", CRC_AT),  # half an id
        (8, "63", CRC_AT),  # stops cleanly before the CRC: it is missing
        (30, "91", EMVCO_CN.index("9132")),
    ],
)
def test_truncated_payload(cut: int, tag: str, offset: int) -> None:
    error = _error(EMVCO_CN[:-cut])
    assert (error.tag, error.offset) == (tag, offset)


def test_length_running_past_the_end() -> None:
    error = _error(EMVCO_CN[:CRC_AT] + "6399A13A")
    assert (error.tag, error.offset) == ("63", CRC_AT)
    assert "runs past the end" in error.reason


def test_nested_length_running_past_its_template() -> None:
    body = minimal_body() + "62070399ABC"
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("62.03", len(minimal_body()) + 4)


def test_non_numeric_length() -> None:
    at = EMVCO_CN.index("5914BEST")
    error = _error(EMVCO_CN[: at + 2] + "1x" + EMVCO_CN[at + 4 :])
    assert (error.tag, error.offset) == ("59", at)
    assert "not two digits" in error.reason


def test_non_numeric_id() -> None:
    error = _error("AB0201")
    assert (error.tag, error.offset) == ("AB", 0)


@pytest.mark.parametrize("tag", ["52", "53", "58", "59", "60"])
def test_missing_mandatory_tag(tag: str) -> None:
    body = minimal_body(**{f"t{tag}": None})
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == (tag, len(body))
    assert "missing mandatory" in error.reason


def test_missing_payload_format_indicator() -> None:
    error = _error(with_crc(minimal_body(t00=None)))
    assert (error.tag, error.offset) == ("00", 0)


def test_payload_format_not_first() -> None:
    body = minimal_body(t00=None) + tlv("00", "01")
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("00", len(body) - 6)


def test_missing_merchant_account() -> None:
    body = minimal_body(t15=None)
    error = _error(with_crc(body))
    assert error.tag == "02-51" and error.offset == len(body)


def test_name_over_25_characters() -> None:
    body = minimal_body(t59="沂" * 26)
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("59", body.index("5926"))
    assert "25" in error.reason


def test_name_of_25_chinese_characters_is_fine() -> None:
    assert decode(with_crc(minimal_body(t59="沂" * 25))).merchant_name == "沂" * 25


@pytest.mark.parametrize(
    "amount", ["0", "0.00", "1.234", "-5", "1,00", "1e3", ".5", "5.", "12345678901234", " 5"]
)
def test_bad_amount(amount: str) -> None:
    body = minimal_body(t54=amount)
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("54", body.index("54" + f"{len(amount):02d}" + amount))


@pytest.mark.parametrize(
    ("tag", "value", "path"),
    [
        ("t01", "13", "01"),
        ("t52", "41a1", "52"),
        ("t53", "15", "53"),
        ("t58", "cn", "58"),
        ("t60", "C" * 16, "60"),
        ("t00", "02", "00"),
    ],
)
def test_bad_field_formats(tag: str, value: str, path: str) -> None:
    body = minimal_body(**{tag: value})
    error = _error(with_crc(body))
    assert error.tag == path
    assert body[error.offset : error.offset + 2] == path


def test_template_without_globally_unique_id() -> None:
    body = minimal_body() + tlv("27", tlv("01", "abc"))
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("27.00", len(minimal_body()))


def test_bad_additional_data_sub_tag() -> None:
    body = minimal_body() + tlv("62", tlv("01", "B1") + tlv("09", "MX"))
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("62.09", len(minimal_body()) + 4 + 6)


def test_language_template_needs_a_name() -> None:
    body = minimal_body() + tlv("64", tlv("00", "ZH"))
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("64.01", len(minimal_body()))


def test_duplicate_tag() -> None:
    body = minimal_body() + tlv("59", "AGAIN")
    error = _error(with_crc(body))
    assert (error.tag, error.offset) == ("59", len(minimal_body()))


def test_crc_not_last() -> None:
    good = with_crc(minimal_body())
    error = _error(good + tlv("91", "0002ID"))
    assert (error.tag, error.offset) == ("63", len(minimal_body()))


def test_convenience_fee_needs_its_indicator() -> None:
    error = _error(with_crc(minimal_body(t55="02")))
    assert error.tag == "55"
    assert decode(with_crc(minimal_body(t55="02", t56="1.50"))).convenience_fee_fixed_minor == 150


def test_payload_over_512_characters() -> None:
    body = minimal_body() + "".join(tlv(str(t), "X" * 99) for t in range(80, 85))
    error = _error(with_crc(body))
    assert error.tag == "84"


def test_empty_payload() -> None:
    assert _error("").tag == "00"


def _flips(ch: str) -> list[str]:
    """Two different replacements for a character: a near neighbour and a plain letter."""
    if ch.isdigit():
        near = str((int(ch) + 1) % 10)
    elif ch.isascii():
        near = chr(ord(ch) + 1) if ch != "~" else "}"
    else:
        near = chr(ord(ch) + 1)
    return [near, "X" if ch != "X" else "Y"]


def test_every_single_character_change_is_caught() -> None:
    assert decode(EMVCO_CN)
    crc_errors = 0
    for i, ch in enumerate(EMVCO_CN):
        for new in _flips(ch):
            bad = EMVCO_CN[:i] + new + EMVCO_CN[i + 1 :]
            with pytest.raises(QRDecodeError) as info:
                decode(bad)
            assert 0 <= info.value.offset <= len(bad), (i, new)
            assert info.value.tag, (i, new)
            crc_errors += info.value.tag == "63"
    assert crc_errors > len(EMVCO_CN)  # most changes leave the structure intact and only the CRC catches them


def test_amount_error_comes_before_a_later_missing_tag() -> None:
    body = minimal_body(t54="1.234", t60=None)
    error = _error(with_crc(body))
    assert error.tag == "54"
