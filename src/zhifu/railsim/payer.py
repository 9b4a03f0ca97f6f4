"""The simulated payer: pays an order at its fake rail (through the rail's simulator routes), then our platform
learns the outcome as it would from a real rail — from the rail's notification, or by asking the rail."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from zhifu.channels import get_channel
from zhifu.channels.registry import rail_config
from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.db import Database
from zhifu.payments import OPEN_STATUSES
from zhifu.payments import service as payments

SIM_TIMEOUT_S = 10.0
_CLIENT = httpx.Client(
    timeout=SIM_TIMEOUT_S
)  # one pool for every payment (a client per call builds TLS contexts)


@dataclasses.dataclass(frozen=True, slots=True)
class Payer:
    ref: str = "payer_sim"
    issuer: str | None = None
    card_type: str | None = None


def _simulator_url() -> str:
    url = rail_config().get("simulator_url")
    if not url:
        raise NotFound(
            "模拟器未开启 / the rails here are real: there is no simulated payer", param="simulator"
        )
    return str(url)


def pay_at_rail(rail: str, out_trade_no: str, *, outcome: str | None, payer: Payer) -> dict[str, Any]:
    r = _CLIENT.post(
        f"{_simulator_url()}/_sim/pay",
        json={
            "rail": rail,
            "out_trade_no": out_trade_no,
            "outcome": outcome,
            "payer_ref": payer.ref,
            "card_issuer": payer.issuer,
            "card_type": payer.card_type,
        },
    )
    if r.status_code == 409:
        raise ConflictError(
            f"渠道订单已结束 / the {rail} order is already final: {r.json().get('detail')}",
            code="rail_order_final",
        )
    if r.status_code == 404:
        raise NotFound(f"渠道无此订单 / {rail} knows no order {out_trade_no}", param="payment")
    if r.status_code == 400:
        raise InvalidRequest(str(r.json().get("detail")), param="payer.card_type")
    r.raise_for_status()
    return r.json()


def sim_pay(
    db: Database, payment_id: str, *, outcome: str | None, payer: Payer, merchant_id: str | None = None
) -> dict[str, Any]:
    """The payer completes a payment at its rail. Unless the simulator loses the notification (`timeout`), we
    then ask the rail if its notification has not yet closed the payment, so the answer shows at once even if the
    notification is slow (a rail that notifies at once has closed it by the time it answers the payer)."""
    at = clock.now()
    with db.read() as c:
        p = payments.get_payment(c, merchant_id, payment_id)
    if p["status"] not in OPEN_STATUSES:
        raise ConflictError(f"payment {payment_id} is {p['status']}", code="payment_not_open")
    if p["expires_at"] <= at:
        raise ConflictError(
            f"payment {payment_id} expired at {p['expires_at'].isoformat()}", code="payment_expired"
        )
    pay_at_rail(p["channel"], payment_id, outcome=outcome, payer=payer)
    with db.read() as c:
        p = payments.get_payment(c, merchant_id, payment_id)
    if outcome == "timeout" or p["status"] not in OPEN_STATUSES:
        return p
    result = get_channel(p["channel"]).query(payment_id, merchant_id=p["merchant_id"])
    db.run(lambda c: payments.record_rail_answer(c, payment_id, result, clock.now()))
    with db.read() as c:
        return payments.get_payment(c, merchant_id, payment_id)
