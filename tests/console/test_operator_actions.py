"""The operator's actions in the console, edge to edge: each refuses bad input inline in Chinese naming the field
and changes nothing; a form submitted twice acts once; another acquirer's operator reaches nothing; settlement,
the bank's result file, a rail-day's reconciliation and a case's maker-checker go through the real services."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from tests.console.conftest import PASSWORD, csrf_of
from tests.factories import application
from zhifu.codes.models import payment_codes
from zhifu.console import service as console
from zhifu.core.clock import SHANGHAI
from zhifu.fees.models import fee_rules
from zhifu.incentives.models import campaigns
from zhifu.merchants.models import merchants
from zhifu.recon import models as recon_models
from zhifu.settlement.models import settlement_batches


def _token(html: str, action: str) -> str:
    """The one-time token of the form posting to `action`."""
    form = re.search(r'<form[^>]*action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no form for {action}"
    found = re.search(r'name="form_token" value="([^"]+)"', form.group(1))
    assert found
    return found.group(1)


def _count(db, table, *where) -> int:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]+)<', html)
    assert found, "no inline error"
    return found.group(1)


def _onboard_form(**overrides: str) -> dict[str, str]:
    doc = application(**overrides)
    doc.pop("acquirer_id", None)
    doc["settlement_cycle"] = "T+1"
    return doc


def test_onboarding_refuses_naming_the_field_acts_once_and_files_for_the_operators_acquirer(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-psbc")
    page = op.get("/console/operator/onboard")
    token = _token(page.text, "/console/operator/onboard")
    before = _count(world.db, merchants)
    bad = _onboard_form(credit_code="91370323MA3C1234X0", legal_name="沂源县邮储测试店")
    r = op.post("/console/operator/onboard", {**bad, "form_token": token})
    assert r.status_code == 400
    assert _alert(r.text).startswith("统一社会信用代码：")
    assert 'value="沂源县邮储测试店"' in r.text  # what was typed is kept
    bad_name = _onboard_form(settle_account_name="李四", legal_name="沂源县邮储测试店")
    r = op.post("/console/operator/onboard", {**bad_name, "form_token": token})
    assert r.status_code == 400 and _alert(r.text).startswith("结算账户户名：")
    valid_id = application()["legal_person_id"]
    wrong_check = valid_id[:17] + ("0" if valid_id[17] != "0" else "1")
    bad_id = _onboard_form(legal_person_id=wrong_check, legal_name="沂源县邮储测试店")
    r = op.post("/console/operator/onboard", {**bad_id, "form_token": token})
    assert r.status_code == 400 and _alert(r.text).startswith("身份证号码：")
    assert _count(world.db, merchants) == before
    good = {**_onboard_form(legal_name="沂源县邮储测试店", short_name="邮储测试"), "form_token": token}
    first = op.post("/console/operator/onboard", good)
    again = op.post("/console/operator/onboard", good)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert _count(world.db, merchants) == before + 1
    mid = first.headers["location"].rsplit("/", 1)[1]
    with world.db.tx() as c:
        row = c.execute(select(merchants).where(merchants.c.id == mid)).one()
    assert row.acquirer_id == "psbc" and row.status == "pending_review"
    assert op.get(first.headers["location"]).status_code == 200
    assert world.login("op-rcb").get(first.headers["location"]).status_code == 404


def test_live_checks_name_the_field(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    good = application()
    r = op.get(
        "/console/operator/onboard/check/credit_code",
        params={"type": "enterprise", "credit_code": good["credit_code"]},
    )
    assert 'data-check="ok"' in r.text
    r = op.get(
        "/console/operator/onboard/check/credit_code",
        params={"type": "enterprise", "credit_code": "91370323MA3C1234X0"},
    )
    assert 'data-check="bad"' in r.text and "统一社会信用代码：" in r.text
    r = op.get("/console/operator/onboard/check/legal_person_id", params={"legal_person_id": "12345"})
    assert "身份证号码：" in r.text
    r = op.get(
        "/console/operator/onboard/check/settle_account_name",
        params={
            "type": "enterprise",
            "legal_name": "沂源县某某有限公司",
            "legal_person_name": "张三",
            "settle_account_name": "张三",
        },
    )
    assert "结算账户户名：" in r.text and 'data-check="bad"' in r.text
    assert world.anonymous().get("/console/operator/onboard/check/phone?phone=1").status_code == 303


def test_codes_and_stickers_for_own_merchants_only(world) -> None:  # type: ignore[no-untyped-def]
    other = world.login("op-psbc")
    r = other.post(f"/console/operator/merchants/{world.mch_a}/code", {"form_token": "x" * 43})
    assert r.status_code == 404
    assert _count(world.db, payment_codes, payment_codes.c.merchant_id == world.mch_a) == 0
    op = world.login("op-rcb")
    page = op.get(f"/console/operator/merchants/{world.mch_a}")
    token = _token(page.text, f"/console/operator/merchants/{world.mch_a}/code")
    for _ in range(2):
        assert (
            op.post(f"/console/operator/merchants/{world.mch_a}/code", {"form_token": token}).status_code
            == 303
        )
    assert _count(world.db, payment_codes, payment_codes.c.merchant_id == world.mch_a) == 1
    page = op.get(f"/console/operator/merchants/{world.mch_a}")
    assert "data-code-url" in page.text
    pdf = op.get(f"/console/operator/merchants/{world.mch_a}/sticker.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert other.get(f"/console/operator/merchants/{world.mch_a}/sticker.pdf").status_code == 404


def test_campaigns_refuse_bad_input_act_once_and_pause_only_own(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    page = op.get("/console/operator/campaigns")
    token = _token(page.text, "/console/operator/campaigns")
    today = dt.datetime.now(SHANGHAI).date()
    form = {
        "name": "春节随机立减",
        "funder": "county_finance",
        "budget": "1000.00",
        "starts_at": today.isoformat(),
        "ends_at": (today + dt.timedelta(days=30)).isoformat(),
        "channel": "unionpay_qr",
        "amount_below": "500",
        "probability": "30",
        "discount_min": "0.50",
        "discount_max": "5.00",
        "form_token": token,
    }
    for field, value, label in (
        ("budget", "十块", "预算："),
        ("ends_at", today.isoformat(), "结束日期："),
        ("probability", "150", "立减概率："),
        ("discount_max", "0.10", "最大立减金额："),
        ("funder", "psbc", "出资方："),
    ):
        r = op.post("/console/operator/campaigns", {**form, field: value})
        assert r.status_code == 400, field
        assert _alert(r.text).startswith(label), (field, _alert(r.text))
    assert _count(world.db, campaigns) == 0
    assert op.post("/console/operator/campaigns", form).status_code == 303
    assert op.post("/console/operator/campaigns", form).status_code == 303
    assert _count(world.db, campaigns) == 1
    with world.db.tx() as c:
        cid = c.execute(select(campaigns.c.id)).scalar_one()
    other = world.login("op-psbc")
    assert other.post(f"/console/operator/campaigns/{cid}/pause", {"form_token": "t" * 43}).status_code == 404
    page = op.get("/console/operator/campaigns")
    r = op.post(
        f"/console/operator/campaigns/{cid}/pause",
        {"form_token": _token(page.text, f"/console/operator/campaigns/{cid}/pause")},
    )
    assert r.status_code == 303
    with world.db.tx() as c:
        assert c.execute(select(campaigns.c.status)).scalar_one() == "paused"


def test_fee_plans_with_effective_dates(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    page = op.get("/console/operator/fee-plans")
    token = _token(page.text, "/console/operator/fee-plans")
    today = dt.datetime.now(SHANGHAI).date()
    form = {
        "channel": "unionpay_qr",
        "card_type": "*",
        "merchant_class": "*",
        "rate": "0.38",
        "min": "",
        "cap": "",
        "effective_from": (today + dt.timedelta(days=1)).isoformat(),
        "effective_to": "",
        "note": "新年费率",
        "form_token": token,
    }
    for field, value, label in (
        ("rate", "abc", "费率："),
        ("effective_from", "2021-01-01", "生效日："),
        ("effective_from", "2026-13-01", "生效日："),
        ("cap", "-1", "封顶："),
    ):
        r = op.post("/console/operator/fee-plans", {**form, field: value})
        assert r.status_code == 400, field
        assert _alert(r.text).startswith(label), (field, _alert(r.text))
    assert _count(world.db, fee_rules) == 0
    assert op.post("/console/operator/fee-plans", form).status_code == 303
    assert op.post("/console/operator/fee-plans", form).status_code == 303
    with world.db.tx() as c:
        rule = c.execute(select(fee_rules)).one()
    assert rule.rate_ppm == 3800 and rule.effective_from == today + dt.timedelta(days=1)
    page = op.get("/console/operator/fee-plans")
    assert "0.38%" in page.text
    end_action = f"/console/operator/fee-plans/{rule.id}/end"
    r = op.post(
        end_action,
        {"effective_to": rule.effective_from.isoformat(), "form_token": _token(page.text, end_action)},
    )
    assert r.status_code == 400 and "失效日" in _alert(r.text)
    r = op.post(
        end_action,
        {
            "effective_to": (today + dt.timedelta(days=60)).isoformat(),
            "form_token": _token(page.text, end_action),
        },
    )
    assert r.status_code == 303
    with world.db.tx() as c:
        assert c.execute(select(fee_rules.c.effective_to)).scalar_one() == today + dt.timedelta(days=60)
    other = world.login("op-psbc")
    assert "data-fee-form" not in other.get("/console/operator/fee-plans").text
    r = other.post(
        "/console/operator/fee-plans",
        {**form, "form_token": "o" * 43, "effective_from": (today + dt.timedelta(days=2)).isoformat()},
    )
    assert r.status_code == 403 and _count(world.db, fee_rules) == 1


def test_settlement_run_refuses_bad_dates_and_other_acquirers(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    page = op.get("/console/operator/settlement-runs")
    token = _token(page.text, "/console/operator/settlement-runs")
    today = dt.datetime.now(SHANGHAI).date()
    for value in ("", "2026/01/01", today.isoformat()):
        r = op.post("/console/operator/settlement-runs", {"business_date": value, "form_token": token})
        assert r.status_code == 400, value
        assert "业务日期" in _alert(r.text) or "日" in _alert(r.text)
    other = world.login("op-psbc")
    r = other.post(
        "/console/operator/settlement-runs",
        {"business_date": (today - dt.timedelta(days=1)).isoformat(), "form_token": "p" * 43},
    )
    assert r.status_code == 403
    assert _count(world.db, settlement_batches) == 0
    r = op.post(
        "/console/operator/settlement-runs/payout-results",
        {"form_token": token},
        files={"file": ("result.csv", b"not,a,result\n", "text/csv")},
    )
    assert r.status_code == 400 and "文件" in _alert(r.text) or "行" in _alert(r.text)


@pytest.fixture
def settled_world(world, fixed_clock, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """A day of takings for merchant A under a fixed clock, then the next morning."""
    from tests.recon.platform_data import D, at_local, build_day

    monkeypatch.setenv("ZHIFU_SETTLEMENT_DIR", str(tmp_path / "payouts"))
    day = build_day(world.db, fixed_clock, world.mch_a, paid=6, unpaid=1, refunds=1)
    fixed_clock.set(at_local(D + dt.timedelta(days=1), 9))
    with world.db.tx() as c:
        console.create_user(c, "op-rcb-2", "operator", PASSWORD, institution_id="yiyuan_rcb")
    return world, day, D


def test_a_day_settled_paid_reconciled_and_a_case_resolved_by_two_people(settled_world) -> None:  # type: ignore[no-untyped-def]
    from tests.rails_support import produce_statement
    from tests.settlement.helpers import result_file

    world, day, d = settled_world
    op = world.login("op-rcb")
    page = op.get("/console/operator/settlement-runs")
    token = _token(page.text, "/console/operator/settlement-runs")
    r = op.post("/console/operator/settlement-runs", {"business_date": d.isoformat(), "form_token": token})
    assert r.status_code == 303, r.text
    assert (
        op.post(
            "/console/operator/settlement-runs", {"business_date": d.isoformat(), "form_token": token}
        ).status_code
        == 303
    )
    with world.db.tx() as c:
        batch = c.execute(select(settlement_batches)).one()
    assert batch.status == "filed" and batch.payout_count == 1
    bank = op.get(f"/console/operator/settlement-runs/{d.isoformat()}/files/bank")
    csv = op.get(f"/console/operator/settlement-runs/{d.isoformat()}/files/csv")
    assert bank.status_code == csv.status_code == 200 and world.mch_a in csv.text
    assert (
        world.login("op-psbc").get(f"/console/operator/settlement-runs/{d.isoformat()}/files/csv").status_code
        == 403
    )
    rerun = op.post(
        "/console/operator/settlement-runs", {"business_date": d.isoformat(), "form_token": "r" * 43}
    )
    assert (
        rerun.status_code == 303 and _count(world.db, settlement_batches) == 1
    )  # re-run: nothing posted twice
    result = result_file(world.db, batch.batch_no)
    page = op.get("/console/operator/settlement-runs")
    up = op.post(
        "/console/operator/settlement-runs/payout-results",
        {"form_token": _token(page.text, "/console/operator/settlement-runs/payout-results")},
        files={"file": ("result.csv", result, "text/csv")},
    )
    assert up.status_code == 303 and up.headers["location"].endswith("%201/0")  # one paid, none failed

    produced = produce_statement("unionpay_qr", d, {"amount_mismatch": 1}, seed=3)
    page = op.get("/console/operator/reconciliation")
    token = _token(page.text, "/console/operator/reconciliation/statement-upload")
    r = op.post(
        "/console/operator/reconciliation/statement-upload",
        {"channel": "nope", "business_date": d.isoformat(), "form_token": token},
    )
    assert r.status_code == 400 and _alert(r.text).startswith("渠道：")
    r = op.post(
        "/console/operator/reconciliation/statement-upload",
        {"channel": "unionpay_qr", "business_date": d.isoformat(), "form_token": token},
        files={"file": ("zm.txt", produced.data, "application/octet-stream")},
    )
    assert r.status_code == 303, r.text
    with world.db.tx() as c:
        case_id = c.execute(
            select(recon_models.cases.c.id).where(recon_models.cases.c.status == "open")
        ).scalar_one()
    assert case_id in op.get("/console/operator/cases").text
    assert world.login("op-psbc").get(f"/console/operator/cases/{case_id}").status_code == 404

    page = op.get(f"/console/operator/cases/{case_id}")
    action = re.search(r'<option value="([a-z_]+)" selected', page.text).group(1)  # type: ignore[union-attr]
    r = op.post(
        f"/console/operator/cases/{case_id}/propose",
        {
            "action": action,
            "note": "按渠道金额处理",
            "form_token": _token(page.text, f"/console/operator/cases/{case_id}/propose"),
        },
    )
    assert r.status_code == 303
    page = op.get(f"/console/operator/cases/{case_id}")
    assert "data-own-proposal" in page.text
    r = op.post(
        f"/console/operator/cases/{case_id}/approve",
        {"form_token": _token(page.text, f"/console/operator/cases/{case_id}/approve")},
    )
    assert r.status_code == 403 and "另一" in _alert(r.text)
    checker = world.login("op-rcb-2")
    page = checker.get(f"/console/operator/cases/{case_id}")
    r = checker.post(
        f"/console/operator/cases/{case_id}/reject",
        {"note": "", "form_token": _token(page.text, f"/console/operator/cases/{case_id}/reject")},
    )
    assert r.status_code == 400 and _alert(r.text).startswith("备注：")
    r = checker.post(
        f"/console/operator/cases/{case_id}/approve",
        {"form_token": _token(page.text, f"/console/operator/cases/{case_id}/approve")},
    )
    assert r.status_code == 303
    with world.db.tx() as c:
        row = c.execute(select(recon_models.cases).where(recon_models.cases.c.id == case_id)).one()
    assert (
        row.status == "resolved"
        and row.proposed_by == "console:op-rcb"
        and row.approved_by == "console:op-rcb-2"
    )
    with world.db.tx() as c:
        from zhifu import ledger

        assert ledger.verify(c) == []
    assert csrf_of(page.text)
