"""Audit-log benchmark: appends per second with the integrator signing checkpoints alongside, beside plain
inserts of the same rows measured in the same run; how long after its commit an entry can be proven; and
`zhifu audit verify` (the fsck) over a log of N entries. On SQLite by default, PostgreSQL with --pg URL.

    python benchmarks/audit.py                                   # SQLite, 20,000 appends, verify over 1,000,000
    python benchmarks/audit.py --verify-entries 10000000         # the issue's 10 M figure (minutes to build)
    python benchmarks/audit.py --pg postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # the signing key derives from the simulator's built-in secret
PROOF_PROBES = 20
BULK_BATCH = 20_000  # rows per transaction when building the big log for verify
INTEGRATE_BATCH = 50_000  # entries per integration transaction while building it (no payments are waiting)


def _database(pg: str | None, folder: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    from zhifu.db import Database
    from zhifu.db.engine import normalise_url
    from zhifu.db.schema import metadata

    if pg:
        name = f"zhifu_bench_audit_{uuid.uuid4().hex[:8]}"
        admin = create_engine(normalise_url(pg), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = normalise_url(pg).rpartition("/")[0] + "/" + name
    else:
        url = f"sqlite:///{folder}/audit.db"
    db = Database(url)
    metadata.create_all(db.engine)
    return db, (pg, name) if pg else None


def _drop(handle) -> None:  # type: ignore[no-untyped-def]
    if handle is None:
        return
    from sqlalchemy import create_engine, text

    from zhifu.db.engine import normalise_url

    pg, name = handle
    admin = create_engine(normalise_url(pg), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def bench_appends(db, n: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """One entry per transaction (as an action on the payment path appends it), with the integrator running
    every half second in another thread, as in zhifu serve; the baseline inserts the same rows into a plain
    table with the same columns, no hashing, no integrator."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

    from zhifu import audit

    md = MetaData()
    plain = Table(
        "bench_plain",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("body", Text),
        Column("action", String(64)),
        Column("object_type", String(32)),
        Column("object_id", String(64)),
        Column("actor", String(64)),
        Column("role", String(16)),
        Column("merchant_id", String(32)),
    )
    md.create_all(db.engine)
    details = {"from": "pending_review", "to": "active", "reason": None}
    body = audit.canonical({"v": 1, "actor": "op-rcb", "details": details})
    stmt = insert(plain)
    t0 = time.perf_counter()
    for i in range(n):
        db.run(
            lambda c, i=i: c.execute(
                stmt,
                [
                    {
                        "body": body,
                        "action": "merchant.approve",
                        "object_type": "merchant",
                        "object_id": f"mch_{i}",
                        "actor": "op-rcb",
                        "role": "operator",
                        "merchant_id": f"mch_{i}",
                    }
                ],
            )
        )
    plain_s = time.perf_counter() - t0

    stop = threading.Event()
    signed = [0]

    def integrator() -> None:
        while not stop.wait(audit.INTEGRATE_INTERVAL_S):
            audit.integrate_db(db)
            signed[0] += 1

    th = threading.Thread(target=integrator, daemon=True)
    th.start()
    t0 = time.perf_counter()
    for i in range(n):
        db.run(
            lambda c, i=i: audit.record(
                c,
                "op-rcb",
                "merchant.approve",
                "merchant",
                f"mch_{i}",
                details,
                role="operator",
                merchant_id=f"mch_{i}",
            )
        )
    append_s = time.perf_counter() - t0
    stop.set()
    th.join()
    size = audit.integrate_db(db)
    assert size == n, size
    return {
        "appends": n,
        "appends_per_s": round(n / append_s),
        "plain_inserts_per_s": round(n / plain_s),
        "integrations_during_run": signed[0],
    }


def bench_proof_latency(db) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Commit one entry while the integrator runs every half second; time until its inclusion proof (against
    a signed checkpoint) is served, and the time prove() itself takes."""
    from zhifu import audit
    from zhifu.audit import offline

    stop = threading.Event()

    def integrator() -> None:
        while not stop.wait(audit.INTEGRATE_INTERVAL_S):
            audit.integrate_db(db)

    th = threading.Thread(target=integrator, daemon=True)
    th.start()
    waits, proves = [], []
    with db.read() as c:
        pub = audit.public_key(conn=c)
    for i in range(PROOF_PROBES):
        db.run(lambda c, i=i: audit.record(c, "op-rcb", "bench.probe", "probe", f"p{i}", {}))
        committed = time.perf_counter()
        while True:
            with db.read() as c:
                found = audit.list_entries(c, action="bench.probe", object_id=f"p{i}", limit=1)["data"]
                cp = audit.latest_checkpoint(c)
                if found and cp is not None and cp.size > found[0]["index"]:
                    t1 = time.perf_counter()
                    bundle = audit.prove(c, found[0]["index"])
                    proves.append(time.perf_counter() - t1)
                    break
            time.sleep(0.02)
        waits.append(time.perf_counter() - committed)
        assert offline.check_bundle(bundle, pub).startswith("OK")
        time.sleep(0.13 * (i % 5))  # spread the commits over the integrator's cycle
    stop.set()
    th.join()
    waits.sort()
    return {
        "proof_after_commit_s_p50": round(waits[len(waits) // 2], 3),
        "proof_after_commit_s_max": round(waits[-1], 3),
        "prove_ms_max": round(max(proves) * 1000, 1),
    }


def bench_verify(db, n: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Build a log of n entries (bulk inserts into the queue, then integration in big batches), then verify."""
    from sqlalchemy import insert

    from zhifu import audit
    from zhifu.audit import service
    from zhifu.audit.models import audit_queue
    from zhifu.core import clock

    have = audit.integrate_db(db)
    t0 = time.perf_counter()
    at = clock.now()
    done = have
    while done < n:
        k = min(BULK_BATCH, n - done)
        rows = []
        for i in range(done, done + k):
            body = audit.canonical(
                {
                    "v": 1,
                    "at": "2026-01-01T00:00:00.000Z",
                    "actor": "sim",
                    "role": "system",
                    "action": "payment.refund",
                    "object": {"type": "refund", "id": f"re_{i:012d}"},
                    "merchant": f"mch_{i % 5000:06d}",
                    "details": {"amount_fen": i % 100000, "digest": f"{i:064x}"},
                }
            )
            rows.append(
                {
                    "body": body,
                    "action": "payment.refund",
                    "object_type": "refund",
                    "object_id": f"re_{i:012d}",
                    "actor": "sim",
                    "role": "system",
                    "merchant_id": f"mch_{i % 5000:06d}",
                    "at": at,
                }
            )
        db.run(lambda c, rows=rows: c.execute(insert(audit_queue), rows))
        while True:
            r = db.run(lambda c: service.integrate(c, batch_max=INTEGRATE_BATCH))
            if r.integrated < INTEGRATE_BATCH:
                break
        done += k
        if done % 1_000_000 < BULK_BATCH:
            print(f"  built {done:,} entries in {time.perf_counter() - t0:.0f} s", flush=True)
    db.run(lambda c: service.integrate(c, force_keep=True))
    build_s = time.perf_counter() - t0
    rep = audit.verify_db(db)
    assert rep.ok, rep.problems
    return {
        "verify_entries": rep.entries,
        "verify_s": rep.seconds,
        "verify_entries_per_s": round(rep.entries / rep.seconds),
        "build_s": round(build_s, 1),
        "checkpoints_kept": rep.checkpoints,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="a PostgreSQL server URL (a database is made and dropped on it)")
    ap.add_argument("--appends", type=int, default=20_000)
    ap.add_argument("--verify-entries", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db, handle = _database(args.pg, folder)
        try:
            out = {"backend": db.dialect}
            out.update(bench_appends(db, args.appends))
            print(
                f"appends: {out['appends_per_s']:,}/s with the integrator signing checkpoints; baseline plain "
                f"inserts of the same rows: {out['plain_inserts_per_s']:,}/s ({db.dialect}, one per transaction)",
                flush=True,
            )
            out.update(bench_proof_latency(db))
            print(
                f"inclusion proof after commit: p50 {out['proof_after_commit_s_p50']} s, max "
                f"{out['proof_after_commit_s_max']} s; prove() itself ≤ {out['prove_ms_max']} ms",
                flush=True,
            )
            out.update(bench_verify(db, args.verify_entries))
            print(
                f"verify over {out['verify_entries']:,} entries: {out['verify_s']} s "
                f"({out['verify_entries_per_s']:,} entries/s; building the log took {out['build_s']} s)"
            )
            print(json.dumps(out))
        finally:
            db.dispose()
            _drop(handle)


if __name__ == "__main__":
    main()
