"""Rule sets refused with the line named, deny lists at authorisation, the monitor's alerts and cases, maker-checker,
and a freeze that holds settlement until it is released — on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.risk.conftest import AT, make_merchant, pay
from zhifu import ledger
from zhifu.core.errors import ConflictError, InvalidRequest, PermissionDenied
from zhifu.merchants import payable_account
from zhifu.railsim.payer import sim_pay
from zhifu.risk import RiskBlocked, service
from zhifu.risk.features import Event, FeatureEngine, bucket_s, parse_feature
from zhifu.risk.rules import RuleSetError, default_source, parse_ruleset

GOOD = """
lists:
  deny_payers: {subject: payer}
rules:
  - id: big
    typology: cashout
    stage: success
    subject: merchant
    all: ["count@merchant/1h >= 2", "sum_fen@merchant/1d >= 30000"]
    outcome: review
    score: 70
  - id: shadowed
    stage: success
    subject: merchant
    all: ["amount_fen >= 1"]
    outcome: review
    shadow: true
  - id: deny
    stage: pre_auth
    subject: payer
    in_list: deny_payers
    outcome: block
"""


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("rules:\n  - id: a\n    stage: [unclosed\n", 4, "YAML"),  # the parser names where it noticed
        (GOOD.replace("count@merchant/1h", "velocity@merchant/1h"), 9, "unknown feature"),
        (GOOD.replace("count@merchant/1h", "count@merchant/0m"), 9, "zero"),
        (
            GOOD.replace(
                "deny_payers: {subject: payer}",
                "deny_payers: {subject: payer, include: [b]}\n  b: {subject: payer, include: [deny_payers]}",
            ),
            3,
            "cycle",
        ),
        (GOOD.replace("outcome: block", "outcome: stop"), 22, "outcome"),
        (
            GOOD.replace("stage: pre_auth", 'stage: pre_auth\n    all: ["count@payer/1d >= 1"]'),
            20,
            "pre_auth",
        ),
    ],
)
def test_bad_rule_files_name_the_line(source: str, line: int, words: str) -> None:
    with pytest.raises(RuleSetError) as exc:
        parse_ruleset(source)
    assert exc.value.line == line, str(exc.value)
    assert words.lower() in str(exc.value).lower()


def test_the_packaged_pack_loads() -> None:
    rs = parse_ruleset(default_source())
    assert {r.typology for r in rs.rules} >= {
        "cashout",
        "secondary_clearing",
        "paofen",
        "split",
        "dormant",
        "spike",
    }
    assert rs.expand("deny_payers") == ["deny_payers", "auto_block_payers"]


def test_a_bad_load_keeps_the_running_rules(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        v1 = service.load_rules(c, GOOD, by="ops", at=AT)["version"]
    with db.tx() as c, pytest.raises(InvalidRequest) as exc:
        service.load_rules(c, GOOD.replace("score: 70", "score: 700"), by="ops", at=AT)
    assert exc.value.code == "invalid_ruleset" and exc.value.param == "line 11"
    with db.tx() as c:
        assert service.active_ruleset(c).version == v1
        assert [h["version"] for h in service.ruleset_history(c)] == [v1]


def test_deny_list_blocks_at_authorisation_and_expires(db) -> None:  # type: ignore[no-untyped-def]
    m = make_merchant(db)
    with db.tx() as c:
        service.load_rules(c, GOOD, by="ops", at=AT)
        service.add_to_list(c, "deny_payers", "bad", by="ops", expires_at=AT + dt.timedelta(hours=1), at=AT)
    with pytest.raises(RiskBlocked) as exc:
        pay(db, m, 100, payer="bad")
    assert exc.value.code == "risk_blocked" and "deny" in exc.value.message
    pay(db, m, 100, payer="good")
    pay(db, m, 100, payer="bad", at=AT + dt.timedelta(hours=2))  # the entry has expired


def _succeed(db, mid: str, amount: int, payer: str, fixed_clock) -> str:  # type: ignore[no-untyped-def]
    from zhifu.railsim.payer import Payer

    p = pay(db, mid, amount, payer=payer, flow="dynamic_code", at=fixed_clock.now())
    sim_pay(db, p["id"], outcome="success", payer=Payer(ref=payer))
    return p["id"]


def test_monitor_alerts_cases_freeze_and_release(db, fixed_clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        service.load_rules(c, GOOD, by="ops", at=fixed_clock.now())
    _succeed(db, mid, 20_000, "a", fixed_clock)
    _succeed(db, mid, 20_000, "b", fixed_clock)
    assert service.scan(db) == 2
    assert service.scan(db) == 0  # each success is evaluated once
    with db.tx() as c:
        alerts, _ = service.list_alerts(c)
        live = [a for a in alerts if not a["shadow"]]
        assert [a["rule_id"] for a in live] == ["big"]
        assert live[0]["evidence"]["features"]["sum_fen@merchant/1d"] == 40_000
        assert any(a["shadow"] and a["case_id"] is None for a in alerts)  # shadow: recorded, never acted on
        case_id = live[0]["case_id"]
        service.assign_case(c, case_id, "li", by="wang", at=fixed_clock.now())
        service.note_case(c, case_id, "看过了 / looked", by="li", at=fixed_clock.now())
        service.decide(c, case_id, "freeze", by="li", at=fixed_clock.now())
        payable = ledger.get_balance(c, payable_account(mid))
        assert payable.available_fen == payable.posted_fen > 0  # proposed only: nothing held yet
        with pytest.raises(PermissionDenied):
            service.approve(c, case_id, by="li", at=fixed_clock.now())
        doc = service.approve(c, case_id, by="zhao", at=fixed_clock.now())
        assert doc["status"] == "frozen" and doc["frozen_fen"] == payable.posted_fen
        assert ledger.get_balance(c, payable_account(mid)).available_fen == 0
        with pytest.raises(ConflictError):
            service.decide(c, case_id, "dismiss", by="li", at=fixed_clock.now())
    from zhifu.settlement.service import run_settlement

    day = fixed_clock.now().astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    fixed_clock.advance(days=3)
    run_settlement(db, day, out_dir=tmp_path)  # frozen: nothing is paid
    with db.tx() as c:
        assert ledger.get_balance(c, payable_account(mid)).posted_fen == payable.posted_fen
    with db.tx() as c:
        doc = service.decide(c, case_id, "unfreeze", by="li", at=fixed_clock.now())
        assert doc["status"] == "monitoring" and doc["hold_id"] is None
        assert ledger.get_balance(c, payable_account(mid)).available_fen == payable.posted_fen
        actions = [(e["actor"], e["action"]) for e in service.get_case(c, case_id)["events"]]
        assert actions == [
            ("monitor", "opened"),
            ("wang", "assigned"),
            ("li", "note"),
            ("li", "proposed"),
            ("zhao", "approved"),
            ("zhao", "freeze"),
            ("li", "unfreeze"),
        ]
        service.decide(c, case_id, "report", by="li", at=fixed_clock.now())
        with pytest.raises(ConflictError):
            service.str_report(c, case_id)
        service.approve(c, case_id, by="zhao", at=fixed_clock.now())
    run_settlement(db, day + dt.timedelta(days=1), out_dir=tmp_path)  # released: the next run pays it all
    with db.tx() as c:
        assert ledger.get_balance(c, payable_account(mid)).posted_fen == 0
        csv_text = service.str_report(c, case_id)
        assert mid in csv_text and "sum_fen@merchant/1d=40000" in csv_text
        s = service.summary(c)
        assert s["alerts"] == 1 and s["open_cases"] == 1 and s["cells"][0]["typology"] == "cashout"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * 86_400), st.integers(1, 100_000), st.sampled_from("abc"), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_property_windows_equal_a_brute_force_recount(events) -> None:  # type: ignore[no-untyped-def]
    """The incremental windows give the same count, sum, max and distinct payers as recounting from scratch over the
    window's buckets (from the bucket the window's start falls in: see zhifu.risk.features)."""
    refs = [
        parse_feature(f)
        for f in (
            "count@merchant/1h",
            "sum_fen@merchant/1d",
            "max_fen@merchant/1h",
            "distinct_payers@merchant/1d",
            "credit_share_ppm@merchant/1d",
        )
    ]
    eng = FeatureEngine(refs)
    t0 = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    seen: list[tuple[int, int, str, bool]] = []
    for off, amount, payer, credit in sorted(events):
        e = Event(
            f"p{len(seen)}",
            "m",
            payer,
            amount,
            "credit" if credit else "debit",
            t0 + dt.timedelta(seconds=off),
        )
        eng.add(e)
        seen.append((off, amount, payer, credit))
        hour = [x for x in seen if x[0] // bucket_s(3_600) >= (off - 3_600) // bucket_s(3_600)]
        day = [x for x in seen if x[0] // bucket_s(86_400) >= (off - 86_400) // bucket_s(86_400)]
        assert eng.value(refs[0], e) == len(hour)
        assert eng.value(refs[1], e) == sum(x[1] for x in day)
        assert eng.value(refs[2], e) == max(x[1] for x in hour)
        assert eng.value(refs[3], e) == len({x[2] for x in day})
        assert eng.value(refs[4], e) == sum(x[3] for x in day) * 1_000_000 // len(day)
