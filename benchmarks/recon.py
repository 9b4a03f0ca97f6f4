"""Reconciliation benchmark: parse a ZM file and match it against our payments, beside a pandas key join.

    python benchmarks/recon.py           # 1,000,000 lines vs 1,000,000 payments, 0.1 % discrepancies
    python benchmarks/recon.py --quick   # 100,000 lines, well within a minute

Each measurement runs in its own subprocess so peak memory (ru_maxrss) is not shared. pandas is needed
here only (pip install pandas); the package never imports it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSINESS_DATE = dt.date(2023, 1, 1)
CHANNEL = "unionpay_qr"


def _generate(n: int, out: Path) -> dict[str, float | int | str]:
    import polars as pl

    from zhifu.recon.formats import write_statement
    from zhifu.recon.formats.inject import KINDS, inject, payments_frame, sample_ours

    per_kind = max(1, n // 1000 // len(KINDS))
    ours = sample_ours(n, seed=7, business_date=BUSINESS_DATE, channel=CHANNEL)
    injected = inject(ours, dict.fromkeys(KINDS, per_kind), seed=11, business_date=BUSINESS_DATE)
    (out / "statement.zm").write_bytes(write_statement(CHANNEL, injected.channel, BUSINESS_DATE))
    payments = payments_frame(injected.ours)
    payments.write_parquet(out / "payments.parquet")
    payments.select("payment_id", "channel_ref").write_csv(out / "payments_keys.csv")
    pl.DataFrame(
        {
            "line_no": [c.line_no for c in injected.channel],
            "channel_ref": [c.channel_ref for c in injected.channel],
        }
    ).write_csv(out / "statement_keys.csv")
    lines = pl.DataFrame(
        {"line_no": list(injected.line_classes), "expected": list(injected.line_classes.values())}
    )
    lines.write_parquet(out / "expected_lines.parquet")
    return {"lines": len(injected.channel), "payments": len(injected.ours), "per_kind": per_kind}


def _measure_ours(folder: Path) -> dict[str, float | int | str]:
    import polars as pl

    from zhifu.recon import match, parse_statement_frame

    data = (folder / "statement.zm").read_bytes()
    payments = pl.read_parquet(folder / "payments.parquet")
    started = time.perf_counter()
    statement = parse_statement_frame(CHANNEL, data, BUSINESS_DATE)
    del data  # the job keeps the parsed frame, not the file's bytes
    parsed = time.perf_counter()
    result = match(payments, statement, business_date=BUSINESS_DATE)
    done = time.perf_counter()
    expected = pl.read_parquet(folder / "expected_lines.parquet")
    wrong = (
        result.lines.select("line_no", "recon_class")
        .join(expected, on="line_no")
        .filter(pl.col("recon_class") != pl.col("expected"))
        .height
    )
    return {
        "parse_s": parsed - started,
        "match_s": done - parsed,
        "total_s": done - started,
        "wrong_classes": wrong,
        "lines": statement.height,
    }


def _measure_pandas(folder: Path) -> dict[str, float | int | str]:
    import pandas as pd

    statement = pd.read_csv(folder / "statement_keys.csv", dtype={"channel_ref": str})
    payments = pd.read_csv(folder / "payments_keys.csv", dtype={"payment_id": str, "channel_ref": str})
    started = time.perf_counter()
    joined = statement.merge(payments, on="channel_ref", how="outer", indicator=True)
    done = time.perf_counter()
    return {"join_s": done - started, "rows": len(joined), "pandas": pd.__version__}


def _child(kind: str, folder: Path, n: int = 0) -> dict[str, float | int | str]:
    """Run one step in a fresh process: Linux carries ru_maxrss across fork, so the parent stays small."""
    cmd = [sys.executable, __file__, "--measure", kind, "--dir", str(folder), "--n", str(n)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 lines instead of 1,000,000")
    parser.add_argument("--measure", choices=["generate", "ours", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        steps = {
            "generate": lambda: _generate(args.n, args.dir),
            "ours": lambda: _measure_ours(args.dir),
            "pandas": lambda: _measure_pandas(args.dir),
        }
        figures = steps[args.measure]()
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return
    n = 100_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="zhifu-recon-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        sizes = _child("generate", folder, n)
        size_mb = (folder / "statement.zm").stat().st_size / 1e6
        print(
            f"generated {sizes['lines']:,} ZM lines ({size_mb:.0f} MB) vs {sizes['payments']:,} payments, "
            f"{sizes['per_kind']} cases of each discrepancy kind, in {time.perf_counter() - started:.1f} s"
        )
        ours = _child("ours", folder)
        base = _child("pandas", folder)
    print(
        f"zhifu parse+match : {ours['total_s']:6.2f} s  (parse {ours['parse_s']:.2f} s, match {ours['match_s']:.2f} s)"
        f"  peak {ours['peak_rss_mb']:7.0f} MB  lines classed wrongly: {ours['wrong_classes']}"
    )
    print(
        f"pandas {base['pandas']} key join only: {base['join_s']:6.2f} s  peak {base['peak_rss_mb']:7.0f} MB"
        f"  ({base['rows']:,} joined rows)"
    )
    print(f"match alone vs baseline join: {ours['match_s'] / base['join_s']:.2f}x the baseline's time")


if __name__ == "__main__":
    main()
