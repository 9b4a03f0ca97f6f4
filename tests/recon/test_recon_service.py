"""Reconciliation on the platform's own data: each discrepancy kind alone and all together, class by class; the
pending pool across days; automatic fixes; the ledger check; re-runs; cases with maker/checker; both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from tests import rails_support
from tests.rails_support import produce_statement
from tests.recon.platform_data import D, at_local, build_day, stored_classes, table_counts

from zhifu import ledger
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.core.money import ppm_of
from zhifu.payments import payments
from zhifu.recon import models, service
from zhifu.recon.formats.inject import KINDS
from zhifu.recon.statements import parse_inject, reconcile

CH = "unionpay_qr"
D1 = D + dt.timedelta(days=1)
D2 = D + dt.timedelta(days=2)


def _produce_import_run(db, channel: str, day: dt.date, kinds=None, *, seed: int = 5, pending_days=None):  # type: ignore[no-untyped-def]
    produced = produce_statement(channel, day, kinds, seed=seed)
    got = db.run(lambda c: service.import_statement(c, channel, day, produced.data, filename="f", by="ops"))
    assert got["imported"] and got["line_count"] == len(produced.lines)
    batches = reconcile(db, day, channel=channel, pending_days=pending_days, by="ops")
    assert len(batches) == 1 and not batches[0]["rerun"]
    return produced, batches[0]


def _assert_classes(db, produced, batch, day_data) -> dict[str, str]:  # type: ignore[no-untyped-def]
    lines, items = stored_classes(db, batch["id"])
    assert lines == produced.line_classes
    for item_id, cls in produced.item_classes.items():
        assert items[item_id] == cls, item_id
    others = {i: c for i, c in items.items() if i not in produced.item_classes}
    late = set(produced.truth.get("status_mismatch_channel_succeeded", []))
    assert others == {i: "no_movement" for i in day_data.unpaid if i not in late}
    return items


def _verify(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        assert ledger.verify(c) == []


def test_clean_day_matches_every_line_and_every_entry(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, _ = platform.merchant()
    day = build_day(platform.db, fixed_clock, mid)
    produced, batch = _produce_import_run(platform.db, CH, D)
    _assert_classes(platform.db, produced, batch, day)
    assert batch["matched"] == {"count": 14, "amount_fen": sum(1_000 + 37 * i for i in range(12)) + 600}
    assert batch["discrepancies"] == {} and batch["ledger_discrepancies"] == 0
    assert batch["cases"]["open"] == 0
    with platform.db.tx() as c:
        checks = {r["item_id"]: r["ledger_check"] for r in service.batch_items(c, batch["id"])}
    assert all(checks[i] == "ok" for i in day.paid + day.refunds)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_alone(platform, fixed_clock, kind: str) -> None:  # type: ignore[no-untyped-def]
    mid, _ = platform.merchant()
    day = build_day(platform.db, fixed_clock, mid)
    n = 2 if kind in ("refund_mismatch", "amount_mismatch") else 1
    produced, batch = _produce_import_run(platform.db, CH, D, {kind: n})
    assert len(produced.truth[kind]) == n
    items = _assert_classes(platform.db, produced, batch, day)
    expected_here = {
        "missing_channel": "pending_cross_day",
        "cross_day": "pending_cross_day",
        "duplicate": "matched",
    }.get(kind, kind)
    for ident in produced.truth[kind]:
        if ident in items:
            assert items[ident] == expected_here
        else:  # a line only the channel has
            assert kind in ("missing_ours", "refund_mismatch")
    lines, _ = stored_classes(platform.db, batch["id"])
    if kind not in ("missing_channel", "pending_cross_day", "cross_day"):
        assert kind in lines.values()
    _verify(platform.db)


def test_all_kinds_together_then_the_next_days(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    day = build_day(db, fixed_clock, mid, paid=14, unpaid=4)
    kinds = {k: 1 for k in KINDS} | {"refund_mismatch": 2, "missing_ours": 2}
    produced, batch = _produce_import_run(db, CH, D, kinds)
    items = _assert_classes(db, produced, batch, day)
    truth = produced.truth
    for k in ("missing_channel", "pending_cross_day", "cross_day"):
        assert items[truth[k][0]] == "pending_cross_day"
    late = truth["status_mismatch_channel_succeeded"][0]
    with db.tx() as c:
        row = c.execute(
            select(payments.c.status, payments.c.business_date).where(payments.c.id == late)
        ).one()
        assert tuple(row) == ("succeeded", D)  # the channel query fixed it, with its journal entry
        assert ledger.get_balance(c, f"channel_receivable:{CH}").posted_fen > 0
        pool = {r["item_id"] for r in service.pending_pool(c, CH)}
    assert pool == {truth["missing_channel"][0], truth["pending_cross_day"][0], truth["cross_day"][0]}
    assert batch["auto_resolved"] == 1 and batch["ledger_discrepancies"] == 0
    kinds_open = {k: v["open"] for k, v in batch["cases"]["by_kind"].items()}
    assert kinds_open == {
        "missing_ours": 2,
        "amount_mismatch": 1,
        "status_mismatch_ours_succeeded": 1,
        "fee_mismatch": 1,
        "duplicate": 1,
        "refund_mismatch": 2,
    }
    _verify(db)

    # the next day: the cross-day payment arrives, the two the channel never booked become discrepancies
    fixed_clock.set(at_local(D1, 10))
    _, batch1 = _produce_import_run(db, CH, D1)
    _, items1 = stored_classes(db, batch1["id"])
    assert items1[truth["cross_day"][0]] == "cross_day"
    assert items1[truth["missing_channel"][0]] == "missing_channel"
    assert items1[truth["pending_cross_day"][0]] == "missing_channel"
    assert batch1["cases"]["by_kind"]["missing_channel"]["open"] == 2
    with db.tx() as c:
        assert service.pending_pool(c, CH) == []
        statuses = dict(c.execute(select(models.pending.c.item_id, models.pending.c.status)).all())
    assert statuses == {
        truth["cross_day"][0]: "matched",
        truth["missing_channel"][0]: "expired",
        truth["pending_cross_day"][0]: "expired",
    }

    # re-runs change nothing
    before = table_counts(db)
    for day_ in (D, D1):
        again = reconcile(db, day_)
        assert [b["rerun"] for b in again] == [True]
    assert table_counts(db) == before
    assert reconcile(db, D, channel=CH)[0]["id"] == batch["id"]

    # every open case resolved by its suggested action: a maker proposes, another person approves
    with db.tx() as c:
        open_cases = service.list_cases(c, status="open")
        rec_before = ledger.get_balance(c, f"channel_receivable:{CH}").posted_fen
    assert len(open_cases) == 10
    for case in open_cases:
        db.run(lambda c, i=case["id"], a=case["suggested_action"]: service.propose(c, i, a, "usr_alice"))
        done = db.run(lambda c, i=case["id"]: service.approve(c, i, "key_bob"))
        assert done["status"] == "resolved" and done["approved_by"] == "key_bob"
        assert [e["event"] for e in done["events"]] == ["opened", "proposed", "approved"]
    with db.tx() as c:
        rec_after = ledger.get_balance(c, f"channel_receivable:{CH}").posted_fen
        assert service.list_cases(c, status="open") == []
    # every case moved the receivable by exactly its difference (accept_ours excepted: none suggested here)
    # and a fee difference by the cost the rail kept beyond ours (it remits that much less)
    assert rec_after - rec_before == sum(c["diff_fen"] - c["fee_diff_fen"] for c in open_cases)
    _verify(db)
    b = db.run(lambda c: service.get_batch(c, batch["id"]))
    assert b["cases"]["resolved"] == 8 and b["cases"]["open"] == 0


def test_pending_days_is_configurable(platform, fixed_clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    build_day(db, fixed_clock, mid, paid=5, unpaid=0, refunds=0)
    monkeypatch.setenv("ZHIFU_RECON_PENDING_DAYS", "2")
    produced, _ = _produce_import_run(db, CH, D, {"missing_channel": 1})
    gone = produced.truth["missing_channel"][0]
    for day_, expected in ((D1, "pending_cross_day"), (D2, "missing_channel")):
        fixed_clock.set(at_local(day_, 10))
        _, b = _produce_import_run(db, CH, day_)
        assert b["pending_days"] == 2
        assert stored_classes(db, b["id"])[1][gone] == expected


def test_ledger_leg_of_the_three_way_match(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    """The file and our payment agree, but the payment has no journal entry: a ledger discrepancy."""
    db = platform.db
    mid, _ = platform.merchant()
    day = build_day(db, fixed_clock, mid, paid=3, unpaid=1, refunds=0)
    broken = day.unpaid[0]
    # the rail took the money (its notification never came); our row says succeeded; no entry was ever posted
    rails_support.SIM.store.paid_unnoticed(
        rails_support.SIM.store.order(CH, broken), at_local(D, 12), "debit"
    )
    with db.tx() as c:
        c.execute(
            update(payments)
            .where(payments.c.id == broken)
            .values(
                status="succeeded",
                business_date=D,
                succeeded_at=at_local(D, 12),
                fee_fen=ppm_of(1_111, 3_800),
                cost_fen=ppm_of(1_111, 3_500) + ppm_of(1_111, 325),
                card_type="debit",
            )
        )
    _, batch = _produce_import_run(db, CH, D)
    assert batch["ledger_discrepancies"] == 1
    with db.tx() as c:
        (case,) = service.list_cases(c)
        item = next(r for r in service.batch_items(c, batch["id"]) if r["item_id"] == broken)
    assert item["recon_class"] == "matched" and item["ledger_check"] == "missing"
    assert (case["kind"], case["ours_fen"], case["suggested_action"]) == (
        "ledger_mismatch",
        0,
        "accept_channel_record",
    )
    db.run(lambda c: service.propose(c, case["id"], "accept_channel_record", "usr_a"))
    db.run(lambda c: service.approve(c, case["id"], "usr_b"))
    with db.tx() as c:
        bal = ledger.get_balance(c, f"merchant_payable:{mid}").posted_fen
    assert (
        case["diff_fen"] == 1_107 and case["fee_fen"] == 4
    )  # the receivable: what the rail remits, net of its cost
    # the merchant is owed the three paid payments and now the fourth, each less its fee
    assert bal == sum(a - ppm_of(a, 3_800) for a in (1_000, 1_037, 1_074, 1_111))
    _verify(db)


def test_maker_cannot_check_and_actions_must_fit(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    build_day(db, fixed_clock, mid, paid=4, unpaid=0, refunds=0)
    _produce_import_run(db, CH, D, {"amount_mismatch": 1})
    with db.tx() as c:
        (case,) = service.list_cases(c)
    before = table_counts(db)
    with pytest.raises(ConflictError):
        db.run(lambda c: service.approve(c, case["id"], "usr_b"))  # nothing proposed yet
    with pytest.raises(InvalidRequest) as e:  # the channel has less than us: nothing to refund the payer
        db.run(lambda c: service.propose(c, case["id"], "refund_payer", "usr_a"))
    assert e.value.param == "action"
    with pytest.raises(InvalidRequest):
        db.run(lambda c: service.propose(c, case["id"], "write_off_suspense", "  "))
    assert table_counts(db) == before
    db.run(lambda c: service.propose(c, case["id"], "write_off_suspense", "usr_a"))
    with pytest.raises(PermissionDenied) as e:
        db.run(lambda c: service.approve(c, case["id"], "usr_a"))
    assert e.value.code == "maker_is_checker"
    with db.tx() as c:
        assert service.get_case(c, case["id"])["status"] == "proposed"
        assert ledger.get_balance(c, "suspense").posted_fen == 0
    rejected = db.run(lambda c: service.reject(c, case["id"], "usr_b", note="check the slip"))
    assert rejected["status"] == "open" and rejected["events"][-1]["note"] == "check the slip"
    db.run(lambda c: service.propose(c, case["id"], "write_off_suspense", "usr_b"))
    done = db.run(lambda c: service.approve(c, case["id"], "usr_a"))
    assert done["entry_key"] == f"recon:{case['id']}:write_off_suspense"
    with db.tx() as c:
        assert (
            ledger.get_balance(c, "suspense").posted_fen == case["diff_fen"]
        )  # debit-side: the channel paid less
    with pytest.raises(ConflictError):
        db.run(lambda c: service.approve(c, case["id"], "usr_c"))
    _verify(db)


def test_duplicate_import_and_a_second_file(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    build_day(db, fixed_clock, mid, paid=3, unpaid=0, refunds=0)
    produced = produce_statement(CH, D)
    first = db.run(lambda c: service.import_statement(c, CH, D, produced.data))
    before = table_counts(db)
    again = db.run(lambda c: service.import_statement(c, CH, D, produced.data))
    assert (again["imported"], again["duplicate"], again["sha256"]) == (False, True, first["sha256"])
    other = produce_statement(CH, D, {"fee_mismatch": 1})
    with pytest.raises(ConflictError) as e:
        db.run(lambda c: service.import_statement(c, CH, D, other.data))
    assert e.value.code == "statement_already_imported"
    assert table_counts(db) == before
    with pytest.raises(NotFound):
        reconcile(db, D, channel="wechat")


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_other_rails_formats(platform, fixed_clock, channel: str) -> None:  # type: ignore[no-untyped-def]
    mid, _ = platform.merchant()
    day = build_day(platform.db, fixed_clock, mid, channel=channel, paid=8, unpaid=2)
    produced, batch = _produce_import_run(
        platform.db,
        channel,
        D,
        {"amount_mismatch": 1, "duplicate": 1, "status_mismatch_channel_succeeded": 1},
    )
    _assert_classes(platform.db, produced, batch, day)
    assert batch["auto_resolved"] == 1


def test_injection_spec_is_checked() -> None:
    assert parse_inject("amount_mismatch=2, duplicate=1") == {"amount_mismatch": 2, "duplicate": 1}
    for bad, word in (
        ("colour=1", "colour"),
        ("duplicate=0", "duplicate"),
        ("duplicate", "duplicate"),
        ("duplicate=x", "duplicate"),
    ):
        with pytest.raises(InvalidRequest) as e:
            parse_inject(bad)
        assert word in e.value.message


def test_payout_results_are_stored_and_matched_when_payouts_exist(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from zhifu.recon.formats import PayoutResult, write_payout_results

    db = platform.db
    data = write_payout_results(
        [PayoutResult("B1", "po_1", "mch_1", "6231000012345678", "张三", 9_962, "paid")]
    )
    got = db.run(lambda c: service.import_payout_results(c, D, data))
    assert got["line_count"] == 1 and got["amount_fen"] == 9_962
    assert db.run(lambda c: service.import_payout_results(c, D, data))["duplicate"]
    if service.payout_table() is None:
        with pytest.raises(ConflictError) as e:
            db.run(lambda c: service.reconcile_payouts(c, D))
        assert e.value.code == "payouts_unavailable"
    else:
        res = db.run(lambda c: service.reconcile_payouts(c, D))
        assert res["classes"] == {"missing_ours": 1}


def test_discounted_payments_and_their_refunds_match(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    """With an instant discount the rail moves what the payer paid, and a refund only the payer's share."""
    from tests.incentives.helpers import discount_campaign

    from zhifu.incentives import CreateCampaign, create_campaign

    mid, _ = platform.merchant()
    platform.db.run(lambda c: create_campaign(c, CreateCampaign.model_validate(discount_campaign())))
    day = build_day(platform.db, fixed_clock, mid)
    with platform.db.tx() as c:
        discounts = (
            c.execute(select(payments.c.discount_fen).where(payments.c.id.in_(day.paid))).scalars().all()
        )
    assert discounts and all(d == 100 for d in discounts)
    produced, batch = _produce_import_run(platform.db, CH, D)
    assert batch["discrepancies"] == {} and batch["ledger_discrepancies"] == 0
    lines, items = stored_classes(platform.db, batch["id"])
    assert all(items[r] == "matched" for r in day.refunds)
    assert all(items[p] == "matched" for p in day.paid)
    _verify(platform.db)
