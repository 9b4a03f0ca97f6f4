"""Public-service payments at county scale: import N bills from one CSV file (whole-file validation, one
transaction), then pay every one of them through the payment service (a pay code: the bill line and its
reservation committed, the fake UnionPay rail asked over loopback HTTP after the commit, its answer recorded in a
second transaction with the bill, the receipt and the biller's booking), and check the biller's payable against
the bills. The fake rails run in a thread of this process, as in `make demo`.

    .venv/bin/python benchmarks/bills.py [N [PAY_N]]   (N = PAY_N = 100000 by default; SQLite in a temp dir)

Prints the time and rate of each phase, the per-payment baseline of a plain payment in the same run, and peak
memory."""

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


def main(n: int, pay_n: int) -> None:
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
    baseline_n = min(2_000, n)
    t0 = time.perf_counter()
    for i in range(baseline_n):
        with db.tx() as c:
            create_payment(
                c,
                b["merchant_id"],
                CreatePayment(amount_fen=4560, merchant_order_no=f"base{i}", auth_code="6212345678901234561"),
            )
    t_base = (time.perf_counter() - t0) / baseline_n
    t0 = time.perf_counter()
    for i in range(1, pay_n + 1):
        with db.tx() as c:
            p = service.pay_bill(
                c,
                service.PayBillIn(biller_id="water", account_no=account(i), auth_code="6212345678901234561"),
            )
        assert p["line"]["status"] == "pending", p  # its success is recorded after the commit
        if i % 20_000 == 0:
            print(f"  paid {i}")
    t_pay = time.perf_counter() - t0
    print(
        f"pay {pay_n}: {t_pay:.1f} s ({pay_n / t_pay:,.0f} bill payments/s, {t_pay / pay_n * 1000:.2f} ms each; a plain pay-code "
        f"payment in the same run: {t_base * 1000:.2f} ms)"
    )
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
    main(count, int(sys.argv[2]) if len(sys.argv) > 2 else count)
