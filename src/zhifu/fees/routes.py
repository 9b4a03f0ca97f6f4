"""HTTP routes for the operator's fee plan: rules, waivers, merchant classes, channel costs and quotes."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, operator_principal, raw_body, run_idempotent
from zhifu.core import clock
from zhifu.core.business_day import business_date
from zhifu.db import Database
from zhifu.fees import service
from zhifu.fees.service import CLASS_RE, CostIn, RuleIn, WaiverIn
from zhifu.merchants import Principal

router = APIRouter(prefix="/v1", tags=["fees"])


@router.post("/fee_rules", summary="Add a fee rule (operator)")
def create_rule(
    req: RuleIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.create_rule(c, req)))


@router.get("/fee_rules", summary="List fee rules, optionally those in force on a business date")
def list_rules(
    p: Principal = Depends(operator_principal), db: Database = Depends(get_db), on: dt.date | None = None
) -> Response:
    with db.tx() as c:
        return json_response({"object": "list", "data": service.list_rules(c, on=on), "has_more": False})


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_to: dt.date


@router.post("/fee_rules/{rule_id}/end", summary="End a fee rule from a business date on")
def end_rule(
    rule_id: str, req: EndIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.end_rule(c, rule_id, req.effective_to)))


@router.post("/merchants/{merchant_id}/fee_waivers", summary="Waive a merchant's fee for a period")
def create_waiver(
    merchant_id: str,
    req: WaiverIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.create_waiver(c, merchant_id, req))
    )


@router.get("/merchants/{merchant_id}/fee_waivers", summary="A merchant's fee waivers")
def list_waivers(
    merchant_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response(
            {"object": "list", "data": service.list_waivers(c, merchant_id), "has_more": False}
        )


class ClassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_class: str = Field(pattern=rf"^{CLASS_RE}$")


@router.put("/merchants/{merchant_id}/fee_class", summary="Put a merchant in a fee class")
def set_class(
    merchant_id: str, req: ClassIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    cls = db.run(lambda c: service.set_merchant_class(c, merchant_id, req.merchant_class))
    return json_response({"object": "fee_class", "merchant_id": merchant_id, "merchant_class": cls})


@router.put("/channel_costs", summary="Set what a rail costs the acquirer (557 ceilings apply to bank cards)")
def set_cost(
    req: CostIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.set_channel_cost(c, req)))


@router.get("/fee_quote", summary="Fee, channel cost and margin of a would-be payment")
def quote(
    merchant_id: str,
    channel: str,
    card_type: str,
    amount_fen: int = Query(ge=1, le=10**12),
    on: dt.date | None = None,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    day = on or business_date(clock.now())
    with db.tx() as c:
        return json_response(service.quote(c, merchant_id, channel, card_type, amount_fen, day))
