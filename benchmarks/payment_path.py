"""支付路径 CPU / CPU time of the payment path itself, with no HTTP server: `create_and_answer` (the intent's
transaction, the rail call after its commit, the answer's transaction with the ledger entry, fee, incentives,
webhook event) called in one thread against the fake rails in another process, beside the rail call alone (the
same signed UnionPay request and verified answer, no database) in the same run. The thread's CPU time is counted,
so waiting for the rails is not.

    python benchmarks/payment_path.py [--payments 600] [--pg]
    python benchmarks/payment_path.py --profile [--sort tottime]   # and the cProfile of the path

What the HTTP benchmark's "zhifu" CPU per payment adds to this figure is the web server, the middleware, the
API key and the background duties.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import payments_http as ph  # noqa: E402  (the fake rails and the seeded merchant of the HTTP benchmark)

WARM_UP = 50


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payments", type=int, default=600)
    ap.add_argument(
        "--pg", action="store_true", help="on PostgreSQL (ZHIFU_TEST_PG_URL's server) instead of SQLite"
    )
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sort", default="cumulative", help="the profile's order: cumulative or tottime")
    args = ap.parse_args()
    os.environ["ZHIFU_SIMULATOR"] = "1"
    os.environ["ZHIFU_WEBHOOK_ALLOW_PRIVATE"] = "1"
    os.environ.setdefault("ZHIFU_SETTLEMENT_SCHEDULED", "0")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rails, rails_json = ph.start_rails(tmp)
        os.environ["ZHIFU_RAILS_CONFIG"] = str(rails_json)
        url = (ph.pg_database() if args.pg else None) or f"sqlite:///{tmp}/path.db"
        try:
            run(url, args.payments, args.profile, args.sort)
        finally:
            ph.stop(rails)
            if url.startswith("postgresql"):
                ph.drop_pg(url)


def run(url: str, n: int, profile: bool, sort: str = "cumulative") -> None:
    ph.seed(url)
    from zhifu.channels import get_channel
    from zhifu.channels.base import PaymentOrder
    from zhifu.db import Database
    from zhifu.payments import service
    from zhifu.plugins import load_events

    load_events()
    db = Database(url)
    with db.read() as c:
        mid = c.exec_driver_sql("SELECT id FROM merchants").scalar()
    tag = time.time_ns()

    def pay(i: int) -> None:
        req = service.CreatePayment.model_validate(
            {"amount_fen": 1_000 + i % 5_000, "merchant_order_no": f"p{tag}-{i}", "auth_code": f"62{i:016d}1"}
        )
        doc = service.create_and_answer(db, mid, req)
        assert doc["status"] == "succeeded", doc

    channel = get_channel("unionpay_qr")

    def rail_only(i: int) -> None:
        now = dt.datetime.now(dt.UTC)
        order = PaymentOrder(
            f"pay_bench{tag}{i}",
            mid,
            1_000 + i % 5_000,
            "bench",
            now + dt.timedelta(minutes=5),
            now,
            f"62{i:016d}1",
            "pay_code",
            merchant_name="bench",
        )
        assert channel.create(order).status == "succeeded"

    for i in range(WARM_UP):
        pay(i)
        rail_only(i)
    figures = {}
    for name, fn in (("payment path", pay), ("rail call alone", rail_only)):
        started = time.thread_time()
        for i in range(n):
            fn(WARM_UP + i)
        figures[name] = (time.thread_time() - started) / n * 1000
    print(f"{db.dialect}, {n} pay-code payments, one thread, CPU time of this thread:")
    print(f"  payment path (create_and_answer)   {figures['payment path']:6.2f} ms a payment")
    print(f"  rail call alone (the baseline)     {figures['rail call alone']:6.2f} ms a call")
    print(
        f"  the rest (two transactions, ledger, fee, incentives, event): "
        f"{figures['payment path'] - figures['rail call alone']:.2f} ms"
    )
    if profile:
        pr = cProfile.Profile(time.thread_time)
        pr.enable()
        for i in range(n):
            pay(WARM_UP + n + i)
        pr.disable()
        pstats.Stats(pr).sort_stats(sort).print_stats(40)
    db.dispose()


if __name__ == "__main__":
    main()
