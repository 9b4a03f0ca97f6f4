"""Payments per second end to end over HTTP: `zhifu serve` (a subprocess) against the fake rails (another
process), driven by `wrk` (a C load generator), beside the ceiling measured in the same run: a bare FastAPI
endpoint that validates the same JSON body and returns it, served the same way by the same load generator.

    python benchmarks/payments_http.py [--quick] [--seconds 10] [--connections 16] [--no-pg]
    python benchmarks/payments_http.py --memory-minutes 10     # RSS of a web process under steady traffic

A pay-code payment is one POST /v1/payments with a consumer's pay code and a unique merchant_order_no: the
payment commits, the rail is called over HTTP after the commit, and its answer (the success, the journal entry,
the webhook event in the outbox) commits in a second transaction before the answer goes back. A QR payment is
two requests: the create (the rail hands back a code to scan), then the payer pays it (/sim/payments/{id}/pay).
Each is measured at the maximum rate (closed loop, all connections busy) and at half of it (each connection
waits a random pause between requests, so the offered load is about half the maximum); p50/p99 are wrk's,
per request. wrk is Debian's package `wrk`; the script installs it with apt-get when it is missing.
The last line is the SQLite ratio: pay-code payments per second ÷ echo requests per second.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("ZHIFU_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
LOAD_VS_ECHO_MIN = (
    3.0  # the load generator is shown not to be the bottleneck when the echo runs this much faster
)
START_TIMEOUT_S = 60

CEILING_APP = textwrap.dedent("""
    from fastapi import FastAPI
    from zhifu.payments.service import CreatePayment
    app = FastAPI()

    @app.post("/v1/payments")
    def echo(req: CreatePayment) -> dict:
        return req.model_dump()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}
""")

# One Lua state per wrk thread. Each request carries a unique merchant_order_no (run tag, thread, counter) and,
# for a pay code, a UnionPay code ending in 1 (the fake rail's "succeeds"). In the QR mode a create's answer
# queues its payment id and the thread's next request pays it; `paid` counts the payer's successes.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

paid = 0  -- a global: done() reads it from each thread
local counter, queue, mode, tag, pause_ms, auth = 0, {}, "paycode", "x", 0, nil
function init(args)
  mode, tag, pause_ms, auth = args[1], args[2], tonumber(args[3]), args[4]
  math.randomseed(id * 7919 + os.time())
end

function request()
  local hdr = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. auth}
  if mode == "qr" and #queue > 0 then
    local pid = table.remove(queue, 1)
    return wrk.format("POST", "/sim/payments/" .. pid .. "/pay", hdr, "{}")
  end
  counter = counter + 1
  local order = string.format("%s-%d-%d", tag, id, counter)
  local body
  if mode == "qr" then
    body = string.format('{"amount_fen":%d,"merchant_order_no":"%s","channel":"unionpay_qr"}',
                         1000 + counter % 5000, order)
  else
    body = string.format('{"amount_fen":%d,"merchant_order_no":"%s","auth_code":"62%08d%08d1"}',
                         1000 + counter % 5000, order, id, counter % 100000000)
  end
  return wrk.format("POST", "/v1/payments", hdr, body)
end

function delay()
  if pause_ms <= 0 then return 0 end
  return math.random() * 2 * pause_ms
end

function response(status, headers, body)
  if mode ~= "qr" or status ~= 200 then return end
  if string.find(body, '"status":"succeeded"', 1, true) then
    paid = paid + 1
  else
    local pid = string.match(body, '"id":"(pay_[^"]+)"')
    if pid then table.insert(queue, pid) end
  end
end

function done(summary, latency, requests)
  local total_paid = 0
  for _, t in ipairs(threads) do total_paid = total_paid + (t:get("paid") or 0) end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"paid":%d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), total_paid))
end
"""


@dataclass
class Run:
    rate: float  # completed units per second (requests, or paid QR payments)
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # answers not 2xx/3xx and socket errors
    status_errors: int
    cpu_ms: dict[str, float]  # CPU time per unit (payment or request) of each process, wrk included


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is missing: installing Debian's package wrk with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk could not be installed: apt-get install wrk")
    return path


def summarise_profile(path: Path, top: int = 25) -> None:
    """py-spy's collapsed stacks: the share of the server's busy samples spent in (and under) each of our
    functions, and in SQLAlchemy, the sqlite3/psycopg drivers and httpx (the rail calls)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(
            ("wait (threading", "select (selectors", "_worker (concurrent", "get (queue")
        ):
            continue  # a thread waiting for work
        total += int(n)
        seen = set()
        for f in frames:
            name = f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f
            if "zhifu/" in name or name.startswith(("execute (", "Connection.execute", "Client.send")):
                key = name.replace("(zhifu/", "(").replace(" (", " ")
                if key not in seen:
                    seen.add(key)
                    inclusive[key] = inclusive.get(key, 0) + int(n)
    print(f"  profile ({total} busy samples; inclusive share, our functions):")
    for key, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {n / max(1, total):6.1%}  {key}")


def load() -> str:
    """The machine's 1-minute load average (it is shared: figures are quoted beside it)."""
    return f"{os.getloadavg()[0]:.1f}"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{what} did not start")


def _family(pid: int) -> list[int]:
    """A process and its children (a multi-process server's whole family)."""
    try:
        return [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its children have used so far."""
    total = 0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a multi-process server's whole footprint)."""
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def seed(db_url: str) -> str:
    """A database with the schema, the platform's accounts, one active merchant with a key and a webhook."""
    from tests.factories import application

    from zhifu import merchants, webhooks
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.payments import ensure_platform_accounts

    upgrade(db_url)
    db = Database(db_url)
    with db.tx() as c:
        ensure_platform_accounts(c)
        m = merchants.apply(c, merchants.MerchantApplication.model_validate(application()))
        merchants.review(c, m["id"], "approve")
        _, secret = merchants.create_key(c, merchant_id=m["id"])
        webhooks.create_endpoint(c, m["id"], "http://127.0.0.1:9/hook", ["payment.succeeded"])
    db.dispose()
    return secret


class Bench:
    def __init__(self, wrk: str, tmp: Path, seconds: float, connections: int, threads: int) -> None:
        self.wrk, self.tmp, self.seconds = wrk, tmp, seconds
        self.connections, self.threads = connections, threads
        self.script = tmp / "payments.lua"
        self.script.write_text(WRK_SCRIPT)
        self.runs = 0
        self.watch: dict[str, int] = {}  # processes whose CPU time is counted: name -> pid
        self.profile: Path | None = (
            None  # py-spy's collapsed stacks of the first run of profile_mode, when asked
        )
        self.profile_mode = "paycode"
        self.profile_target = "zhifu"
        self.half = True  # PostgreSQL: measure pay codes at half the maximum too
        self.qr = True  # PostgreSQL, one web process: measure QR payments too

    def wrk_run(self, base: str, mode: str, secret: str, seconds: float, pause_ms: float = 0) -> Run:
        self.runs += 1
        tag = f"r{self.runs}{secrets.token_hex(3)}"
        before = {name: cpu_s(pid) for name, pid in self.watch.items()}
        proc = subprocess.Popen(
            [
                self.wrk,
                "-t",
                str(self.threads),
                "-c",
                str(self.connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(self.script),
                base,
                "--",
                mode,
                tag,
                f"{pause_ms:.3f}",
                secret,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise SystemExit(f"wrk failed ({proc.returncode}): {out[-500:]}")
        spent = {name: cpu_s(pid) - before[name] for name, pid in self.watch.items()}
        spent["wrk"] = usage.ru_utime + usage.ru_stime
        line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
        d = json.loads(line[len("WRKJSON ") :])
        elapsed = d["duration_us"] / 1e6
        units = d["paid"] if mode == "qr" else d["requests"]
        return Run(
            units / elapsed,
            d["requests"],
            d["p50_us"] / 1000,
            d["p99_us"] / 1000,
            d["status_errors"] + d["socket_errors"],
            d["status_errors"],
            {name: 1000 * v / max(1, units) for name, v in spent.items()},
        )

    def measure(self, label: str, base: str, mode: str, secret: str, *, half: bool = True) -> Run:
        self.wrk_run(base, mode, secret, max(1.0, self.seconds / 5))  # warm up
        spy = None
        if self.profile and mode == self.profile_mode and self.profile_target in self.watch:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(self.watch[self.profile_target]),
                    "-d",
                    str(max(1, round(self.seconds))),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(self.profile),
                    "--nonblocking",
                    "--threads",
                    "--gil",  # samples of the thread holding the GIL: where the CPU goes
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        top = self.wrk_run(base, mode, secret, self.seconds)
        if spy is not None:
            spy.wait()
            summarise_profile(self.profile)
            self.profile = None  # once, on the first backend
        self.show(label + " at the maximum", top, mode)
        if half:
            # each connection pauses so that together they offer about half the maximum request rate
            req_rate = max(top.requests, 1) / self.seconds
            pause_ms = self.connections * 1000 / (req_rate / 2)
            low = self.wrk_run(base, mode, secret, self.seconds, pause_ms)
            share = f"{low.rate / top.rate:.0%}" if top.rate else "n/a"
            self.show(label + f" at half ({share})", low, mode)
        return top

    @staticmethod
    def show(label: str, r: Run, mode: str) -> None:
        unit = "payments" if mode != "echo" else "requests"
        err = f"   {r.errors} errors ({r.status_errors} answers not 2xx)" if r.errors else ""
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_ms.items())
        print(
            f"  {label:<50} {r.rate:8.0f} {unit}/s   p50 {r.p50_ms:6.1f} ms   p99 {r.p99_ms:6.1f} ms{err}\n"
            f"  {'':<50} CPU ms per {unit[:-1]}: {cpu}; load average {load()}",
            flush=True,
        )


def start_rails(tmp: Path) -> tuple[subprocess.Popen, Path]:
    port = free_port()
    folder = tmp / "rails"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhifu", "sim", "rails", "--port", str(port), "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (folder / "rails.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_http(f"http://127.0.0.1:{port}/", proc, "the fake rails")
    return proc, folder / "rails.json"


def start_zhifu(db_url: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ZHIFU_DATABASE_URL": db_url, "ZHIFU_PUBLIC_BASE_URL": base}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhifu", "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(base + "/healthz", proc, "zhifu serve")
    return proc, base


def start_echo(tmp: Path) -> tuple[subprocess.Popen, str]:
    """The ceiling: served by the same uvicorn settings as `zhifu serve` (zhifu.serving)."""
    (tmp / "ceiling_app.py").write_text(CEILING_APP)
    port = free_port()
    code = f"from zhifu.serving import run; run('ceiling_app:app', host='127.0.0.1', port={port})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc, "the echo server")
    return proc, base


def verify(db_url: str) -> str:
    from zhifu.db import Database
    from zhifu.ledger import verify as ledger_verify

    db = Database(db_url)
    with db.read() as c:
        problems = ledger_verify(c)
    db.dispose()
    return "ok" if not problems else json.dumps([str(p) for p in problems][:5])


class WaitSampler:
    """What the database's busy sessions wait on, sampled every `period_s` from pg_stat_activity while the
    pay-code run is at its maximum: the share of samples per wait event (a lock wait names what it waits for,
    and the statement), so contention on a row shows up as `Lock/transactionid` or `Lock/tuple`."""

    PERIOD_S = 0.02
    TOP = 8

    def __init__(self, db_url: str) -> None:
        self.db_url, self.name = db_url, db_url.rsplit("/", 1)[1]
        self.events: Counter[str] = Counter()
        self.locked: Counter[str] = Counter()
        self.blockers: Counter[str] = Counter()  # what the session holding the lock is doing
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as c:
            while not self._stop.wait(self.PERIOD_S):
                rows = c.execute(
                    "SELECT coalesce(wait_event_type || '/' || wait_event, 'running'), left(a.query, 70), "
                    "CASE WHEN wait_event_type = 'Lock' THEN (SELECT string_agg(b.state || ': ' || "
                    "left(b.query, 60), ' | ') FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid))) "
                    "END FROM pg_stat_activity a WHERE datname = %s AND pid <> pg_backend_pid() "
                    "AND state = 'active'",
                    (self.name,),
                ).fetchall()
                self.samples += 1
                for event, query, blocker in rows:
                    self.events[event] += 1
                    if event.startswith("Lock/"):
                        self.locked[" ".join(query.split())] += 1
                        self.blockers[" ".join((blocker or "?").split())] += 1

    def show(self) -> None:
        busy = sum(self.events.values())
        print(
            f"  PostgreSQL wait events of busy sessions ({self.samples} samples, "
            f"{busy / max(1, self.samples):.1f} busy sessions on average):"
        )
        for event, n in self.events.most_common(self.TOP):
            print(f"    {n / max(1, busy):6.1%}  {event}")
        for query, n in self.locked.most_common(3):
            print(f"           waiting on a lock: {n / max(1, busy):6.1%}  {query}")
        for blocker, n in self.blockers.most_common(3):
            print(f"           held by a session  {n / max(1, busy):6.1%}  {blocker[:110]}")


def backend(
    bench: Bench, name: str, db_url: str, serve_args: list[str], qr: bool = True, worker: bool = False
) -> Run:
    secret = seed(db_url)
    proc, base = start_zhifu(db_url, serve_args)
    bench.watch["zhifu"] = proc.pid
    background = None
    if worker:  # the background work in its own process
        background = subprocess.Popen(
            [sys.executable, "-m", "zhifu", "worker"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "ZHIFU_DATABASE_URL": db_url, "COLUMNS": "200"},
            text=True,
        )
        bench.watch["worker"] = background.pid
        # measured once it runs its duties, not while it is still importing (that would take the servers' CPU)
        assert background.stdout is not None
        if "running" not in background.stdout.readline():
            raise SystemExit("zhifu worker did not start")
    try:
        rss0 = rss_mb(proc.pid)
        print(f"{name}: zhifu serve {' '.join(serve_args)}".rstrip(), flush=True)
        if db_url.startswith("postgresql"):
            with WaitSampler(db_url) as waits:
                paycode = bench.measure("pay-code payments", base, "paycode", secret, half=bench.half)
            waits.show()
        else:
            paycode = bench.measure("pay-code payments", base, "paycode", secret)
        if qr and bench.qr:
            bench.measure("QR payments (create + payer pays)", base, "qr", secret)
        print(f"  server RSS {rss0:.0f} MB at start, {rss_mb(proc.pid):.0f} MB at the end", flush=True)
    finally:
        stop(proc)
        if background is not None:
            del bench.watch["worker"]
            stop(background)
    print(f"  ledger verify after the run: {verify(db_url)}", flush=True)
    return paycode


def memory_run(bench: Bench, tmp: Path, minutes: float) -> None:
    """A web process on SQLite under steady pay-code traffic at about half its maximum rate for `minutes`: its
    resident memory at the start, after each minute and at the end (a leak shows as a steady climb)."""
    db_url = f"sqlite:///{tmp}/memory.db"
    secret = seed(db_url)
    proc, base = start_zhifu(db_url, [])
    bench.watch["zhifu"] = proc.pid
    try:
        top = bench.wrk_run(base, "paycode", secret, 5)  # the maximum, to offer about half of it
        half = max(1.0, top.requests / 5 / 2)
        # fewer connections on a slow machine, so that no connection idles past the server's 5 s keep-alive
        # (a connection the server closed while idle would count as a socket error)
        bench.connections = max(1, min(bench.connections, int(half * 2)))
        pause_ms = bench.connections * 1000 / half
        rss0 = rss_mb(proc.pid)
        print(
            f"memory: zhifu serve on SQLite, pay-code traffic at about half the maximum ({top.rate:.0f}/s) for "
            f"{minutes:g} min; RSS at start {rss0:.0f} MB; load average {load()}",
            flush=True,
        )
        deadline = time.monotonic() + minutes * 60
        n = 0
        while (left := deadline - time.monotonic()) > 1:
            n += 1
            r = bench.wrk_run(base, "paycode", secret, min(60.0, left), pause_ms)
            print(
                f"  minute {n}: {r.rate:.0f} payments/s, p99 {r.p99_ms:.1f} ms, {r.errors} errors "
                f"({r.status_errors} answers not 2xx), "
                f"RSS {rss_mb(proc.pid):.0f} MB; load average {load()}",
                flush=True,
            )
        rss1 = rss_mb(proc.pid)
    finally:
        stop(proc)
        del bench.watch["zhifu"]
    print(f"  ledger verify after the run: {verify(db_url)}", flush=True)
    print(f"memory: RSS {rss0:.0f} MB at start, {rss1:.0f} MB after {minutes:g} min ({rss1 - rss0:+.0f} MB)")


def pg_database() -> str | None:
    import psycopg

    name = f"zhifu_bench_http_{secrets.token_hex(4)}"
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


def pg_lines(bench: Bench, workers: int) -> None:
    """PostgreSQL alone: pay codes at the maximum on one web process, then on `workers` + 1 worker."""
    rates: list[float] = []
    for label, serve_args, worker in (
        ("PostgreSQL", [], False),
        (f"PostgreSQL, {workers} web processes + 1 worker", ["--workers", str(workers)], True),
    ):
        url = pg_database()
        if url is None:
            return
        try:
            rates.append(backend(bench, label, url, serve_args, worker=worker).rate)
        finally:
            drop_pg(url)
    print(
        f"PostgreSQL pay-code payments: 1 web process {rates[0]:.0f}/s, {workers} web processes + 1 worker "
        f"{rates[1]:.0f}/s = {rates[1] / max(rates[0], 1e-9):.2f}× (load average {load()})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 s per measurement")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1 leaves the second core to the servers)"
    )
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument(
        "--pg-only",
        action="store_true",
        help="only PostgreSQL's pay-code lines at the maximum (1 web process, then --pg-workers + 1 worker): "
        "no SQLite, no QR, no half-rate run, so the two figures are taken close together",
    )
    ap.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the SQLite server with py-spy during the pay-code run (collapsed stacks here)",
    )
    ap.add_argument(
        "--profile-mode", choices=("paycode", "qr"), default="paycode", help="which run --profile records"
    )
    ap.add_argument(
        "--profile-target",
        choices=("zhifu", "rails", "worker"),
        default="zhifu",
        help="which process --profile records: the web process, the fake rails or the worker",
    )
    ap.add_argument("--no-qr", action="store_true", help="pay codes only: no QR payments")
    ap.add_argument(
        "--sqlite-worker",
        action="store_true",
        help="SQLite's web process without background work, and `zhifu worker` beside it",
    )
    ap.add_argument(
        "--pg-workers", type=int, default=2, help="web processes for the multi-process PostgreSQL line"
    )
    ap.add_argument(
        "--memory-minutes",
        type=float,
        default=None,
        help="instead of the figures: one web process on SQLite under steady traffic this long, RSS at start and end",
    )
    args = ap.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    wrk = ensure_wrk()
    os.environ["ZHIFU_SIMULATOR"] = "1"  # the fake rails and the simulated payer, on the built-in secret
    os.environ.setdefault("ZHIFU_SETTLEMENT_SCHEDULED", "0")
    os.environ["ZHIFU_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the merchant's webhook endpoint is on this machine
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rails, rails_json = start_rails(tmp)
        os.environ["ZHIFU_RAILS_CONFIG"] = str(rails_json)
        bench = Bench(wrk, tmp, seconds, args.connections, args.threads)
        bench.profile = args.profile
        bench.profile_mode, bench.profile_target = args.profile_mode, args.profile_target
        bench.qr = not args.no_qr
        if args.memory_minutes:
            try:
                memory_run(bench, tmp, args.memory_minutes)
            finally:
                stop(rails)
            return
        try:
            print(
                f"wrk {args.threads} thread(s), {args.connections} connections, {seconds:.0f} s per measurement; "
                f"{os.cpu_count()} cores shared by wrk, the fake rails and the servers",
                flush=True,
            )
            bench.watch["rails"] = rails.pid
            if args.pg_only:
                bench.half = bench.qr = False
                pg_lines(bench, args.pg_workers)
                return
            proc, base = start_echo(tmp)
            bench.watch["echo"] = proc.pid
            try:
                print("ceiling: bare FastAPI validate + echo, one process", flush=True)
                echo = bench.measure("echo requests", base, "echo", "x", half=False)
            finally:
                stop(proc)
                del bench.watch["echo"]
            if args.sqlite_worker:
                sqlite = backend(
                    bench,
                    "SQLite, background work in a worker process",
                    f"sqlite:///{tmp}/bench.db",
                    ["--no-background"],
                    worker=True,
                )
            else:
                sqlite = backend(bench, "SQLite", f"sqlite:///{tmp}/bench.db", [])
            pg_rates: list[tuple[str, float]] = []
            try:  # PostgreSQL's figures never stop the run: the SQLite ratio is always its last line
                if not args.no_pg and (url := pg_database()):
                    try:
                        pg_rates.append(("1 web process", backend(bench, "PostgreSQL", url, []).rate))
                    finally:
                        drop_pg(url)
                    if args.pg_workers > 1 and (url := pg_database()):
                        try:
                            r = backend(
                                bench,
                                f"PostgreSQL, {args.pg_workers} web processes + 1 worker",
                                url,
                                ["--workers", str(args.pg_workers)],
                                qr=False,
                                worker=True,
                            )
                            pg_rates.append((f"{args.pg_workers} web processes", r.rate))
                        finally:
                            drop_pg(url)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, and the run goes on
                print(f"PostgreSQL run failed: {exc!r}", flush=True)
        finally:
            stop(rails)
    print(
        f"load generator: echo {echo.rate:.0f}/s = {echo.rate / max(sqlite.rate, 1e-9):.1f}× the SQLite pay-code rate "
        f"({'≥' if echo.rate >= LOAD_VS_ECHO_MIN * sqlite.rate else '<'} {LOAD_VS_ECHO_MIN:.0f}×: wrk "
        f"{'is not' if echo.rate >= LOAD_VS_ECHO_MIN * sqlite.rate else 'may be'} the bottleneck)"
    )
    for label, rate in pg_rates:
        print(f"PostgreSQL pay-code payments, {label}: {rate:.0f}/s ({rate / echo.rate:.0%} of the echo)")
    if len(pg_rates) == 2 and pg_rates[0][1]:
        print(f"PostgreSQL {pg_rates[1][0]} ÷ 1 web process: {pg_rates[1][1] / pg_rates[0][1]:.2f}×")
    print(
        f"SQLite ratio: pay-code payments ÷ echo requests = {sqlite.rate:.0f} ÷ {echo.rate:.0f} = "
        f"{sqlite.rate / echo.rate:.0%} (load average {load()})"
    )


if __name__ == "__main__":
    main()
