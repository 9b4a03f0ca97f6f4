"""The rails' asynchronous notifications: verified by the rail's connector, applied in the transaction that records
them, answered in the rail's own words. A refused notification moves no money and is kept for the operator."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhifu.api.deps import get_db, json_response, operator_principal, raw_body
from zhifu.channels import FACTS, facts, get_channel
from zhifu.channels.exceptions import EXCEPTION_KINDS, list_exceptions, record_exception
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.payments import service as payments
from zhifu.web.vocabulary import N_

log = logging.getLogger("zhifu.channels")
router = APIRouter(tags=["channels"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
console.add_nav("operator", (("/console/operator/rail-exceptions", N_("Rail exceptions")),), after=7)


@router.post(
    "/notify/{channel}",
    summary="A rail's asynchronous notification (signed by the rail)",
    responses={
        400: {"description": "refused: bad signature, unknown order, another merchant's, another amount"}
    },
)
def notify(
    channel: str, request: Request, body: bytes = Depends(raw_body), db: Database = Depends(get_db)
) -> Response:
    facts(channel)
    connector = get_channel(channel)
    try:
        headers = dict(request.headers)
        n = payments.parse_notification(channel, body, headers)  # verified before the transaction
        outcome = db.run(lambda c: payments.handle_notification(c, channel, body, headers, parsed=n))
    except ZhifuError as exc:
        code, message = exc.code, exc.message
        log.warning("notification of %s refused: %s", channel, message)
        db.run(lambda c: record_exception(c, channel, code, message, body))
        ack = connector.notification_ack(False)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
    log.info("notification of %s: %s", channel, outcome)
    ack = connector.notification_ack(True)
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)


@router.get("/v1/rail_exceptions", summary="The rails' exception list, newest first (operator)")
def rail_exceptions(
    limit: int = 50, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": list_exceptions(c, limit=limit), "has_more": False})


@pages.get("/console/operator/rail-exceptions")
def rail_exceptions_page(request: Request, user: User = Depends(console.role("operator"))) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        rows = list_exceptions(c, limit=100)
    for r in rows:
        f = FACTS.get(r["channel"])
        r["channel_label"] = f.label_zh if f else r["channel"]
        r["kind_label"] = EXCEPTION_KINDS.get(r["kind"], r["kind"])
        r["created_at_local"] = r["created_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return console.page(
        request, "channels/exceptions.html", {"rows": rows}, active="/console/operator/rail-exceptions"
    )


router.include_router(pages)
