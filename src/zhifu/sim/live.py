"""Live mode: drive a running server through its HTTP API at a steady rate — merchants create payments, payers
pay at the simulated rail — so dashboards move while someone watches."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from zhifu.core.errors import InvalidRequest
from zhifu.sim.catalog import category
from zhifu.sim.world import APPS, payer_ref

TPS_MAX = 500.0  # one process pacing requests; beyond this use several
MERCHANTS_MAX = 100  # keys issued for live traffic
RATE_RECHECK_S = 60.0  # with a rate that follows the hour, a long quiet gap is re-drawn at least this often
APP_CHANNELS = ("wechat", "wechat", "wechat", "alipay", "alipay", "unionpay_qr", "unionpay_qr", "bank_app")
ISSUERS = ("yiyuan_rcb", "psbc", "icbc", "abc", "boc", "ccb")


@dataclasses.dataclass
class LiveStats:
    created: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: int = 0
    payment_ids: list[str] = dataclasses.field(default_factory=list)
    last_error: str | None = None


def _merchant_keys(client: httpx.Client, op: dict[str, str], limit: int) -> list[tuple[str, str, str]]:
    r = client.get("/v1/merchants", params={"status": "active", "limit": min(limit, 100)}, headers=op)
    if r.status_code != 200:
        raise InvalidRequest(
            f"cannot list merchants with this operator key: HTTP {r.status_code} {r.text[:200]}",
            param="operator_key",
        )
    out = []
    for m in r.json()["data"][:limit]:
        k = client.post(
            f"/v1/merchants/{m['id']}/keys",
            headers={**op, "Idempotency-Key": uuid.uuid4().hex},
            json={"label": "live simulation"},
        )
        if k.status_code == 200:
            out.append((m["id"], m["mcc"], k.json()["secret"]))
    if not out:
        raise InvalidRequest(
            "the server has no active merchants: simulate history first (zhifu simulate) or onboard one",
            param="merchants",
        )
    return out


def run_live(
    client: httpx.Client,
    operator_key: str,
    *,
    tps: float,
    seed: int = 7,
    duration_s: float | None = None,
    payments_max: int | None = None,
    stop: threading.Event | None = None,
    merchants_max: int = MERCHANTS_MAX,
    rate_at: Callable[[], float] | None = None,
    payers: int | None = None,
    apps: bytes | bytearray | None = None,
) -> LiveStats:
    """Create and pay payments at `tps` a second until stopped, `duration_s` passes or `payments_max` are made.
    With `rate_at`, arrivals are random at the rate it gives now (the county's rhythm) instead of steady; with
    `payers`, the payers are the simulated county's own consumers (payer_ref 0 … payers-1); with `apps` (each
    consumer's app, as the world holds it), each of them pays with their own app, so one person is one payer."""
    if not (math.isfinite(tps) and 0 < tps <= TPS_MAX):
        raise InvalidRequest(f"--tps must be in (0, {TPS_MAX:g}]", param="tps")
    rng = random.Random(seed)
    op = {"Authorization": f"Bearer {operator_key}"}
    keys = _merchant_keys(client, op, merchants_max)
    stats = LiveStats()
    stop = stop or threading.Event()
    started = time.monotonic()
    n = 0
    while not stop.is_set():
        if duration_s is not None and time.monotonic() - started >= duration_s:
            break
        if payments_max is not None and n >= payments_max:
            break
        if rate_at is not None:
            wait = rng.expovariate(
                max(rate_at(), 1e-6)
            )  # a Poisson process at the model's rate for this hour
            if wait > RATE_RECHECK_S:  # memoryless: waiting part of it and drawing again keeps the rate exact
                if stop.wait(RATE_RECHECK_S):
                    break
                continue
        else:
            wait = started + n / tps - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        n += 1
        try:
            _one(client, rng, keys, stats, n, payers, apps)
        except httpx.HTTPError as exc:  # the server going away ends nothing: count it and carry on
            stats.errors += 1
            stats.last_error = f"{type(exc).__name__}: {exc}"
    return stats


def _one(
    client: httpx.Client,
    rng: random.Random,
    keys: list[tuple[str, str, str]],
    stats: LiveStats,
    n: int,
    payers: int | None = None,
    apps: bytes | bytearray | None = None,
) -> None:
    mid, mcc, secret = rng.choice(keys)
    cat = category(mcc)
    amount = max(1, min(50_000, int(cat.median_fen * math.exp(rng.gauss(0.0, cat.spread)))))
    if apps:
        idx = rng.randrange(len(apps))
        app = APPS[apps[idx]]
        channel = "unionpay_qr" if app == "unionpay" else app
    else:
        idx = rng.randrange(payers or 10_000_000)
        channel = rng.choice(APP_CHANNELS)
    auth = {"Authorization": f"Bearer {secret}"}
    wallet = channel in ("wechat", "alipay") and rng.random() < 0.55
    payer = {
        "id": payer_ref(idx),
        "issuer": None if wallet else rng.choice(ISSUERS),
        "card_type": "wallet" if wallet else "debit",
    }
    body: dict[str, Any] = {
        "amount_fen": amount,
        "merchant_order_no": f"L{uuid.uuid4().hex[:20]}",
        "channel": channel,
        "description": "live",
    }
    if (
        channel == "unionpay_qr"
    ):  # the 云闪付 app names its user as it scans: campaign discounts are priced on it
        body["payer"] = {"id": payer["id"]}
    r = client.post("/v1/payments", json=body, headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
    if r.status_code != 200:
        stats.errors += 1
        stats.last_error = r.text[:200]
        return
    pid = r.json()["id"]
    stats.created += 1
    outcome = "decline_insufficient_funds" if rng.random() < 0.01 else "success"
    r = client.post(f"/sim/payments/{pid}/pay", json={"outcome": outcome, "payer": payer})
    if r.status_code == 200 and r.json()["status"] == "succeeded":
        stats.succeeded += 1
        stats.payment_ids.append(pid)
        del stats.payment_ids[:-1000]  # keep the last few for read-back
    elif r.status_code == 200:
        stats.failed += 1
    else:
        stats.errors += 1
        stats.last_error = r.text[:200]
