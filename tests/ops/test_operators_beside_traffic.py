"""运维命令不影响在线支付 / Operators never break payments: on SQLite, `zhifu kpi rebuild` and `refresh`, a settlement run,
reconciliation and `zhifu ledger verify` run as commands (their own engine, as from another process) while a
thread keeps paying through the API; no payment gets a 5xx or fails, none takes longer than PAYMENT_MS_MAX, and no
command holds the write lock (a write transaction, BEGIN IMMEDIATE to COMMIT) longer than WRITE_LOCK_MS_MAX."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from zhifu.cli import app
from zhifu.core.config import get_settings

PAYMENT_MS_MAX = (
    2_000  # a payment beside the commands; a held lock would make it wait up to the 10 s busy timeout
)
WRITE_LOCK_MS_MAX = 1_000  # the longest write transaction a command may hold on this test's county

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _pay(platform, mh, order: str) -> tuple[int, str, float]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    r = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 2_000, "merchant_order_no": order, "auth_code": "6212345678901234561"},
        headers=mh,
    )
    status = r.json().get("status", r.text) if r.status_code == 200 else r.text
    return r.status_code, status, (time.perf_counter() - t0) * 1000


def test_commands_beside_live_payments(platform, fixed_clock, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_DATABASE_URL", platform.db.url)
    get_settings.cache_clear()
    mids = [platform.merchant() for _ in range(3)]
    day = fixed_clock.now().astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    for i in range(60):  # the day to settle, roll up and reconcile
        code, status, _ = _pay(platform, mids[i % 3][1], f"h{i}")
        assert (code, status) == (200, "succeeded")
    fixed_clock.advance(days=1)

    live_engine = platform.db.engine
    held: list[tuple[float, str]] = []
    started: dict[int, float] = {}

    def on_begin(conn):  # type: ignore[no-untyped-def]
        if conn.engine is not live_engine and not conn.get_execution_options().get("zhifu_read_only"):
            started[id(conn)] = time.perf_counter()

    def on_end(conn):  # type: ignore[no-untyped-def]
        t0 = started.pop(id(conn), None)
        if t0 is not None:
            held.append(((time.perf_counter() - t0) * 1000, str(conn.engine.url)))

    for name, fn in (("begin", on_begin), ("commit", on_end), ("rollback", on_end)):
        event.listen(Engine, name, fn)

    stop = threading.Event()
    seen: list[tuple[int, str, float]] = []

    def traffic() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            seen.append(_pay(platform, mids[n % 3][1], f"live{n}"))

    # The commands and the serving side share this test process. What the suite left on the heap is frozen out of
    # the collector first, so a full collection of it cannot stop both at once for seconds (under the whole suite
    # it once did: a payment and a command's transaction each took 1.8 s, here 50 ms).
    gc.collect()
    gc.freeze()
    t = threading.Thread(target=traffic)
    t.start()
    outputs = {}
    try:
        time.sleep(0.2)
        runner = CliRunner()
        for args in (
            ["kpi", "rebuild"],
            ["kpi", "refresh"],
            ["settle", "run", "--date", day.isoformat(), "--out-dir", str(tmp_path / "payouts")],
            ["recon", "fetch", "--channel", "unionpay_qr", "--date", day.isoformat()],
            ["recon", "run", "--date", day.isoformat()],
            ["ledger", "verify"],
        ):
            out = runner.invoke(app, args)
            outputs[" ".join(args[:2])] = out.output
            assert out.exit_code == 0, (args, out.output)
        time.sleep(0.2)
    finally:
        stop.set()
        t.join(30)
        gc.unfreeze()
        for name, fn in (("begin", on_begin), ("commit", on_end), ("rollback", on_end)):
            event.remove(Engine, name, fn)
        get_settings.cache_clear()

    print(
        f"\n{len(seen)} payments beside the commands; slowest {max(ms for _, _, ms in seen):.0f} ms; longest write by a command {max(ms for ms, _ in held):.0f} ms; {outputs}"
    )
    assert len(seen) >= 4, seen  # payments went on while the commands ran
    assert [s for s in seen if s[0] >= 500] == []  # no server error
    assert {(code, status) for code, status, _ in seen} == {(200, "succeeded")}
    slowest = max(ms for _, _, ms in seen)
    assert slowest < PAYMENT_MS_MAX, sorted(ms for _, _, ms in seen)[-5:]
    assert held, "the commands wrote nothing"
    assert max(ms for ms, _ in held) < WRITE_LOCK_MS_MAX, sorted(held)[-3:]
    assert outputs["kpi rebuild"].startswith("rollups rebuilt: ")  # the commands did their work
    assert outputs["kpi refresh"].startswith("rollups refreshed: ")
    assert "ZF" + day.strftime("%Y%m%d") in outputs["settle run"]
    assert "no statement" not in outputs["recon run"]
    assert "verified" in outputs["ledger verify"]
