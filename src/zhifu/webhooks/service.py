"""Events written in the same transaction as the change they describe; a dispatcher delivers them signed,
with retries over about a day, and loses nothing across restarts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import Connection, and_, select, update

from zhifu.core import clock
from zhifu.core.errors import InvalidRequest, NotFound
from zhifu.core.ids import new_id, new_id_fast
from zhifu.db import Database
from zhifu.webhooks.models import deliveries, endpoints, events

EVENT_TYPES = ("payment.succeeded", "payment.failed", "payment.closed", "payment.expired", "refund.succeeded",
               "refund.failed")
RETRY_SCHEDULE_S = (60, 300, 900, 3600, 6 * 3600, 12 * 3600)  # then the delivery is marked failed
ENDPOINTS_MAX = 16  # per merchant
DELIVERY_TIMEOUT_S = 10.0
DISPATCH_BATCH = 100


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(type(value))


def to_json(doc: Any) -> str:
    return json.dumps(doc, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def create_endpoint(conn: Connection, merchant_id: str, url: str, event_types: list[str]) -> dict[str, Any]:
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc or len(url) > 512:
        raise InvalidRequest("url must be an absolute http(s) URL of at most 512 characters", param="url")
    if not event_types:
        raise InvalidRequest("events must name at least one event type (or '*')", param="events")
    unknown = [e for e in event_types if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}", param="events")
    count = len(conn.execute(select(endpoints.c.id).where(endpoints.c.merchant_id == merchant_id)).all())
    if count >= ENDPOINTS_MAX:
        raise InvalidRequest(f"at most {ENDPOINTS_MAX} endpoints per merchant", param="url")
    row = {"merchant_id": merchant_id, "id": new_id("whe"), "url": url, "events": sorted(set(event_types)),
           "secret": "whsec_" + secrets.token_hex(24), "status": "enabled", "created_at": clock.now()}
    conn.execute(endpoints.insert(), [row])
    return {**_endpoint_public(row), "secret": row["secret"]}


def _endpoint_public(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {"id": get("id"), "object": "webhook_endpoint", "url": get("url"), "events": get("events"),
            "status": get("status"), "created_at": get("created_at")}


def list_endpoints(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    return [_endpoint_public(r) for r in conn.execute(
        select(endpoints).where(endpoints.c.merchant_id == merchant_id).order_by(endpoints.c.id.desc()))]


def delete_endpoint(conn: Connection, merchant_id: str, endpoint_id: str) -> dict[str, Any]:
    row = conn.execute(select(endpoints).where(and_(endpoints.c.merchant_id == merchant_id,
                                                    endpoints.c.id == endpoint_id))).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", param="id")
    conn.execute(endpoints.delete().where(and_(endpoints.c.merchant_id == merchant_id, endpoints.c.id == endpoint_id)))
    conn.execute(update(deliveries).where(and_(deliveries.c.endpoint_id == endpoint_id,
                                               deliveries.c.status == "pending"))
                 .values(status="failed", last_error="endpoint deleted"))
    return {**_endpoint_public(row), "deleted": True}


def emit(conn: Connection, merchant_id: str, type_: str, obj: dict[str, Any], *, at: dt.datetime | None = None) -> str:
    """Record an event and queue one delivery per subscribed endpoint, in the caller's transaction."""
    assert type_ in EVENT_TYPES, type_
    at = at or clock.now()
    eid = new_id_fast("evt", int(at.timestamp() * 1000))
    conn.execute(events.insert(), [{"id": eid, "merchant_id": merchant_id, "type": type_,
                                    "data": json.loads(to_json(obj)), "created_at": at}])
    subs = conn.execute(select(endpoints.c.id, endpoints.c.events).where(and_(
        endpoints.c.merchant_id == merchant_id, endpoints.c.status == "enabled"))).all()
    rows = [{"event_id": eid, "endpoint_id": s.id, "merchant_id": merchant_id, "status": "pending", "attempts": 0,
             "next_attempt_at": at} for s in subs if "*" in s.events or type_ in s.events]
    if rows:
        conn.execute(deliveries.insert(), rows)
    return eid


def event_public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "object": "event", "type": row.type, "created_at": row.created_at,
            "data": {"object": row.data}}


def list_events(conn: Connection, merchant_id: str, *, type_: str | None = None, limit: int = 20,
                starting_after: str | None = None, ending_before: str | None = None) -> tuple[list[dict], bool]:
    limit = max(1, min(limit, 100))
    q = select(events).where(events.c.merchant_id == merchant_id)
    if type_:
        q = q.where(events.c.type == type_)
    if ending_before:  # oldest first after a cursor: what the announcement stream reads
        q = q.where(events.c.id > ending_before).order_by(events.c.id.asc())
    else:
        q = q.order_by(events.c.id.desc())
        if starting_after:
            q = q.where(events.c.id < starting_after)
    rows = conn.execute(q.limit(limit + 1)).all()
    return [event_public(r) for r in rows[:limit]], len(rows) > limit


def sign(secret: str, body: bytes, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def dispatch_due(db: Database, *, client: httpx.Client | None = None, at: dt.datetime | None = None,
                 limit: int = DISPATCH_BATCH) -> dict[str, int]:
    """Deliver what is due. Each delivery is claimed, sent outside any transaction, then recorded."""
    at = at or clock.now()
    with db.tx() as conn:
        q = (select(deliveries.c.id, deliveries.c.event_id, deliveries.c.endpoint_id, deliveries.c.attempts)
             .where(and_(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= at))
             .order_by(deliveries.c.next_attempt_at).limit(limit))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        due = conn.execute(q).all()
        # claim: push them a little into the future so a second dispatcher does not send them at once
        if due:
            conn.execute(update(deliveries).where(deliveries.c.id.in_([d.id for d in due]))
                         .values(next_attempt_at=at + dt.timedelta(seconds=60)))
        payloads = {}
        for d in due:
            ev = conn.execute(select(events).where(events.c.id == d.event_id)).one()
            ep = conn.execute(select(endpoints).where(endpoints.c.id == d.endpoint_id)).first()
            payloads[d.id] = (ev, ep)
    stats = {"delivered": 0, "retry": 0, "failed": 0}
    own = client is None
    client = client or httpx.Client(timeout=DELIVERY_TIMEOUT_S)
    try:
        for d in due:
            ev, ep = payloads[d.id]
            error = None
            if ep is None:
                error = "endpoint deleted"
            else:
                body = to_json(event_public(ev)).encode()
                t = int(time.time())
                try:
                    resp = client.post(ep.url, content=body, headers={
                        "Content-Type": "application/json", "Zhifu-Signature": sign(ep.secret, body, t),
                        "Zhifu-Event-Id": ev.id, "User-Agent": "Zhifu-Webhooks/1"})
                    if not 200 <= resp.status_code < 300:
                        error = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
            with db.tx() as conn:
                attempts = d.attempts + 1
                if error is None:
                    conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(
                        status="delivered", attempts=attempts, delivered_at=clock.now(), last_error=None))
                    stats["delivered"] += 1
                elif ep is None or attempts > len(RETRY_SCHEDULE_S):
                    conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(
                        status="failed", attempts=attempts, last_error=error))
                    stats["failed"] += 1
                else:
                    conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(
                        attempts=attempts, last_error=error,
                        next_attempt_at=at + dt.timedelta(seconds=RETRY_SCHEDULE_S[attempts - 1])))
                    stats["retry"] += 1
    finally:
        if own:
            client.close()
    return stats
