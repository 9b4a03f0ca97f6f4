"""EMV QR data objects: a 2-digit id, a 2-digit length counted in characters, then the value."""

from __future__ import annotations

from dataclasses import dataclass

from zhifu.qr.errors import QRDecodeError

VALUE_CHARS_MAX = 99  # the length field has two digits


def is_digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits only (str.isdigit also accepts "²" and "٣")."""
    return text != "" and all("0" <= ch <= "9" for ch in text)


@dataclass(frozen=True, slots=True)
class DataObject:
    """One id/value pair; a template's value is itself a run of data objects."""

    tag: str
    value: str

    def encode(self) -> str:
        if not (len(self.tag) == 2 and is_digits(self.tag)):
            raise ValueError(f"tag {self.tag!r} is not two digits")
        if not 1 <= len(self.value) <= VALUE_CHARS_MAX:
            raise ValueError(
                f"tag {self.tag} value has {len(self.value)} characters, not 1 to {VALUE_CHARS_MAX}"
            )
        return f"{self.tag}{len(self.value):02d}{self.value}"

    def children(self) -> tuple[DataObject, ...]:
        """The data objects inside a template value; raises QRDecodeError if it is not one."""
        return tuple(obj for obj, _ in parse(self.value, parent=f"{self.tag}."))


def encode_all(objects: tuple[DataObject, ...] | list[DataObject]) -> str:
    return "".join(obj.encode() for obj in objects)


def parse(text: str, *, base: int = 0, parent: str = "") -> list[tuple[DataObject, int]]:
    """Split `text` into data objects with their absolute character offsets (`base` + position).

    Raises QRDecodeError at the first object that is truncated, has a non-numeric id or length,
    an empty value, or a length that runs past the end.
    """
    found: list[tuple[DataObject, int]] = []
    pos = 0
    while pos < len(text):
        tag = text[pos : pos + 2]
        where = base + pos
        if not is_digits(tag) or len(tag) < 2:
            if len(text) - pos < 2:
                raise QRDecodeError(f"{parent}{tag}", where, "payload is truncated inside a data object id")
            raise QRDecodeError(f"{parent}{tag}", where, f"id {tag!r} is not two digits")
        path = f"{parent}{tag}"
        length_text = text[pos + 2 : pos + 4]
        if len(length_text) < 2:
            raise QRDecodeError(path, where, "payload is truncated before the 2-digit length")
        if not is_digits(length_text):
            raise QRDecodeError(path, where, f"length {length_text!r} is not two digits")
        length = int(length_text)
        if length == 0:
            raise QRDecodeError(path, where, "length is 00; an absent value is left out, not sent empty")
        start = pos + 4
        if start + length > len(text):
            left = len(text) - start
            raise QRDecodeError(path, where, f"length {length} runs past the end ({left} characters left)")
        found.append((DataObject(tag, text[start : start + length]), where))
        pos = start + length
    return found
