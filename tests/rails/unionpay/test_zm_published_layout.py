"""ZM lines built by hand from UnionPay's published layout (not by our writer): a pay-code purchase (sub-type 06)
and a consumer-scanned QR purchase (07), each with the reserved area after the last field, import as they are."""

from __future__ import annotations

import datetime as dt

import pytest

from zhifu.channels.statement import SHANGHAI, StatementFormatError
from zhifu.channels.unionpay import parse_statement, parse_statement_frame, write_statement
from zhifu.channels.unionpay.statement import LINE_BYTES

D = dt.date(2024, 3, 15)


def _line(
    *,
    trade: str,
    trace: str,
    time: str,
    amount: int,
    query_id: str,
    order: str,
    card: str,
    fee: int,
    txn_type: str,
    subtype: str,
    orig_query_id: str = "",
    reserved_area: bytes = b" " * 131,
) -> bytes:
    sign = 1 if txn_type == "01" else -1
    settle = sign * amount - fee

    def signed(v: int, width: int) -> str:
        return f"-{abs(v):0{width - 1}d}" if v < 0 else f"{v:0{width}d}"

    fields: list[tuple[str | bytes, int]] = [  # 交易代码 … 交易介质, in the published order and widths
        (trade, 3),
        ("48020000", 11),
        ("00049992", 11),
        (trace, 6),
        (time, 10),
        ("621700******1234", 19),
        (f"{amount:012d}", 12),
        ("5812", 4),
        ("07", 2),
        (query_id, 21),
        ("", 2),
        (order, 32),
        (card, 2),
        ("000000", 6),
        ("0000000000", 10),
        (signed(fee, 13), 13),
        (signed(settle, 13), 13),
        ("0000", 4),
        ("", 15),
        (txn_type, 2),
        (subtype, 2),
        ("000000", 6),
        ("01", 2),
        ("", 4),
        ("", 32),
        ("0", 1),
        (orig_query_id, 21),
        ("898370100000001", 15),
        ("", 1),
        ("", 15),
        ("沂源早餐".encode("gbk"), 32),
        ("0" * 13, 13),
        (signed(settle, 13), 13),
        ("00000001", 8),
        ("", 32),
        ("0" * 13, 13),
        ("0" * 13, 13),
        ("0" * 12, 12),
        ("00", 2),
        ("0", 1),
    ]
    parts = [(v if isinstance(v, bytes) else v.encode("ascii")).ljust(w, b" ") for v, w in fields]
    assert all(len(p) == w for p, (_, w) in zip(parts, fields, strict=True))
    record = b" ".join(parts)
    assert len(record) == LINE_BYTES
    return record + b" " + reserved_area + b"\r\n"


PAY_CODE = _line(
    trade="S22",
    trace="100001",
    time="0315093012",
    amount=1234,
    query_id="202403150930120000001",
    order="pay_01HS0000000000000000000001",
    card="01",
    fee=4,
    txn_type="01",
    subtype="06",
)
SCANNED = _line(
    trade="S22",
    trace="100002",
    time="0314231500",
    amount=5000,
    query_id="202403142315000000002",
    order="pay_01HS0000000000000000000002",
    card="02",
    fee=24,
    txn_type="01",
    subtype="07",
)
REFUND = _line(
    trade="S30",
    trace="100003",
    time="0315120000",
    amount=1000,
    query_id="202403151200000000003",
    order="re_01HS00000000000000000000003",
    card="02",
    fee=-5,
    txn_type="04",
    subtype="00",
    orig_query_id="202403142315000000002",
    reserved_area=b" " * 40,
)


@pytest.mark.parametrize("frame", [False, True], ids=["lines", "frame"])
def test_pay_code_and_consumer_scanned_lines_with_reserved_area_import(frame: bool) -> None:
    data = PAY_CODE + SCANNED + REFUND
    lines = parse_statement(data, D, "unionpay_qr")
    assert [(x.txn_type, x.amount_fen, x.fee_fen, x.status, x.card_type) for x in lines] == [
        ("payment", 1234, 4, "succeeded", "debit"),
        ("payment", 5000, 24, "succeeded", "credit"),
        ("refund", 1000, -5, "succeeded", "credit"),
    ]
    assert [x.extra.get("txn_subtype") for x in lines] == ["06", "07", None]
    assert lines[0].extra["sub_merchant_name"] == "沂源早餐" and lines[0].extra["mcc"] == "5812"
    assert lines[1].txn_time == dt.datetime(
        2024, 3, 14, 23, 15, tzinfo=SHANGHAI
    )  # the evening before belongs
    assert lines[2].original_ref == lines[1].channel_ref and lines[2].merchant_order_no.startswith("re_")
    if frame:
        f = parse_statement_frame(data, D, "unionpay_qr")
        assert f["channel_ref"].to_list() == [x.channel_ref for x in lines]
        assert f["status"].to_list() == ["succeeded"] * 3 and f["amount_fen"].to_list() == [1234, 5000, 1000]
    # without the reserved area the same records import too, the fast way
    bare = b"".join(r[:LINE_BYTES] + b"\r\n" for r in (PAY_CODE, SCANNED, REFUND))
    assert parse_statement_frame(bare, D, "unionpay_qr")["channel_ref"].to_list() == [
        x.channel_ref for x in lines
    ]
    assert write_statement(lines, D) == bare  # our writer leaves the reserved area out for cleared lines


def test_sub_type_is_not_a_status_and_is_checked_against_the_trade_code() -> None:
    with pytest.raises(
        StatementFormatError, match="line 1, field txn_subtype: unknown sub-type '06' for trade code S30"
    ):
        parse_statement(REFUND.replace(b" 04 00 ", b" 04 06 ", 1), D, "unionpay_qr")
    with pytest.raises(StatementFormatError, match="field txn_subtype"):
        parse_statement(PAY_CODE.replace(b" 01 06 ", b" 01 00 ", 1), D, "unionpay_qr")


def test_reserved_area_must_follow_a_space_and_stay_text() -> None:
    glued = PAY_CODE[:LINE_BYTES] + b"X" + PAY_CODE[LINE_BYTES + 1 :]
    with pytest.raises(StatementFormatError, match="line 1, field medium: .*too long after the last field"):
        parse_statement(glued, D, "unionpay_qr")
    with pytest.raises(StatementFormatError, match="field reserved_area"):
        parse_statement(PAY_CODE[:-3] + b"\x01\r\n", D, "unionpay_qr")
