"""Dashboard queries' p95 over a simulated county, beside the same figures computed from raw payments.

    python benchmarks/dashboard.py --db sqlite:////tmp/county.db     # an existing simulated database
    python benchmarks/dashboard.py --days 120 --scale 0.05           # simulate one first (demo_small or yiyuan)

It (re)builds the rollups (timed), runs one incremental refresh (timed), then times each dashboard query
`--repeat` times with varied filters and prints p50/p95, the raw-table baseline for the headline totals, and the
database's size. Target: p95 < 200 ms at 10 million payments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import func, select, text  # noqa: E402

from zhifu.county.tables import county_towns  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.kpi import rollup, service  # noqa: E402
from zhifu.payments.models import payments  # noqa: E402

TARGET_P95_MS = 200.0


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _time(db: Database, fn: Callable[..., object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with db.read() as c:
            fn(c)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--db", help="an existing simulated database URL (default: simulate into a temporary SQLite)"
    )
    ap.add_argument("--profile", default="demo_small")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--skip-rebuild", action="store_true", help="keep rollups already built")
    args = ap.parse_args()
    url = args.db
    if url is None:
        from zhifu.sim import SimParams, simulate

        url = f"sqlite:///{tempfile.mkdtemp(prefix='zhifu-bench-')}/county.db"
        db = Database(url)
        metadata.create_all(db.engine)
        t0 = time.perf_counter()
        simulate(db, SimParams(args.profile, dt.date(2021, 1, 1), args.days, scale=args.scale))
        print(
            f"simulated {args.profile} {args.days} days at scale {args.scale} in {time.perf_counter() - t0:.0f} s"
        )
    else:
        db = Database(url)
        metadata.create_all(db.engine, tables=[t for n, t in metadata.tables.items() if n.startswith("kpi_")])
    with db.read() as c:
        n_pay = c.execute(select(func.count()).select_from(payments)).scalar_one()
        n_daily = c.execute(text("SELECT count(*) FROM kpi_daily")).scalar_one()
        towns = list(c.execute(select(county_towns.c.code)).scalars())
    size = Path(url.removeprefix("sqlite:///")).stat().st_size if url.startswith("sqlite") else None
    print(f"database: {db.dialect}, {n_pay:,} payments" + (f", {size / 1e9:.1f} GB" if size else ""))
    if not args.skip_rebuild or not n_daily:
        t0 = time.perf_counter()
        with db.tx() as c:
            r = rollup.rebuild(c)
        print(f"rebuild: {r['days']} business days in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    r = db.run(rollup.refresh)
    print(
        f"refresh (nothing new; recomputes the lookback's {r['days']} days): {time.perf_counter() - t0:.2f} s"
    )
    with db.read() as c:
        rows = {
            name: c.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in (
                "kpi_daily",
                "kpi_daily_sum",
                "kpi_monthly",
                "kpi_payer_days",
                "kpi_active_users",
                "kpi_payer_first",
            )
        }
        last = rollup.rollup_days(c)[1]
        insts = [i for (i,) in c.execute(text("SELECT DISTINCT acquirer_id FROM kpi_daily"))]
    print("rollup rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    assert last is not None
    rng = random.Random(7)

    def filters() -> service.Filters:
        end = last - dt.timedelta(days=rng.randrange(0, 30))
        start = (
            dt.date(end.year, 1, 1)
            if rng.random() < 0.5
            else end - dt.timedelta(days=rng.choice((30, 90, 365)))
        )
        return service.Filters(
            start,
            end,
            town=rng.choice([None, None, *towns]),
            institution=rng.choice([None, None, *insts]),
            channel=rng.choice([None, None, "unionpay_qr", "wechat"]),
        )

    queries: dict[str, Callable[..., object]] = {
        "overview (targets, totals, 云闪付 YoY, share, channels, institutions, pilot, operations)": lambda c: (
            service.overview(c, filters())
        ),
        "trend with YoY": lambda c: service.trend(c, filters()),
        "active users series": lambda c: service.active_series(c, filters()),
        "coverage by town": lambda c: service.coverage(c, last),
        "coverage by village (one town)": lambda c: service.coverage(c, last, town=rng.choice(towns)),
        "headline totals from rollups": lambda c: service.totals(
            c, service.Filters(dt.date(last.year, 1, 1), last)
        ),
    }

    def raw_totals(c) -> object:  # type: ignore[no-untyped-def]
        return c.execute(
            text(
                "SELECT count(*), sum(amount_fen) FROM payments WHERE status='succeeded' AND "
                "business_date BETWEEN :a AND :b"
            ),
            {"a": dt.date(last.year, 1, 1), "b": last},
        ).one()

    def raw_active(c) -> object:  # type: ignore[no-untyped-def]
        return c.execute(
            text(
                "SELECT count(DISTINCT payer_ref) FROM payments WHERE status='succeeded' AND channel "
                "<> 'unionpay_card' AND business_date BETWEEN :a AND :b"
            ),
            {"a": last - dt.timedelta(days=29), "b": last},
        ).one()

    print(f"\n{'query':<88} {'p50 ms':>8} {'p95 ms':>8}")
    worst = 0.0
    for name, fn in queries.items():
        ms = _time(db, fn, args.repeat)
        worst = max(worst, _p(ms, 0.95))
        print(f"{name:<88} {statistics.median(ms):>8.1f} {_p(ms, 0.95):>8.1f}")
    print("baseline, the same figures from raw payments:")
    for name, fn in (("  year-to-date totals", raw_totals), ("  active users (30 days)", raw_active)):
        ms = _time(db, fn, max(3, args.repeat // 10))
        print(f"{name:<88} {statistics.median(ms):>8.1f} {_p(ms, 0.95):>8.1f}")
    verdict = "within" if worst < TARGET_P95_MS else "over"
    print(
        f"\nworst dashboard p95 {worst:.1f} ms at {n_pay:,} payments: {verdict} the {TARGET_P95_MS:.0f} ms target"
    )
    db.dispose()


if __name__ == "__main__":
    os.environ.setdefault("ZHIFU_LOG_LEVEL", "WARNING")
    main()
