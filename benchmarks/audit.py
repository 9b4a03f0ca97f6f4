"""Audit-log benchmark: appends per second with the integrator signing checkpoints alongside, beside plain
inserts of the same rows measured in the same run; how long after its commit an entry can be proven; and
`zhifu audit verify` (the fsck) over a log of N entries. On SQLite by default, PostgreSQL with --pg URL.

    python benchmarks/audit.py                                   # SQLite, 20,000 appends, verify over 1,000,000
    python benchmarks/audit.py --verify-entries 10000000         # the issue's 10 M figure
    python benchmarks/audit.py --pg postgresql://postgres@127.0.0.1:5432/test --appenders 16

Appends are measured one writer at a time and with --appenders threads at once (as a server's request
threads append); the log that verify reads is bulk-loaded (rows and tiles written directly, a checkpoint
signed with the log's key every million entries) — `verify` trusts none of it, and integration's own speed
is in the appends figure. The verify baseline is the former one-pass verify (hashlib.new per hash, a row
object per entry, the tree grown leaf by leaf) run over the same log in the same run.
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
CHECKPOINT_EVERY = 1_000_000  # a kept checkpoint per million entries of the bulk-loaded log


def _database(pg: str | None, folder: str, keep: str | None = None):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    from zhifu.db import Database
    from zhifu.db.engine import normalise_url
    from zhifu.db.schema import metadata

    if keep:  # a SQLite file kept between runs: a 10 M log is loaded once, verified as often as wanted
        db = Database(f"sqlite:///{keep}")
        metadata.create_all(db.engine)
        return db, None
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


def _in_threads(n: int, threads: int, one) -> float:  # type: ignore[no-untyped-def]
    """Run one(i) for i in range(n) split over `threads` threads; the seconds it took."""
    errors: list[BaseException] = []

    def part(k: int) -> None:
        try:
            for i in range(k, n, threads):
                one(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ts = [threading.Thread(target=part, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def bench_appends(db, n: int, threads: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """One entry per transaction (as an action on the payment path appends it), from `threads` threads at once,
    with the integrator running every half second in another thread, as in zhifu serve; the baseline inserts
    the same rows into a plain table with the same columns, no hashing, no integrator, same threads."""
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
    have = audit.integrate_db(db)

    def plain_one(i: int) -> None:
        db.run(
            lambda c: c.execute(
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

    plain_s = _in_threads(n, threads, plain_one)

    stop = threading.Event()
    signed = [0]

    def integrator() -> None:
        while not stop.wait(audit.INTEGRATE_INTERVAL_S):
            audit.integrate_db(db)
            signed[0] += 1

    th = threading.Thread(target=integrator, daemon=True)
    th.start()

    def append_one(i: int) -> None:
        db.run(
            lambda c: audit.record(
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

    append_s = _in_threads(n, threads, append_one)
    stop.set()
    th.join()
    size = audit.integrate_db(db)
    assert size == have + n, size
    return {
        "appenders": threads,
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


def _entry(i: int) -> str:
    from zhifu import audit

    return audit.canonical(
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


def bulk_load(db, n: int) -> float:  # type: ignore[no-untyped-def]
    """Append entries [size, n) straight into audit_log and its tiles (no queue), signing a kept checkpoint at
    every million and at the end with the log's own key; the seconds it took."""
    from sqlalchemy import insert, update

    from zhifu.audit import merkle, service
    from zhifu.audit.models import audit_checkpoints, audit_log, audit_state
    from zhifu.audit.offline import leaf_hash
    from zhifu.core import clock

    size = service.integrate_db(db, force_keep=True)
    t0 = time.perf_counter()
    at = clock.now()
    while size < n:
        k = min(BULK_BATCH, n - size)
        rows, leaves = [], []
        for i in range(size, size + k):
            body = _entry(i)
            leaves.append(leaf_hash(body.encode()))
            rows.append(
                {
                    "leaf_index": i,
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

        def load(c, rows=rows, leaves=leaves, size=size):  # type: ignore[no-untyped-def]
            c.execute(insert(audit_log), rows)
            tiles = service.Tiles(c)
            tiles.append(size, leaves)
            tiles.flush()
            new = size + len(leaves)
            st = service._state(c, lock=True)
            last = new == n or new // CHECKPOINT_EVERY != size // CHECKPOINT_EVERY
            text = st["latest"]
            if last:
                cp = service._sign(c, new, merkle.root(new, tiles.full), st["key_version"], clock.now())
                text = cp.text()
                c.execute(
                    insert(audit_checkpoints),
                    [{"size": new, "root": cp.root.hex(), "text": text, "key_id": cp.key, "at": clock.now()}],
                )
            c.execute(update(audit_state).where(audit_state.c.id == 1).values(size=new, latest=text))

        db.run(load)
        size += k
        if size % 1_000_000 < BULK_BATCH:
            print(f"  loaded {size:,} entries in {time.perf_counter() - t0:.0f} s", flush=True)
    return time.perf_counter() - t0


def former_verify(db) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """The baseline: the one-pass verify this replaced, reduced to its cost (every row as a result object,
    hashlib.new per hash, the tree grown leaf by leaf); (entries, seconds)."""
    import hashlib

    from sqlalchemy import text

    from zhifu.audit import merkle

    def sm3(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    t0 = time.perf_counter()
    compact = merkle.Compact(sm3)
    with db.read() as c:
        result = c.execution_options(stream_results=True).execute(
            text("SELECT leaf_index, body FROM audit_log ORDER BY leaf_index")
        )
        while chunk := result.fetchmany(20_000):
            for row in chunk:
                compact.append_hash(sm3(b"\x00" + row[1].encode()))
    compact.root()
    return compact.size, time.perf_counter() - t0


def bench_verify(db, n: int, workers: int | None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Bulk-load a log of n entries, then `zhifu audit verify`'s own function over it, and the baseline."""
    from zhifu import audit

    build_s = bulk_load(db, n)
    rep = audit.verify_db(db, workers=workers)
    assert rep.ok, rep.problems
    base_n, base_s = former_verify(db)
    assert base_n == rep.entries
    return {
        "verify_entries": rep.entries,
        "verify_s": rep.seconds,
        "verify_entries_per_s": round(rep.entries / rep.seconds),
        "verify_workers": workers or "auto",
        "former_verify_s": round(base_s, 2),
        "build_s": round(build_s, 1),
        "checkpoints_kept": rep.checkpoints,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="a PostgreSQL server URL (a database is made and dropped on it)")
    ap.add_argument("--appends", type=int, default=20_000)
    ap.add_argument("--appenders", type=int, default=8, help="threads appending at once (besides one)")
    ap.add_argument("--verify-entries", type=int, default=1_000_000)
    ap.add_argument("--verify-workers", type=int, default=None, help="processes hashing (default: cores)")
    ap.add_argument("--skip-appends", action="store_true")
    ap.add_argument("--db", help="a SQLite file to keep (loaded up to --verify-entries, reused next time)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db, handle = _database(args.pg, folder, args.db)
        try:
            out: dict = {"backend": db.dialect}  # type: ignore[type-arg]
            if not args.skip_appends:
                for threads in (1, args.appenders):
                    a = bench_appends(db, args.appends, threads)
                    out[f"appends_{threads}"] = a
                    print(
                        f"appends, {threads} appender(s): {a['appends_per_s']:,}/s with the integrator signing "
                        f"checkpoints; baseline plain inserts of the same rows, same threads: "
                        f"{a['plain_inserts_per_s']:,}/s ({db.dialect}, one entry per transaction)",
                        flush=True,
                    )
                out.update(bench_proof_latency(db))
                print(
                    f"inclusion proof after commit: p50 {out['proof_after_commit_s_p50']} s, max "
                    f"{out['proof_after_commit_s_max']} s; prove() itself ≤ {out['prove_ms_max']} ms",
                    flush=True,
                )
            out.update(bench_verify(db, args.verify_entries, args.verify_workers))
            print(
                f"verify over {out['verify_entries']:,} entries: {out['verify_s']} s "
                f"({out['verify_entries_per_s']:,} entries/s, workers {out['verify_workers']}); baseline, the "
                f"former one-pass verify over the same log: {out['former_verify_s']} s "
                f"(loading the log took {out['build_s']} s)"
            )
            print(json.dumps(out))
        finally:
            db.dispose()
            _drop(handle)


if __name__ == "__main__":
    main()
