"""The rails' asynchronous notifications: verified by the rail's connector, applied in the transaction that records
them, answered in the rail's own words. A refused notification moves no money and is kept for the operator."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhifu.api.deps import get_db, raw_body
from zhifu.channels import facts, get_channel
from zhifu.channels.exceptions import record_exception
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.payments import service as payments

log = logging.getLogger("zhifu.channels")
router = APIRouter(tags=["channels"])


@router.post("/notify/{channel}", summary="A rail's asynchronous notification (signed by the rail)",
             responses={400: {"description": "refused: bad signature, unknown order, another merchant's, "
                                             "another amount"}})
def notify(channel: str, request: Request, body: bytes = Depends(raw_body), db: Database = Depends(get_db)) -> Response:
    facts(channel)
    connector = get_channel(channel)
    try:
        outcome = db.run(lambda c: payments.handle_notification(c, channel, body, dict(request.headers)))
    except ZhifuError as exc:
        code, message = exc.code, exc.message
        log.warning("notification of %s refused: %s", channel, message)
        db.run(lambda c: record_exception(c, channel, code, message, body))
        ack = connector.notification_ack(False)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
    log.info("notification of %s: %s", channel, outcome)
    ack = connector.notification_ack(True)
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
