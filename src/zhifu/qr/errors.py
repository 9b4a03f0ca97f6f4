"""Errors of the EMV QR codec: each names the tag at fault (and, when decoding, its character offset)."""

from __future__ import annotations

from zhifu.core.errors import InvalidRequest


class QRDecodeError(InvalidRequest):
    """A payload that is not a valid EMV merchant-presented QR; `tag` is like "59" or "62.09"."""

    code = "invalid_qr_payload"

    def __init__(self, tag: str, offset: int, reason: str) -> None:
        super().__init__(f"tag {tag} at offset {offset}: {reason}", param=tag)
        self.tag = tag
        self.offset = offset
        self.reason = reason


class QREncodeError(InvalidRequest):
    """Fields that cannot make a valid EMV merchant-presented QR payload."""

    code = "invalid_qr_field"

    def __init__(self, tag: str, reason: str) -> None:
        super().__init__(f"tag {tag}: {reason}", param=tag)
        self.tag = tag
        self.reason = reason


class FieldInvalid(Exception):
    """Raised by the field rules; the decoder or encoder adds the tag and offset."""

    def __init__(self, reason: str, *, tag: str | None = None, offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag
        self.offset = offset
