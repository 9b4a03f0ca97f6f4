"""Pure fee arithmetic: merchant fee rules, refund fee shares and the acquirer's channel cost, in fen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, MoneyError
from zhifu.core.money import ppm_of

CardType = Literal["debit", "credit", "wallet"]
CARD_TYPES: tuple[str, ...] = ("debit", "credit", "wallet")
ANY = "*"  # a rule or cost entry field that matches every value
PPM = 1_000_000


def _half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def _check_amount(amount_fen: object, param: str) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 0:
        raise MoneyError(f"{param} must be a non-negative integer number of fen", param=param)
    return amount_fen


@dataclass(frozen=True, slots=True)
class FeeRule:
    """A merchant fee rule; channel, card_type and merchant_class may be "*" to match anything.

    Effective on [effective_from, effective_to): from inclusive, to exclusive, None is open-ended.
    """

    channel: str
    card_type: str
    merchant_class: str
    rate_ppm: int
    min_fen: int = 0
    cap_fen: int | None = None
    effective_from: dt.date = dt.date(2000, 1, 1)
    effective_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.card_type != ANY and self.card_type not in CARD_TYPES:
            raise InvalidRequest(f"card_type must be one of {CARD_TYPES} or '*'", param="card_type")
        if not 0 <= self.rate_ppm <= PPM:
            raise InvalidRequest("rate_ppm must be between 0 and 1,000,000", param="rate_ppm")
        if self.min_fen < 0:
            raise InvalidRequest("min_fen must not be negative", param="min_fen")
        if self.cap_fen is not None and self.cap_fen < self.min_fen:
            raise InvalidRequest("cap_fen must not be below min_fen", param="cap_fen")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise InvalidRequest("effective_to must be after effective_from", param="effective_to")

    def applies(self, channel: str, card_type: str, merchant_class: str, on: dt.date) -> bool:
        """True when this rule matches the payment and is in force on `on`."""
        return (
            self.channel in (ANY, channel)
            and self.card_type in (ANY, card_type)
            and self.merchant_class in (ANY, merchant_class)
            and self.effective_from <= on
            and (self.effective_to is None or on < self.effective_to)
        )

    def specificity(self) -> tuple[int, int]:
        """More named fields wins; on a tie channel outranks card type, which outranks merchant class."""
        named = (self.channel != ANY, self.card_type != ANY, self.merchant_class != ANY)
        return sum(named), named[0] * 4 + named[1] * 2 + named[2]


# Used when no configured rule matches: 0.38 %, the common county rate for small merchants.
DEFAULT_RULE = FeeRule(channel=ANY, card_type=ANY, merchant_class=ANY, rate_ppm=3_800)


def compute_fee(amount_fen: int, rule: FeeRule, waived: bool = False) -> int:
    """The merchant fee: amount × rate rounded half-up once, raised to min_fen, cut to cap_fen.

    A fee never exceeds the amount itself (a min_fen on a tiny payment is cut to the payment).
    """
    amount_fen = _check_amount(amount_fen, "amount_fen")
    if waived or amount_fen == 0:
        return 0
    fee = max(ppm_of(amount_fen, rule.rate_ppm), rule.min_fen)
    if rule.cap_fen is not None:
        fee = min(fee, rule.cap_fen)
    return min(fee, amount_fen)


def refund_fee_share(
    original_fee_fen: int, original_amount_fen: int, refunded_before_fen: int, refund_fen: int
) -> int:
    """The part of the original fee returned with this refund.

    Computed on cumulative totals, so any sequence of refunds summing to the amount returns the whole fee.
    """
    fee = _check_amount(original_fee_fen, "original_fee_fen")
    amount = _check_amount(original_amount_fen, "original_amount_fen")
    before = _check_amount(refunded_before_fen, "refunded_before_fen")
    refund = _check_amount(refund_fen, "refund_fen")
    if amount == 0:
        raise MoneyError("original_amount_fen must be positive", param="original_amount_fen")
    if fee > amount:
        raise MoneyError("original_fee_fen exceeds the original amount", param="original_fee_fen")
    if before + refund > amount:
        raise MoneyError(
            f"refund {refund} after {before} already refunded exceeds the original amount {amount}",
            param="refund_fen",
            code="refund_exceeds_amount",
        )
    after_total = _half_up_div(fee * (before + refund), amount)
    before_total = _half_up_div(fee * before, amount)
    return after_total - before_total


@dataclass(frozen=True, slots=True)
class CostRate:
    """What the acquirer pays per payment: issuer (or wallet) and network fees, each rate with a cap."""

    issuer_rate_ppm: int
    issuer_cap_fen: int | None
    network_rate_ppm: int
    network_cap_fen: int | None


@dataclass(frozen=True, slots=True)
class ChannelCost:
    """The acquirer's cost of one payment, split by who is paid."""

    issuer_fen: int
    network_fen: int

    @property
    def total_fen(self) -> int:
        return self.issuer_fen + self.network_fen


CostTable = Mapping[tuple[str, str], CostRate]


# The default costs are each rail's own facts (channels/<rail>): 发改价格〔2016〕557号 caps for bank-card rails
# (issuer debit 0.35 % capped at 13 yuan, credit 0.45 % uncapped; network 0.0325 % capped at 3.25 yuan); wallets
# an assumed 0.2 % wholesale cost to the acquirer, no network fee. Operators override them in fee_channel_costs.
def _default_costs() -> dict[tuple[str, str], CostRate]:
    from zhifu.channels.registry import FACTS

    return {
        (f.name, card_type): CostRate(*rate) for f in FACTS.values() for card_type, rate in f.costs.items()
    }


DEFAULT_COST_TABLE: dict[tuple[str, str], CostRate] = _default_costs()


def _capped(amount_fen: int, rate_ppm: int, cap_fen: int | None) -> int:
    fee = ppm_of(amount_fen, rate_ppm)
    return fee if cap_fen is None else min(fee, cap_fen)


def channel_cost(amount_fen: int, channel: str, card_type: str, caps: CostTable | None = None) -> ChannelCost:
    """The acquirer's cost to issuer and network; the most specific table entry wins.

    Lookup order: (channel, card_type), (channel, "*"), ("*", card_type), ("*", "*").
    """
    amount_fen = _check_amount(amount_fen, "amount_fen")
    table = DEFAULT_COST_TABLE if caps is None else caps
    for key in ((channel, card_type), (channel, ANY), (ANY, card_type), (ANY, ANY)):
        rate = table.get(key)
        if rate is not None:
            return ChannelCost(
                issuer_fen=_capped(amount_fen, rate.issuer_rate_ppm, rate.issuer_cap_fen),
                network_fen=_capped(amount_fen, rate.network_rate_ppm, rate.network_cap_fen),
            )
    raise InvalidRequest(
        f"没有 {channel}/{card_type} 的通道成本配置 / no channel cost configured for {channel}/{card_type}",
        param="channel",
    )


def _as_date(at: dt.date | dt.datetime) -> dt.date:
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise InvalidRequest("at must be timezone-aware", param="at")
        return at.astimezone(SHANGHAI).date()
    return at


def select_rule(
    rules: Iterable[FeeRule],
    channel: str,
    card_type: str,
    merchant_class: str,
    at: dt.date | dt.datetime,
    default: FeeRule = DEFAULT_RULE,
) -> FeeRule:
    """The rule in force at `at` (a Shanghai date) that matches most specifically; none → `default`.

    Among equally specific rules the latest effective_from wins; a remaining tie is a configuration
    error and raises InvalidRequest rather than picking one silently.
    """
    on = _as_date(at)
    matching = [r for r in rules if r.applies(channel, card_type, merchant_class, on)]
    if not matching:
        return default

    def rank(r: FeeRule) -> tuple[tuple[int, int], dt.date]:
        return r.specificity(), r.effective_from

    best = max(matching, key=rank)
    tied = [r for r in matching if rank(r) == rank(best)]
    if len(tied) > 1:
        raise InvalidRequest(
            f"费率规则冲突 / {len(tied)} fee rules tie for {channel}/{card_type}/{merchant_class} on {on}",
            param="rules",
            code="fee_rule_conflict",
        )
    return best
