"""银联报文表单编解码 / The UnionPay form codec agrees with the standard library's urlencode and strict parse_qsl
on any text, and refuses what parse_qsl refuses (a field without "=", a repeated field, bytes that are not UTF-8)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhifu.channels.unionpay.sign import SignatureError, decode_form, encode_form

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _reference(body: bytes) -> dict[str, str] | None:
    """The old decoder: parse_qsl, strict, blanks kept; None where it refuses."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return None
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in out:
            return None
        out[k] = v
    return out


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, TEXT, max_size=8))
def test_encode_is_urlencode_and_decodes_back(fields: dict[str, str]) -> None:
    body = encode_form(fields)
    assert body == urlencode(fields).encode("utf-8")
    assert decode_form(body) == fields


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        TEXT.map(lambda t: t.encode("utf-8")),
        st.lists(
            st.sampled_from(["a", "=", "&", "%", "%2", "%41", "+", "%E4%B8%AD", "%ZZ", "%e4"]), max_size=12
        ).map(lambda xs: "".join(xs).encode()),
    )
)
def test_decode_agrees_with_parse_qsl(body: bytes) -> None:
    want = _reference(body)
    if want is None:
        with pytest.raises(SignatureError):
            decode_form(body)
    else:
        assert decode_form(body) == want


def test_the_refusals_name_what_is_wrong() -> None:
    with pytest.raises(SignatureError, match="repeated"):
        decode_form(b"orderId=1&orderId=2")
    with pytest.raises(SignatureError, match="not a form"):
        decode_form(b"orderId=1&junk")
    with pytest.raises(SignatureError, match="UTF-8"):
        decode_form(b"name=\xff")
    assert decode_form(b"") == {}
    sig = "ab+/cd==" * 43
    assert decode_form(encode_form({"signature": sig, "name": "县 农 行"})) == {
        "signature": sig,
        "name": "县 农 行",
    }


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=520, max_size=900))
def test_a_long_value_decodes_the_same_each_time(value: str) -> None:
    """Long values (a certificate) are unescaped once and remembered: the second read is the first's."""
    body = urlencode({"signPubKeyCert": value, "n": "1"}).encode()
    assert decode_form(body) == decode_form(body) == _reference(body) == {"signPubKeyCert": value, "n": "1"}
