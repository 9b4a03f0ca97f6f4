"""A harvest season's payout: N farmers' purchases imported from one scale file (whole-file validation, one
transaction), then paid in one batch (funds checked, the total moved to transit, one ledger entry per farmer to
their card, every line's result recorded), with one card in 10,000 closed and left failed for the buyer.

    .venv/bin/python benchmarks/payouts.py [N]   (N = 100000 by default; SQLite in a temp dir, or ZHIFU_BENCH_PG_URL)

Prints the time of each phase, the baseline of posting N plain two-leg ledger entries in the same run, and the
peak memory (Python allocations during the batch, and the process's resident peak)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, ".")
os.environ.setdefault("ZHIFU_SIMULATOR", "1")

from benchmarks._common import peak_rss_mb  # noqa: E402
from tests.rural.helpers import buyer, card, sh  # noqa: E402

from zhifu import ledger  # noqa: E402
from zhifu.core import clock  # noqa: E402
from zhifu.core.clock import FixedClock  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.privacy import blind_index, mask_account  # noqa: E402
from zhifu.rural import payouts  # noqa: E402
from zhifu.rural.models import farmers  # noqa: E402


def _farmers(db: Database, n: int) -> list[str]:
    """N farmers with cards, inserted in bulk (the setup, not measured); every 10,000th card is closed."""
    base, closed = card(), card("0000")
    rows, ids = [], []
    at = clock.now()
    for i in range(n):
        no = closed if i % 10_000 == 9_999 else base[:-7] + f"{i:06d}" + base[-1]
        fid = f"far_bench{i:08d}"
        ids.append(fid)
        rows.append(
            {
                "id": fid,
                "name_masked": "*农",
                "name_enc": "x",
                "town_code": "370323101",
                "village_code": "370323101001",
                "card_index": blind_index(no),
                "card_enc": "x",
                "card_masked": mask_account(no),
                "eaccount_id": None,
                "created_at": at,
            }
        )
    with db.tx() as c:
        for s in range(0, n, 10_000):
            c.execute(farmers.insert(), rows[s : s + 10_000])
    return ids


def main(n: int) -> None:
    clock.set_clock(FixedClock(sh(2022, 9, 20)))
    url = os.environ.get("ZHIFU_BENCH_PG_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    metadata.create_all(db.engine)
    mid = buyer(db, funds_fen=n * 100_000)
    fids = _farmers(db, n)
    head = "farmer_id,product,grade,weight_g,price_fen_per_kg,deductions_fen\n"
    data = (
        head
        + "".join(
            f"{f},苹果,一级,{50_000 + i % 997},{300 + i % 50},{i % 3 * 100}\n" for i, f in enumerate(fids)
        )
    ).encode()
    t0 = time.perf_counter()
    db.run(lambda c: payouts.import_purchases(c, mid, data))
    t_import = time.perf_counter() - t0

    tracemalloc.start()
    t0 = time.perf_counter()
    b = db.run(lambda c: payouts.pay_batch(c, mid))
    t_pay = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    with db.tx() as c:
        ledger.open_accounts(c, [("bench_a", "asset", "CNY", False), ("bench_b", "liability", "CNY", False)])
    t0 = time.perf_counter()
    with db.tx() as c:
        for s in range(0, n, payouts.CHUNK):
            ledger.post_entries(
                c,
                [
                    ledger.EntryRequest(
                        f"bench:{i}", (ledger.dr("bench_a", 100 + i), ledger.cr("bench_b", 100 + i))
                    )
                    for i in range(s, min(n, s + payouts.CHUNK))
                ],
            )
    t_base = time.perf_counter() - t0
    with db.read() as c:
        problems = ledger.verify(c)
    print(f"payout batch of {n:,} farmers on {db.engine.dialect.name}:")
    print(f"  import {n:,} purchases:  {t_import:6.2f} s  ({n / t_import:,.0f} lines/s)")
    print(
        f"  pay the batch:          {t_pay:6.2f} s  ({n / t_pay:,.0f} farmers/s)  "
        f"paid {b['by_status']['paid']['lines']:,}, failed {b['by_status'].get('failed', {'lines': 0})['lines']}, "
        f"total {b['total_fen'] / 100:,.2f} yuan"
    )
    print(f"  baseline: {n:,} plain ledger entries: {t_base:6.2f} s  ({n / t_base:,.0f} entries/s)")
    print(
        f"  peak Python memory during the batch: {traced_peak / 2**20:.0f} MB; process peak RSS {peak_rss_mb():.0f} MB"
    )
    print(f"  ledger verify: {'ok' if not problems else problems[:3]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
