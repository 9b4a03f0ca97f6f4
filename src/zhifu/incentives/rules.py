"""Campaign rules: who is eligible, what they get, the caps; checked against the county profile; the
deterministic random instant discount draw."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from zhifu.channels import CHANNELS
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest
from zhifu.county import CountyProfile
from zhifu.reference.mcc import is_known_mcc

PPM = 1_000_000
TIERS_MAX = 20  # weighted discount tiers per campaign
LIST_MAX = 500  # entries in any eligibility list (merchants, MCCs, towns…)
WINDOW_DAYS_MAX = 3 * 366  # a campaign runs at most about three years
SPLIT_WINDOW_S = 600  # payments of one payer at one merchant this close together count as one purchase split
SPLIT_COUNT = 3  # …and this many of them with a discount raise a flag for the risk monitor


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: StrictInt
    weight: StrictInt


class Discount(BaseModel):
    """A random instant discount (随机立减): hit with probability_ppm, amount uniform in [min_fen, max_fen] or
    one of the weighted tiers; never more than the payment minus 1 fen."""

    model_config = ConfigDict(extra="forbid")
    probability_ppm: StrictInt
    min_fen: StrictInt | None = None
    max_fen: StrictInt | None = None
    tiers: list[Tier] | None = Field(default=None, max_length=TIERS_MAX)


class Rules(BaseModel):
    """One version of a campaign's rules. Lists left empty match everything."""

    model_config = ConfigDict(extra="forbid")
    starts_at: dt.datetime
    ends_at: dt.datetime
    weekdays: list[StrictInt] = Field(default_factory=list, max_length=7)  # ISO: 1 = Monday … 7 = Sunday
    daily_from: dt.time | None = None  # Asia/Shanghai time of day, inclusive
    daily_to: dt.time | None = None  # exclusive
    channels: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    issuers: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    county_rural_issuers: StrictBool = False  # the payer's card is of a county rural bank
    card_types: list[Literal["debit", "credit", "wallet"]] = Field(default_factory=list, max_length=3)
    amount_min_fen: StrictInt | None = None  # inclusive
    amount_below_fen: StrictInt | None = None  # exclusive: "under 500 yuan" is 50000
    mccs: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    towns: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    merchant_ids: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    circles: list[str] = Field(default_factory=list, max_length=LIST_MAX)
    new_payers_only: StrictBool = False
    cost_refund: StrictBool = False  # (a) the acquirer's full channel cost refunded
    subsidy_ppm: StrictInt = 0  # (b) a subsidy of the amount, as acquiring revenue
    fee_waiver: StrictBool = False  # (c) the merchant's fee waived
    discount: Discount | None = None  # (d) random instant discount
    per_payer_day_fen: StrictInt | None = None
    per_payer_day_count: StrictInt | None = None
    per_payer_campaign_fen: StrictInt | None = None
    per_merchant_day_fen: StrictInt | None = None


def _bad(message_zh: str, message_en: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{message_zh} / {message_en}", param=f"rules.{param}", code="invalid_campaign_rules"
    )


def validate_rules(r: Rules, profile: CountyProfile) -> Rules:
    """Every semantic check of a rules version, in field order; the first failure raises naming its field."""
    for name in ("starts_at", "ends_at"):
        if getattr(r, name).tzinfo is None:
            raise _bad("时间须带时区", f"{name} needs a time zone, e.g. +08:00", name)
    if r.ends_at <= r.starts_at:
        raise _bad(
            "活动结束时间须晚于开始时间",
            "ends_at must be after starts_at (the window is empty or inverted)",
            "ends_at",
        )
    if r.ends_at - r.starts_at > dt.timedelta(days=WINDOW_DAYS_MAX):
        raise _bad("活动期过长", f"a campaign runs at most {WINDOW_DAYS_MAX} days", "ends_at")
    for i, d in enumerate(r.weekdays):
        if not 1 <= d <= 7:
            raise _bad("星期须为 1–7", "weekdays are 1 (Monday) to 7 (Sunday)", f"weekdays.{i}")
    if (r.daily_from is None) != (r.daily_to is None):
        raise _bad("每日时段须同时给出起止", "give both daily_from and daily_to, or neither", "daily_to")
    if r.daily_from is not None and r.daily_to is not None and r.daily_to <= r.daily_from:
        raise _bad("每日时段为空或颠倒", "daily_to must be after daily_from", "daily_to")
    for i, c in enumerate(r.channels):
        if c not in CHANNELS:
            raise _bad("未知渠道", f"unknown channel {c!r}", f"channels.{i}")
    known_issuers = {i.id for i in profile.institutions if "issuer" in i.roles}
    for i, iss in enumerate(r.issuers):
        if iss not in known_issuers:
            raise _bad(
                "未知发卡机构",
                f"unknown issuer {iss!r} (not an issuer in the county profile)",
                f"issuers.{i}",
            )
    if r.amount_min_fen is not None and r.amount_min_fen <= 0:
        raise _bad("金额下限须为正", "amount_min_fen must be positive", "amount_min_fen")
    if r.amount_below_fen is not None:
        if r.amount_below_fen <= 1:
            raise _bad("金额上限须大于 1 分", "amount_below_fen must be above 1 fen", "amount_below_fen")
        if r.amount_min_fen is not None and r.amount_below_fen <= r.amount_min_fen:
            raise _bad("金额区间为空", "amount_below_fen must be above amount_min_fen", "amount_below_fen")
    for i, m in enumerate(r.mccs):
        if not is_known_mcc(m):
            raise _bad("未知商户类别码", f"unknown MCC {m!r}", f"mccs.{i}")
    towns = {t.code for t in profile.towns}
    for i, t in enumerate(r.towns):
        if t not in towns:
            raise _bad("未知乡镇", f"unknown town {t!r} (not in the county profile)", f"towns.{i}")
    circles = {c.id for c in profile.commerce_circles}
    for i, c in enumerate(r.circles):
        if c not in circles:
            raise _bad("未知商贸圈", f"unknown commerce circle {c!r}", f"circles.{i}")
    if not 0 <= r.subsidy_ppm <= PPM:
        raise _bad("补贴比例须在 0–1,000,000 ppm", "subsidy_ppm must be 0–1,000,000", "subsidy_ppm")
    if r.discount is not None:
        _validate_discount(r.discount)
    if not (r.cost_refund or r.subsidy_ppm or r.fee_waiver or r.discount):
        raise _bad(
            "活动须至少有一项优惠",
            "give at least one benefit: cost_refund, subsidy_ppm, fee_waiver or discount",
            "discount",
        )
    for name in (
        "per_payer_day_fen",
        "per_payer_day_count",
        "per_payer_campaign_fen",
        "per_merchant_day_fen",
    ):
        v = getattr(r, name)
        if v is not None and v <= 0:
            raise _bad("上限须为正", f"{name} must be positive (leave it out for no cap)", name)
    return r


def _validate_discount(d: Discount) -> None:
    if not 0 <= d.probability_ppm <= PPM:
        raise _bad(
            "中奖概率须在 0 到 1 之间",
            "probability_ppm must be between 0 and 1,000,000 (probability 0–1)",
            "discount.probability_ppm",
        )
    if d.tiers is None:
        if d.min_fen is None or d.max_fen is None:
            raise _bad("须给出立减金额区间或档位", "give min_fen and max_fen, or tiers", "discount.min_fen")
        if d.min_fen <= 0:
            raise _bad("立减金额下限须为正", "min_fen must be positive", "discount.min_fen")
        if d.max_fen < d.min_fen:
            raise _bad("立减金额上限低于下限", "max_fen must not be below min_fen", "discount.max_fen")
        return
    if d.min_fen is not None or d.max_fen is not None:
        raise _bad("区间与档位只能选一", "give either min_fen/max_fen or tiers, not both", "discount.tiers")
    if not d.tiers:
        raise _bad("档位不能为空", "tiers must not be empty", "discount.tiers")
    for i, t in enumerate(d.tiers):
        if t.amount_fen <= 0:
            raise _bad("档位金额须为正", "tier amount_fen must be positive", f"discount.tiers.{i}.amount_fen")
        if t.weight <= 0:
            raise _bad("档位权重须为正", "tier weight must be positive", f"discount.tiers.{i}.weight")


# ---------------------------------------------------------------- matching


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What eligibility looks at: the merchant, the payment and, where known, the payer and their card."""

    merchant_id: str
    mcc: str
    town_code: str
    circles: frozenset[str]
    channel: str
    amount_fen: int
    at: dt.datetime
    payer_key: str | None
    issuer: str | None
    card_type: str | None
    new_payer: bool | None  # None when the payer is unknown


def matches(r: Rules, ctx: Context, county_rural: frozenset[str]) -> str | None:
    """None when the payment is eligible, else the first reason it is not."""
    if not r.starts_at <= ctx.at < r.ends_at:
        return "outside_window"
    local = ctx.at.astimezone(SHANGHAI)
    if r.weekdays and local.isoweekday() not in r.weekdays:
        return "weekday"
    if r.daily_from is not None and r.daily_to is not None and not r.daily_from <= local.time() < r.daily_to:
        return "time_of_day"
    if r.channels and ctx.channel not in r.channels:
        return "channel"
    if r.amount_min_fen is not None and ctx.amount_fen < r.amount_min_fen:
        return "amount"
    if r.amount_below_fen is not None and ctx.amount_fen >= r.amount_below_fen:
        return "amount"
    if r.mccs and ctx.mcc not in r.mccs:
        return "mcc"
    if r.towns and ctx.town_code not in r.towns:
        return "town"
    if (r.merchant_ids or r.circles) and not (
        ctx.merchant_id in r.merchant_ids or ctx.circles & set(r.circles)
    ):
        return "merchant"
    if r.issuers or r.county_rural_issuers:
        if ctx.issuer is None:
            return "issuer"
        if r.issuers and ctx.issuer not in r.issuers:
            return "issuer"
        if r.county_rural_issuers and ctx.issuer not in county_rural:
            return "issuer"
    if r.card_types and ctx.card_type not in r.card_types:
        return "card_type"
    if r.new_payers_only and not ctx.new_payer:
        return "not_new_payer"
    return None


# ---------------------------------------------------------------- the draw


def draw_discount(d: Discount, seed: str, payment_id: str, amount_fen: int) -> int:
    """The instant discount for one payment: deterministic from the campaign's seed and the payment id."""
    rng = random.Random(f"{seed}:{payment_id}")
    if rng.randrange(PPM) >= d.probability_ppm:
        return 0
    if d.tiers:
        total = sum(t.weight for t in d.tiers)
        pick = rng.randrange(total)
        for t in d.tiers:
            pick -= t.weight
            if pick < 0:
                value = t.amount_fen
                break
        else:  # pragma: no cover - the weights sum to total
            raise AssertionError("tier draw fell off the end")
    else:
        assert d.min_fen is not None and d.max_fen is not None
        value = rng.randint(d.min_fen, d.max_fen)
    return max(0, min(value, amount_fen - 1))


def rules_of(doc: dict[str, Any]) -> Rules:
    return Rules.model_validate(doc)
