"""ZM file: exact layout, round trip with Chinese names, and every kind of bad file refused."""

from __future__ import annotations

import datetime as dt

import pytest

from zhifu.channels.statement import SHANGHAI, StatementLine
from zhifu.channels.unionpay.statement import LAYOUT, LINE_BYTES, OFFSETS, RECORD_BYTES
from zhifu.core.errors import InvalidRequest
from zhifu.recon import (
    StatementFormatError,
    file_sha256,
    lines_to_frame,
    parse_statement,
    parse_statement_frame,
    write_statement,
)
from zhifu.recon.formats.inject import sample_ours

D = dt.date(2023, 1, 1)


def _lines(n: int = 30) -> list[StatementLine]:
    return [p for p in sample_ours(n, seed=5, business_date=D) if p.status == "succeeded"]


def _parsers():
    return [
        pytest.param(lambda ch, data, day: parse_statement(ch, data, day), id="lines"),
        pytest.param(lambda ch, data, day: parse_statement_frame(ch, data, day), id="frame"),
    ]


def _field(record: bytes, name: str) -> bytes:
    width = next(f.width for f in LAYOUT if f.name == name)
    return record[OFFSETS[name] : OFFSETS[name] + width]


def _patch(data: bytes, line_no: int, name: str, value: bytes) -> bytes:
    at = (line_no - 1) * RECORD_BYTES + OFFSETS[name]
    return data[:at] + value + data[at + len(value) :]


def test_layout_has_forty_fields_and_the_listed_widths() -> None:
    assert len(LAYOUT) == 40
    assert [f.width for f in LAYOUT][:12] == [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32]
    assert sum(f.width for f in LAYOUT) + 39 == LINE_BYTES == 475


def test_round_trip_keeps_every_field_including_gbk_names() -> None:
    lines = _lines()
    data = write_statement("unionpay_qr", lines, D)
    assert parse_statement("unionpay_qr", data, D) == lines
    assert parse_statement_frame("unionpay_qr", data, D).equals(lines_to_frame(lines))
    assert len(data) == RECORD_BYTES * len(lines)
    first = data[:RECORD_BYTES]
    assert first.endswith(b"\r\n")
    name = lines[0].extra["sub_merchant_name"]
    assert _field(first, "sub_merchant_name") == name.encode("gbk").ljust(32, b" ")  # 2 bytes a character
    assert _field(first, "amount") == str(lines[0].amount_fen).rjust(12, "0").encode()
    assert _field(first, "trade_code") == b"S22"


def test_refund_is_s30_with_a_negative_settlement_and_its_original() -> None:
    at = dt.datetime(2023, 1, 1, 10, 0, tzinfo=SHANGHAI)
    refund = StatementLine(
        "nfc",
        1,
        "R1",
        "RO1",
        "898370100000001",
        at,
        "refund",
        1000,
        -4,
        "succeeded",
        original_ref="Q1",
        card_type="credit",
        extra={"sub_merchant_name": "悦庄镇农家乐"},
    )
    data = write_statement("nfc", [refund], D)
    assert _field(data, "trade_code") == b"S30" and _field(data, "txn_type") == b"04"
    assert _field(data, "settle_amount") == b"-000000000996"
    assert parse_statement("nfc", data, D) == [refund]


def test_a_payment_at_the_cutoff_keeps_its_local_time() -> None:
    at = dt.datetime(2022, 12, 31, 23, 0, 0, tzinfo=SHANGHAI)
    line = StatementLine("face", 1, "Q9", "O9", "898370100000001", at, "payment", 500, 2, "succeeded")
    data = write_statement("face", [line], D)
    assert _field(data, "trans_time") == b"1231230000"
    assert parse_statement("face", data, D)[0].txn_time == at


def test_writer_refuses_a_name_wider_than_its_field() -> None:
    line = _lines(1)[0]
    long = StatementLine(
        **{
            **{f: getattr(line, f) for f in line.__dataclass_fields__},
            "extra": {"sub_merchant_name": "沂源县南麻街道早餐铺沂源县南麻街道早餐"},
        }
    )
    with pytest.raises(StatementFormatError, match="sub_merchant_name"):
        write_statement("unionpay_qr", [long], D)


def test_file_hash_is_stable_and_content_sensitive() -> None:
    data = write_statement("unionpay_qr", _lines(3), D)
    assert file_sha256(data) == file_sha256(bytes(data))
    assert file_sha256(data) != file_sha256(data[:-2] + b" \n")
    assert len(file_sha256(data)) == 64


@pytest.mark.parametrize("parse", _parsers())
def test_utf8_bytes_that_are_not_gbk_are_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    bad = "€€€€€".encode().ljust(32, b" ")  # UTF-8, not a valid GBK sequence
    with pytest.raises(StatementFormatError) as err:
        parse("unionpay_qr", _patch(data, 3, "sub_merchant_name", bad), D)
    assert "line 3" in str(err.value) and "sub_merchant_name" in str(err.value) and "GBK" in str(err.value)
    assert isinstance(err.value, InvalidRequest) and err.value.param == "sub_merchant_name"


@pytest.mark.parametrize("parse", _parsers())
def test_short_line_is_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    at = RECORD_BYTES + OFFSETS["medium"]
    with pytest.raises(StatementFormatError, match=r"line 2, field medium: line is 474 bytes, expected 475"):
        parse("unionpay_qr", data[:at] + data[at + 1 :], D)


@pytest.mark.parametrize("parse", _parsers())
def test_long_line_is_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    at = 4 * RECORD_BYTES + LINE_BYTES
    with pytest.raises(StatementFormatError, match=r"line 5, field medium: line is 476 bytes.*too long"):
        parse("unionpay_qr", data[:at] + b"X" + data[at:], D)


@pytest.mark.parametrize("parse", _parsers())
def test_non_numeric_amount_is_refused(parse) -> None:
    data = _patch(write_statement("unionpay_qr", _lines(), D), 7, "amount", b"0000001O0000")
    with pytest.raises(
        StatementFormatError, match=r"line 7, field amount: '0000001O0000' is not a zero-padded number"
    ):
        parse("unionpay_qr", data, D)


@pytest.mark.parametrize("parse", _parsers())
def test_a_file_of_another_date_is_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    with pytest.raises(
        StatementFormatError, match=r"line 1, field trans_time: date .* business date 2023-01-05"
    ):
        parse("unionpay_qr", data, D + dt.timedelta(days=4))


@pytest.mark.parametrize("parse", _parsers())
def test_settlement_that_is_not_amount_less_fee_is_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    record = data[RECORD_BYTES * 3 : RECORD_BYTES * 4]
    settle = int(_field(record, "settle_amount")) + 1
    data = _patch(data, 4, "settle_amount", str(settle).rjust(13, "0").encode())
    with pytest.raises(StatementFormatError, match=r"line 4, field settle_amount"):
        parse("unionpay_qr", data, D)


@pytest.mark.parametrize("parse", _parsers())
def test_lf_only_line_end_is_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    at = RECORD_BYTES * 2 + LINE_BYTES
    with pytest.raises(StatementFormatError, match=r"line 3, field line_end: .*CRLF"):
        parse("unionpay_qr", data[:at] + data[at + 1 :], D)


@pytest.mark.parametrize("parse", _parsers())
def test_unknown_trade_code_and_status_code_are_refused(parse) -> None:
    data = write_statement("unionpay_qr", _lines(), D)
    with pytest.raises(StatementFormatError, match=r"line 2, field trade_code"):
        parse("unionpay_qr", _patch(data, 2, "trade_code", b"S99"), D)
    with pytest.raises(StatementFormatError, match=r"line 9, field txn_subtype"):
        parse("unionpay_qr", _patch(data, 9, "txn_subtype", b"77"), D)


@pytest.mark.parametrize("parse", _parsers())
def test_unknown_channel_is_refused(parse) -> None:
    with pytest.raises(StatementFormatError, match=r"field channel: unknown channel 'paypal'"):
        parse("paypal", b"", D)


def test_unknown_channel_is_refused_by_the_writer() -> None:
    with pytest.raises(StatementFormatError, match="unknown channel"):
        write_statement("paypal", [], D)


def test_frame_parser_reads_gbk_order_numbers_and_many_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from zhifu.channels.unionpay import statement as zm

    monkeypatch.setattr(zm, "CHUNK_LINES", 7)
    lines = _lines(40)
    at = lines[5]
    lines[5] = StatementLine(
        at.channel,
        at.line_no,
        at.channel_ref,
        "订单甲乙",
        at.merchant_code,
        at.txn_time,
        at.txn_type,
        at.amount_fen,
        at.fee_fen,
        at.status,
        at.original_ref,
        at.card_type,
        at.extra,
    )
    data = write_statement("unionpay_qr", lines, D)
    frame = parse_statement_frame("unionpay_qr", data, D)
    assert frame.equals(lines_to_frame(lines))
    assert frame["merchant_order_no"][5] == "订单甲乙"
    bad = _patch(data, 33, "amount", b"-00000000001")
    with pytest.raises(StatementFormatError, match=r"line 33, field amount"):
        parse_statement_frame("unionpay_qr", bad, D)
