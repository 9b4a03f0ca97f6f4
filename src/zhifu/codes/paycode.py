"""The payer's side of the simulator: consumer pay codes (付款码) of each wallet, shaped as the rails shape them."""

from __future__ import annotations

import random

from zhifu.channels import channel_for_auth_code
from zhifu.core.errors import InvalidRequest

# Shapes (MISSION.md): UnionPay 19 digits from 62; WeChat 18 digits from 10–15; Alipay 16–24 digits from 25–30.
PAYCODE_SHAPES: dict[str, tuple[tuple[str, ...], int]] = {
    "unionpay_qr": (("62",), 19),
    "wechat": (tuple(str(n) for n in range(10, 16)), 18),
    "alipay": (tuple(str(n) for n in range(25, 31)), 18),
}
# The simulated rails read the last digit (railsim.store.paycode_outcome): 7 asks for the PIN, 8 declines,
# 9 times out; anything else succeeds.
LAST_DIGITS: dict[str, str] = {"success": "0123456", "userpaying": "7", "decline": "8", "timeout": "9"}


def generate_paycode(channel: str, *, outcome: str = "success", rng: random.Random | None = None) -> str:
    """A pay code the channel's simulator accepts, ending in the digit that gives `outcome`."""
    if channel not in PAYCODE_SHAPES:
        raise InvalidRequest(
            f"pay codes exist for {', '.join(PAYCODE_SHAPES)}, not {channel!r}", param="channel"
        )
    if outcome not in LAST_DIGITS:
        raise InvalidRequest(f"outcome must be one of {', '.join(LAST_DIGITS)}", param="outcome")
    rng = rng or random.Random()
    prefixes, length = PAYCODE_SHAPES[channel]
    head = rng.choice(prefixes)
    middle = "".join(rng.choice("0123456789") for _ in range(length - len(head) - 1))
    code = head + middle + rng.choice(LAST_DIGITS[outcome])
    if channel_for_auth_code(code) != channel:  # the router must send it back to the same rail
        raise AssertionError(f"{code} does not route to {channel}")
    return code
