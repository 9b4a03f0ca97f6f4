"""Transit at county scale: a validator's offline gate decision, and taps settled into capped fare charges.

    .venv/bin/python benchmarks/transit.py [RIDERS [TAPS_PER_RIDER]]   (1000 and 4 by default; SQLite in a temp dir)

Prints validator decisions p50/p99/max (the programme's goal is 300 ms; the decision is local, so far below)
beside the same question answered online by a read of the platform's database in the same run, and taps
settled per second (uploaded in batches of 500, fares recomputed, one capped charge per rider through the
payment service) beside plain pay-code payments per second in the same run."""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")
os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # the simulated rails and payer, on the built-in secret

from benchmarks._common import peak_rss_mb  # noqa: E402
from tests.transit import helpers as h  # noqa: E402

from zhifu.core import clock  # noqa: E402
from zhifu.core.clock import FixedClock  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.payments import CreatePayment, create_payment  # noqa: E402
from zhifu.transit import Validator, service, tokens  # noqa: E402
from zhifu.transit.models import transit_deny, transit_riders  # noqa: E402
from zhifu.transit.validator import DECISION_BUDGET_MS  # noqa: E402

DECISIONS = 20_000
BATCH = 500


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def main(riders: int, taps_per_rider: int) -> None:
    rng = random.Random(19)
    day = h.sh(2022, 6, 15, 6)
    fc = FixedClock(day)
    clock.set_clock(fc)
    tmp = tempfile.mkdtemp()
    db = Database(f"sqlite:///{tmp}/bench.db")
    metadata.create_all(db.engine)
    op = h.operator(db, daily_cap_fen=400, monthly_cap_fen=8_000)
    mid = op["merchant_id"]
    for lid, fare in (("l1", 100), ("l2", 200), ("l3", 150)):
        h.line(db, mid, lid, fare_fen=fare)
    h.validator(db, mid, "v1", "l1")
    ids = [h.rider(db, token=h.GOOD_PAYCODE[:-1] + str(rng.choice("0123456")))["id"] for _ in range(riders)]
    for rid in ids[: riders // 50]:  # 2 % on the deny list
        with db.tx() as c:
            service.deny(c, mid, rid, "lost")
    with db.tx() as c:
        v = Validator.from_sync(service.sync(c, mid, "v1"), day)
    codes = [tokens.ride_token(rid, int(day.timestamp()), int(day.timestamp()) + 86_400) for rid in ids]
    codes += [codes[0][:-3] + "AAA", h.GOOD_PAYCODE]  # a forged QR and a pay code
    print(f"{riders} riders, deny list {len(v.deny)}, peak memory {peak_rss_mb():.0f} MB")

    local: list[float] = []
    for i in range(DECISIONS):
        code = codes[rng.randrange(len(codes))]
        t0 = time.perf_counter()
        v.decide(code, day + dt.timedelta(seconds=i))
        local.append((time.perf_counter() - t0) * 1000)
    online: list[float] = []
    for _ in range(min(DECISIONS, 5_000)):  # the same answer asked of the platform's database
        rid = ids[rng.randrange(len(ids))]
        t0 = time.perf_counter()
        with db.read() as c:
            c.execute(transit_riders.select().where(transit_riders.c.id == rid)).first()
            c.execute(
                transit_deny.select().where(
                    transit_deny.c.merchant_id == mid,
                    transit_deny.c.rider_id == rid,
                    transit_deny.c.status == "active",
                )
            ).first()
        online.append((time.perf_counter() - t0) * 1000)
    print(
        f"validator decision (local, offline): p50 {statistics.median(local):.3f} ms, p99 {pct(local, 0.99):.3f} ms, "
        f"max {max(local):.3f} ms over {len(local)} decisions; goal ≤ {DECISION_BUDGET_MS} ms"
    )
    print(
        f"baseline, the same question online (a read of the platform's database, no network): "
        f"p50 {statistics.median(online):.3f} ms, p99 {pct(online, 0.99):.3f} ms"
    )

    taps = []
    for i, rid in enumerate(ids):
        for k in range(taps_per_rider):
            at = day + dt.timedelta(hours=1 + 3 * k, seconds=i)
            taps.append(
                {
                    "id": f"{i}-{k}",
                    "credential": tokens.ride_token(rid, int(at.timestamp()), int(at.timestamp()) + 300),
                    "tapped_at": at,
                    "decision": "accept",
                }
            )
    fc.set(h.sh(2022, 6, 16, 3))
    t0 = time.perf_counter()
    for i in range(0, len(taps), BATCH):
        batch = service.TapBatch(
            validator_time=clock.now(), taps=[service.TapIn(**t) for t in taps[i : i + BATCH]]
        )
        db.run(lambda c, b=batch: service.upload_taps(c, mid, "v1", b))
    t_upload = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = service.charge_due(db, merchant_id=mid)
    t_charge = time.perf_counter() - t0
    assert stats["charges"] == stats["succeeded"] == riders, stats
    fare = min(400, sum((100,) * taps_per_rider))
    assert stats["amount_fen"] == riders * fare, stats
    base_n = min(1_000, riders)
    t0 = time.perf_counter()
    for i in range(base_n):
        with db.tx() as c:
            create_payment(
                c, mid, CreatePayment(amount_fen=400, merchant_order_no=f"base{i}", auth_code=h.GOOD_PAYCODE)
            )
    t_base = (time.perf_counter() - t0) / base_n
    total = t_upload + t_charge
    print(
        f"taps settled: {len(taps)} taps in {total:.2f} s = {len(taps) / total:,.0f} taps/s (upload and fares "
        f"{t_upload:.2f} s = {len(taps) / t_upload:,.0f} taps/s; {stats['charges']} capped charges {t_charge:.2f} s = "
        f"{stats['charges'] / t_charge:,.0f} charges/s)"
    )
    print(
        f"baseline, plain pay-code payments in the same run: {1 / t_base:,.0f} payments/s; peak memory "
        f"{peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000, int(sys.argv[2]) if len(sys.argv) > 2 else 4)
