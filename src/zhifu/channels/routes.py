"""Channel notifications (signed by the rail) and the simulator's payer-side routes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, raw_body
from zhifu.channels import Payer
from zhifu.db import Database
from zhifu.payments import service as payments

router = APIRouter(tags=["channels"])


@router.post("/notify/{channel}", summary="A rail's asynchronous notification (signed by the rail)")
def notify(channel: str, request: Request, body: bytes = Depends(raw_body), db: Database = Depends(get_db)) -> Response:
    outcome = db.run(lambda c: payments.handle_notification(c, channel, body, dict(request.headers)))
    return json_response({"received": True, "outcome": outcome})


class PayerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(default="payer_sim", max_length=64)
    issuer: str | None = Field(default=None, max_length=40)
    card_type: Literal["debit", "credit", "wallet"] | None = None


class SimPayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["success", "timeout", "decline_insufficient_funds", "decline_limit_exceeded",
                     "decline_card_blocked"] | None = None
    payer: PayerBody | None = None


@router.post("/sim/payments/{payment_id}/pay", summary="Simulator: the payer completes a payment at its rail")
def sim_pay(payment_id: str, req: SimPayBody | None = None, db: Database = Depends(get_db)) -> Response:
    req = req or SimPayBody()
    payer = req.payer or PayerBody()
    return json_response(payments.sim_pay(db, payment_id, outcome=req.outcome,
                                          payer=Payer(payer.id, payer.issuer, payer.card_type)))
