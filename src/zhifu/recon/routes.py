"""HTTP routes of reconciliation (operator keys): batches and their reports, exception cases and their approval."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu import audit
from zhifu.api.deps import get_db, json_response, operator_principal, raw_body, run_idempotent
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.recon import service

router = APIRouter(prefix="/v1/recon", tags=["reconciliation"])


class ProposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal[
        "refund_payer", "credit_merchant", "write_off_suspense", "accept_channel_record", "accept_ours"
    ]
    note: str = Field(default="", max_length=1000)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=1000)


@router.get("/batches", summary="List reconciliation batches, one per channel and business date (operator)")
def list_batches(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    date: dt.date | None = None,
    channel: str | None = None,
    limit: int = Query(20, ge=1, le=service.PAGE_MAX),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_batches(
            c, business_date=date, channel=channel, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@router.get(
    "/batches/{batch_id}",
    summary="A batch: matched, each discrepancy kind, cases open and resolved (operator)",
)
def get_batch(
    batch_id: str,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    expand: Literal["lines", "items"] | None = None,
) -> Response:
    with db.read() as c:
        doc = service.get_batch(c, batch_id)
        if expand == "lines":
            doc["line_results"] = service.batch_lines(c, batch_id)
        elif expand == "items":
            doc["item_results"] = service.batch_items(c, batch_id)
    return json_response(doc)


@router.get(
    "/report.csv",
    summary="The per channel, per day report as CSV (operator)",
    responses={
        200: {
            "description": "The report, UTF-8 with a byte-order mark",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def report_csv(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    date: dt.date | None = None,
    channel: str | None = None,
) -> Response:
    with db.read() as c:
        data = service.report_csv(service.report_rows(c, business_date=date, channel=channel))
    audit.exported(db, "recon_report", f"recon-{date or 'all'}", {"format": "csv", "channel": channel})
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="recon-{date or "all"}.csv"'},
    )


@router.get(
    "/report.xlsx",
    summary="The per channel, per day report and its cases as an Excel workbook (operator)",
    responses={
        200: {
            "description": "The workbook",
            "content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
        }
    },
)
def report_xlsx(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    date: dt.date | None = None,
    channel: str | None = None,
) -> Response:
    with db.read() as c:
        rows = service.report_rows(c, business_date=date, channel=channel)
        case_rows = service.list_cases(c, business_date=date, channel=channel, limit=10_000)
    audit.exported(db, "recon_report", f"recon-{date or 'all'}", {"format": "xlsx", "channel": channel})
    return Response(
        service.report_xlsx(rows, case_rows),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="recon-{date or "all"}.xlsx"'},
    )


@router.get("/cases", summary="Reconciliation exception cases (operator)")
def list_cases(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    status: Literal["open", "proposed", "resolved"] | None = None,
    date: dt.date | None = None,
    channel: str | None = None,
    batch_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    with db.read() as c:
        rows = service.list_cases(
            c, status=status, business_date=date, channel=channel, batch_id=batch_id, limit=limit
        )
    return json_response({"object": "list", "data": rows, "has_more": len(rows) == limit})


@router.get("/cases/{case_id}", summary="A case with its audit trail (operator)")
def get_case(
    case_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.get_case(c, case_id))


@router.post(
    "/cases/{case_id}/propose", summary="Propose a resolution; the calling key is the maker (operator)"
)
def propose(
    case_id: str,
    req: ProposeBody,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(
        request,
        p,
        body,
        lambda: db.run(lambda c: service.propose(c, case_id, req.action, p.key_id, note=req.note)),
    )


@router.post(
    "/cases/{case_id}/approve",
    summary="Approve and post the adjustment; the checker must be another key (operator)",
)
def approve(
    case_id: str,
    request: Request,
    req: DecisionBody | None = None,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    note = req.note if req else ""
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.approve(c, case_id, p.key_id, note=note))
    )


@router.post("/cases/{case_id}/reject", summary="Send a proposal back (operator)")
def reject(
    case_id: str,
    request: Request,
    req: DecisionBody | None = None,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    note = req.note if req else ""
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.reject(c, case_id, p.key_id, note=note))
    )
