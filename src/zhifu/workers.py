"""Background work inside `zhifu serve`: rail notifications, expiry, sweeping stuck payments, ledger holds,
webhook delivery. Every step is safe to run twice and safe to interrupt."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from zhifu import ledger
from zhifu.api import idempotency
from zhifu.bills.expiry import expire_daily as expire_bills_daily
from zhifu.bills.service import sweep as release_bill_reservations
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.jobs import run_leased
from zhifu.payments.service import expire_due, park_unresolved, sweep_processing, sweep_refunds
from zhifu.webhooks import dispatch_due

log = logging.getLogger("zhifu.workers")


def run_once(db: Database) -> None:
    """One pass of every background duty."""
    sweep_payments(db)
    db.run(lambda c: ledger.expire_holds(c))
    dispatch_due(db)


def sweep_payments(db: Database) -> None:
    """Everything the rails left in between: expiry (closed at the rail), payments and refunds without a final
    answer (asked again), and those too old (listed for the operator)."""
    expire_due(db)
    sweep_processing(db)
    sweep_refunds(db)
    park_unresolved(db)
    db.run(lambda c: release_bill_reservations(c))  # bills held by payments that ended unpaid are open again
    expire_bills_daily(db)  # bills past due date and grace: expired, late fee fixed (one pass a day)


class Workers:
    def __init__(self, db: Database) -> None:
        from zhifu.privacy import scrub

        scrub.install()  # a worker process's log lines are scrubbed like the web process's
        self.db = db
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def duties(self) -> list[tuple[str, float, Callable[[], object]]]:
        """Every background duty: its job name (its lease), how often it runs, and one pass of it."""
        s = get_settings()
        from zhifu import audit, kpi, risk  # rollups; the audit tree and its checkpoint; the risk monitor
        from zhifu.complaints import CLOCK_INTERVAL_S, run_clocks  # reminders, escalation on breach, texts
        from zhifu.transit.service import (  # fares charged nightly, holds, passes
            BACKGROUND_INTERVAL_S,
            background,
        )

        return [
            ("sweeper", s.sweeper_interval_s, self._sweep),
            ("webhooks", s.webhook_dispatch_interval_s, lambda: dispatch_due(self.db, wait=False)),
            ("kpi", kpi.REFRESH_INTERVAL_S, lambda: kpi.refresh_db(self.db)),
            ("audit", audit.INTEGRATE_INTERVAL_S, lambda: audit.integrate_db(self.db)),
            (
                "audit_verify",
                audit.INTEGRATE_INTERVAL_S * 120,
                lambda: audit.verify_due(self.db),
            ),  # when an hour old
            (
                "risk",
                s.sweeper_interval_s,
                lambda: risk.scan(self.db),
            ),  # every success evaluated once, in order
            ("complaints", CLOCK_INTERVAL_S, lambda: run_clocks(self.db)),
            ("transit", BACKGROUND_INTERVAL_S, lambda: background(self.db)),
        ]

    def start(self) -> None:
        for name, every_s, fn in self.duties():
            self._spawn(name, every_s, fn)

    def run_once(self) -> list[str]:
        """One pass of every duty whose lease this process gets; the names of those it ran."""
        return [name for name, _, fn in self.duties() if run_leased(self.db, name, fn)[0]]

    def _sweep(self) -> None:
        sweep_payments(self.db)
        self.db.run(lambda c: ledger.expire_holds(c))
        idempotency.purge(self.db)
        from zhifu.settlement.service import scheduled_run

        scheduled_run(
            self.db
        )  # settles each business date once it is cut off (ZHIFU_SETTLEMENT_SCHEDULED=0: off)

    def _spawn(self, name: str, every_s: float, fn) -> None:  # type: ignore[no-untyped-def]
        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    run_leased(self.db, name, fn)  # skipped while another worker process runs this duty
                except Exception:  # keep the loop alive; the next pass retries
                    log.exception("background %s failed", name)

        t = threading.Thread(target=loop, name=f"zhifu-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
