"""HTTP routes: settlements and statements for merchants (and operators), settlement runs for operators."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from zhifu import audit
from zhifu.api.deps import get_db, json_response, operator_principal, principal, raw_body, run_idempotent
from zhifu.core.errors import InvalidRequest
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.settlement import service, statements

router = APIRouter(prefix="/v1", tags=["settlement"])
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _scope(p: Principal, merchant_id: str | None) -> str | None:
    """A merchant sees its own; an operator sees all, or one merchant's with merchant_id."""
    if p.role == "merchant":
        return p.merchant_id
    return merchant_id


@router.get("/settlements", summary="List settlements, newest first")
def list_settlements(
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
    business_date: dt.date | None = None,
    status: str | None = None,
    merchant_id: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.tx() as c:
        rows, more = service.list_settlements(
            c,
            _scope(p, merchant_id),
            business_date=business_date,
            status=status,
            limit=limit,
            starting_after=starting_after,
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@router.get("/settlements/{settlement_id}", summary="Retrieve a settlement with its payout")
def get_settlement(
    settlement_id: str, p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response(service.get_settlement(c, _scope(p, None), settlement_id))


@router.get("/statements", summary="A statement for a month or a day, as CSV or Excel")
def get_statement(
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
    month: str | None = None,
    date: str | None = None,
    format: str = "xlsx",
    merchant_id: str | None = None,
) -> Response:
    if format not in _MEDIA:
        raise InvalidRequest(f"format {format!r} is not csv or xlsx", param="format")
    mid = _scope(p, merchant_id)
    if mid is None:
        raise InvalidRequest("an operator names the merchant with merchant_id", param="merchant_id")
    with db.tx() as c:
        doc = statements.statement(c, mid, month=month, day=date)
    data = statements.to_csv(doc) if format == "csv" else statements.to_xlsx(doc)
    audit.exported(db, "statement", f"{mid}-{doc['period']}", {"format": format}, merchant_id=mid)
    name = f"{mid}-{doc['period']}.{format}"
    return Response(
        data, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_date: dt.date


@router.post("/settlement_runs", summary="Settle a business date (operator)")
def run(
    req: RunIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: service.run_settlement(db, req.business_date))


@router.get("/settlement_runs/{business_date}", summary="A date's settlement batch (operator)")
def get_run(
    business_date: dt.date, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.tx() as c:
        return json_response(service.get_batch(c, business_date))
