"""Risk benchmark: per-typology precision and recall of the default rule pack on a held-out simulated year (a seed
the rules were not tuned on), alerts per 10,000 payments, and the latency that limits and pre-authorisation
rules add to creating a payment, beside the same payments with risk off, in the same run.

    python benchmarks/risk.py                    # Yiyuan at scale 0.01, 365 days, held-out seed 29
    python benchmarks/risk.py --quick            # scale 0.005, 180 days
    python benchmarks/risk.py --seed 11          # the seed the thresholds were tuned on
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # the simulated county's personal data uses the built-in key
START = dt.date(2021, 1, 1)
TUNED_SEED = 11  # the seed the default pack's thresholds were set on
LATENCY_PAYMENTS = 2_000


def simulate(folder: str, *, seed: int, scale: float, days: int):  # type: ignore[no-untyped-def]
    from zhifu.county import load_profile
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.sim import SimParams
    from zhifu.sim.engine import Simulation
    from zhifu.sim.risk import risk_hook

    url = f"sqlite:///{folder}/risk.db"
    upgrade(url)
    db = Database(url)
    params = SimParams("yiyuan", START, days, seed, scale)
    result = Simulation(db, params, load_profile("yiyuan"), [risk_hook(db, seed, days)]).run(progress=False)
    return db, result


def latency(db, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """p50/p99 of create_payment (pay-code flow at a micro merchant: every limit and rule applies) with risk on and
    off, interleaved in the same run, and of risk.authorise alone. The call that creates the payment at the rail
    once its transaction commits is left out of both halves: this measures our own path, not a rail's answer."""
    import random

    from zhifu import risk
    from zhifu.core.clock import SHANGHAI
    from zhifu.incentives import PayerHint
    from zhifu.merchants import MerchantApplication
    from zhifu.merchants import service as merchants
    from zhifu.payments import CreatePayment, create_payment
    from zhifu.payments import service as payments_service
    from zhifu.reference import generate_resident_id

    rng = random.Random(5)
    at = dt.datetime.combine(START + dt.timedelta(days=400), dt.time(10), SHANGHAI).astimezone(dt.UTC)
    with db.tx() as c:
        app = MerchantApplication(
            type="micro",
            legal_name="测速",
            short_name="测速摊",
            legal_person_name="测速",
            legal_person_id=generate_resident_id(rng),
            phone="13900000000",
            mcc="5499",
            town_code="370323002",
            address="南麻",
            settle_bank="沂源农商银行",
            settle_account_no="6231000099990000",
            settle_account_name="测速",
            acquirer_id="yiyuan_rcb",
        )
        mid = merchants.apply(c, app, at=at)["id"]
        merchants.review(c, mid, "approve", at=at)
        merchants.set_frozen(c, mid, False)
    real = payments_service.risk.authorise
    real_call = payments_service.call_create
    payments_service.call_create = lambda *a, **k: None  # type: ignore[assignment]
    on: list[float] = []
    off: list[float] = []
    alone: list[float] = []
    for i in range(n):
        req = CreatePayment(
            amount_fen=100 + i % 50,
            merchant_order_no=f"L{i}",
            auth_code=f"13{i:016d}",  # a WeChat pay code
            payer=PayerHint(id=f"lat{i}"),
        )
        risk_on = i % 2 == 0
        payments_service.risk.authorise = real if risk_on else (lambda *a, **k: None)  # type: ignore[attr-defined]
        try:
            t0 = time.perf_counter()
            db.run(lambda c, r=req: create_payment(c, mid, r, at=at, flow="pay_code"))
            (on if risk_on else off).append(time.perf_counter() - t0)
        finally:
            payments_service.risk.authorise = real  # type: ignore[attr-defined]
        with db.tx() as c:
            m = merchants.merchant_row(c, mid)
            req2 = CreatePayment(
                amount_fen=100, merchant_order_no=f"A{i}", channel="wechat", payer=PayerHint(id=f"alone{i}")
            )
            t0 = time.perf_counter()
            risk.authorise(c, m, req2, "pay_code", at)
            alone.append(time.perf_counter() - t0)
            c.rollback()
    payments_service.call_create = real_call  # type: ignore[assignment]

    def q(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100)[int(p) - 1] * 1000 if len(xs) > 2 else 0.0

    return {
        "on_p50_ms": q(on, 50),
        "on_p99_ms": q(on, 99),
        "off_p50_ms": q(off, 50),
        "off_p99_ms": q(off, 99),
        "authorise_p50_ms": q(alone, 50),
        "authorise_p99_ms": q(alone, 99),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.scale, args.days = 0.005, 180
    from zhifu.risk import backtest
    from zhifu.risk.rules import default_source, parse_ruleset

    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        db, result = simulate(folder, seed=args.seed, scale=args.scale, days=args.days)
        sim_s = time.perf_counter() - t0
        bt = backtest.run(db, parse_ruleset(default_source()))
        held = "held-out" if args.seed != TUNED_SEED else "TUNING seed (not held out)"
        print(
            f"risk benchmark: Yiyuan scale {args.scale}, {args.days} days from {START}, seed {args.seed} ({held})"
        )
        print(
            f"  simulated {result.payments:,} payments in {sim_s:.1f} s; replayed {bt.payments:,} successes through "
            f"the rules in {bt.elapsed_s:.1f} s ({bt.payments / max(bt.elapsed_s, 1e-9):,.0f}/s)"
        )
        print(
            f"  alerts (rule × subject × day): {bt.live_alerts:,} live, {bt.alerts - bt.live_alerts:,} shadow; "
            f"{bt.alerts_per_10k:.1f} live alerts per 10,000 payments"
        )
        print(f"  {'typology':<20}{'labelled':>9}{'flagged':>9}{'true':>6}{'precision':>11}{'recall':>9}")
        for typ, s in sorted(bt.by_typology.items()):
            print(
                f"  {typ:<20}{s.positives:>9}{len(s.flagged):>9}{s.true_pos:>6}"
                f"{backtest.pct(s.precision_ppm):>11}{backtest.pct(s.recall_ppm):>9}"
            )
        print("  per rule:")
        for row in backtest.table(bt):
            print(
                f"    {row['rule']:<28}{'shadow' if row['shadow'] else '':<7}hits {row['hits']:>6}  subjects "
                f"{row['subjects']:>5}  precision {row['precision']:>7}  recall {row['recall']:>7}"
            )
        print(f"  honest look-alikes flagged: {bt.camouflage_flagged or 'none'}")
        lat = latency(db, LATENCY_PAYMENTS)
        print(
            f"  create_payment latency over {LATENCY_PAYMENTS:,} payments (half with risk, half without, "
            f"interleaved, SQLite, the rail's call left out): risk on p50 {lat['on_p50_ms']:.2f} ms p99 {lat['on_p99_ms']:.2f} ms; "
            f"risk off p50 {lat['off_p50_ms']:.2f} ms p99 {lat['off_p99_ms']:.2f} ms"
        )
        print(
            f"  risk.authorise alone (limits + pre-auth rules, in process): p50 {lat['authorise_p50_ms']:.3f} ms, "
            f"p99 {lat['authorise_p99_ms']:.3f} ms (goal ≤ 1 ms)"
        )
        db.dispose()


if __name__ == "__main__":
    main()
