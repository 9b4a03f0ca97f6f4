"""Decode and validate an EMV merchant-presented QR payload into a MerchantPresentedQR."""

from __future__ import annotations

import re
from collections.abc import Callable

from zhifu.qr.crc import crc_hex
from zhifu.qr.errors import FieldInvalid, QRDecodeError
from zhifu.qr.model import AdditionalData, LanguageTemplate, MerchantAccount, MerchantPresentedQR
from zhifu.qr.rules import (
    PAYLOAD_CHARS_MAX,
    check_additional,
    check_gui,
    check_language,
    check_top,
    decimal_to_minor,
)
from zhifu.qr.tlv import DataObject, parse

_MANDATORY = {
    "52": "merchant category code",
    "53": "transaction currency",
    "58": "country code",
    "59": "merchant name",
    "60": "merchant city",
}
_Located = list[tuple[DataObject, int]]


def decode(payload: str) -> MerchantPresentedQR:
    """Parse and validate `payload`; raises QRDecodeError naming the first bad tag and its offset."""
    if not isinstance(payload, str) or payload == "":
        raise QRDecodeError("00", 0, "payload is empty or not text")
    objects = parse(payload)
    _check_size(objects)
    crc_offset = _check_crc(objects, payload)
    return _Validator(objects, crc_offset).run()


def _check_size(objects: _Located) -> None:
    for obj, offset in objects:
        if offset + 4 + len(obj.value) > PAYLOAD_CHARS_MAX:
            raise QRDecodeError(
                obj.tag, offset, f"payload runs past the maximum of {PAYLOAD_CHARS_MAX} characters"
            )


def _check_crc(objects: _Located, payload: str) -> int:
    crc_at = [i for i, (obj, _) in enumerate(objects) if obj.tag == "63"]
    if not crc_at:
        raise QRDecodeError("63", len(payload), "payload is truncated or lacks the mandatory CRC tag 63")
    crc, offset = objects[crc_at[0]]
    if crc_at[0] != len(objects) - 1:
        raise QRDecodeError("63", offset, "CRC tag 63 is not the last data object")
    if not re.fullmatch(r"[0-9A-F]{4}", crc.value):
        raise QRDecodeError("63", offset, f"CRC {crc.value!r} is not 4 upper-case hex digits")
    expected = crc_hex(payload[: offset + 4])
    if crc.value != expected:
        raise QRDecodeError("63", offset, f"wrong CRC {crc.value}: the payload's CRC is {expected}")
    return offset


def _children(
    obj: DataObject, offset: int, path: str, rule: Callable[[str, str], None] | None, *, gui: bool
) -> _Located:
    """Parse and check the sub-tags of a template at absolute `offset`; `path` prefixes the tag names."""
    found = parse(obj.value, base=offset + 4, parent=f"{path}.")
    seen: dict[str, int] = {}
    for child, at in found:
        name = f"{path}.{child.tag}"
        if child.tag in seen:
            raise QRDecodeError(name, at, f"sub-tag appears twice (first at offset {seen[child.tag]})")
        seen[child.tag] = at
        try:
            if gui and child.tag == "00":
                check_gui(child.value)
            elif rule is not None:
                rule(child.tag, child.value)
        except FieldInvalid as exc:
            raise QRDecodeError(name, at, exc.reason) from None
    if gui and "00" not in seen:
        raise QRDecodeError(f"{path}.00", offset, "template lacks sub-tag 00, the globally unique identifier")
    return found


class _Validator:
    def __init__(self, objects: _Located, crc_offset: int) -> None:
        self.objects = objects
        self.crc_offset = crc_offset
        self.at: dict[str, int] = {}
        self.values: dict[str, str] = {}

    def fail(self, tag: str, reason: str, offset: int | None = None) -> QRDecodeError:
        return QRDecodeError(tag, self.at.get(tag, self.crc_offset) if offset is None else offset, reason)

    def run(self) -> MerchantPresentedQR:
        self._check_first()
        additional: AdditionalData | None = None
        language: LanguageTemplate | None = None
        for obj, offset in self.objects[:-1]:
            tag = obj.tag
            if tag in self.at:
                raise self.fail(tag, f"tag appears twice (first at offset {self.at[tag]})", offset)
            self.at[tag], self.values[tag] = offset, obj.value
            try:
                check_top(tag, obj.value)
            except FieldInvalid as exc:
                raise self.fail(tag, exc.reason, offset) from None
            number = int(tag)
            if 26 <= number <= 51 or 80 <= number <= 99:
                _children(obj, offset, tag, None, gui=True)
            elif tag == "62":
                additional = AdditionalData(tuple(o for o, _ in self._additional(obj, offset)))
            elif tag == "64":
                language = LanguageTemplate(tuple(o for o, _ in self._language(obj, offset)))
        if "53" in self.values:  # amounts are checked against the currency before looking for what is missing
            self._minor("54")
            self._minor("56")
        self._check_mandatory()
        return self._build(additional, language)

    def _check_first(self) -> None:
        first, _ = self.objects[0]
        if first.tag != "00":
            later = [offset for obj, offset in self.objects if obj.tag == "00"]
            if later:
                raise QRDecodeError(
                    "00", later[0], "payload format indicator 00 is not the first data object"
                )
            raise QRDecodeError("00", 0, "missing mandatory tag 00 (payload format indicator)")

    def _additional(self, obj: DataObject, offset: int) -> _Located:
        found = _children(obj, offset, "62", check_additional, gui=False)
        for child, at in found:
            if int(child.tag) >= 50:
                _children(child, at, f"62.{child.tag}", None, gui=True)
        return found

    def _language(self, obj: DataObject, offset: int) -> _Located:
        found = _children(obj, offset, "64", check_language, gui=False)
        tags = {child.tag for child, _ in found}
        for sub, what in (("00", "language preference"), ("01", "alternate merchant name")):
            if sub not in tags:
                raise QRDecodeError(f"64.{sub}", offset, f"language template lacks sub-tag {sub} ({what})")
        return found

    def _check_mandatory(self) -> None:
        for tag, what in _MANDATORY.items():
            if tag not in self.values:
                raise self.fail(tag, f"missing mandatory tag {tag} ({what})")
        if not any(2 <= int(tag) <= 51 for tag in self.values):
            raise self.fail("02-51", "missing merchant account information: no tag from 02 to 51")
        tip = self.values.get("55")
        for tag, needed in (("56", "02"), ("57", "03")):
            if tip == needed and tag not in self.values:
                raise self.fail("55", f"tip indicator {tip} needs tag {tag}")
            if tag in self.values and tip != needed:
                raise self.fail(tag, f"tag {tag} is only allowed with tip indicator 55 = {needed}")

    def _minor(self, tag: str) -> int | None:
        value = self.values.get(tag)
        if value is None:
            return None
        try:
            return decimal_to_minor(value, self.values["53"], "amount" if tag == "54" else "convenience fee")
        except FieldInvalid as exc:
            raise self.fail(tag, exc.reason) from None

    def _build(
        self, additional: AdditionalData | None, language: LanguageTemplate | None
    ) -> MerchantPresentedQR:
        v = self.values
        accounts = tuple(MerchantAccount(tag, value) for tag, value in v.items() if 2 <= int(tag) <= 51)
        others = tuple(DataObject(tag, value) for tag, value in v.items() if int(tag) >= 65)
        crc, _ = self.objects[-1]
        return MerchantPresentedQR(
            payload_format=v["00"],
            initiation=v.get("01"),
            merchant_accounts=accounts,
            mcc=v["52"],
            currency=v["53"],
            amount_minor=self._minor("54"),
            tip_indicator=v.get("55"),
            convenience_fee_fixed_minor=self._minor("56"),
            convenience_fee_percentage=v.get("57"),
            country=v["58"],
            merchant_name=v["59"],
            merchant_city=v["60"],
            postal_code=v.get("61"),
            additional_data=additional,
            language=language,
            other_tags=others,
            tags=tuple(obj for obj, _ in self.objects),
            crc=crc.value,
        )
