"""Build EMV merchant-presented QR payloads from typed fields and append the CRC."""

from __future__ import annotations

from collections.abc import Sequence

from zhifu.qr.crc import crc_hex
from zhifu.qr.decode import decode
from zhifu.qr.errors import FieldInvalid, QRDecodeError, QREncodeError
from zhifu.qr.model import (
    AdditionalData,
    LanguageTemplate,
    MerchantAccount,
    MerchantPresentedQR,
)
from zhifu.qr.rules import COUNTRY_CN, CURRENCY_CNY, DYNAMIC, STATIC, decimal_to_minor, minor_to_decimal
from zhifu.qr.tlv import DataObject


def encode(
    *,
    merchant_accounts: Sequence[MerchantAccount],
    mcc: str,
    name: str,
    city: str,
    dynamic: bool = False,
    currency: str = CURRENCY_CNY,
    country: str = COUNTRY_CN,
    amount_fen: int | None = None,
    postal_code: str | None = None,
    tip_indicator: str | None = None,
    additional_data: AdditionalData | None = None,
    language: LanguageTemplate | None = None,
    other_tags: Sequence[DataObject] = (),
) -> str:
    """A payload with CRC. `amount_fen` is in minor units of `currency` (fen for CNY); None lets the payer type it."""
    return encode_qr(
        MerchantPresentedQR(
            merchant_accounts=tuple(merchant_accounts),
            mcc=mcc,
            currency=currency,
            country=country,
            merchant_name=name,
            merchant_city=city,
            initiation=DYNAMIC if dynamic else STATIC,
            amount_minor=amount_fen,
            tip_indicator=tip_indicator,
            postal_code=postal_code,
            additional_data=additional_data,
            language=language,
            other_tags=tuple(other_tags),
        )
    )


def encode_qr(qr: MerchantPresentedQR) -> str:
    """Serialise the typed fields in the order of `qr.tags` (new tags in id order), then tag 63 with the CRC."""
    values = _values(qr)
    order = [obj.tag for obj in qr.tags if obj.tag in values]
    order += sorted(tag for tag in values if tag not in order)
    order.remove("00")
    body = ""
    for tag in ["00", *order]:
        try:
            body += DataObject(tag, values[tag]).encode()
        except ValueError as exc:
            raise QREncodeError(tag, str(exc)) from None
    payload = body + "6304"
    payload += crc_hex(payload)
    try:
        decode(payload)
    except QRDecodeError as exc:
        raise QREncodeError(exc.tag, exc.reason) from None
    return payload


def _decimal(qr: MerchantPresentedQR, tag: str, amount_minor: int) -> str:
    """The decimal text for an amount, keeping the decoded text when it still means the same amount."""
    for obj in qr.tags:
        if obj.tag == tag:
            try:
                if decimal_to_minor(obj.value, qr.currency, "amount") == amount_minor:
                    return obj.value
            except FieldInvalid:
                pass
    try:
        return minor_to_decimal(amount_minor, qr.currency)
    except FieldInvalid as exc:
        raise QREncodeError(tag, exc.reason) from None


def _put(values: dict[str, str], tag: str, value: str | None) -> None:
    if value is None:
        return
    if tag in values:
        raise QREncodeError(tag, "tag given twice")
    values[tag] = value


def _values(qr: MerchantPresentedQR) -> dict[str, str]:
    values: dict[str, str] = {}
    _put(values, "00", qr.payload_format)
    _put(values, "01", qr.initiation)
    for acc in qr.merchant_accounts:
        if not (len(acc.tag) == 2 and acc.tag.isdigit() and 2 <= int(acc.tag) <= 51):
            raise QREncodeError(acc.tag, "merchant account information must use a tag from 02 to 51")
        _put(values, acc.tag, acc.value)
    _put(values, "52", qr.mcc)
    _put(values, "53", qr.currency)
    if qr.amount_minor is not None:
        _put(values, "54", _decimal(qr, "54", qr.amount_minor))
    _put(values, "55", qr.tip_indicator)
    if qr.convenience_fee_fixed_minor is not None:
        _put(values, "56", _decimal(qr, "56", qr.convenience_fee_fixed_minor))
    _put(values, "57", qr.convenience_fee_percentage)
    _put(values, "58", qr.country)
    _put(values, "59", qr.merchant_name)
    _put(values, "60", qr.merchant_city)
    _put(values, "61", qr.postal_code)
    if qr.additional_data is not None:
        _put(values, "62", qr.additional_data.encode_value())
    if qr.language is not None:
        _put(values, "64", qr.language.encode_value())
    for obj in qr.other_tags:
        if not (len(obj.tag) == 2 and obj.tag.isdigit() and 65 <= int(obj.tag) <= 99):
            raise QREncodeError(obj.tag, "other tags must be RFU (65–79) or unreserved templates (80–99)")
        _put(values, obj.tag, obj.value)
    return values
