"""Settlement benchmark: settle one business date of N payments of M merchants on SQLite.

    python benchmarks/settlement.py           # 100,000 and 1,000,000 payments of 10,000 merchants
    python benchmarks/settlement.py --quick   # 20,000 and 200,000 payments of 2,000 merchants, within a minute

The payments are bulk-inserted already succeeded, with their ledger entries posted in batches, so only the
run is timed: ledger-driven nets aggregated in SQL, the payout postings, and the CSV, GBK and summary files.
Beside it, as the baseline measured in the same run: one bare GROUP BY merchant over the same payments.
Each size runs in its own subprocess so peak memory (ru_maxrss) is its own. Target: 1,000,000 in ≤ 10 s,
peak memory ≤ 1 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSINESS_DATE = dt.date(2022, 6, 14)
CHUNK = 10_000  # the ledger's batch size


def _generate(url: str, payments_n: int, merchants_n: int) -> float:
    from sqlalchemy import insert

    from zhifu import ledger
    from zhifu.core.clock import SHANGHAI
    from zhifu.core.ids import new_id_fast
    from zhifu.core.money import ppm_of
    from zhifu.db import Database
    from zhifu.db.schema import metadata
    from zhifu.merchants.models import merchants
    from zhifu.payments import ensure_platform_accounts
    from zhifu.payments.models import payments
    from zhifu.privacy import encrypt

    started = time.perf_counter()
    db = Database(url)
    metadata.create_all(db.engine)
    rng = random.Random(5)
    t0 = dt.datetime.combine(BUSINESS_DATE - dt.timedelta(days=1), dt.time(23, 0), SHANGHAI).astimezone(
        dt.UTC
    )
    created = t0 - dt.timedelta(days=30)
    account_enc, id_enc, phone_enc = (
        encrypt("6231000012345678"),
        encrypt("370323199001011234"),
        encrypt("138"),
    )
    mids = [new_id_fast("mch", int(created.timestamp() * 1000)) for _ in range(merchants_n)]
    with db.tx() as c:
        ensure_platform_accounts(c)
        c.execute(
            insert(merchants),
            [
                {
                    "id": mid,
                    "status": "active",
                    "type": "individual_business",
                    "legal_name": f"沂源县测试商户{i}",
                    "short_name": f"商户{i}",
                    "credit_code": None,
                    "legal_person_name": "张三",
                    "legal_person_id_enc": id_enc,
                    "legal_person_id_masked": "3703**********1234",
                    "phone_enc": phone_enc,
                    "phone_masked": "138****8000",
                    "mcc": "5812",
                    "town_code": "370323002",
                    "village_code": None,
                    "address": "南麻街道",
                    "settle_bank": "沂源农商银行",
                    "settle_account_enc": account_enc,
                    "settle_account_masked": "6231 **** 5678",
                    "settle_account_name": "张三",
                    "acquirer_id": "yiyuan_rcb",
                    "settlement_cycle": "T+1",
                    "daily_cap_fen": None,
                    "monthly_cap_fen": None,
                    "review_note": None,
                    "frozen": "Y" if i % 500 == 0 else "N",
                    "created_at": created,
                    "updated_at": created,
                    "activated_at": created,
                }
                for i, mid in enumerate(mids)
            ],
        )
        ledger.open_accounts(c, [(f"merchant_payable:{m}", "liability", "CNY", False) for m in mids])
    step_s = 86_400 / payments_n
    for start in range(0, payments_n, CHUNK):
        n = min(CHUNK, payments_n - start)
        at = t0 + dt.timedelta(seconds=(start + n) * step_s * 0.999)  # one time per batch, inside the date
        ms = int(at.timestamp() * 1000)
        rows, reqs = [], []
        for i in range(start, start + n):
            mid = mids[i % merchants_n]
            amount = rng.randrange(200, 50_000)  # every fee is at least a fen
            fee = ppm_of(amount, 3_800)
            pid = new_id_fast("pay", ms)
            rows.append(
                {
                    "id": pid,
                    "merchant_id": mid,
                    "merchant_order_no": f"o{i}",
                    "amount_fen": amount,
                    "discount_fen": 0,
                    "currency": "CNY",
                    "channel": "unionpay_qr",
                    "flow": "static_code",
                    "status": "succeeded",
                    "description": "",
                    "notify_url": None,
                    "metadata": None,
                    "code_url": None,
                    "channel_ref": None,
                    "payer_ref": None,
                    "card_issuer": None,
                    "card_type": "debit",
                    "fee_fen": fee,
                    "cost_fen": 0,
                    "refunded_fen": 0,
                    "fee_refunded_fen": 0,
                    "failure_code": None,
                    "failure_message": None,
                    "business_date": BUSINESS_DATE,
                    "store_id": None,
                    "campaign_ref": None,
                    "created_at": at,
                    "updated_at": at,
                    "expires_at": at + dt.timedelta(minutes=15),
                    "succeeded_at": at,
                }
            )
            reqs.append(
                ledger.EntryRequest(
                    f"pay:{pid}:success",
                    (
                        ledger.dr("channel_receivable:unionpay_qr", amount),
                        ledger.cr(f"merchant_payable:{mid}", amount - fee),
                        ledger.cr("fee_income", fee),
                    ),
                    f"payment {pid}",
                )
            )
        with db.tx() as c:
            c.execute(insert(payments), rows)
            ledger.post_entries(c, reqs, at=at)
    db.dispose()
    return time.perf_counter() - started


def _measure(payments_n: int, merchants_n: int) -> dict[str, float | int]:
    from benchmarks._common import peak_rss_mb
    from sqlalchemy import func, select

    from zhifu.db import Database
    from zhifu.payments.models import payments
    from zhifu.settlement.service import day_end, run_settlement

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        gen_s = _generate(url, payments_n, merchants_n)
        db = Database(url)
        started = time.perf_counter()
        with db.tx() as c:
            c.execute(
                select(payments.c.merchant_id, func.count(), func.sum(payments.c.amount_fen))
                .where(payments.c.business_date == BUSINESS_DATE)
                .group_by(payments.c.merchant_id)
            ).all()
        baseline_s = time.perf_counter() - started
        started = time.perf_counter()
        out = run_settlement(
            db, BUSINESS_DATE, at=day_end(BUSINESS_DATE) + dt.timedelta(hours=2), out_dir=Path(tmp) / "files"
        )
        run_s = time.perf_counter() - started
        db.dispose()
    return {
        "payments": payments_n,
        "merchants": merchants_n,
        "generate_s": gen_s,
        "baseline_s": baseline_s,
        "run_s": run_s,
        "payouts": out["payout_count"],
        "held": out["held_count"],
        "peak_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, within a minute")
    parser.add_argument("--one", nargs=2, type=int, metavar=("PAYMENTS", "MERCHANTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(*args.one)))
        return
    sizes = [(20_000, 2_000), (200_000, 2_000)] if args.quick else [(100_000, 10_000), (1_000_000, 10_000)]
    root = Path(__file__).resolve().parent.parent
    print(
        f"{'payments':>10} {'merchants':>9} {'generate s':>10} {'GROUP BY s':>10} {'run s':>7} "
        f"{'payments/s':>11} {'payouts':>8} {'peak MB':>8}"
    )
    results = []
    for n, m in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.settlement", "--one", str(n), str(m)],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['payments']:>10,} {r['merchants']:>9,} {r['generate_s']:>10.1f} {r['baseline_s']:>10.2f} "
            f"{r['run_s']:>7.2f} {r['payments'] / r['run_s']:>11,.0f} {r['payouts']:>8,} {r['peak_mb']:>8.0f}"
        )
    small, big = results
    growth = (big["run_s"] / small["run_s"]) / (big["payments"] / small["payments"])
    print(f"time per payment, large vs small: {growth:.2f}× (1.00 is linear)")
    if not args.quick:
        print(
            f"target: 1,000,000 payments in ≤ 10 s and ≤ 1024 MB — measured {big['run_s']:.2f} s, "
            f"{big['peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
