"""The simulator's payer routes on our platform (`/sim/...`): mounted only when the simulator is switched on
(ZHIFU_SIMULATOR=1), never on a plainly started server."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from zhifu.api.deps import get_db, json_response
from zhifu.codes import service as codes
from zhifu.db import Database
from zhifu.railsim.payer import Payer, sim_pay

SIMULATOR_ONLY = True
router = APIRouter(tags=["simulator"])
Outcome = Literal[
    "success", "timeout", "decline_insufficient_funds", "decline_limit_exceeded", "decline_card_blocked"
]


class PayerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(default="payer_sim", max_length=64)
    issuer: str | None = Field(default=None, max_length=40)
    card_type: Literal["debit", "credit", "wallet"] | None = None


class SimPayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome | None = None
    payer: PayerBody | None = None


@router.post("/sim/payments/{payment_id}/pay", summary="Simulator: the payer completes a payment at its rail")
def pay(payment_id: str, req: SimPayBody | None = None, db: Database = Depends(get_db)) -> Response:
    req = req or SimPayBody()
    payer = req.payer or PayerBody()
    return json_response(
        sim_pay(db, payment_id, outcome=req.outcome, payer=Payer(payer.id, payer.issuer, payer.card_type))
    )


class ScanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code_url: str = Field(min_length=1, max_length=512)
    app: str = Field(min_length=1, max_length=20)
    amount_fen: StrictInt | None = None
    payer: str = Field(default="payer_sim", min_length=1, max_length=64)
    scene: Literal["on_site", "remote"] = "on_site"
    outcome: Outcome = "success"


@router.post("/sim/scan", summary="Simulator: an app scans a code and pays it")
def scan(req: ScanBody, db: Database = Depends(get_db)) -> Response:
    return json_response(
        codes.scan_and_pay(
            db,
            req.code_url,
            app=req.app,
            payer_ref=req.payer,
            amount_fen=req.amount_fen,
            scene=req.scene,
            outcome=req.outcome,
        )
    )
