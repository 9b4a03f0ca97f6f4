"""Payloads shared by the QR tests."""

from __future__ import annotations

from zhifu.qr import crc_hex

# The Chinese example of the EMVCo merchant-presented QR specification.
EMVCO_CN = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***"
    "0708A60086670902ME91320016A0112233449988770708123456786304A13A"
)


def with_crc(body: str) -> str:
    """`body` (everything before tag 63) with a correct tag 63 appended."""
    head = body + "6304"
    return head + crc_hex(head)


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def minimal_body(**overrides: str | None) -> str:
    """A small valid CNY body; pass tag=value to replace a tag, or tag=None to drop it."""
    tags: dict[str, str | None] = {
        "00": "01",
        "01": "11",
        "15": "6229880012345678",
        "52": "5812",
        "53": "156",
        "54": "12.50",
        "58": "CN",
        "59": "LAO ZHANG",
        "60": "YIYUAN",
    }
    for key, value in overrides.items():
        tags[key.removeprefix("t")] = value
    return "".join(tlv(tag, value) for tag, value in tags.items() if value is not None)
