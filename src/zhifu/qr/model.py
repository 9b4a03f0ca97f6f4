"""Typed view of an EMV merchant-presented QR; raw data objects are kept so re-encoding is exact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from zhifu.qr.errors import FieldInvalid
from zhifu.qr.rules import CURRENCY_CNY, DYNAMIC, STATIC, decimal_to_minor, minor_to_decimal
from zhifu.qr.tlv import DataObject, encode_all

TEMPLATE_ACCOUNT_TAGS = range(26, 52)  # 26–51 carry sub-tag 00, a globally unique id
UNIONPAY_ACCOUNT_TAGS = ("15", "16")


def _sub(fields: Sequence[DataObject], tag: str) -> str | None:
    for obj in fields:
        if obj.tag == tag:
            return obj.value
    return None


def _decimal_means(text: str, amount_minor: int, currency: str) -> bool:
    """True when the decimal `text` is exactly `amount_minor` in `currency` (so it can be written as is)."""
    try:
        return decimal_to_minor(text, currency, "amount") == amount_minor
    except FieldInvalid:
        return False


def _objects(fields: Mapping[str, str | None] | Sequence[DataObject]) -> tuple[DataObject, ...]:
    if isinstance(fields, Mapping):
        return tuple(DataObject(tag, value) for tag, value in fields.items() if value is not None)
    return tuple(fields)


@dataclass(frozen=True, slots=True)
class MerchantAccount:
    """Merchant account information (02–51): primitive for 02–25 (UnionPay 15–16), a template for 26–51."""

    tag: str
    value: str

    @classmethod
    def template(
        cls, tag: str, gui: str, fields: Mapping[str, str | None] | Sequence[DataObject] = ()
    ) -> MerchantAccount:
        """A 26–51 template: sub-tag 00 is `gui`, then the network's own sub-tags in the order given."""
        inner = (DataObject("00", gui), *(obj for obj in _objects(fields) if obj.tag != "00"))
        return cls(tag, encode_all(inner))

    @property
    def is_template(self) -> bool:
        return int(self.tag) in TEMPLATE_ACCOUNT_TAGS

    @property
    def fields(self) -> tuple[DataObject, ...]:
        """Sub-tags of a template (empty for a primitive account)."""
        return self.as_object().children() if self.is_template else ()

    @property
    def gui(self) -> str | None:
        return _sub(self.fields, "00")

    def as_object(self) -> DataObject:
        return DataObject(self.tag, self.value)


@dataclass(frozen=True, slots=True)
class AdditionalData:
    """Additional data field template (62), sub-tags kept in their order."""

    fields: tuple[DataObject, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        bill_number: str | None = None,
        mobile_number: str | None = None,
        store_label: str | None = None,
        loyalty_number: str | None = None,
        reference_label: str | None = None,
        customer_label: str | None = None,
        terminal_label: str | None = None,
        purpose: str | None = None,
        consumer_data_request: str | None = None,
        templates: Sequence[DataObject] = (),
    ) -> AdditionalData:
        """`templates` are further sub-tags (10–49 RFU, 50–99 payment-system templates) as data objects."""
        named = {
            "01": bill_number,
            "02": mobile_number,
            "03": store_label,
            "04": loyalty_number,
            "05": reference_label,
            "06": customer_label,
            "07": terminal_label,
            "08": purpose,
            "09": consumer_data_request,
        }
        return cls(tuple(sorted((*_objects(named), *templates), key=lambda obj: obj.tag)))

    @property
    def bill_number(self) -> str | None:
        return _sub(self.fields, "01")

    @property
    def mobile_number(self) -> str | None:
        return _sub(self.fields, "02")

    @property
    def store_label(self) -> str | None:
        return _sub(self.fields, "03")

    @property
    def loyalty_number(self) -> str | None:
        return _sub(self.fields, "04")

    @property
    def reference_label(self) -> str | None:
        return _sub(self.fields, "05")

    @property
    def customer_label(self) -> str | None:
        return _sub(self.fields, "06")

    @property
    def terminal_label(self) -> str | None:
        return _sub(self.fields, "07")

    @property
    def purpose(self) -> str | None:
        return _sub(self.fields, "08")

    @property
    def consumer_data_request(self) -> str | None:
        return _sub(self.fields, "09")

    @property
    def templates(self) -> tuple[DataObject, ...]:
        return tuple(obj for obj in self.fields if int(obj.tag) >= 10)

    def encode_value(self) -> str:
        return encode_all(self.fields)


@dataclass(frozen=True, slots=True)
class LanguageTemplate:
    """Merchant information in another language (64): 00 language, 01 name, 02 city."""

    fields: tuple[DataObject, ...] = ()

    @classmethod
    def build(cls, *, language: str, name: str, city: str | None = None) -> LanguageTemplate:
        return cls(_objects({"00": language, "01": name, "02": city}))

    @property
    def language(self) -> str:
        return _sub(self.fields, "00") or ""

    @property
    def name(self) -> str:
        return _sub(self.fields, "01") or ""

    @property
    def city(self) -> str | None:
        return _sub(self.fields, "02")

    def encode_value(self) -> str:
        return encode_all(self.fields)


@dataclass(frozen=True, slots=True)
class MerchantPresentedQR:
    """A decoded (or to-be-encoded) payload. Money is in minor units (fen for CNY), never floats.

    `tags` holds the top-level data objects as decoded, in order, CRC included; the encoder follows
    that order and writes the typed fields' current values, so an unchanged object re-encodes exactly.
    """

    merchant_accounts: tuple[MerchantAccount, ...]
    mcc: str
    currency: str
    country: str
    merchant_name: str
    merchant_city: str
    initiation: str | None = None  # "11" static, "12" dynamic, None when absent
    amount_minor: int | None = None
    tip_indicator: str | None = None
    convenience_fee_fixed_minor: int | None = None
    convenience_fee_percentage: str | None = None
    postal_code: str | None = None
    additional_data: AdditionalData | None = None
    language: LanguageTemplate | None = None
    other_tags: tuple[DataObject, ...] = ()  # 65–79 RFU and 80–99 unreserved templates, raw
    payload_format: str = "01"
    tags: tuple[DataObject, ...] = field(default=(), compare=False)
    crc: str = field(default="", compare=False)

    @property
    def is_static(self) -> bool:
        return self.initiation == STATIC

    @property
    def is_dynamic(self) -> bool:
        return self.initiation == DYNAMIC

    @property
    def amount_fen(self) -> int | None:
        """The amount in fen when the currency is CNY (156); None when absent or in another currency."""
        return self.amount_minor if self.currency == CURRENCY_CNY else None

    @property
    def amount_text(self) -> str | None:
        """The amount as written in tag 54 ("23.72")."""
        if self.amount_minor is None:
            return None
        for obj in self.tags:
            if obj.tag == "54" and _decimal_means(obj.value, self.amount_minor, self.currency):
                return obj.value
        return minor_to_decimal(self.amount_minor, self.currency)

    @property
    def unionpay_accounts(self) -> tuple[MerchantAccount, ...]:
        return tuple(acc for acc in self.merchant_accounts if acc.tag in UNIONPAY_ACCOUNT_TAGS)

    def account(self, tag: str) -> MerchantAccount | None:
        for acc in self.merchant_accounts:
            if acc.tag == tag:
                return acc
        return None

    def to_payload(self) -> str:
        from zhifu.qr.encode import encode_qr

        return encode_qr(self)
