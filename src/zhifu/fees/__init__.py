"""Fees: merchant fee rules, refund fee shares and the acquirer's channel cost."""

from zhifu.fees.calc import (
    ANY,
    DEFAULT_COST_TABLE,
    DEFAULT_RULE,
    ChannelCost,
    CostRate,
    FeeRule,
    channel_cost,
    compute_fee,
    refund_fee_share,
    select_rule,
)

__all__ = [
    "ANY",
    "DEFAULT_COST_TABLE",
    "DEFAULT_RULE",
    "ChannelCost",
    "CostRate",
    "FeeRule",
    "channel_cost",
    "compute_fee",
    "refund_fee_share",
    "select_rule",
]
