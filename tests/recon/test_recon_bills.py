"""WeChat and Alipay bills and the bank's payout result file: round trips and refusals."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from zhifu.channels.statement import SHANGHAI, StatementLine
from zhifu.recon import (
    PayoutResult,
    StatementFormatError,
    parse_payout_results,
    parse_statement,
    write_payout_results,
    write_statement,
)

D = dt.date(2023, 1, 1)


def _bill(channel: str) -> list[StatementLine]:
    at = dt.datetime(2023, 1, 1, 12, 30, 5, tzinfo=SHANGHAI)
    return [
        StatementLine(
            channel,
            1,
            "4200001234202301011",
            "ORD-1",
            "1900000109",
            at,
            "payment",
            1234,
            7,
            "succeeded",
            card_type="debit" if channel == "wechat" else None,
            extra={"商品名称": "沂源苹果 5斤"},
        ),
        StatementLine(
            channel,
            2,
            "4200001234202301012",
            "ORD-2",
            "1900000109",
            at - dt.timedelta(hours=13, minutes=30),
            "payment",
            50_000,
            300,
            "succeeded",
            extra={"商品名称": "农家乐住宿, 一晚"},
        ),
        StatementLine(
            channel,
            3,
            "50300001234202301013",
            "REF-1",
            "1900000109",
            at + dt.timedelta(hours=1),
            "refund",
            1000,
            -6,
            "succeeded",
            original_ref="4200001234202301011",
        ),
    ]


@pytest.mark.parametrize(("channel", "first_row"), [("wechat", 2), ("alipay", 6)])
def test_bill_round_trip(channel: str, first_row: int) -> None:
    lines = _bill(channel)
    data = write_statement(channel, lines, D)
    # line_no is the physical line of the file, below the header (and comments)
    assert parse_statement(channel, data, D) == [
        replace(x, line_no=first_row + i) for i, x in enumerate(lines)
    ]


def test_wechat_bill_shape_backticks_and_totals() -> None:
    text = write_statement("wechat", _bill("wechat"), D).decode("utf-8")
    rows = text.split("\r\n")
    assert rows[0].startswith("交易时间,公众账号ID,商户号")
    assert rows[1].startswith("`2023-01-01 12:30:05,`")
    assert "`12.34" in rows[1] and "`0.07" in rows[1]
    assert rows[-3].startswith("总交易单数,应结订单总金额")
    assert rows[-2] == "`3,`512.34,`10.00,`0.00,`3.01,`512.34,`10.00"


def test_alipay_bill_comments_and_totals() -> None:
    text = write_statement("alipay", _bill("alipay"), D).decode("gbk")
    rows = text.split("\r\n")
    assert rows[2] == "#起始日期：[2023年01月01日 00:00:00]   终止日期：[2023年01月02日 00:00:00]"
    assert "#交易合计：2笔，商家实收：￥512.34元" in rows
    assert "#退款合计：1笔，商家实收：￥-10.00元" in rows
    assert rows[-2].startswith("#导出时间：[")


def test_wechat_refuses_a_gbk_file() -> None:
    data = write_statement("wechat", _bill("wechat"), D).decode("utf-8").encode("gbk")
    with pytest.raises(StatementFormatError, match=r"line 1, field 交易时间: .*not valid UTF-8"):
        parse_statement("wechat", data, D)


def test_alipay_refuses_utf8_bytes() -> None:
    data = write_statement("alipay", _bill("alipay"), D).decode("gbk").encode("utf-8")
    with pytest.raises(StatementFormatError, match=r"line 1, .*not valid GBK"):
        parse_statement("alipay", data, D)


def _wechat_rows() -> list[str]:
    return write_statement("wechat", _bill("wechat"), D).decode("utf-8").split("\r\n")


def _join(rows: list[str]) -> bytes:
    return "\r\n".join(rows).encode("utf-8")


def test_wechat_refuses_a_value_without_backtick_short_long_and_bad_amount() -> None:
    rows = _wechat_rows()
    no_tick = rows[:2] + [rows[2].replace("`ORD-2", "ORD-2")] + rows[3:]
    with pytest.raises(StatementFormatError, match=r"line 3, field 商户订单号: .*backtick"):
        parse_statement("wechat", _join(no_tick), D)
    short = rows[:2] + [rows[2].rsplit(",", 1)[0]] + rows[3:]
    with pytest.raises(StatementFormatError, match=r"line 3, field 费率备注: .*too short"):
        parse_statement("wechat", _join(short), D)
    long = rows[:1] + [rows[1] + ",`x"] + rows[2:]
    with pytest.raises(StatementFormatError, match=r"line 2, .*too long"):
        parse_statement("wechat", _join(long), D)
    bad_amount = rows[:1] + [rows[1].replace("`12.34", "`12.3x")] + rows[2:]
    with pytest.raises(StatementFormatError, match=r"line 2, field 应结订单金额: '12.3x' is not an amount"):
        parse_statement("wechat", _join(bad_amount), D)


def test_wechat_refuses_wrong_totals_and_another_date() -> None:
    rows = _wechat_rows()
    wrong = rows[:-2] + [rows[-2].replace("`512.34", "`512.35", 1)] + rows[-1:]
    with pytest.raises(StatementFormatError, match=r"line 6, field 应结订单总金额"):
        parse_statement("wechat", _join(wrong), D)
    with pytest.raises(StatementFormatError, match=r"line 2, field 交易时间: date 2023-01-01 .* 2023-01-03"):
        parse_statement("wechat", _join(rows), D + dt.timedelta(days=2))


def test_alipay_refuses_another_date_range_and_wrong_totals() -> None:
    data = write_statement("alipay", _bill("alipay"), D)
    with pytest.raises(
        StatementFormatError, match=r"line 3, field 起始日期: starts 2023-01-01, expected 2023-01-02"
    ):
        parse_statement("alipay", data, D + dt.timedelta(days=1))
    bad = data.decode("gbk").replace("#交易合计：2笔", "#交易合计：3笔").encode("gbk")
    with pytest.raises(StatementFormatError, match=r"field 交易合计: says 3 lines"):
        parse_statement("alipay", bad, D)
    bad = data.decode("gbk").replace(",-10.00,-10.00,", ",-10.0a,-10.00,").encode("gbk")
    with pytest.raises(StatementFormatError, match=r"line 8, field 订单金额（元）"):
        parse_statement("alipay", bad, D)


def _payouts() -> list[PayoutResult]:
    return [
        PayoutResult(
            "B20230102", "po_1", "mch_1", "6230000000000001", "沂源县南麻街道早餐铺", 99_620, "paid"
        ),
        PayoutResult(
            "B20230102", "po_2", "mch_2", "6230000000000002", "悦庄镇农家乐", 5_000, "failed", "账户已冻结"
        ),
    ]


def test_payout_results_round_trip_and_control_line() -> None:
    data = write_payout_results(_payouts())
    assert data.decode("utf-8").split("\r\n")[-2] == "TOTAL,2,104620"
    assert parse_payout_results(data) == _payouts()


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        (
            "TOTAL,2,104620",
            "TOTAL,2,104621",
            r"line 4, field amount_fen: control sum 104621 but the rows add up to 104620",
        ),
        ("TOTAL,2,104620", "TOTAL,3,104620", r"line 4, field count: control count 3"),
        (",paid,", ",done,", r"line 2, field status"),
        (",99620,", ",996.20,", r"line 2, field amount_fen"),
        (",账户已冻结", ",", r"line 3, field reason"),
    ],
)
def test_payout_results_refused(old: str, new: str, pattern: str) -> None:
    data = write_payout_results(_payouts()).decode("utf-8").replace(old, new).encode("utf-8")
    with pytest.raises(StatementFormatError, match=pattern):
        parse_payout_results(data)


def test_payout_results_need_the_total_line_last() -> None:
    data = write_payout_results(_payouts()).decode("utf-8").rsplit("TOTAL", 1)[0].encode("utf-8")
    with pytest.raises(StatementFormatError, match=r"field TOTAL"):
        parse_payout_results(data)
