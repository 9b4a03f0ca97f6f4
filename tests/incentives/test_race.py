"""Budget safety under concurrency on PostgreSQL: 16 workers race for the last 1,000 fen of a budget."""

from __future__ import annotations

import threading

import pytest

from tests.incentives.helpers import discount_campaign
from zhifu import ledger
from zhifu.db import Database

WORKERS = 16
PAYMENTS_PER_WORKER = 4


@pytest.mark.pg
def test_sixteen_workers_spend_exactly_what_was_left(pg_url: str, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import truncate_all
    from tests.factories import Platform
    from zhifu.incentives.service import CreateCampaign, create_campaign
    from zhifu.payments import service as payments

    db = Database(pg_url)
    truncate_all(db)
    platform = Platform(db)
    try:
        mid, _ = platform.merchant()
        # 70 fen per discount against 1,000 left: 14 full ones and a last one of 20, then nothing
        doc = discount_campaign(
            budget_fen=1_000, discount={"probability_ppm": 1_000_000, "min_fen": 70, "max_fen": 70}
        )
        with db.tx() as c:
            cid = create_campaign(c, CreateCampaign.model_validate(doc))["id"]
        results: list[dict] = []  # type: ignore[type-arg]
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(WORKERS)

        def worker(w: int) -> None:
            start.wait()
            for i in range(PAYMENTS_PER_WORKER):
                req = payments.CreatePayment(
                    amount_fen=5_000, merchant_order_no=f"w{w}-{i}", channel="unionpay_qr"
                )
                try:
                    p = db.run(lambda c, req=req: payments.create_payment(c, mid, req))
                except BaseException as exc:  # noqa: BLE001 - any failure is what this test is about
                    with lock:
                        errors.append(exc)
                    continue
                with lock:
                    results.append(p)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(results) == WORKERS * PAYMENTS_PER_WORKER
        discounts = sorted((p["discount_fen"] for p in results), reverse=True)
        assert sum(discounts) == 1_000
        assert discounts[:15] == [70] * 14 + [20] and set(discounts[15:]) == {0}
        with db.tx() as c:
            bal = ledger.get_balance(c, f"campaign_budget:{cid}")
            assert (bal.posted_fen, bal.pending_debits_fen, bal.available_fen) == (1_000, 1_000, 0)
            assert ledger.verify(c) == []
    finally:
        platform.close()
        db.dispose()


@pytest.mark.pg
def test_sixteen_workers_one_payer_never_pass_the_payer_cap(pg_url: str, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import truncate_all
    from tests.factories import Platform
    from zhifu.incentives.service import CreateCampaign, PayerHint, create_campaign
    from zhifu.payments import service as payments

    db = Database(pg_url)
    truncate_all(db)
    platform = Platform(db)
    try:
        mids = [platform.merchant()[0] for _ in range(2)]
        doc = discount_campaign(
            budget_fen=100_000,
            per_payer_day_fen=500,
            per_merchant_day_fen=10_000,
            discount={"probability_ppm": 1_000_000, "min_fen": 30, "max_fen": 30},
        )
        with db.tx() as c:
            create_campaign(c, CreateCampaign.model_validate(doc))
        got: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(WORKERS)

        def worker(w: int) -> None:
            start.wait()
            for i in range(PAYMENTS_PER_WORKER):
                req = payments.CreatePayment(
                    amount_fen=1_000,
                    merchant_order_no=f"w{w}-{i}",
                    channel="unionpay_qr",
                    payer=PayerHint(id="same-payer"),
                )
                p = db.run(lambda c, req=req, w=w: payments.create_payment(c, mids[w % 2], req))
                with lock:
                    got.append(p["discount_fen"])

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == WORKERS * PAYMENTS_PER_WORKER
        assert sum(got) == 500 and sorted(got, reverse=True)[:17] == [30] * 16 + [20]
        with db.tx() as c:
            assert ledger.verify(c) == []
    finally:
        platform.close()
        db.dispose()
