"""The demo's back office: each day of history reconciled rail by rail and settled, as `make demo` does behind the
server (zhifu.sim.coherence.close_days), on a database that has just been filled with the simulated history, with
and without the query planner's statistics (SQLite's ANALYZE, which the demo now runs once the history is built).

    python benchmarks/back_office.py            # 240 days of history at the demo's scale, the last 15 closed
    python benchmarks/back_office.py --quick    # 90 days, the last 8 closed

Both measurements close the same days of the same copy of the database in this one run; the figure is days a minute
and SQL statements a day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # the fake rails and the simulator's built-in secret


def _close(url: str, days: list[dt.date], store: object) -> tuple[float, int]:
    from sqlalchemy import event

    from zhifu.db import Database
    from zhifu.sim.coherence import close_days

    db = Database(url)
    count = [0]
    event.listen(db.engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    started = time.perf_counter()
    done = close_days(
        db, days, rail_store=store, plant_every_days=10_000
    )  # nothing planted: the same work twice
    took = time.perf_counter() - started
    db.dispose()
    assert done["settled"] == len(days) and done["errors"] == 0, done
    return took, count[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--days", type=int)
    ap.add_argument("--close", type=int)
    ap.add_argument("--port", type=int, default=8391)
    args = ap.parse_args()
    days = args.days or (90 if args.quick else 240)
    closing = args.close or (8 if args.quick else 15)

    from zhifu.core.clock import SHANGHAI
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.payments import ensure_platform_accounts
    from zhifu.sim.coherence import demo_profile, issue_static_codes
    from zhifu.sim.demo import _fresh, analyze, start_fake_rails
    from zhifu.sim.engine import SimParams, Simulation, check_params

    with tempfile.TemporaryDirectory() as tmp:
        url, rails_folder = _fresh(str(Path(tmp) / "history.db"), args.port)
        upgrade(url)
        rails, server, thread = start_fake_rails(rails_folder, args.port + 1)
        try:
            today = dt.datetime.now(SHANGHAI).date()
            params = SimParams("yiyuan", today - dt.timedelta(days=days), days, 7, 0.005)
            county = demo_profile(check_params(params), params.start, today - dt.timedelta(days=1), 0.005)
            db = Database(url)
            sim = Simulation(db, params, county, [])
            sim.rail_store = rails.store  # type: ignore[attr-defined]
            started = time.perf_counter()
            sim.run(progress=False)
            issue_static_codes(db)
            with db.tx() as c:
                ensure_platform_accounts(c)
            db.dispose()
            print(
                f"history: {days} days, {sim.result.payments:,} payments in {time.perf_counter() - started:.0f} s"
            )
            last = [params.start + dt.timedelta(days=i) for i in range(days - closing, days)]
            src = url.removeprefix("sqlite:///")
            base = Path(tmp) / "baseline.db"
            shutil.copyfile(src, base)
            took_b, n_b = _close(f"sqlite:///{base}", last, rails.store)
            ours = Path(tmp) / "analyzed.db"
            shutil.copyfile(src, ours)
            db = Database(f"sqlite:///{ours}")
            analyze(db)
            db.dispose()
            took, n = _close(f"sqlite:///{ours}", last, rails.store)
            print(
                f"baseline (no planner statistics): {closing / took_b * 60:6.1f} days a minute, {n_b / closing:.0f} statements a day"
            )
            print(
                f"zhifu demo (ANALYZE after the history): {closing / took * 60:6.1f} days a minute, {n / closing:.0f} statements a day"
            )
            with sqlite3.connect(ours) as con:
                print(
                    "planner statistics rows:", con.execute("select count(*) from sqlite_stat1").fetchone()[0]
                )
        finally:
            server.should_exit = True
            thread.join(timeout=5)
            rails.stop()


if __name__ == "__main__":
    main()
