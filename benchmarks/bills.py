"""Public-service payments at county scale: import N bills from one CSV file (whole-file validation, one
transaction), then pay every one of them through the payment service (a pay code: the bill line and its
reservation committed, the fake UnionPay rail asked over loopback HTTP after the commit, its answer recorded in a
second transaction with the bill, the receipt and the biller's booking), and check the biller's payable against
the bills. The fake rails run in a thread of this process, as in `make demo`.

    .venv/bin/python benchmarks/bills.py [N [PAY_N [BUDGET_S]]]   (N = PAY_N = 100000 by default; SQLite in a
    temp dir; BUDGET_S, when given, stops paying after that many seconds and reports the count paid)

Prints the time and rate of each phase, wall and CPU time per bill payment beside a plain pay-code payment
interleaved in the same run, and peak memory."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, ".")
os.environ.setdefault("ZHIFU_SIMULATOR", "1")  # the simulated rails, on the built-in secret

from benchmarks._common import peak_rss_mb  # noqa: E402
from tests.bills.helpers import (  # noqa: E402
    account,
    make_biller,
    month_of_bills,
    sh,  # noqa: E402
)

from zhifu import ledger  # noqa: E402
from zhifu.bills import service  # noqa: E402
from zhifu.core import clock  # noqa: E402
from zhifu.core.clock import FixedClock  # noqa: E402
from zhifu.core.config import get_settings  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402
from zhifu.payments import CreatePayment, create_payment  # noqa: E402

BASE_EVERY = 25


def main(n: int, pay_n: int, budget_s: float = 0.0) -> None:
    fc = FixedClock(sh(2022, 6, 10))
    clock.set_clock(fc)
    tmp = tempfile.mkdtemp()
    os.environ["ZHIFU_RAILS_CONFIG"] = f"{tmp}/rails/rails.json"
    get_settings.cache_clear()
    from zhifu.sim.demo import start_fake_rails

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rails, _server, _thread = start_fake_rails(Path(tmp) / "rails", port)
    rails.store.clock = clock.now  # the rails' days are the benchmark's days
    db = Database(f"sqlite:///{tmp}/bench.db")
    metadata.create_all(db.engine)
    b = make_biller(db)
    data = month_of_bills(n)
    print(f"bill file: {n} lines, {len(data) / 1e6:.1f} MB")
    t0 = time.perf_counter()
    with db.tx() as c:
        out = service.import_bills(c, "water", data, filename="june.csv")
    t_import = time.perf_counter() - t0
    assert out["accepted"] == n
    print(
        f"import: {t_import:.2f} s ({n / t_import:,.0f} bills/s), peak memory so far {peak_rss_mb():.0f} MB"
    )
    # the baseline is interleaved: one plain pay-code payment after every BASE_EVERY bill payments, timed apart,
    # so both meet the same table sizes and the same load on the machine
    wall = {"bill": 0.0, "base": 0.0}
    cpu = {"bill": 0.0, "base": 0.0}
    count = {"bill": 0, "base": 0}
    started = time.perf_counter()
    for i in range(1, pay_n + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        with db.tx() as c:
            p = service.pay_bill(
                c,
                service.PayBillIn(biller_id="water", account_no=account(i), auth_code="6212345678901234561"),
            )
        wall["bill"] += time.perf_counter() - w0
        cpu["bill"] += time.process_time() - c0
        count["bill"] += 1
        assert p["line"]["status"] == "pending", p  # its success is recorded after the commit
        if i % BASE_EVERY == 0:
            w0, c0 = time.perf_counter(), time.process_time()
            with db.tx() as c:
                create_payment(
                    c,
                    b["merchant_id"],
                    CreatePayment(
                        amount_fen=4560, merchant_order_no=f"base{i}", auth_code="6212345678901234561"
                    ),
                )
            wall["base"] += time.perf_counter() - w0
            cpu["base"] += time.process_time() - c0
            count["base"] += 1
        if i % 5_000 == 0:
            print(f"  paid {i} in {time.perf_counter() - started:.0f} s", flush=True)
        if budget_s and time.perf_counter() - started > budget_s:
            print(f"  time budget of {budget_s:.0f} s reached after {i} bill payments", flush=True)
            break
    t_pay = time.perf_counter() - started
    paid_n = count["bill"]
    bill_ms = (wall["bill"] / paid_n * 1000, cpu["bill"] / paid_n * 1000)
    base_ms = (wall["base"] / max(count["base"], 1) * 1000, cpu["base"] / max(count["base"], 1) * 1000)
    print(
        f"pay {paid_n}: {t_pay:.1f} s in all; a bill payment {bill_ms[0]:.2f} ms ({bill_ms[1]:.2f} ms CPU), "
        f"{paid_n / wall['bill']:,.0f}/s; a plain pay-code payment in the same run ({count['base']} of them, "
        f"one after every {BASE_EVERY}): {base_ms[0]:.2f} ms ({base_ms[1]:.2f} ms CPU)",
        flush=True,
    )
    pay_n = paid_n
    with db.read() as c:
        payable = ledger.get_balance(c, "biller_payable:water").posted_fen
        paid = service.biller_overview(c, "water")["by_status"]
    assert paid["paid"] == (pay_n, pay_n * 4560), paid
    assert payable == pay_n * 4560, payable  # fee_ppm 0, the biller pays: it is owed every bill in full
    print(
        f"biller payable {payable / 100:,.2f} yuan = {pay_n} bills × 45.60; peak memory {peak_rss_mb():.0f} MB"
    )
    rails.stop()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    main(
        count,
        int(sys.argv[2]) if len(sys.argv) > 2 else count,
        float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
    )
