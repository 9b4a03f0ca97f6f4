"""崩溃测试 / the crash harness: `zhifu serve` killed with SIGKILL at random moments under load, on SQLite and on
PostgreSQL, and nothing lost, nothing done twice, nothing left in between.

    python benchmarks/crash.py [--kills 20] [--clients 4] [--seed 1] [--no-pg] [--keep]

Per backend: the fake rails (`zhifu sim rails`, one process that lives through the run) and `zhifu serve` (with
ZHIFU_SIMULATOR=1 on a fresh database) as subprocesses on loopback. Client threads drive stories: a payment create
(a QR code the payer then pays through POST /sim/payments/{id}/pay, or a pay code charged at once), then one or two
refunds of some succeeded payments (half with a merchant_refund_no, all with an Idempotency-Key). Every request is
retried with its key until it gets a final answer (a 2xx or a 4xx other than "in flight"). A killer thread sends
SIGKILL to the server at a random moment of each life and restarts it. After the kills the clients finish, the
sweeper gets time to settle what the crashes left, and the harness prints, per backend:

  payments acknowledged (a 200 with an id), lost (acknowledged but missing; or charged at the rail and not
  succeeded here), doubled (one order answered with two ids; or charged twice at the rail);
  refunds acknowledged, doubled (one request answered with two ids; more refunds of a payment here or at the rail
  than were asked for), stuck (pending here at the end; or refunded at the rail and not succeeded here);
  5xx answers after the first second of a restart; `zhifu ledger verify`; and each merchant's balance against the
  sum of its succeeded payments net of fees and refunds.

The ground truth for "charged" and "refunded" is the fake rails' own book (their SQLite store), read at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# the run's own secret key (the seeding here and every life of the server share it); the simulator switch is for
# the payer's /sim routes and the fake rails
os.environ.setdefault("ZHIFU_SECRET_KEY", secrets.token_hex(32))
os.environ["ZHIFU_SIMULATOR"] = "1"
PG_URL = os.environ.get("ZHIFU_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

START_TIMEOUT_S = 60  # a server that is not answering /healthz this long after its start has failed
LIFE_S = (0.3, 2.5)  # each life of the server lasts a random time in this range before its SIGKILL
REQUEST_DEADLINE_S = 120  # one request retried this long without a final answer: the harness gives up on it
RETRY_PAUSE_S = 0.15
RETRIES_MAX = 800  # with the pause, a bound on the loop beside the deadline
HTTP_TIMEOUT_S = 15.0
GRACE_AFTER_RESTART_S = 1.0  # 5xx in this first second of a restart are counted apart
SETTLE_MAX_S = 180  # the sweeper gets at most this long to settle what the crashes left
SETTLE_POLL_S = 1.0
MERCHANTS = 3
REFUND_SHARE = 0.6  # of succeeded payments, this share is refunded (some twice, in parts)


class GaveUp(Exception):
    pass


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pay_ids: dict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )  # order -> ids seen
    pay_refused: int = 0
    payer_paid: set[str] = field(default_factory=set)  # the payer was told the payment succeeded
    refund_ids: dict[str, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )  # request key -> ids seen
    refunds_asked: dict[str, int] = field(
        default_factory=lambda: defaultdict(int)
    )  # payment id -> requests made
    refund_refused: int = 0
    five_xx_late: int = 0
    five_xx_grace: int = 0
    retried: int = 0
    gave_up: int = 0


class Server:
    """`zhifu serve` on a fixed loopback port, killed and restarted by the killer thread."""

    def __init__(self, db_url: str, rails_json: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ZHIFU_DATABASE_URL": db_url,
            "ZHIFU_SIMULATOR": "1",
            "ZHIFU_RAILS_CONFIG": str(rails_json),
            "ZHIFU_PUBLIC_BASE_URL": self.base,
            "ZHIFU_SWEEPER_INTERVAL_S": "1",
            "ZHIFU_SETTLEMENT_SCHEDULED": "0",
        }
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.ready_at = 0.0
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zhifu", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(self.base + "/healthz", self.proc, "zhifu serve")
        self.ready_at = time.monotonic()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)  # this process only, by its id
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def wait_http(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not start")


def start_rails(tmp: Path, log: Path) -> tuple[subprocess.Popen, Path]:
    port = free_port()
    folder = tmp / "rails"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhifu", "sim", "rails", "--port", str(port), "--dir", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ZHIFU_SIMULATOR": "1"},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (folder / "rails.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_http(f"http://127.0.0.1:{port}/", proc, "the fake rails")
    return proc, folder


def seed(db_url: str) -> list[tuple[str, str]]:
    """The schema, the platform's accounts and MERCHANTS active merchants with a key each: (id, secret)."""
    from tests.factories import application

    from zhifu import merchants
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.payments import ensure_platform_accounts

    upgrade(db_url)
    db = Database(db_url)
    out = []
    with db.tx() as c:
        ensure_platform_accounts(c)
        for i in range(MERCHANTS):
            m = merchants.apply(
                c,
                merchants.MerchantApplication.model_validate(
                    application(legal_name=f"沂源县崩溃测试商户{i}", short_name=f"崩溃{i}")
                ),
            )
            merchants.review(c, m["id"], "approve")
            _, secret = merchants.create_key(c, merchant_id=m["id"])
            out.append((m["id"], secret))
    db.dispose()
    return out


class Client:
    """One client thread: stories of a payment, the payer and refunds, every request retried until final."""

    def __init__(
        self,
        n: int,
        server: Server,
        keys: list[tuple[str, str]],
        tally: Tally,
        stop: threading.Event,
        seed_: int,
    ) -> None:
        self.n, self.server, self.keys, self.tally, self.stop = n, server, keys, tally, stop
        self.rng = random.Random(seed_ * 1000 + n)
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_S)
        self.count = 0

    def final(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        """The request, sent again (same key, same body) until a final answer."""
        deadline = time.monotonic() + REQUEST_DEADLINE_S
        for attempt in range(RETRIES_MAX):
            if time.monotonic() > deadline:
                break
            if attempt:
                with self.tally.lock:
                    self.tally.retried += 1
                time.sleep(RETRY_PAUSE_S)
            try:
                r = self.http.request(method, self.server.base + path, json=body, headers=headers)
            except httpx.HTTPError:
                continue  # the server is down or died mid-request: the same request again
            if r.status_code >= 500:
                late = time.monotonic() - self.server.ready_at > GRACE_AFTER_RESTART_S
                with self.tally.lock:
                    if late:
                        self.tally.five_xx_late += 1
                    else:
                        self.tally.five_xx_grace += 1
                continue
            if r.status_code == 409 and _code(r) in ("idempotency_in_flight", "concurrent_refund"):
                continue
            return r
        with self.tally.lock:
            self.tally.gave_up += 1
        raise GaveUp(f"{method} {path}")

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.story()
            except GaveUp:
                continue

    def story(self) -> None:
        self.count += 1
        mid, secret = self.keys[self.rng.randrange(len(self.keys))]
        auth = {"Authorization": f"Bearer {secret}"}
        order = f"c{self.n}-{self.count}-{secrets.token_hex(3)}"
        amount = self.rng.randrange(100, 50_000)
        if self.rng.random() < 0.5:
            body: dict[str, Any] = {
                "amount_fen": amount,
                "merchant_order_no": order,
                "channel": "unionpay_qr",
            }
        else:  # a UnionPay pay code ending in 1: the fake rail charges it at once
            body = {
                "amount_fen": amount,
                "merchant_order_no": order,
                "auth_code": f"62{self.n:08d}{self.count % 10**8:08d}1",
            }
        r = self.final("POST", "/v1/payments", body, {**auth, "Idempotency-Key": f"pay-{order}"})
        if r.status_code != 200:
            with self.tally.lock:
                self.tally.pay_refused += 1
            return
        p = r.json()
        with self.tally.lock:
            self.tally.pay_ids[(mid, order)].add(p["id"])
        if p["status"] == "created" and p["code_url"]:
            paid = self.final("POST", f"/sim/payments/{p['id']}/pay", {"outcome": "success"}, {})
            if paid.status_code == 200 and paid.json().get("status") == "succeeded":
                with self.tally.lock:
                    self.tally.payer_paid.add(p["id"])
                p = paid.json()
        if p["status"] != "succeeded" or self.rng.random() > REFUND_SHARE:
            return
        parts = [None] if self.rng.random() < 0.5 else [p["amount_fen"] // 3, p["amount_fen"] // 4]
        for i, part in enumerate(parts):
            rbody: dict[str, Any] = {"reason": "crash test"}
            if part is not None:
                rbody["amount_fen"] = part
            if self.rng.random() < 0.5:
                rbody["merchant_refund_no"] = f"R{order}-{i}"
            key = f"refund-{order}-{i}"
            with self.tally.lock:
                self.tally.refunds_asked[p["id"]] += 1
            rr = self.final(
                "POST", f"/v1/payments/{p['id']}/refunds", rbody, {**auth, "Idempotency-Key": key}
            )
            with self.tally.lock:
                if rr.status_code == 200:
                    self.tally.refund_ids[key].add(rr.json()["id"])
                else:
                    self.tally.refund_refused += 1


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def killer(server: Server, kills: int, rng: random.Random, failed: list[BaseException]) -> None:
    try:
        for _ in range(kills):  # bounded: one kill and one restart a turn
            time.sleep(rng.uniform(*LIFE_S))
            server.kill()
            server.start()
    except BaseException as exc:  # a server that will not come back: the run stops and says so
        failed.append(exc)


# ---------------------------------------------------------------- the verdict


def rail_book(folder: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{folder / 'rails.db'}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            "SELECT kind, out_trade_no, out_refund_no, status, amount_fen FROM txns"
        ).fetchall()
    finally:
        conn.close()


def our_book(db_url: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    from sqlalchemy import select

    from zhifu.db import Database
    from zhifu.ledger import get_balance
    from zhifu.merchants import payable_account
    from zhifu.payments import payments, refunds

    db = Database(db_url)
    try:
        with db.read() as c:
            pays = {r.id: r for r in c.execute(select(payments))}
            refs = {r.id: r for r in c.execute(select(refunds))}
            balances = {}
            for mid in {p.merchant_id for p in pays.values()}:
                balances[mid] = get_balance(c, payable_account(mid)).posted_fen
    finally:
        db.dispose()
    return pays, refs, balances


def unsettled(db_url: str, rails: Path) -> int:
    pays, refs, _ = our_book(db_url)
    n = sum(1 for r in refs.values() if r.status == "pending")
    n += sum(1 for p in pays.values() if p.status == "processing")
    n += sum(
        1
        for t in rail_book(rails)
        if t["kind"] == "payment"
        and t["status"] == "succeeded"
        and (t["out_trade_no"] not in pays or pays[t["out_trade_no"]].status != "succeeded")
    )
    n += sum(
        1
        for t in rail_book(rails)
        if t["kind"] == "refund"
        and t["status"] == "succeeded"
        and (t["out_refund_no"] not in refs or refs[t["out_refund_no"]].status != "succeeded")
    )
    return n


def verdict(
    name: str,
    tally: Tally,
    db_url: str,
    rails: Path,
    server: Server,
    verify: tuple[int, str],
    settle_s: float,
) -> bool:
    pays, refs, balances = our_book(db_url)
    book = rail_book(rails)
    acked = {pid for ids in tally.pay_ids.values() for pid in ids}
    charged = [t for t in book if t["kind"] == "payment" and t["status"] == "succeeded"]
    lost = sum(1 for pid in acked if pid not in pays)
    lost += sum(
        1 for t in charged if t["out_trade_no"] not in pays or pays[t["out_trade_no"]].status != "succeeded"
    )
    lost += sum(1 for pid in tally.payer_paid if pid not in pays or pays[pid].status != "succeeded")
    by_order: dict[tuple[str, str], int] = defaultdict(int)
    for t in charged:
        p = pays.get(t["out_trade_no"])
        if p is not None:
            by_order[(p.merchant_id, p.merchant_order_no)] += 1
    doubled = sum(1 for ids in tally.pay_ids.values() if len(ids) > 1) + sum(
        n - 1 for n in by_order.values() if n > 1
    )
    r_acked = {rid for ids in tally.refund_ids.values() for rid in ids}
    r_doubled = sum(1 for ids in tally.refund_ids.values() if len(ids) > 1)
    ours: dict[str, int] = defaultdict(int)
    for r in refs.values():
        if r.status != "failed":
            ours[r.payment_id] += 1
    theirs: dict[str, int] = defaultdict(int)
    for t in book:
        if t["kind"] == "refund" and t["status"] == "succeeded":
            theirs[t["out_trade_no"]] += 1
    r_doubled += sum(max(0, ours[pid] - n) for pid, n in tally.refunds_asked.items())
    r_doubled += sum(max(0, theirs[pid] - tally.refunds_asked.get(pid, 0)) for pid in theirs)
    stuck = sum(1 for r in refs.values() if r.status == "pending")
    stuck += sum(
        1
        for t in book
        if t["kind"] == "refund"
        and t["status"] == "succeeded"
        and (t["out_refund_no"] not in refs or refs[t["out_refund_no"]].status != "succeeded")
    )
    expected: dict[str, int] = defaultdict(int)
    for p in pays.values():
        if p.status == "succeeded":
            expected[p.merchant_id] += p.amount_fen - p.fee_fen
    for r in refs.values():
        if r.status == "succeeded":
            expected[r.merchant_id] += -(r.amount_fen - r.fee_refunded_fen)
    equal = sum(1 for mid in balances if balances[mid] == expected[mid])
    states: dict[str, int] = defaultdict(int)
    for p in pays.values():
        states[p.status] += 1
    print(
        f"{name}: {server.kills} kills (SIGKILL at a random moment of each life), {tally.retried} requests "
        f"sent again, {tally.gave_up} given up; the sweeper settled the rest in {settle_s:.0f} s",
        flush=True,
    )
    print(
        f"  payments  acknowledged {len(acked)}  lost {lost}  doubled {doubled}   (refused {tally.pay_refused}; "
        f"at the end {dict(sorted(states.items()))}; charged at the rail {len(charged)})"
    )
    print(
        f"  refunds   acknowledged {len(r_acked)}  doubled {r_doubled}  stuck {stuck}   (refused "
        f"{tally.refund_refused}; succeeded here {sum(1 for r in refs.values() if r.status == 'succeeded')}, at "
        f"the rail {sum(theirs.values())})"
    )
    print(
        f"  5xx after the first second of a restart: {tally.five_xx_late}   (in the first second: "
        f"{tally.five_xx_grace})"
    )
    print(f"  zhifu ledger verify: {'green' if verify[0] == 0 else 'RED'} ({verify[1]})")
    print(
        f"  merchant balances equal to succeeded payments net of fees and refunds: {equal} of {len(balances)}"
        + "".join(
            f"\n    {mid}: balance {balances[mid]} fen, expected {expected[mid]} fen"
            for mid in balances
            if balances[mid] != expected[mid]
        ),
        flush=True,
    )
    return (
        lost == 0
        and doubled == 0
        and r_doubled == 0
        and stuck == 0
        and tally.five_xx_late == 0
        and verify[0] == 0
        and equal == len(balances)
        and tally.gave_up == 0
    )


def ledger_verify(db_url: str) -> tuple[int, str]:
    r = subprocess.run(
        [sys.executable, "-m", "zhifu", "ledger", "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "ZHIFU_DATABASE_URL": db_url, "COLUMNS": "200"},
        timeout=300,
    )
    lines = (r.stdout + r.stderr).strip().splitlines()
    return r.returncode, lines[-1] if lines else ""


def run_backend(name: str, db_url: str, args: argparse.Namespace, tmp: Path) -> bool:
    folder = tmp / name
    folder.mkdir()
    keys = seed(db_url)
    rails, rails_dir = start_rails(folder, folder / "rails.log")
    server = Server(db_url, rails_dir / "rails.json", folder / "serve.log")
    tally, stop, failed = Tally(), threading.Event(), []
    try:
        server.start()
        clients = [Client(i, server, keys, tally, stop, args.seed) for i in range(args.clients)]
        threads = [threading.Thread(target=c.run, name=f"client-{c.n}", daemon=True) for c in clients]
        for t in threads:
            t.start()
        kt = threading.Thread(
            target=killer, args=(server, args.kills, random.Random(args.seed), failed), daemon=True
        )
        kt.start()
        kt.join()
        stop.set()
        if failed:
            raise SystemExit(
                f"{name}: the server did not come back after kill {server.kills}: {failed[0]} "
                f"(see {folder}/serve.log)"
            )
        for t in threads:
            t.join(timeout=REQUEST_DEADLINE_S * 3)
        started = time.monotonic()
        while unsettled(db_url, rails_dir) and time.monotonic() - started < SETTLE_MAX_S:
            time.sleep(SETTLE_POLL_S)
        settle_s = time.monotonic() - started
    finally:
        server.stop()
        rails.terminate()
        rails.wait(timeout=15)
    ok = verdict(name, tally, db_url, rails_dir, server, ledger_verify(db_url), settle_s)
    if not ok:
        print(f"  logs: {folder}/serve.log, {folder}/rails.log", flush=True)
    return ok


def pg_database() -> str | None:
    import psycopg

    name = f"zhifu_crash_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as c:
            c.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        print(f"PostgreSQL at {PG_URL} not reachable ({exc}); skipped")
        return None
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs per backend (at least 20 for the issue)")
    ap.add_argument("--clients", type=int, default=4, help="client threads driving stories")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument(
        "--keep", action="store_true", help="keep the databases, rails and logs in the temp folder"
    )
    args = ap.parse_args()
    if not 1 <= args.kills <= 1000 or not 1 <= args.clients <= 32:
        raise SystemExit("--kills is 1–1000 and --clients 1–32")
    tmp = Path(tempfile.mkdtemp(prefix="zhifu-crash-"))
    results = {}
    try:
        if not args.no_sqlite:
            results["sqlite"] = run_backend("sqlite", f"sqlite:///{tmp}/crash.db", args, tmp)
        if not args.no_pg:
            url = pg_database()
            if url:
                try:
                    results["postgresql"] = run_backend("postgresql", url, args, tmp)
                finally:
                    if not args.keep:
                        drop_pg(url)
    finally:
        if not args.keep and all(results.values()):
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: ("ok" if v else "FAILED") for k, v in results.items()}))
    if not all(results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
