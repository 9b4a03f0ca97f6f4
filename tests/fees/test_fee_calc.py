"""Fee arithmetic: half-up rounding once, min and cap, refunds that return exactly the fee, channel cost."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.core.errors import InvalidRequest, MoneyError
from zhifu.fees import (
    ANY,
    DEFAULT_RULE,
    CostRate,
    FeeRule,
    channel_cost,
    compute_fee,
    refund_fee_share,
    select_rule,
)

SH = dt.timezone(dt.timedelta(hours=8))


def rule(rate_ppm: int = 3_800, min_fen: int = 0, cap_fen: int | None = None, **kw: object) -> FeeRule:
    fields = {"channel": ANY, "card_type": ANY, "merchant_class": ANY} | kw
    return FeeRule(rate_ppm=rate_ppm, min_fen=min_fen, cap_fen=cap_fen, **fields)  # type: ignore[arg-type]


def test_fee_of_a_hundred_yuan_at_038_percent() -> None:
    assert compute_fee(10_000, rule(3_800)) == 38


@pytest.mark.parametrize(
    ("amount_fen", "rate_ppm", "fee_fen"),
    [
        (2_500, 3_800, 10),
        (2_499, 3_800, 9),
        (1_250, 6_000, 8),
        (1_249, 6_000, 7),
        (250, 2_000, 1),
        (249, 2_000, 0),
    ],
)
def test_exactly_half_a_fen_rounds_up(amount_fen: int, rate_ppm: int, fee_fen: int) -> None:
    assert compute_fee(amount_fen, rule(rate_ppm)) == fee_fen


def test_min_cap_and_waiver() -> None:
    r = rule(6_000, min_fen=10, cap_fen=2_000)
    assert compute_fee(100, r) == 10
    assert compute_fee(1_000_000, r) == 2_000
    assert compute_fee(100_000, r) == 600
    assert compute_fee(100_000, r, waived=True) == 0
    assert compute_fee(5, r) == 5  # a minimum never exceeds the payment itself


@given(
    amount=st.integers(0, 10**9),
    rate=st.integers(0, 1_000_000),
    min_fen=st.integers(0, 500),
    cap_extra=st.none() | st.integers(0, 10**6),
)
def test_fee_stays_between_min_and_cap(amount: int, rate: int, min_fen: int, cap_extra: int | None) -> None:
    cap = None if cap_extra is None else min_fen + cap_extra
    fee = compute_fee(amount, rule(rate, min_fen, cap))
    assert isinstance(fee, int)
    assert min(min_fen, amount) <= fee <= amount
    if cap is not None:
        assert fee <= cap
    uncapped = (amount * rate * 2 + 1_000_000) // 2_000_000
    if amount and (cap is None or uncapped <= cap) and uncapped >= min_fen:
        assert fee == uncapped


@st.composite
def refund_plan(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    amount = draw(st.integers(1, 10**8))
    fee = draw(st.integers(0, amount))
    cuts = sorted(draw(st.lists(st.integers(1, amount - 1), max_size=20, unique=True))) if amount > 1 else []
    points = [0, *cuts, amount]
    return amount, fee, [b - a for a, b in zip(points, points[1:], strict=False)]


@given(refund_plan())
def test_any_sequence_of_partial_refunds_returns_exactly_the_fee(plan: tuple[int, int, list[int]]) -> None:
    amount, fee, refunds = plan
    returned, refunded = [], 0
    for r in refunds:
        share = refund_fee_share(fee, amount, refunded, r)
        assert 0 <= share <= fee
        returned.append(share)
        refunded += r
        kept = fee - sum(returned)
        assert 0 <= kept <= fee
    assert refunded == amount
    assert sum(returned) + (fee - sum(returned)) == fee
    assert sum(returned) == fee


@given(refund_plan())
def test_partial_refunds_keep_a_fair_fee(plan: tuple[int, int, list[int]]) -> None:
    amount, fee, refunds = plan
    refunded = returned = 0
    for r in refunds[:-1]:
        returned += refund_fee_share(fee, amount, refunded, r)
        refunded += r
        # the fee returned so far is the proportional share, to within half a fen
        assert abs(2 * returned * amount - 2 * fee * refunded) <= amount


def test_refund_fee_share_examples() -> None:
    assert refund_fee_share(38, 10_000, 0, 10_000) == 38
    assert refund_fee_share(38, 10_000, 0, 5_000) == 19
    assert refund_fee_share(1, 2, 0, 1) == 1  # half a fen rounds up
    assert refund_fee_share(1, 2, 1, 1) == 0
    # three equal thirds of a 10-fen fee: cumulative 3.33 → 3, 6.67 → 7, 10 → 10
    assert [refund_fee_share(10, 3_000, before, 1_000) for before in (0, 1_000, 2_000)] == [3, 4, 3]


def test_refund_beyond_the_amount_is_refused() -> None:
    with pytest.raises(MoneyError) as exc:
        refund_fee_share(38, 10_000, 6_000, 5_000)
    assert exc.value.code == "refund_exceeds_amount"
    with pytest.raises(MoneyError):
        refund_fee_share(38, 10_000, 0, -1)
    with pytest.raises(MoneyError):
        compute_fee(10.5, rule())  # type: ignore[arg-type]


def test_debit_card_cost_is_capped() -> None:
    big = channel_cost(1_000_000, "unionpay_card", "debit")  # 10,000 yuan
    assert (big.issuer_fen, big.network_fen, big.total_fen) == (1_300, 325, 1_625)
    small = channel_cost(10_000, "unionpay_qr", "debit")
    assert (small.issuer_fen, small.network_fen) == (35, 3)


def test_credit_card_issuer_fee_is_uncapped() -> None:
    cost = channel_cost(10_000_000, "unionpay_card", "credit")
    assert (cost.issuer_fen, cost.network_fen) == (45_000, 325)


def test_wallet_defaults_and_overrides() -> None:
    assert channel_cost(10_000, "wechat", "wallet").total_fen == 20
    assert channel_cost(10_000, "alipay", "debit").total_fen == 20
    table = {("unionpay_qr", "debit"): CostRate(3_150, 1_170, 290, 290)}
    assert channel_cost(1_000_000, "unionpay_qr", "debit", table).total_fen == 1_460
    with pytest.raises(InvalidRequest) as exc:
        channel_cost(10_000, "unionpay_qr", "credit", table)
    assert exc.value.param == "channel"
    with pytest.raises(InvalidRequest):
        channel_cost(10_000, "unionpay_qr", "wallet")


@given(amount=st.integers(0, 10**10))
def test_debit_cost_never_exceeds_the_557_caps(amount: int) -> None:
    cost = channel_cost(amount, "unionpay_qr", "debit")
    assert cost.issuer_fen <= min(1_300, (amount * 35 + 9_999) // 10_000)
    assert cost.network_fen <= 325


RULES = [
    rule(6_000),
    rule(3_800, merchant_class="small"),
    rule(2_500, channel="unionpay_qr", merchant_class="small"),
    rule(0, channel="unionpay_qr", card_type="debit", merchant_class="small",
         effective_from=dt.date(2022, 1, 1), effective_to=dt.date(2023, 1, 1)),
]  # fmt: skip


def test_most_specific_rule_in_force_wins() -> None:
    at = dt.date(2021, 6, 1)
    assert select_rule(RULES, "wechat", "wallet", "general", at).rate_ppm == 6_000
    assert select_rule(RULES, "wechat", "wallet", "small", at).rate_ppm == 3_800
    assert select_rule(RULES, "unionpay_qr", "debit", "small", at).rate_ppm == 2_500
    assert select_rule(RULES, "unionpay_qr", "debit", "small", dt.date(2022, 6, 1)).rate_ppm == 0
    assert select_rule(RULES, "unionpay_qr", "debit", "small", dt.date(2023, 1, 1)).rate_ppm == 2_500


def test_rule_dates_are_shanghai_dates() -> None:
    just_before = dt.datetime(2021, 12, 31, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in Shanghai
    new_year = dt.datetime(2021, 12, 31, 16, 0, 0, tzinfo=dt.UTC)  # 2022-01-01 00:00 in Shanghai
    assert select_rule(RULES, "unionpay_qr", "debit", "small", just_before).rate_ppm == 2_500
    assert select_rule(RULES, "unionpay_qr", "debit", "small", new_year).rate_ppm == 0


def test_no_rule_gives_the_default_and_ties_are_refused() -> None:
    assert select_rule([], "wechat", "wallet", "general", dt.date(2021, 1, 1)) is DEFAULT_RULE
    later = rule(5_000, effective_from=dt.date(2021, 1, 1))
    assert select_rule([rule(6_000), later], "x", "debit", "y", dt.date(2021, 2, 1)) is later
    with pytest.raises(InvalidRequest) as exc:
        select_rule([rule(6_000), rule(5_000)], "x", "debit", "y", dt.date(2021, 2, 1))
    assert exc.value.code == "fee_rule_conflict"


def test_channel_outranks_card_type_at_equal_specificity() -> None:
    by_channel, by_card = rule(1_000, channel="unionpay_qr"), rule(2_000, card_type="credit")
    assert select_rule([by_card, by_channel], "unionpay_qr", "credit", "g", dt.date(2021, 1, 1)) is by_channel


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"rate_ppm": -1}, "rate_ppm"),
        ({"min_fen": 10, "cap_fen": 5}, "cap_fen"),
        ({"card_type": "cash"}, "card_type"),
        ({"effective_from": dt.date(2022, 1, 1), "effective_to": dt.date(2022, 1, 1)}, "effective_to"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        rule(**kwargs)  # type: ignore[arg-type]
    assert exc.value.param == param
