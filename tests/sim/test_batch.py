"""The batch path leaves exactly the rows, fees and ledger entries of the one-by-one path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import select

from tests import rails_support
from tests.factories import application
from tests.rails_support import pump as pump_notifications
from zhifu import ledger
from zhifu.core.clock import FixedClock
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.incentives import CreateCampaign, Rules, create_campaign, merchant_day_totals
from zhifu.incentives.models import incentive_payers, merchant_days
from zhifu.ledger.models import entries, postings
from zhifu.merchants import MerchantApplication, apply, review
from zhifu.payments import (
    CreatePayment,
    CreateRefund,
    create_payment,
    create_refund,
    ensure_platform_accounts,
    payments,
    refunds,
)
from zhifu.payments.batch import PaymentSpec, RefundSpec, record_payments, record_refunds
from zhifu.railsim.payer import Payer, sim_pay

T0 = dt.datetime(2022, 6, 15, 2, 0, tzinfo=dt.UTC)
CASES = [  # channel, flow, card type, issuer, outcome, amount
    ("unionpay_qr", "static_code", "debit", "yiyuan_rcb", "success", 1250),
    ("unionpay_qr", "dynamic_code", "credit", None, "success", 49_999),
    ("wechat", "static_code", "wallet", None, "success", 800),
    ("wechat", "static_code", "debit", "psbc", "success", 3),
    ("alipay", "dynamic_code", "wallet", "icbc", "success", 12_345),
    ("bank_app", "static_code", "debit", "abc", "success", 2_000),
    ("unionpay_card", "terminal", "credit", "boc", "success", 350_000),
    ("nfc", "terminal", "debit", "ccb", "success", 999),
    ("face", "terminal", "debit", "yiyuan_rcb", "success", 4_200),
    ("sscard", "terminal", "debit", "yiyuan_rcb", "success", 15_000),
    ("wechat", "static_code", "wallet", None, "decline_insufficient_funds", 500),
    ("alipay", "static_code", "wallet", None, "decline_card_blocked", 700),
    ("unionpay_qr", "dynamic_code", "debit", "psbc", "decline_limit_exceeded", 900),
]


def _specs(mid: str) -> list[PaymentSpec]:
    out = []
    for i, (channel, flow, card, issuer, outcome, amount) in enumerate(CASES):
        created = T0 + dt.timedelta(minutes=7 * i, milliseconds=123 * i)
        out.append(
            PaymentSpec(
                mid,
                f"ord-{i}",
                amount,
                channel,
                flow,
                created,
                created + dt.timedelta(seconds=5 + i),
                f"payer-{i % 4}",
                issuer,
                card,
                outcome,
                f"case {i}",
            )
        )
    return out


def _refunds(mid: str, ids: dict[str, str]) -> list[RefundSpec]:
    at = T0 + dt.timedelta(days=1, hours=3)
    return [
        RefundSpec(mid, ids["ord-0"], 1250, at),
        RefundSpec(mid, ids["ord-1"], 333, at + dt.timedelta(seconds=1)),
        RefundSpec(mid, ids["ord-1"], 10_001, at + dt.timedelta(seconds=2)),
        RefundSpec(mid, ids["ord-4"], 7, at + dt.timedelta(minutes=3)),
        RefundSpec(mid, ids["ord-6"], 350_000, at + dt.timedelta(hours=20)),
    ]


def _merchant(db: Database, n: int) -> str:
    with db.tx() as c:
        m = apply(c, MerchantApplication(**application(legal_name=f"沂源县南麻测试店{n}")), at=T0)
        review(c, m["id"], "approve", at=T0)
    return m["id"]


def _one_by_one(db: Database, clock: FixedClock, mid: str) -> None:
    ids = {}
    for s in _specs(mid):
        clock.set(s.created_at)
        with db.tx() as c:
            p = create_payment(
                c,
                mid,
                CreatePayment(
                    amount_fen=s.amount_fen,
                    merchant_order_no=s.merchant_order_no,
                    channel=s.channel,
                    description=s.description,
                ),
                flow=s.flow,
            )
        clock.set(s.paid_at)
        sim_pay(db, p["id"], outcome=s.outcome, payer=Payer(s.payer_ref, s.card_issuer, s.card_type))
        ids[s.merchant_order_no] = p["id"]
    for r in _refunds(mid, ids):
        clock.set(r.at)
        with db.tx() as c:
            create_refund(c, mid, r.payment_id, CreateRefund(amount_fen=r.amount_fen))
        pump_notifications(db, at=r.at)


def _batch(db: Database, mid: str) -> None:
    rng = random.Random(3)
    rail_txns: list[dict[str, Any]] = []
    with db.tx() as c:
        done = record_payments(c, _specs(mid), rng=rng, rail_txns=rail_txns)
    ids = {f"ord-{i}": r.id for i, r in enumerate(done)}
    with db.tx() as c:
        record_refunds(c, _refunds(mid, ids), rng=rng, rail_txns=rail_txns)
    rails_support.SIM.store.load_history(rail_txns)  # the rails' side, as the simulator hands it to them


def _snapshot(db: Database, mid: str) -> dict[str, Any]:
    """Everything the merchant's payments left, with ids and rail references taken out."""
    with db.tx() as c:
        pays = {
            r.id: dict(r._mapping) for r in c.execute(select(payments).where(payments.c.merchant_id == mid))
        }
        order = {pid: p["merchant_order_no"] for pid, p in pays.items()}
        refs = [dict(r._mapping) for r in c.execute(select(refunds).where(refunds.c.merchant_id == mid))]
        txns = [dataclasses.asdict(t) for pid in pays for t in _rail_txns(pays[pid]["channel"], pid)]
        keyed: dict[str, str] = {f"pay:{pid}:success": f"pay:{order[pid]}" for pid in pays}
        for r in refs:
            keyed[f"refund:{r['id']}:success"] = f"refund:{order[r['payment_id']]}:{r['amount_fen']}"
        ents = {}
        for e in c.execute(select(entries).where(entries.c.idempotency_key.in_(list(keyed)))):
            legs = sorted(
                (p.account_code.replace(mid, "M"), p.side, p.amount_fen, p.created_at)
                for p in c.execute(select(postings).where(postings.c.entry_id == e.id))
            )
            ents[keyed[e.idempotency_key]] = (e.created_at, legs)
        balance = ledger.get_balance(c, f"merchant_payable:{mid}").posted_fen
        days = merchant_day_totals(c, mid)

    def strip(row: dict[str, Any], *drop: str) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in drop}

    # What each rail says of the payer (its own payer id, the issuer, a decline's words) is the rail's business; the
    # money, the states and the book must be the same. A declined code is failed or closed by what the rail says.
    rail_words = (
        "id",
        "merchant_id",
        "channel_ref",
        "code_url",
        "payer_ref",
        "card_issuer",
        "failure_code",
        "failure_message",
        "updated_at",
    )
    for p in pays.values():
        if p["status"] in ("failed", "closed"):
            p.update(status="not_paid", card_type=None)
    for p in pays.values():
        assert p["channel_ref"]
    return {
        # history recorded in bulk has no code left to scan
        "payments": sorted((p["merchant_order_no"], strip(p, *rail_words)) for p in pays.values()),
        "refunds": sorted(
            (
                order[r["payment_id"]],
                r["amount_fen"],
                r["merchant_refund_no"] == r["id"],
                strip(r, "id", "payment_id", "merchant_id", "channel_ref", "merchant_refund_no"),
            )
            for r in refs
        ),  # without a merchant refund number, the refund's own id stands for it
        "rail": sorted(
            (
                order[t["out_trade_no"]],
                t["kind"],
                t["amount_fen"],
                t["status"],
                t["card_type"],
                t["finished_at"],
            )
            for t in txns
        ),
        "entries": ents,
        "balance": balance,
        "merchant_days": days,  # what incentives keeps of each success, for a campaign's effect
    }


def _rail_txns(channel: str, payment_id: str) -> list[Any]:
    store = rails_support.SIM.store
    order = store.order(channel, payment_id)
    return ([order] if order else []) + store.refunds_of(channel, payment_id)


def test_batch_equals_one_by_one(db: Database, fixed_clock: FixedClock) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    a, b = _merchant(db, 1), _merchant(db, 2)
    _one_by_one(db, fixed_clock, a)
    _batch(db, b)
    one, batch = _snapshot(db, a), _snapshot(db, b)
    assert len(one["payments"]) == len(CASES) and len(one["refunds"]) == 5 and len(one["entries"]) == 15
    assert one["merchant_days"] == [
        ("2022-06-15", 10, 1250 + 49_999 + 800 + 3 + 12_345 + 2_000 + 350_000 + 999 + 4_200 + 15_000)
    ]
    for part in ("payments", "refunds", "rail", "entries", "balance", "merchant_days"):
        assert batch[part] == one[part], part
    with db.tx() as c:
        assert ledger.verify(c) == []


def test_batch_rejects_bad_input_and_writes_nothing(db: Database, fixed_clock: FixedClock) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = _merchant(db, 1)
    good = _specs(mid)
    bad = [
        (dict(amount_fen=0), InvalidRequest, "payments.3.amount_fen"),
        (dict(channel="cash"), InvalidRequest, "payments.3.channel"),
        (dict(card_type="wallet", channel="nfc"), InvalidRequest, "payments.3.card_type"),
        (dict(paid_at=T0 - dt.timedelta(days=1)), InvalidRequest, "payments.3.paid_at"),
        (dict(merchant_order_no="ord-0"), ConflictError, "payments.3.merchant_order_no"),
        (dict(merchant_id="mch_nobody"), ConflictError, "payments.3.merchant_id"),
    ]
    for change, error, param in bad:
        specs = list(good)
        fields = {f: getattr(specs[3], f) for f in PaymentSpec.__slots__}
        specs[3] = PaymentSpec(**{**fields, **change})
        with pytest.raises(error) as info, db.tx() as c:
            record_payments(c, specs, rng=random.Random(1))
        assert info.value.param == param
    with db.tx() as c:
        assert c.execute(select(payments)).first() is None
        assert c.execute(select(entries)).first() is None
        done = record_payments(c, good, rng=random.Random(1))
    with pytest.raises(InvalidRequest) as info, db.tx() as c:
        record_refunds(
            c,
            [
                RefundSpec(mid, done[0].id, 1000, T0 + dt.timedelta(days=1)),
                RefundSpec(mid, done[0].id, 251, T0 + dt.timedelta(days=1)),
            ],
            rng=random.Random(1),
        )
    assert info.value.code == "refund_exceeds_payment"
    with db.tx() as c:
        assert c.execute(select(refunds)).first() is None


def test_batch_keeps_the_payers_seen_with_their_first_payment(db: Database, fixed_clock: FixedClock) -> None:
    """New-payer campaign rules ask whether a payer was seen before: history recorded in bulk counts."""
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = _merchant(db, 1)
    with db.tx() as c:
        done = record_payments(c, _specs(mid), rng=random.Random(1))
        seen = {r.payer_key: r.first_payment_id for r in c.execute(select(incentive_payers))}
        paid = {
            r.id: r.payer_ref for r in c.execute(select(payments).where(payments.c.status == "succeeded"))
        }
    first: dict[str, str] = {}
    for r in done:  # in the order they were paid
        if r.id in paid:
            first.setdefault(paid[r.id], r.id)
    assert seen == first and len(seen) == 4


def test_batch_refuses_times_a_running_campaign_would_price(db: Database, fixed_clock: FixedClock) -> None:
    """The batch path prices no campaign: a batch over a running campaign's window is refused whole, with the
    campaign named, rather than recorded without its benefits."""
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = _merchant(db, 1)
    fixed_clock.set(T0 - dt.timedelta(days=2))
    with db.tx() as c:
        cmp = create_campaign(
            c,
            CreateCampaign(
                name="手续费减免",
                funder="county_finance",
                budget_fen=100_000,
                rules=Rules(
                    starts_at=T0 + dt.timedelta(hours=1),
                    ends_at=T0 + dt.timedelta(days=30),
                    fee_waiver=True,
                ),
            ),
        )
    specs = _specs(mid)  # from T0 to T0 + 84 min: the campaign starts within
    with pytest.raises(ConflictError) as info, db.tx() as c:
        record_payments(c, specs, rng=random.Random(1))
    assert info.value.code == "campaign_running" and cmp["id"] in str(info.value)
    with db.tx() as c:
        assert c.execute(select(payments)).first() is None
        assert c.execute(select(merchant_days)).first() is None
        done = record_payments(c, specs[:8], rng=random.Random(1))  # all paid before it starts
    assert len(done) == 8


def test_a_rail_reference_leads_with_the_beijing_second_it_happened() -> None:
    """The reference's head is the Beijing second of the payment, as strftime writes it, for any time; the
    digits after it come from the generator alone (the same seed, the same references)."""
    from zhifu.channels import FACTS
    from zhifu.core.clock import SHANGHAI
    from zhifu.payments.batch import rail_ref

    r = random.Random(26)
    for _ in range(2_000):
        at = dt.datetime(2018, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=r.random() * 13 * 365 * 86_400)
        for ch in FACTS.values():
            ref = rail_ref(ch, at, random.Random(5))
            head = at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
            digits = ch.ref_digits - len(head)
            assert ref == f"{head}{random.Random(5).randrange(10**digits):0{digits}d}"
            assert len(ref) == ch.ref_digits
