"""Payments per second end to end over HTTP against the real app on SQLite, beside a bare FastAPI endpoint
that validates the same JSON body and returns it (the ceiling of a Python web stack here), same load generator.

    python benchmarks/payments_http.py [--quick] [--concurrency 16]

One payment = POST /v1/payments with a consumer pay code: the simulated rail answers, the success and its
journal entry commit with the webhook event queued in the outbox — one request, end to end. The QR flow
(create, then the payer pays: two requests) is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
_COUNTER = itertools.count()

CEILING_APP = textwrap.dedent('''
    from fastapi import FastAPI
    from zhifu.payments.service import CreatePayment
    app = FastAPI()

    @app.post("/v1/payments")
    def echo(req: CreatePayment) -> dict:
        return req.model_dump()
''')

SERVER_APP = textwrap.dedent('''
    import os
    from zhifu.api.app import create_app
    from zhifu.db import Database
    app = create_app(Database(os.environ["ZHIFU_DATABASE_URL"]))
''')


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(module_dir: Path, module: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port), "--log-level",
                             "warning", "--no-access-log"], cwd=module_dir, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def seed(db_url: str) -> str:
    """A database with the schema, the platform's accounts, one active merchant with a key and a webhook."""
    sys.path.insert(0, str(ROOT))
    from tests.factories import application

    from zhifu import merchants, webhooks
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.payments import ensure_platform_accounts

    upgrade(db_url)
    db = Database(db_url)
    with db.tx() as c:
        ensure_platform_accounts(c)
        m = merchants.apply(c, merchants.MerchantApplication.model_validate(application()))
        merchants.review(c, m["id"], "approve")
        _, secret = merchants.create_key(c, merchant_id=m["id"])
        webhooks.create_endpoint(c, m["id"], "http://127.0.0.1:9/hook", ["payment.succeeded"])
    db.dispose()
    return secret


async def load(base: str, secret: str, seconds: float, concurrency: int, flow: str) -> tuple[int, list[float]]:
    headers = {"Authorization": f"Bearer {secret}"}
    latencies: list[float] = []
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, w: int) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            n = next(_COUNTER)
            body = {"amount_fen": 1000 + n % 5000, "merchant_order_no": f"b{w}-{n}"}
            if flow == "qr":
                body["channel"] = "unionpay_qr"
            else:
                body["auth_code"] = f"62{n % 10**16:016d}1"  # the simulator reads the last digit: 1 succeeds
            t0 = time.perf_counter()
            r = await client.post("/v1/payments", json=body, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"unexpected {r.status_code}: {r.text[:200]}")
            if flow == "qr":
                r = await client.post(f"/sim/payments/{r.json()['id']}/pay", json={})
                assert r.json().get("status") == "succeeded", r.text[:600]
            elif flow == "paycode":
                assert r.json().get("status") == "succeeded", r.text[:200]
            latencies.append(time.perf_counter() - t0)
            done += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, w) for w in range(concurrency)))
    return done, latencies


def measure(label: str, base: str, secret: str, seconds: float, concurrency: int, flow: str) -> float:
    asyncio.run(load(base, secret, min(1.0, seconds / 4), concurrency, flow))  # warm up
    t0 = time.perf_counter()
    n, lat = asyncio.run(load(base, secret, seconds, concurrency, flow))
    elapsed = time.perf_counter() - t0
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    rate = n / elapsed
    print(f"{label:<44} {rate:9.0f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({n} in {elapsed:.1f} s)")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="about 30 s in all")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "ceiling_app.py").write_text(CEILING_APP)
        (tmpdir / "server_app.py").write_text(SERVER_APP)
        db_url = f"sqlite:///{tmpdir}/bench.db"
        secret = seed(db_url)
        print(f"load: {args.concurrency} concurrent clients, {seconds:.0f} s per measurement, one uvicorn worker each")
        proc, base = start_server(tmpdir, "ceiling_app", {})
        try:
            ceiling = measure("ceiling: bare FastAPI validate + echo", base, secret, seconds, args.concurrency, "echo")
        finally:
            proc.terminate()
            proc.wait()
        proc, base = start_server(tmpdir, "server_app", {"ZHIFU_DATABASE_URL": db_url})
        try:
            ours = measure("zhifu: pay-code payment end to end", base, secret, seconds, args.concurrency, "paycode")
            qr = measure("zhifu: QR payment (create + payer pays)", base, secret, seconds, args.concurrency, "qr")
        finally:
            proc.terminate()
            proc.wait()
        from zhifu.db import Database
        from zhifu.ledger import verify

        db = Database(db_url)
        with db.tx() as c:
            problems = verify(c)
        db.dispose()
    print(f"ratio pay-code payments ÷ ceiling requests: {ours / ceiling:.0%}  (target ≥ 25 %)")
    print(f"ratio QR payments ÷ ceiling requests:       {qr / ceiling:.0%}  (two requests per payment)")
    print(f"ledger verify after the run: {'ok' if not problems else json.dumps([str(p) for p in problems][:5])}")
    print(f"payments per second (pay code, end to end): {ours:.0f}")


if __name__ == "__main__":
    main()
