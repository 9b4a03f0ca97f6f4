"""HTTP routes of campaigns (operator key): create, fund, new rules versions, pause/resume/end, reports, flags."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, operator_principal, raw_body, run_idempotent
from zhifu.consent import SendNotices, campaign_notices
from zhifu.db import Database
from zhifu.incentives import service
from zhifu.incentives.rules import Rules
from zhifu.incentives.service import CreateCampaign, FundCampaign
from zhifu.merchants import Principal

router = APIRouter(prefix="/v1", tags=["campaigns"])


class CircleMembers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merchant_ids: list[str] = Field(min_length=1, max_length=1000)


@router.post("/campaigns", summary="Create and fund a campaign")
def create(
    req: CreateCampaign,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.create_campaign(c, req)))


@router.get("/campaigns", summary="List campaigns, newest first")
def list_(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    status: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.tx() as c:
        rows, more = service.list_campaigns(c, status=status, limit=limit, starting_after=starting_after)
    return json_response({"object": "list", "data": rows, "has_more": more})


@router.get("/campaigns/funders", summary="Funded, spent and remaining per funder")
def funders(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.tx() as c:
        return json_response({"object": "list", "data": service.report_by_funder(c), "has_more": False})


@router.get("/campaigns/flags", summary="Abuse flags for the risk monitor")
def flags(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    campaign_id: str | None = None,
    limit: int = Query(50, ge=1, le=100),
) -> Response:
    with db.tx() as c:
        return json_response(
            {"object": "list", "data": service.list_flags(c, campaign_id, limit=limit), "has_more": False}
        )


@router.post("/campaigns/circles/{circle_id}/merchants", summary="Designate merchants to a commerce circle")
def circle_members(
    circle_id: str,
    req: CircleMembers,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    n = db.run(lambda c: service.add_circle_merchants(c, circle_id, req.merchant_ids))
    return json_response({"circle_id": circle_id, "merchants_added": n})


@router.get("/campaigns/{campaign_id}", summary="Retrieve a campaign")
def get(
    campaign_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response(service.get_campaign(c, campaign_id))


@router.get("/campaigns/{campaign_id}/versions", summary="Every rules version of a campaign")
def versions(
    campaign_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response({"object": "list", "data": service.versions(c, campaign_id), "has_more": False})


@router.post("/campaigns/{campaign_id}/versions", summary="Change the rules: writes the next version")
def new_version(
    campaign_id: str,
    req: Rules,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.change_rules(c, campaign_id, req))
    )


@router.post("/campaigns/{campaign_id}/fund", summary="Add to a campaign's budget")
def fund(
    campaign_id: str,
    req: FundCampaign,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.fund_campaign(c, campaign_id, req.amount_fen))
    )


@router.post("/campaigns/{campaign_id}/notices", summary="Send the campaign's offer to payers who consented")
def notices(
    campaign_id: str,
    req: SendNotices,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    """营销需同意 / Each payer needs a live marketing consent at the moment of sending; the rest are counted as
    refused (and audited), never sent."""
    return run_idempotent(request, p, body, lambda: campaign_notices(db, campaign_id, req.phones))


@router.post("/campaigns/{campaign_id}/{action}", summary="Pause, resume or end a campaign")
def status(
    campaign_id: str,
    action: Literal["pause", "resume", "end"],
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: service.set_status(c, campaign_id, action)))


@router.get("/campaigns/{campaign_id}/report", summary="Spend per day, town, merchant and benefit")
def report(
    campaign_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response(service.report(c, campaign_id))


@router.get("/campaigns/{campaign_id}/effect", summary="Payments per merchant before and after the start")
def effect(
    campaign_id: str,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    days: int = Query(14, ge=1, le=366),
) -> Response:
    with db.tx() as c:
        return json_response(service.effect(c, campaign_id, days=days))
