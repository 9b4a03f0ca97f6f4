"""Generated payloads: encode → decode gives the fields back, and re-encoding is the identity."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zhifu.qr import (
    AdditionalData,
    DataObject,
    LanguageTemplate,
    MerchantAccount,
    QRDecodeError,
    QREncodeError,
    decode,
    encode,
    encode_qr,
)

_HANZI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_MIXED = st.one_of(_HANZI, _ASCII)


def _text(max_size: int, chars: st.SearchStrategy[str] = _MIXED) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=1, max_size=max_size).filter(lambda s: s.strip() != "")


def _sub_tags(lo: int, hi: int, count: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.integers(lo, hi).map(lambda n: f"{n:02d}"), max_size=count, unique=True)


@st.composite
def _template_account(draw: st.DrawFn, tag: str) -> MerchantAccount:
    gui = draw(_text(32, _ASCII))
    subs = draw(_sub_tags(1, 99, 2))
    return MerchantAccount.template(tag, gui, [DataObject(s, draw(_text(12))) for s in subs])


@st.composite
def _accounts(draw: st.DrawFn) -> list[MerchantAccount]:
    tags = draw(st.lists(st.integers(2, 51), min_size=1, max_size=3, unique=True))
    result = []
    for number in sorted(tags):
        tag = f"{number:02d}"
        if number >= 26:
            result.append(draw(_template_account(tag)))
        else:
            result.append(MerchantAccount(tag, draw(_text(30))))
    return result


@st.composite
def _additional(draw: st.DrawFn) -> AdditionalData | None:
    if draw(st.booleans()):
        return None
    named = {
        name: draw(st.none() | _text(10))
        for name in ("bill_number", "store_label", "terminal_label", "reference_label", "purpose")
    }
    templates = []
    for tag in draw(_sub_tags(50, 99, 1)):
        templates.append(DataObject(tag, DataObject("00", draw(_text(16, _ASCII))).encode()))
    extra = AdditionalData.build(
        **named,
        consumer_data_request=draw(st.none() | st.sampled_from(["A", "ME", "AME"])),
        templates=templates,
    )
    return extra if extra.fields else None


@st.composite
def _language(draw: st.DrawFn) -> LanguageTemplate | None:
    if draw(st.booleans()):
        return None
    return LanguageTemplate.build(
        language=draw(st.sampled_from(["ZH", "zh", "EN", "MS"])),
        name=draw(_text(25, _HANZI)),
        city=draw(st.none() | _text(15, _HANZI)),
    )


@settings(max_examples=150, deadline=None)
@given(
    accounts=_accounts(),
    mcc=st.from_regex(r"[0-9]{4}", fullmatch=True),
    currency=st.sampled_from(["156", "702", "356", "392", "414"]),
    amount=st.none() | st.integers(1, 10**10),
    name=_text(25),
    city=_text(15),
    dynamic=st.booleans(),
    additional=_additional(),
    language=_language(),
)
def test_encode_decode_identity(
    accounts: list[MerchantAccount],
    mcc: str,
    currency: str,
    amount: int | None,
    name: str,
    city: str,
    dynamic: bool,
    additional: AdditionalData | None,
    language: LanguageTemplate | None,
) -> None:
    try:
        payload = encode(
            merchant_accounts=accounts,
            mcc=mcc,
            currency=currency,
            name=name,
            city=city,
            dynamic=dynamic,
            amount_fen=amount,
            additional_data=additional,
            language=language,
        )
    except QREncodeError as exc:  # the only failures allowed are size limits of the format itself
        assert "512" in exc.reason or "not 1 to 99" in exc.reason, exc
        assume(False)
        return
    qr = decode(payload)
    assert qr.merchant_accounts == tuple(accounts)
    assert (qr.mcc, qr.currency, qr.merchant_name, qr.merchant_city) == (mcc, currency, name, city)
    assert qr.amount_minor == amount
    assert qr.is_dynamic == dynamic
    assert qr.additional_data == additional
    assert qr.language == language
    for account in qr.merchant_accounts:
        if account.is_template:
            assert account.gui is not None
    assert encode_qr(qr) == payload


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"(\d\d\d\d[A-Z0-9]{0,6}){1,8}", fullmatch=True))
def test_any_text_either_decodes_or_raises_qr_decode_error(text: str) -> None:
    try:
        decode(text)
    except QRDecodeError as exc:
        assert 0 <= exc.offset <= len(text)
