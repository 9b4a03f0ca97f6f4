"""The settlement run on both backends: nets from the ledger, the cut-off second, held, carried and minimum
payouts, files whose control totals equal the ledger's movement, crashes and re-runs, and the bank's result."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.settlement.helpers import balance, merchant, pay, refund, result_file, sh, verify
from zhifu import ledger
from zhifu.core.clock import FixedClock
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.ledger.models import entries
from zhifu.merchants import set_frozen
from zhifu.payments import ensure_platform_accounts
from zhifu.recon.formats import StatementFormatError
from zhifu.settlement import files as files_mod
from zhifu.settlement import service
from zhifu.settlement.files import parse_bank_batch
from zhifu.settlement.models import settlement_batches, settlement_payouts, settlements

D = dt.date(2022, 6, 14)


@pytest.fixture
def setup(db: Database, fixed_clock: FixedClock) -> Database:
    with db.tx() as c:
        ensure_platform_accounts(c)
    return db


def _lines(db: Database, d: dt.date) -> dict[str, dict]:
    with db.tx() as c:
        return {
            r.merchant_id: dict(r._mapping)
            for r in c.execute(select(settlements).where(settlements.c.business_date == d))
        }


def _entry_count(db: Database) -> int:
    with db.tx() as c:
        return c.execute(select(func.count()).select_from(entries)).scalar_one()


def _run(db: Database, tmp_path: Path, d: dt.date, **kw: object) -> dict:
    kw.setdefault("at", service.day_end(d) + dt.timedelta(hours=3))
    out = service.run_settlement(db, d, out_dir=tmp_path, **kw)  # type: ignore[arg-type]
    verify(db)  # `zhifu ledger verify` after every run
    return out


def test_net_per_merchant_and_control_totals_equal_the_ledger(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    a, b = merchant(db, 1), merchant(db, 2)
    pay(db, fixed_clock, a, 5_000, sh(2022, 6, 13, 23, 0, 0))  # 23:00:00 the day before: belongs to D
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    pay(db, fixed_clock, a, 777, sh(2022, 6, 14, 22, 59, 59))  # the last second of D
    pay(db, fixed_clock, a, 3_000, sh(2022, 6, 14, 23, 0, 0))  # the cut-off second: the next business date
    pb = pay(db, fixed_clock, b, 20_000, sh(2022, 6, 14, 9))
    refund(db, fixed_clock, b, pb, 5_000, sh(2022, 6, 14, 15))

    with pytest.raises(InvalidRequest) as exc:
        service.run_settlement(db, D, at=sh(2022, 6, 14, 22, 59, 59), out_dir=tmp_path)
    assert exc.value.code == "date_not_cut_off"

    payable_before = balance(db, f"merchant_payable:{a}") + balance(db, f"merchant_payable:{b}")
    out = _run(db, tmp_path, D)
    lines = _lines(db, D)
    la, lb = lines[a], lines[b]
    # fees at the default 0.38 %, half-up: 19 + 38 + 3 (2.9526) on a; 76 on b, 19 of it returned with the refund
    assert (la["sales_count"], la["sales_fen"], la["fee_fen"], la["net_fen"]) == (3, 15_777, 60, 15_717)
    assert (lb["sales_fen"], lb["refund_fen"], lb["fee_fen"], lb["fee_returned_fen"]) == (
        20_000,
        5_000,
        76,
        19,
    )
    assert lb["net_fen"] == 20_000 - 76 - 5_000 + 19 == lb["payout_fen"]
    assert la["adjustments_fen"] == la["brought_forward_fen"] == 0
    assert la["status"] == lb["status"] == "in_transit" and la["settle_date"] == dt.date(2022, 6, 15)
    # what is left on a's payable is exactly the 23:00:00 payment, which belongs to the next date
    assert balance(db, f"merchant_payable:{a}") == 3_000 - 11

    total = la["payout_fen"] + lb["payout_fen"]
    in_transit = balance(db, "settlement_in_transit")
    payable_after = balance(db, f"merchant_payable:{a}") + balance(db, f"merchant_payable:{b}")
    assert in_transit == total == payable_before - payable_after == out["payout_fen"]
    rows = list(csv.reader(io.StringIO(Path(out["files"]["csv"]).read_text("utf-8"))))
    assert rows[0][0] == "batch_no" and rows[-1] == ["TOTAL", "2", str(total)]
    assert sum(int(r[6]) for r in rows[1:-1]) == total
    header, details, trailer = parse_bank_batch(Path(out["files"]["bank"]).read_bytes())
    assert header["batch_no"] == "ZF20220614" and int(trailer["total_fen"]) == total and len(details) == 2
    assert {d["account_no"] for d in details} == {"6231000012345678"}  # the full account, for the bank only
    assert "张三" in Path(out["files"]["bank"]).read_bytes().decode("gbk")
    summary = json.loads(Path(out["files"]["summary"]).read_text("utf-8"))
    assert summary["payout_fen"] == total and summary["payouts_by_settle_date"][0]["count"] == 2

    # the next date picks up the 23:00:00 payment
    nxt = _run(db, tmp_path, D + dt.timedelta(days=1))
    assert _lines(db, D + dt.timedelta(days=1))[a]["sales_fen"] == 3_000 and nxt["payout_fen"] == 2_989


def test_re_run_and_crash_between_steps_never_pay_twice(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = setup
    a = merchant(db, 1)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    before = _entry_count(db)

    real_post = service._post_payouts

    def post_then_crash(*args: object, **kw: object) -> None:
        real_post(*args, **kw)  # type: ignore[arg-type]
        raise RuntimeError("power cut after posting, before commit")

    monkeypatch.setattr(service, "_post_payouts", post_then_crash)
    with pytest.raises(RuntimeError):
        _run(db, tmp_path, D)
    assert _entry_count(db) == before and balance(db, "settlement_in_transit") == 0 and _lines(db, D) == {}
    monkeypatch.setattr(service, "_post_payouts", real_post)

    def files_crash(*args: object, **kw: object) -> None:
        raise OSError("disk full while writing the payout files")

    monkeypatch.setattr(service, "write_batch_files", files_crash)
    with pytest.raises(OSError):
        _run(db, tmp_path, D)
    with db.tx() as c:
        assert c.execute(select(settlement_batches.c.status)).scalar_one() == "posted"
    assert balance(db, "settlement_in_transit") == 9_962
    monkeypatch.setattr(service, "write_batch_files", files_mod.write_batch_files)

    out = _run(db, tmp_path, D)  # the re-run writes the files and posts nothing
    assert out["status"] == "filed" and out["created"] is False and Path(out["files"]["csv"]).exists()
    again = _run(db, tmp_path, D)
    assert again["created"] is False
    assert _entry_count(db) == before + 1 and balance(db, "settlement_in_transit") == 9_962
    with db.tx() as c:
        assert c.execute(select(func.count()).select_from(settlement_payouts)).scalar_one() == 1


def test_frozen_held_negative_and_small_nets_carried(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    frozen, neg, small = merchant(db, 1), merchant(db, 2), merchant(db, 3)
    with db.tx() as c:
        set_frozen(c, frozen, True)
    pay(db, fixed_clock, frozen, 10_000, sh(2022, 6, 14, 10))
    big = pay(db, fixed_clock, neg, 50_000, sh(2022, 6, 13, 10))
    _run(db, tmp_path, dt.date(2022, 6, 13))
    refund(db, fixed_clock, neg, big, 30_000, sh(2022, 6, 14, 11))  # refunds on D exceed D's sales
    pay(db, fixed_clock, neg, 1_000, sh(2022, 6, 14, 12))
    pay(db, fixed_clock, small, 50, sh(2022, 6, 14, 12))
    out = _run(db, tmp_path, D)
    lines = _lines(db, D)
    assert (lines[frozen]["status"], lines[frozen]["reason"], lines[frozen]["carried_fen"]) == (
        "held",
        "frozen",
        9_962,
    )
    assert lines[neg]["status"] == "carried" and lines[neg]["reason"] == "negative"
    assert lines[neg]["net_fen"] == 1_000 - 4 - 30_000 + 114 and lines[neg]["payout_fen"] == 0
    assert (lines[small]["status"], lines[small]["reason"], lines[small]["carried_fen"]) == (
        "carried",
        "below_minimum",
        50,
    )
    assert out["payout_count"] == 0 and out["held_fen"] == 9_962
    assert balance(db, "settlement_in_transit") == 50_000 - 190  # only the day before's payout

    with db.tx() as c:
        set_frozen(c, frozen, False)
    d2 = D + dt.timedelta(days=1)
    pay(db, fixed_clock, neg, 40_000, sh(2022, 6, 15, 9))
    pay(db, fixed_clock, small, 60, sh(2022, 6, 15, 9))
    _run(db, tmp_path, d2)
    lines = _lines(db, d2)
    assert lines[frozen]["brought_forward_fen"] == 9_962 and lines[frozen]["payout_fen"] == 9_962
    assert lines[neg]["brought_forward_fen"] == 1_000 - 4 - 30_000 + 114
    assert lines[neg]["payout_fen"] == 40_000 - 152 + (1_000 - 4 - 30_000 + 114)
    assert lines[small]["payout_fen"] == 110 and lines[small]["sales_fen"] == 60


def test_subsidy_posted_to_the_payable_is_settled_as_an_adjustment(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    a = merchant(db, 1)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    with db.tx() as c:
        ledger.open_accounts(c, [("subsidy_budget:test", "expense", "CNY", False)])
        ledger.transfer(
            c,
            "subsidy:test:1",
            "subsidy_budget:test",
            f"merchant_payable:{a}",
            500,
            "0.2 % subsidy",
            at=sh(2022, 6, 14, 18),
        )
    _run(db, tmp_path, D)
    line = _lines(db, D)[a]
    assert line["adjustments_fen"] == 500 and line["payout_fen"] == 9_962 + 500


def test_bank_result_paid_failed_retried_and_imported_twice(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    a, b = merchant(db, 1), merchant(db, 2)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    pay(db, fixed_clock, b, 20_000, sh(2022, 6, 14, 10))
    _run(db, tmp_path, D)
    data = result_file(db, "ZF20220614", failed=frozenset({b}))
    got = service.import_result(db, data, filename="result.csv", at=sh(2022, 6, 15, 10))
    assert (got["paid"], got["failed"], got["duplicate"]) == (1, 1, False)
    assert balance(db, "settlement_in_transit") == 0
    assert balance(db, "bank") == -9_962  # money left the acquirer's bank account for a
    assert balance(db, f"merchant_payable:{b}") == 19_924  # back to b, owed again
    verify(db)
    entries_before = _entry_count(db)
    again = service.import_result(db, data, at=sh(2022, 6, 15, 11))
    assert again["duplicate"] is True and _entry_count(db) == entries_before
    with db.tx() as c:
        statuses = {r.merchant_id: r.status for r in c.execute(select(settlements))}
    assert statuses == {a: "paid", b: "failed"}

    _run(db, tmp_path, D + dt.timedelta(days=1))  # the failed payout is paid again by the next run
    line = _lines(db, D + dt.timedelta(days=1))[b]
    assert line["brought_forward_fen"] == 19_924 and line["payout_fen"] == 19_924 and line["sales_count"] == 0
    assert a not in _lines(db, D + dt.timedelta(days=1))


def test_bad_result_files_are_refused_whole_naming_the_line(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    a, b = merchant(db, 1), merchant(db, 2)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    pay(db, fixed_clock, b, 20_000, sh(2022, 6, 14, 10))
    _run(db, tmp_path, D)
    good = result_file(db, "ZF20220614").decode()
    lines = good.split("\r\n")
    cases = {
        "unbalanced": ("\r\n".join([*lines[:-2], "TOTAL,2,1"]), 4, "amount_fen"),
        "malformed": (
            "\r\n".join([lines[0], lines[1].replace(",paid,", ",maybe,"), *lines[2:]]),
            2,
            "status",
        ),
        "wrong amount": (
            "\r\n".join(
                [
                    lines[0],
                    lines[1],
                    lines[2].replace(",19924,", ",19925,").replace(",9962,", ",9963,"),
                    "TOTAL,2,"
                    + str(
                        sum(int(x.split(",")[5]) for x in lines[1:2])
                        + int(
                            lines[2].replace(",19924,", ",19925,").replace(",9962,", ",9963,").split(",")[5]
                        )
                    ),
                ]
            ),
            3,
            "amount_fen",
        ),
        "unknown payout": (
            good.replace(lines[2].split(",")[1], "po_01HX0000000000000000000000"),
            3,
            "payout_id",
        ),
    }
    entries_before = _entry_count(db)
    for name, (text, line_no, field) in cases.items():
        with pytest.raises(StatementFormatError) as exc:
            service.import_result(db, text.encode(), at=sh(2022, 6, 15, 10))
        assert (exc.value.line_no, exc.value.field) == (line_no, field), name
        assert f"line {line_no}" in exc.value.message
    assert _entry_count(db) == entries_before
    with db.tx() as c:
        assert set(c.execute(select(settlement_payouts.c.status)).scalars()) == {"in_transit"}


def test_dates_run_in_order_and_bad_dates_are_refused(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    db = setup
    a = merchant(db, 1)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    _run(db, tmp_path, D)
    with pytest.raises(ConflictError) as exc:
        _run(db, tmp_path, D - dt.timedelta(days=2))
    assert exc.value.code == "settlement_out_of_order"
    with pytest.raises(InvalidRequest) as bad:
        service.run_settlement(db, D, at=sh(2022, 6, 16), min_payout_fen=0, out_dir=tmp_path)
    assert bad.value.param == "min_payout_fen"


def test_national_day_week_settle_dates(setup: Database, fixed_clock: FixedClock, tmp_path: Path) -> None:
    db = setup
    t1, d1, d0 = merchant(db, 1), merchant(db, 2, cycle="D+1"), merchant(db, 3, cycle="D+0")
    days = [dt.date(2021, 9, 30) + dt.timedelta(days=i) for i in range(11)]  # Sep 30 … Oct 10
    for d in days:
        for m in (t1, d1, d0):
            pay(db, fixed_clock, m, 10_000, sh(d.year, d.month, d.day, 12))
    for d in days:
        _run(db, tmp_path, d)
    got = {}
    with db.tx() as c:
        for r in c.execute(select(settlements)):
            got[(r.merchant_id, r.business_date)] = (r.settle_date, r.advanced, r.payout_fen)
    for d in days[1:8]:  # the holidays and Oct 8: T+1 lands on Oct 8 (holiday dates) or the make-up Saturday
        assert got[(t1, d)][0] == (dt.date(2021, 10, 8) if d < dt.date(2021, 10, 8) else dt.date(2021, 10, 9))
    assert got[(t1, dt.date(2021, 9, 30))][:2] == (dt.date(2021, 10, 8), False)
    assert got[(t1, dt.date(2021, 10, 9))][0] == dt.date(2021, 10, 11)
    assert got[(d1, dt.date(2021, 9, 30))][:2] == (dt.date(2021, 10, 1), True)  # paid on a holiday: advanced
    assert got[(d0, dt.date(2021, 10, 3))][:2] == (dt.date(2021, 10, 3), True)
    assert {v[2] for v in got.values()} == {9_962}  # every date paid once, exactly its own takings
    assert balance(db, "settlement_in_transit") == 9_962 * 33


def test_scheduled_run_settles_each_cut_off_date_once(
    setup: Database, fixed_clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = setup
    monkeypatch.setenv("ZHIFU_SETTLEMENT_DIR", str(tmp_path))
    a = merchant(db, 1)
    pay(db, fixed_clock, a, 10_000, sh(2022, 6, 14, 10))
    done = service.scheduled_run(db, at=sh(2022, 6, 14, 23, 30))  # 23:30: business date 15th; 14th is cut off
    assert [b["business_date"] for b in done] == ["2022-06-14"] and done[0]["payout_count"] == 1
    assert service.scheduled_run(db, at=sh(2022, 6, 15, 8)) == []
    done = service.scheduled_run(db, at=sh(2022, 6, 17, 23, 5))
    assert [b["business_date"] for b in done] == ["2022-06-15", "2022-06-16", "2022-06-17"]
    verify(db)
    monkeypatch.setenv("ZHIFU_SETTLEMENT_SCHEDULED", "0")
    assert service.scheduled_run(db, at=sh(2022, 6, 20, 23, 5)) == []
