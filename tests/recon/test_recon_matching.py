"""Matching: every discrepancy kind alone and all together, classes asserted line by line and payment by payment."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from zhifu.channels.statement import SHANGHAI, StatementLine, business_date_of
from zhifu.core.errors import InvalidRequest
from zhifu.recon import CLASSES, lines_to_frame, match, parse_statement_frame, write_statement
from zhifu.recon.formats.inject import KINDS, Injection, inject, payments_frame, sample_ours

D = dt.date(2023, 3, 15)
OURS = sample_ours(400, seed=21, business_date=D)


def _check(injection: Injection, channel: str = "unionpay_qr", via_file: bool = False) -> dict[str, int]:
    if via_file:
        data = write_statement(channel, injection.channel, D)
        statement = parse_statement_frame(channel, data, D)
    else:
        statement = lines_to_frame(injection.channel)
    result = match(payments_frame(injection.ours), statement, business_date=D)
    got_lines = dict(
        zip(result.lines["line_no"].to_list(), result.lines["recon_class"].to_list(), strict=True)
    )
    assert got_lines == injection.line_classes
    got_pays = dict(
        zip(
            result.payments["merchant_order_no"].to_list(),
            result.payments["recon_class"].to_list(),
            strict=True,
        )
    )
    assert got_pays == injection.payment_classes
    assert result.lines.height == len(injection.channel) and result.payments.height == len(injection.ours)
    assert set(result.lines["recon_class"]) <= set(CLASSES) and set(result.payments["recon_class"]) <= set(
        CLASSES
    )
    return result.counts("line")


def test_clean_day_matches_everything() -> None:
    counts = _check(inject(OURS, {}, seed=1, business_date=D))
    assert counts["matched"] == sum(1 for p in OURS if p.status == "succeeded")
    assert sum(counts.values()) == counts["matched"]


LINE_SIDE = {
    "missing_ours",
    "amount_mismatch",
    "status_mismatch_ours_succeeded",
    "status_mismatch_channel_succeeded",
    "fee_mismatch",
    "duplicate",
    "cross_day",
    "refund_mismatch",
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_alone(kind: str) -> None:
    injection = inject(OURS, {kind: 4}, seed=2, business_date=D)
    assert len(injection.truth[kind]) == 4
    counts = _check(injection)
    flagged = [c for c in injection.line_classes.values() if c != "matched"]
    if kind in LINE_SIDE:
        assert counts[kind] == 4 and flagged == [kind] * 4
    else:  # only our side shows it: the channel's file lacks the payment
        assert flagged == []
        assert sorted(injection.payment_classes[k] for k in injection.truth[kind]) == [kind] * 4


def test_all_kinds_together_through_the_zm_file() -> None:
    injection = inject(OURS, dict.fromkeys(KINDS, 3), seed=3, business_date=D)
    counts = _check(injection, via_file=True)
    for kind in LINE_SIDE:
        assert counts[kind] == 3, kind


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_all_kinds_together_through_the_bills(channel: str) -> None:
    ours = [p for p in sample_ours(200, seed=4, business_date=D, channel=channel)]
    ours = [
        StatementLine(
            channel,
            p.line_no,
            p.channel_ref,
            p.merchant_order_no,
            p.merchant_code,
            p.txn_time,
            p.txn_type,
            p.amount_fen,
            p.fee_fen,
            p.status,
            p.original_ref,
            None if channel == "alipay" else p.card_type,
        )
        for p in ours
    ]
    injection = inject(ours, dict.fromkeys(KINDS, 2), seed=5, business_date=D)
    data = write_statement(channel, injection.channel, D)
    statement = parse_statement_frame(channel, data, D)
    first_row = 2 if channel == "wechat" else 6
    statement = statement.with_columns(pl.col("line_no") - (first_row - 1))
    result = match(payments_frame(injection.ours), statement, business_date=D)
    got = dict(zip(result.lines["line_no"].to_list(), result.lines["recon_class"].to_list(), strict=True))
    assert got == injection.line_classes


def _pay(
    ref: str | None,
    order: str,
    at: dt.datetime,
    amount: int = 1000,
    status: str = "succeeded",
    txn_type: str = "payment",
    fee: int | None = 4,
) -> dict[str, object]:
    return {
        "payment_id": f"pay_{order}",
        "channel_ref": ref,
        "merchant_order_no": order,
        "merchant_id": "mch_1",
        "created_at": at,
        "business_date": business_date_of(at),
        "txn_type": txn_type,
        "amount_fen": amount,
        "fee_fen": fee,
        "status": status,
    }


def _line(
    n: int,
    ref: str,
    order: str,
    at: dt.datetime,
    amount: int = 1000,
    status: str = "succeeded",
    txn_type: str = "payment",
    fee: int = 4,
) -> StatementLine:
    return StatementLine("unionpay_qr", n, ref, order, "898370100000001", at, txn_type, amount, fee, status)


def _run(pays: list[dict[str, object]], lines: list[StatementLine], pending_days: int = 1):
    return match(pl.DataFrame(pays), lines_to_frame(lines), business_date=D, pending_days=pending_days)


def test_cutoff_is_23_00_beijing_time() -> None:
    eve = dt.datetime(2023, 3, 14, 22, 59, 59, tzinfo=SHANGHAI)
    assert business_date_of(eve) == dt.date(2023, 3, 14)
    assert business_date_of(eve + dt.timedelta(seconds=1)) == D
    # ours at 22:59:59 the day before, the channel books it at 23:00:00: another business date
    result = _run(
        [_pay("Q1", "O1", eve), _pay("Q2", "O2", eve + dt.timedelta(hours=2))],
        [
            _line(1, "Q1", "O1", eve + dt.timedelta(seconds=1)),
            _line(2, "Q2", "O2", eve + dt.timedelta(hours=2)),
        ],
    )
    assert result.lines["recon_class"].to_list() == ["cross_day", "matched"]
    assert result.payments["recon_class"].to_list() == ["cross_day", "matched"]


def test_pending_becomes_missing_after_pending_days() -> None:
    today = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    pays = [
        _pay("Q1", "O1", today),
        _pay("Q2", "O2", today - dt.timedelta(days=1)),
        _pay("Q3", "O3", today - dt.timedelta(days=2)),
        _pay("Q4", "O4", today, status="failed"),
    ]
    assert _run(pays, []).payments["recon_class"].to_list() == [
        "pending_cross_day",
        "missing_channel",
        "missing_channel",
        "no_movement",
    ]
    assert _run(pays, [], pending_days=2).payments["recon_class"].to_list() == [
        "pending_cross_day",
        "pending_cross_day",
        "missing_channel",
        "no_movement",
    ]
    assert _run(pays, [], pending_days=0).payments["recon_class"][0] == "missing_channel"


def test_order_number_match_needs_amount_and_time_within_tolerance() -> None:
    at = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    pays = [
        _pay(None, "O1", at, status="processing"),
        _pay(None, "O2", at, status="processing"),
        _pay(None, "O3", at, status="processing"),
    ]
    lines = [
        _line(1, "Q1", "O1", at + dt.timedelta(seconds=30)),
        _line(2, "Q2", "O2", at + dt.timedelta(hours=1)),
        _line(3, "Q3", "O3", at, amount=999),
    ]
    result = _run(pays, lines)
    assert result.lines["recon_class"].to_list() == [
        "status_mismatch_channel_succeeded",
        "missing_ours",
        "missing_ours",
    ]
    assert result.lines["payment_id"].to_list() == ["pay_O1", None, None]
    assert result.payments["recon_class"].to_list() == [
        "status_mismatch_channel_succeeded",
        "no_movement",
        "no_movement",
    ]


def test_duplicate_points_at_the_first_lines_payment_and_counts_amounts() -> None:
    at = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    result = _run(
        [_pay("Q1", "O1", at, amount=700)],
        [_line(1, "Q1", "O1", at, amount=700), _line(2, "Q1", "O1", at, amount=700)],
    )
    assert result.lines["recon_class"].to_list() == ["matched", "duplicate"]
    assert result.lines["payment_id"].to_list() == ["pay_O1", "pay_O1"]
    assert result.counts("line")["duplicate"] == 1 and result.amounts_fen("line")["duplicate"] == 700
    assert result.counts("payment")["matched"] == 1


def test_refunds_mismatch_on_amount_and_when_only_the_channel_has_one() -> None:
    at = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    pays = [_pay("R1", "RO1", at, amount=500, txn_type="refund", fee=None)]
    lines = [
        _line(1, "R1", "RO1", at, amount=400, txn_type="refund"),
        _line(2, "R2", "RO2", at, txn_type="refund"),
    ]
    result = _run(pays, lines)
    assert result.lines["recon_class"].to_list() == ["refund_mismatch", "refund_mismatch"]
    assert result.payments["recon_class"].to_list() == ["refund_mismatch"]


def test_null_expected_fee_is_not_a_fee_mismatch() -> None:
    at = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    result = _run(
        [_pay("Q1", "O1", at, fee=None), _pay("Q2", "O2", at, fee=5)],
        [_line(1, "Q1", "O1", at, fee=9), _line(2, "Q2", "O2", at, fee=9)],
    )
    assert result.lines["recon_class"].to_list() == ["matched", "fee_mismatch"]


def test_missing_columns_and_negative_pending_days_are_refused() -> None:
    at = dt.datetime(2023, 3, 15, 10, tzinfo=SHANGHAI)
    with pytest.raises(InvalidRequest, match="payments frame lacks columns"):
        match(pl.DataFrame({"payment_id": ["x"]}), lines_to_frame([_line(1, "Q", "O", at)]), business_date=D)
    with pytest.raises(InvalidRequest, match="pending_days"):
        _run([], [], pending_days=-1)
