"""HTTP routes of webhook endpoints, events, and the merchant's live announcement stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, merchant_principal
from zhifu.channels import REGISTRY
from zhifu.core.money import fen_to_yuan_str
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal
from zhifu.webhooks import service

router = APIRouter(prefix="/v1", tags=["webhooks"])
STREAM_POLL_S = 0.5
STREAM_IDLE_PING_S = 15.0


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=512)
    events: list[str] = Field(max_length=len(service.EVENT_TYPES) + 1)


@router.post("/webhook_endpoints", summary="Subscribe a URL to events; the signing secret is shown once")
def create_endpoint(
    req: EndpointBody, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.create_endpoint(c, p.merchant_id, req.url, req.events)))


@router.get("/webhook_endpoints", summary="List webhook endpoints")
def list_endpoints(
    p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": service.list_endpoints(c, p.merchant_id), "has_more": False}
        )


@router.delete("/webhook_endpoints/{endpoint_id}", summary="Delete a webhook endpoint")
def delete_endpoint(
    endpoint_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.delete_endpoint(c, p.merchant_id, endpoint_id)))


@router.get("/events", summary="List events, newest first")
def list_events(
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
    type: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_events(
            c, p.merchant_id, type_=type, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


def announcement(payment: dict) -> str:
    """ "云闪付收款 12.34 元" — what the shop's speaker says."""
    ch = REGISTRY.get(payment.get("channel", ""))
    label = ch.label_zh.split("/")[0] if ch else ""
    return f"{label}收款 {fen_to_yuan_str(payment['amount_fen'])} 元"


@router.get("/stream", summary="Server-sent events: one per payment received, for the shop's announcement")
async def stream(
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
    since: str | None = None,
) -> StreamingResponse:
    merchant_id = p.merchant_id
    last = request.headers.get("last-event-id") or since

    def fetch(cursor: str | None) -> list[dict[str, Any]]:
        with db.read() as c:
            if cursor is None:
                rows, _ = service.list_events(c, merchant_id, type_="payment.succeeded", limit=1)
                return [{"cursor_only": True, **rows[0]}] if rows else []
            rows, _ = service.list_events(
                c, merchant_id, type_="payment.succeeded", limit=50, ending_before=cursor
            )
            return rows

    async def gen() -> AsyncIterator[str]:
        cursor = last
        if cursor is None:
            head = await asyncio.to_thread(fetch, None)
            cursor = head[0]["id"] if head else "evt_0"
        yield ": connected\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            rows = await asyncio.to_thread(fetch, cursor)
            for ev in rows:
                pay = ev["data"]["object"]
                data = {
                    "event_id": ev["id"],
                    "payment_id": pay["id"],
                    "amount_fen": pay["amount_fen"],
                    "channel": pay["channel"],
                    "text": announcement(pay),
                }
                yield f"id: {ev['id']}\nevent: payment\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                cursor = ev["id"]
                idle = 0.0
            await asyncio.sleep(STREAM_POLL_S)
            idle += STREAM_POLL_S
            if idle >= STREAM_IDLE_PING_S:
                yield ": ping\n\n"
                idle = 0.0

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
