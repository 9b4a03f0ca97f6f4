"""Events written in the same transaction as the change they describe; a dispatcher delivers them signed,
with retries over about a day, and loses nothing across restarts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import Connection, and_, bindparam, select, update

from zhifu.core import clock
from zhifu.core.config import get_settings
from zhifu.core.errors import InvalidRequest, NotFound
from zhifu.core.ids import new_id, new_id_fast
from zhifu.core.paging import page_of
from zhifu.db import Database
from zhifu.webhooks.models import deliveries, endpoints, events

EVENT_TYPES = (
    "payment.succeeded",
    "payment.failed",
    "payment.closed",
    "payment.expired",
    "refund.succeeded",
    "refund.failed",
)
RETRY_SCHEDULE_S = (60, 300, 900, 3600, 6 * 3600, 12 * 3600)  # then the delivery is marked failed
ENDPOINTS_MAX = 16  # per merchant
DELIVERY_TIMEOUT_S = 10.0
DISPATCH_BATCH = 100
ENDPOINT_PASS_MAX = 20  # deliveries to one endpoint per pass: one endpoint's backlog never fills the batch
DISPATCH_THREADS = 16  # endpoints served at once; each endpoint gets one request at a time, in order
_BLOCKED_HOSTS = ("localhost", "localhost.localdomain", "ip6-localhost", "metadata.google.internal")


class AddressNotAllowed(InvalidRequest):
    code = "url_not_allowed"


def _ip_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def check_address(url: str, *, resolve: bool) -> None:
    """Refuse loopback, private, link-local and other non-public addresses (the operator's own network, cloud
    metadata at 169.254.169.254) unless ZHIFU_WEBHOOK_ALLOW_PRIVATE=1. A name is resolved when `resolve` is set
    (at delivery, every address it resolves to must be public); a name that does not resolve yet passes here."""
    if get_settings().webhook_allow_private:
        return
    host = (urlparse(url).hostname or "").rstrip(".").lower()
    refuse = AddressNotAllowed(
        f"回调地址不能指向内网、本机或链路本地地址 / the webhook URL's host {host!r} is a "
        "private, loopback or link-local address",
        param="url",
    )
    if host in _BLOCKED_HOSTS or host.endswith(".localhost"):
        raise refuse
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return  # the request itself fails and is retried
        addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    if not all(_ip_allowed(a) for a in addresses):
        raise refuse


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
    check_address(url, resolve=False)
    if not event_types:
        raise InvalidRequest("events must name at least one event type (or '*')", param="events")
    unknown = [e for e in event_types if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(
            f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}", param="events"
        )
    count = len(conn.execute(select(endpoints.c.id).where(endpoints.c.merchant_id == merchant_id)).all())
    if count >= ENDPOINTS_MAX:
        raise InvalidRequest(f"at most {ENDPOINTS_MAX} endpoints per merchant", param="url")
    row = {
        "merchant_id": merchant_id,
        "id": new_id("whe"),
        "url": url,
        "events": sorted(set(event_types)),
        "secret": "whsec_" + secrets.token_hex(24),
        "status": "enabled",
        "created_at": clock.now(),
    }
    conn.execute(endpoints.insert(), [row])
    return {**_endpoint_public(row), "secret": row["secret"]}


def _endpoint_public(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {
        "id": get("id"),
        "object": "webhook_endpoint",
        "url": get("url"),
        "events": get("events"),
        "status": get("status"),
        "created_at": get("created_at"),
    }


def list_endpoints(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    return [
        _endpoint_public(r)
        for r in conn.execute(
            select(endpoints).where(endpoints.c.merchant_id == merchant_id).order_by(endpoints.c.id.desc())
        )
    ]


def delete_endpoint(conn: Connection, merchant_id: str, endpoint_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(endpoints).where(and_(endpoints.c.merchant_id == merchant_id, endpoints.c.id == endpoint_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", param="id")
    conn.execute(
        endpoints.delete().where(and_(endpoints.c.merchant_id == merchant_id, endpoints.c.id == endpoint_id))
    )
    conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending"))
        .values(status="failed", last_error="endpoint deleted")
    )
    return {**_endpoint_public(row), "deleted": True}


def emit(
    conn: Connection, merchant_id: str, type_: str, obj: Mapping[str, Any], *, at: dt.datetime | None = None
) -> str:
    """Record an event and queue one delivery per subscribed endpoint, in the caller's transaction."""
    assert type_ in EVENT_TYPES, type_
    at = at or clock.now()
    eid = new_id_fast("evt", int(at.timestamp() * 1000))
    conn.execute(
        _INSERT_EVENT,
        [
            {
                "id": eid,
                "merchant_id": merchant_id,
                "type": type_,
                "data": json.loads(to_json(obj)),
                "created_at": at,
            }
        ],
    )
    subs = conn.execute(_SUBSCRIBED, {"mid": merchant_id}).all()
    rows = [
        {
            "event_id": eid,
            "endpoint_id": s.id,
            "merchant_id": merchant_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
        }
        for s in subs
        if "*" in s.events or type_ in s.events
    ]
    if rows:
        conn.execute(_INSERT_DELIVERIES, rows)
    return eid


# what every payment's success runs, built once
_INSERT_EVENT = events.insert()
_INSERT_DELIVERIES = deliveries.insert()
_SUBSCRIBED = select(endpoints.c.id, endpoints.c.events).where(
    and_(endpoints.c.merchant_id == bindparam("mid"), endpoints.c.status == "enabled")
)


def event_public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "event",
        "type": row.type,
        "created_at": row.created_at,
        "data": {"object": row.data},
    }


def list_events(
    conn: Connection,
    merchant_id: str,
    *,
    type_: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> tuple[list[dict], bool]:
    q = select(events).where(events.c.merchant_id == merchant_id)
    if type_:
        q = q.where(events.c.type == type_)
    # ending_before: oldest first after a cursor, what the announcement stream reads
    return page_of(
        conn,
        q,
        events.c.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        public=event_public,
    )


def sign(secret: str, body: bytes, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


_busy: set[str] = set()  # endpoints with a delivery in flight in this process
_busy_lock = threading.Lock()
_pool = ThreadPoolExecutor(DISPATCH_THREADS, thread_name_prefix="zhifu-webhook")
_shared_client: httpx.Client | None = None


def _client() -> httpx.Client:
    global _shared_client
    if _shared_client is None:
        _shared_client = httpx.Client(
            timeout=httpx.Timeout(DELIVERY_TIMEOUT_S, connect=3.0), follow_redirects=False
        )
    return _shared_client


def _claim(db: Database, at: dt.datetime, limit: int) -> list[tuple[Any, Any, Any]]:
    """Due deliveries, at most ENDPOINT_PASS_MAX per endpoint and none of an endpoint already in flight here,
    pushed a minute ahead so a second dispatcher does not send them at once."""
    with _busy_lock:
        busy = set(_busy)
    with db.tx() as conn:
        q = (
            select(deliveries.c.id, deliveries.c.event_id, deliveries.c.endpoint_id, deliveries.c.attempts)
            .where(and_(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= at))
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        if busy:
            q = q.where(deliveries.c.endpoint_id.not_in(busy))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        per: dict[str, int] = defaultdict(int)
        due = []
        for d in conn.execute(q).all():
            per[d.endpoint_id] += 1
            if per[d.endpoint_id] <= ENDPOINT_PASS_MAX:
                due.append(d)
        if due:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([d.id for d in due]))
                .values(next_attempt_at=at + dt.timedelta(seconds=60))
            )
        out = []
        for d in due:
            ev = conn.execute(select(events).where(events.c.id == d.event_id)).one()
            ep = conn.execute(select(endpoints).where(endpoints.c.id == d.endpoint_id)).first()
            out.append((d, ev, ep))
    return out


def _send(client: httpx.Client, ev: Any, ep: Any) -> tuple[str | None, bool]:
    """(error or None, whether the endpoint is unreachable: the rest of its deliveries wait for the next pass)."""
    try:
        check_address(ep.url, resolve=True)
    except AddressNotAllowed as exc:
        return exc.message[:500], False
    body = to_json(event_public(ev)).encode()
    t = int(time.time())
    try:
        resp = client.post(
            ep.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Zhifu-Signature": sign(ep.secret, body, t),
                "Zhifu-Event-Id": ev.id,
                "User-Agent": "Zhifu-Webhooks/1",
            },
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500], True
    return (None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"), False


def _record(db: Database, d: Any, ep: Any, error: str | None, at: dt.datetime) -> str:
    with db.tx() as conn:
        attempts = d.attempts + 1
        if error is None:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == d.id)
                .values(status="delivered", attempts=attempts, delivered_at=clock.now(), last_error=None)
            )
            return "delivered"
        if ep is None or attempts > len(RETRY_SCHEDULE_S):
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == d.id)
                .values(status="failed", attempts=attempts, last_error=error)
            )
            return "failed"
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == d.id)
            .values(
                attempts=attempts,
                last_error=error,
                next_attempt_at=at + dt.timedelta(seconds=RETRY_SCHEDULE_S[attempts - 1]),
            )
        )
        return "retry"


def _deliver_endpoint(
    db: Database,
    client: httpx.Client,
    items: list[tuple[Any, Any, Any]],
    at: dt.datetime,
    stats: dict[str, int],
    lock: threading.Lock,
) -> None:
    """One endpoint's deliveries, in order, one at a time. An unreachable endpoint is tried once a pass: its other
    deliveries count the same failed attempt without waiting for another timeout."""
    try:
        down: str | None = None
        for d, ev, ep in items:
            error: str | None
            if down is not None:
                error = down
            else:
                error, unreachable = ("endpoint deleted", False) if ep is None else _send(client, ev, ep)
                down = error if unreachable else None
            outcome = _record(db, d, ep, error, at)
            with lock:
                stats[outcome] += 1
    finally:
        with _busy_lock:
            _busy.discard(items[0][0].endpoint_id)


def dispatch_due(
    db: Database,
    *,
    client: httpx.Client | None = None,
    at: dt.datetime | None = None,
    limit: int = DISPATCH_BATCH,
    wait: bool = True,
) -> dict[str, int]:
    """Deliver what is due: each endpoint's deliveries in order on a thread of its own, so a slow or dead endpoint
    never delays another's. Claimed in one transaction, sent outside any, each result recorded in its own.
    `wait=False` (the background worker) returns once the sends are started."""
    at = at or clock.now()
    by_endpoint: dict[str, list[tuple[Any, Any, Any]]] = defaultdict(list)
    for item in _claim(db, at, limit):
        by_endpoint[item[0].endpoint_id].append(item)
    stats = {"delivered": 0, "retry": 0, "failed": 0}
    lock = threading.Lock()
    with _busy_lock:
        _busy.update(by_endpoint)
    futures = [
        _pool.submit(_deliver_endpoint, db, client or _client(), items, at, stats, lock)
        for items in by_endpoint.values()
    ]
    if wait:
        for f in futures:
            f.result()
    return stats
