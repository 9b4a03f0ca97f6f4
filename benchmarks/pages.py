"""Console pages' server time (p50/p95) on a demo-sized county, beside /healthz as the same-run baseline.

.venv/bin/python benchmarks/pages.py [--days 30] [--scale 0.1] [--requests 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from zhifu.api.app import create_app  # noqa: E402
from zhifu.console import service as console  # noqa: E402
from zhifu.core import clock  # noqa: E402
from zhifu.core.clock import SHANGHAI  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.merchants.models import merchants  # noqa: E402
from zhifu.payments.models import payments  # noqa: E402

TARGET_MS = 200.0
PASSWORD = "benchmark password"


def build(db: Database, days: int, scale: float) -> None:
    from zhifu.sim import SimParams, simulate

    today = clock.now().astimezone(SHANGHAI).date()
    result = simulate(db, SimParams("yiyuan", today - dt.timedelta(days=days - 1), days, seed=7, scale=scale))
    print(
        f"county: {result.merchants} merchants, {result.payments} payments over {days} days (scale {scale})"
    )


def users(db: Database) -> tuple[str, str]:
    with db.tx() as c:
        mid, acquirer = c.execute(
            select(payments.c.merchant_id, merchants.c.acquirer_id)
            .join(merchants, merchants.c.id == payments.c.merchant_id)
            .group_by(payments.c.merchant_id, merchants.c.acquirer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        pid = c.execute(
            select(payments.c.id).where(payments.c.merchant_id == mid).order_by(payments.c.id.desc()).limit(1)
        ).scalar_one()
        console.create_user(c, "bench-shop", "merchant", PASSWORD, merchant_id=mid)
        console.create_user(c, "bench-op", "operator", PASSWORD, institution_id=acquirer)
        console.create_user(c, "bench-pboc", "regulator", PASSWORD)
    return mid, pid


def login(app, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def measure(get: Callable[[], object], n: int) -> tuple[float, float]:
    get()  # warm caches and templates
    times = []
    for _ in range(n):
        started = time.perf_counter()
        r = get()
        times.append((time.perf_counter() - started) * 1000)
        assert getattr(r, "status_code", 200) == 200, getattr(r, "text", "")[:500]
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/pages.db")
        metadata.create_all(db.engine)
        started = time.perf_counter()
        build(db, args.days, args.scale)
        print(f"built in {time.perf_counter() - started:.1f} s")
        mid, pid = users(db)
        app = create_app(db)
        with TestClient(app) as anon:
            shop, op, reg = login(app, "bench-shop"), login(app, "bench-op"), login(app, "bench-pboc")
            pages: list[tuple[str, TestClient, str]] = [
                ("baseline /healthz", anon, "/healthz"),
                ("login form", anon, "/login"),
                ("merchant: today's takings", shop, "/console/merchant"),
                ("merchant: payments", shop, "/console/merchant/payments"),
                ("merchant: payment search", shop, f"/console/merchant/payments?q={pid}"),
                ("merchant: payment detail", shop, f"/console/merchant/payments/{pid}"),
                ("merchant: refunds", shop, "/console/merchant/refunds"),
                ("merchant: settlements", shop, "/console/merchant/settlements"),
                ("merchant: codes", shop, "/console/merchant/codes"),
                ("merchant: API keys", shop, "/console/merchant/keys"),
                ("merchant: webhooks", shop, "/console/merchant/webhooks"),
                ("merchant: profile", shop, "/console/merchant/profile"),
                ("operator: review queue", op, "/console/operator"),
                ("operator: merchants", op, "/console/operator/merchants"),
                ("operator: review one", op, f"/console/operator/merchants/{mid}"),
                ("operator: payments", op, "/console/operator/payments"),
                ("operator: payment detail", op, f"/console/operator/payments/{pid}"),
                ("regulator: dashboard", reg, "/console/regulator"),
                ("regulator: merchants", reg, "/console/regulator/merchants"),
                ("regulator: payments", reg, "/console/regulator/payments"),
            ]
            print(f"\n{'page':32} {'p50 ms':>8} {'p95 ms':>8}  target p95 < {TARGET_MS:.0f} ms")
            worst = 0.0
            for label, client, url in pages:
                p50, p95 = measure(lambda c=client, u=url: c.get(u), args.requests)
                worst = max(worst, p95) if label != "baseline /healthz" else worst
                flag = "" if p95 < TARGET_MS else "  OVER"
                print(f"{label:32} {p50:8.1f} {p95:8.1f}{flag}")
            print(
                f"\nworst page p95: {worst:.1f} ms ({'meets' if worst < TARGET_MS else 'misses'} the target)"
            )
        db.dispose()


if __name__ == "__main__":
    main()
