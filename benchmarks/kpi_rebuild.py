"""How long `zhifu kpi rebuild` holds SQLite's write lock: the one-transaction rebuild beside the sliced one
(`rollup.rebuild_db`, transactions of about REBUILD_SLICE_S), on the same county in the same run.

    ZHIFU_SIMULATOR=1 python benchmarks/kpi_rebuild.py --db /tmp/county.db --days 120 --scale 0.3

Simulates demo_small into --db first when it holds no payments. Prints, for each way, the wall time, the number of
write transactions and the longest one: the longest is how long a payment may wait behind the rebuild.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import event, text  # noqa: E402

from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.kpi import rollup  # noqa: E402
from zhifu.sim import SimParams, simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a SQLite file (simulated into when empty)")
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=2, help="rounds of both ways")
    args = ap.parse_args()
    db = Database(f"sqlite:///{args.db}")
    metadata.create_all(db.engine)
    with db.read() as c:
        n = c.execute(text("SELECT count(*) FROM payments")).scalar_one()
    if not n:
        t0 = time.perf_counter()
        simulate(db, SimParams("demo_small", dt.date(2022, 1, 10), args.days, seed=11, scale=args.scale))
        with db.read() as c:
            n = c.execute(text("SELECT count(*) FROM payments")).scalar_one()
        print(f"simulated {n:,} payments in {time.perf_counter() - t0:.0f} s")
    held: list[float] = []
    started: dict[int, float] = {}

    def on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get("zhifu_read_only"):
            started[id(conn)] = time.perf_counter()

    def on_end(conn: Any) -> None:
        t0 = started.pop(id(conn), None)
        if t0 is not None:
            held.append((time.perf_counter() - t0) * 1000)

    event.listen(db.engine, "begin", on_begin)
    event.listen(db.engine, "commit", on_end)
    event.listen(db.engine, "rollback", on_end)
    print(f"county: {n:,} payments; REBUILD_SLICE_S = {rollup.REBUILD_SLICE_S}")
    ways = (
        ("one transaction", lambda: db.run(rollup.rebuild)),
        ("short transactions", lambda: rollup.rebuild_db(db)),
    )
    longest = {}
    for _ in range(args.repeat):
        for name, run in ways:
            held.clear()
            t0 = time.perf_counter()
            out = run()
            longest[name] = max(held)
            print(
                f"{name:>18}: {out['days']} business days in {time.perf_counter() - t0:.1f} s, "
                f"{len(held)} write transactions, the longest {max(held):,.0f} ms"
            )
    print(
        f"longest write, sliced / one transaction: {longest['short transactions'] / longest['one transaction']:.3f}"
    )


if __name__ == "__main__":
    main()
