"""Decoding the EMVCo sample, encoding from typed fields, payloads of other countries."""

from __future__ import annotations

import dataclasses

import pytest

from tests.qr.samples import EMVCO_CN, minimal_body, tlv, with_crc
from zhifu.core.errors import InvalidRequest
from zhifu.qr import (
    AdditionalData,
    DataObject,
    LanguageTemplate,
    MerchantAccount,
    QRDecodeError,
    QREncodeError,
    crc16_ccitt_false,
    decode,
    encode,
    encode_qr,
)


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE


def test_emvco_chinese_sample_fields() -> None:
    qr = decode(EMVCO_CN)
    assert qr.crc == "A13A"
    assert qr.is_dynamic and not qr.is_static
    assert [acc.tag for acc in qr.merchant_accounts] == ["29", "31"]
    assert [acc.gui for acc in qr.merchant_accounts] == ["D15600000000", "D15600000001"]
    assert qr.merchant_accounts[0].fields == (
        DataObject("00", "D15600000000"),
        DataObject("05", "A93FO3230Q"),
    )
    assert qr.mcc == "4111"
    assert qr.currency == "156"
    assert qr.amount_fen == 2372
    assert isinstance(qr.amount_fen, int)
    assert qr.amount_text == "23.72"
    assert qr.tip_indicator == "01"
    assert qr.country == "CN"
    assert qr.merchant_name == "BEST TRANSPORT"
    assert qr.merchant_city == "BEIJING"
    assert qr.language is not None
    assert (qr.language.language, qr.language.name, qr.language.city) == ("ZH", "最佳运输", "北京")
    extra = qr.additional_data
    assert extra is not None
    assert (extra.store_label, extra.customer_label, extra.terminal_label) == ("1234", "***", "A6008667")
    assert extra.consumer_data_request == "ME"
    assert extra.bill_number is None
    assert qr.other_tags == (DataObject("91", "0016A011223344998877070812345678"),)
    assert [obj.tag for obj in qr.tags] == [
        "00", "01", "29", "31", "52", "58", "59", "60", "64", "54", "53", "55", "62", "91", "63",
    ]  # fmt: skip


def test_sample_reencodes_exactly_in_its_own_tag_order() -> None:
    qr = decode(EMVCO_CN)
    assert encode_qr(qr) == EMVCO_CN
    assert qr.to_payload() == EMVCO_CN


def test_changed_typed_field_is_written_in_place_with_new_crc() -> None:
    qr = decode(EMVCO_CN)
    changed = encode_qr(dataclasses.replace(qr, amount_minor=100, merchant_name="GOOD TRANSPORT"))
    assert "54041.00" in changed and "5914GOOD TRANSPORT" in changed
    assert changed.index("5914GOOD") < changed.index("6420") < changed.index("5404")  # order kept
    again = decode(changed)
    assert again.amount_fen == 100 and again.crc != "A13A"


def test_builder_cnY_static_with_unionpay_and_templates() -> None:
    payload = encode(
        merchant_accounts=[
            MerchantAccount("15", "62291234567890123456"),
            MerchantAccount.template("26", "A000000333010101", {"01": "mch_01ABC", "02": "沂源农商银行"}),
        ],
        mcc="5411",
        name="YIYUAN MARKET",
        city="ZIBO",
        additional_data=AdditionalData.build(store_label="南麻店", terminal_label="T01"),
        language=LanguageTemplate.build(language="ZH", name="沂源县南麻菜市场", city="沂源"),
    )
    assert payload.startswith("000201010211")
    qr = decode(payload)
    assert qr.is_static and qr.amount_fen is None
    assert qr.unionpay_accounts == (MerchantAccount("15", "62291234567890123456"),)
    template = qr.account("26")
    assert template is not None and template.gui == "A000000333010101"
    assert dict((o.tag, o.value) for o in template.fields)["02"] == "沂源农商银行"
    assert qr.language is not None and qr.language.name == "沂源县南麻菜市场"
    assert qr.additional_data is not None and qr.additional_data.store_label == "南麻店"
    assert encode_qr(qr) == payload


def test_dynamic_with_amount_in_fen() -> None:
    payload = encode(
        merchant_accounts=[MerchantAccount("16", "6229000011112222")],
        mcc="5812",
        name="BREAKFAST",
        city="YIYUAN",
        dynamic=True,
        amount_fen=1205,
    )
    assert "010212" in payload and "540512.05" in payload
    assert decode(payload).amount_fen == 1205


def test_singapore_sgqr_with_several_templates() -> None:
    payload = encode(
        merchant_accounts=[
            MerchantAccount.template("26", "SG.PAYNOW", {"01": "2", "02": "201403121W", "03": "0"}),
            MerchantAccount.template("33", "SG.COM.NETS", {"01": "0001", "02": "11137066800", "03": "0001"}),
            MerchantAccount.template("51", "SG.SGQR", {"01": "180321A4B3B6", "02": "010001", "03": "545455"}),
        ],
        mcc="5812",
        currency="702",
        country="SG",
        name="HAWKER CHICKEN RICE",
        city="Singapore",
        postal_code="545455",
        amount_fen=450,
        dynamic=True,
    )
    qr = decode(payload)
    assert [acc.gui for acc in qr.merchant_accounts] == ["SG.PAYNOW", "SG.COM.NETS", "SG.SGQR"]
    assert qr.currency == "702" and qr.country == "SG" and qr.postal_code == "545455"
    assert qr.amount_minor == 450 and qr.amount_text == "4.50"
    assert qr.amount_fen is None  # fen only for CNY
    assert encode_qr(qr) == payload


def test_india_payload_with_network_tags_and_whole_rupees() -> None:
    body = "".join(
        [
            tlv("00", "01"),
            tlv("01", "11"),
            tlv("02", "4403847800202706"),  # Visa
            tlv("04", "5205830000000000"),  # Mastercard
            tlv("26", tlv("00", "A000000524") + tlv("01", "0123456789")),
            tlv("52", "5411"),
            tlv("53", "356"),
            tlv("54", "100"),
            tlv("58", "IN"),
            tlv("59", "BHARAT KIRANA"),
            tlv("60", "MUMBAI"),
            tlv("62", tlv("07", "T01")),
        ]
    )
    qr = decode(with_crc(body))
    assert [acc.tag for acc in qr.merchant_accounts] == ["02", "04", "26"]
    assert qr.amount_text == "100" and qr.amount_minor == 10000
    assert qr.additional_data is not None and qr.additional_data.terminal_label == "T01"
    assert encode_qr(qr) == with_crc(body)  # "100" is kept, not rewritten as "100.00"


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [("392", "500", 500), ("414", "1.250", 1250), ("156", "0.01", 1), ("156", "9999999999.99", 999999999999)],
)
def test_amount_minor_units_follow_the_currency(currency: str, amount: str, minor: int) -> None:
    qr = decode(with_crc(minimal_body(t53=currency, t54=amount)))
    assert qr.amount_minor == minor


def test_japanese_yen_rejects_decimals() -> None:
    with pytest.raises(QRDecodeError) as info:
        decode(with_crc(minimal_body(t53="392", t54="5.5")))
    assert info.value.tag == "54"


def test_encode_rejects_bad_fields_naming_the_tag() -> None:
    account = [MerchantAccount("15", "6229")]
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=account, mcc="5812", name="N" * 26, city="YIYUAN")
    assert info.value.tag == "59"
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=account, mcc="58A2", name="NAME", city="YIYUAN")
    assert info.value.tag == "52"
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=account, mcc="5812", name="NAME", city="YIYUAN", amount_fen=0)
    assert info.value.tag == "54"
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=[], mcc="5812", name="NAME", city="YIYUAN")
    assert info.value.tag == "02-51"
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=[MerchantAccount("26", "0105hello")], mcc="5812", name="NAME", city="YIYUAN")
    assert info.value.tag == "26.00"
    with pytest.raises(QREncodeError) as info:
        encode(merchant_accounts=[MerchantAccount("15", "6" * 100)], mcc="5812", name="NAME", city="YIYUAN")
    assert info.value.tag == "15"
    assert isinstance(info.value, InvalidRequest)


def test_decode_error_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        decode("nonsense")
    assert info.value.to_dict()["type"] == "invalid_request_error"
    assert info.value.param == info.value.tag
