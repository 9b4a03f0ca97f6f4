"""Simulator benchmark: payments generated and committed per second through the batch service on SQLite, beside
raw sqlite3 executemany of the same payment rows; peak memory of a full-scale Yiyuan year; `zhifu serve` idle RSS.

    python benchmarks/simulate.py           # Yiyuan at scale 0.05 for 120 days; the model for a full-scale year
    python benchmarks/simulate.py --quick   # scale 0.02 for 45 days; the full-scale model for 60 days

Each measurement runs in its own subprocess so peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # simulated merchants' personal data, on the built-in secret
START = dt.date(2021, 1, 1)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _throughput(folder: str, scale: float, days: int) -> dict[str, float]:
    """The simulator through the batch service into SQLite; payments_s counts generating and committing."""
    from zhifu.county import load_profile
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.sim import SimParams
    from zhifu.sim.engine import Simulation

    url = f"sqlite:///{folder}/sim.db"
    upgrade(url)
    db = Database(url)
    result = Simulation(db, SimParams("yiyuan", START, days, 7, scale), load_profile("yiyuan")).run(
        progress=False
    )
    db.dispose()
    return {
        "payments": result.payments,
        "refunds": result.refunds,
        "merchants": result.merchants,
        "payments_s": result.payments_s,
        "elapsed_s": result.elapsed_s,
        "per_s": result.payments / result.payments_s,
        "peak_mb": _peak_mb(),
    }


WRITTEN = ("payments", "sim_rail_txns", "ledger_entries", "ledger_postings")  # what the batch path writes


def _raw_load(
    folder: str,
    name: str,
    tables: dict[str, tuple[list[str], list[tuple[object, ...]]]],
    n_batches: int,
    *,
    defer: bool,
) -> float:
    """Seconds for raw sqlite3 to write these rows into empty copies of the tables, a batch per transaction,
    every table's share of a batch together; with `defer`, the secondary indexes are built after the load."""
    dst = sqlite3.connect(f"{folder}/{name}.db", isolation_level=None)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    later: list[str] = []
    for ddl, _ in tables.values():
        for statement in ddl:
            if defer and statement.startswith("CREATE INDEX"):
                later.append(statement)
            else:
                dst.execute(statement)
    started = time.perf_counter()
    for k in range(n_batches):
        dst.execute("BEGIN")
        for table, (_, rows) in tables.items():
            share = len(rows) // n_batches + 1
            part = rows[k * share : (k + 1) * share]
            if part:
                dst.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(part[0]))})", part)
        dst.execute("COMMIT")
    for statement in later:
        dst.execute(statement)
    took = time.perf_counter() - started
    dst.close()
    return took


def _baseline(folder: str) -> dict[str, float]:
    """Raw sqlite3 executemany of the very rows the simulator stored, into empty copies of their tables: the
    payment rows alone, then every row the batch path writes (payments, the rails' rows, ledger entries and
    postings) with the schema's indexes maintained row by row, and with the deferred indexes built at the end as
    the simulator does. No Python above the driver: the floor for this machine and this schema."""
    src = sqlite3.connect(f"{folder}/sim.db")
    tables = {}
    present = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for t in (t for t in WRITTEN if t in present):  # the rails' rows now live in the fake rails' own store
        ddl = [
            r[0]
            for r in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC",
                (t,),
            )
        ]  # the table before its indexes
        tables[t] = (ddl, src.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall())
    src.close()
    n = len(tables["payments"][1])
    batches = max(1, n // 5_000)
    only = _raw_load(folder, "raw_payments", {"payments": tables["payments"]}, batches, defer=False)
    every = _raw_load(folder, "raw_every", tables, batches, defer=False)
    deferred = _raw_load(folder, "raw_deferred", tables, batches, defer=True)
    return {
        "rows": n,
        "per_s": n / only,
        "every_per_s": n / every,
        "deferred_per_s": n / deferred,
        "rows_per_payment": sum(len(rows) for _, rows in tables.values()) / n,
    }


def _model_memory(days: int) -> dict[str, float]:
    """A full-scale Yiyuan run of the model alone (dry run: no database), for its peak memory."""
    from zhifu.county import load_profile
    from zhifu.sim import SimParams
    from zhifu.sim.engine import Simulation

    result = Simulation(
        None, SimParams("yiyuan", START, days, 7, 1.0), load_profile("yiyuan"), dry_run=True
    ).run(progress=False)
    return {
        "payments": result.payments,
        "merchants": result.merchants,
        "consumers": result.consumers,
        "elapsed_s": result.elapsed_s,
        "peak_mb": _peak_mb(),
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_idle(folder: str) -> dict[str, float]:
    """`zhifu serve` on a migrated empty database, five seconds after it answers; beside a bare interpreter."""
    from zhifu.db.migrate import upgrade

    url = f"sqlite:///{folder}/serve.db"
    upgrade(url)
    port = _free_port()
    zhifu = str(Path(sys.executable).with_name("zhifu"))
    env = {**os.environ, "ZHIFU_DATABASE_URL": url}
    proc = subprocess.Popen(
        [zhifu, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(5)
        return {"serve_mb": _rss_mb(proc.pid), "bare_python_mb": _rss_mb(bare.pid)}
    finally:
        for p in (proc, bare):
            p.terminate()
            p.wait(timeout=10)


def _child(args: argparse.Namespace) -> None:
    what = args.child
    if what == "throughput":
        out = _throughput(args.folder, args.scale, args.days)
    elif what == "baseline":
        out = _baseline(args.folder)
    elif what == "model":
        out = _model_memory(args.days)
    else:
        out = _serve_idle(args.folder)
    print(json.dumps(out))


def _run(child: str, folder: str, **extra: object) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", child, "--folder", folder]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    return json.loads(
        subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--folder")
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--days", type=int, default=45)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    scale, days, model_days = (0.02, 45, 60) if args.quick else (0.05, 120, 365)
    with tempfile.TemporaryDirectory() as folder:
        t = _run("throughput", folder, scale=scale, days=days)
        b = _run("baseline", folder)
        m = _run("model", folder, days=model_days)
        s = _run("serve", folder)
    print(
        f"simulate yiyuan scale {scale} for {days} days: {t['payments']:,} payments, {t['refunds']:,} refunds, "
        f"{t['merchants']:,} merchants onboarded through the merchant service"
    )
    print(
        f"  batch service (generate + commit payments, rail rows, ledger): {t['per_s']:,.0f} payments/s "
        f"(target ≥ 20,000/s); whole run {t['elapsed_s']:.1f} s; peak memory {t['peak_mb']:.0f} MB"
    )
    print(
        f"  baseline, raw sqlite3 executemany of the same {b['rows']:,} payment rows (payments table only): "
        f"{b['per_s']:,.0f} rows/s"
    )
    print(
        f"  floor, raw sqlite3 writing every row the batch path wrote ({b['rows_per_payment']:.1f} rows a payment: "
        f"payment, rail row, ledger entry, postings): {b['every_per_s']:,.0f} payments/s with the indexes kept "
        f"up row by row; {b['deferred_per_s']:,.0f} payments/s with the deferred indexes built at the end"
    )
    print(f"  ours against that floor: {t['per_s'] / b['deferred_per_s']:.0%}")
    label = "a full-scale Yiyuan year" if model_days == 365 else f"full-scale Yiyuan, {model_days} days"
    print(
        f"model of {label} (no database): {m['payments']:,} payments, {m['merchants']:,} merchants, "
        f"{m['consumers']:,} consumers in {m['elapsed_s']:.1f} s; peak memory {m['peak_mb']:.0f} MB (limit 2,048 MB)"
    )
    print(
        f"zhifu serve idle RSS: {s['serve_mb']:.0f} MB (limit 300 MB); a bare Python interpreter: "
        f"{s['bare_python_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
