"""Incentives: campaigns with versioned rules, instant discounts held on a budget, cost refunds, subsidies and
fee waivers on success, caps, clawbacks, abuse flags and reports."""

from zhifu.incentives.rules import Discount, Rules, Tier, draw_discount
from zhifu.incentives.service import (
    Benefits,
    CreateCampaign,
    PayerHint,
    Pricing,
    budget_account,
    change_rules,
    claw_back_accruals,
    clawback_fen,
    clawback_legs,
    clawbacks_for,
    create_campaign,
    fund_campaign,
    get_campaign,
    on_refund_failed,
    on_release,
    on_success,
    pay_out_accruals,
    price_payment,
    refund_clawback,
    report,
    set_status,
)

__all__ = [
    "Benefits", "CreateCampaign", "Discount", "PayerHint", "Pricing", "Rules", "Tier", "budget_account",
    "change_rules", "claw_back_accruals", "clawback_fen", "clawback_legs", "clawbacks_for", "create_campaign",
    "draw_discount", "fund_campaign", "get_campaign", "on_refund_failed", "on_release", "on_success", "pay_out_accruals", "price_payment",
    "refund_clawback", "report", "set_status",
]
