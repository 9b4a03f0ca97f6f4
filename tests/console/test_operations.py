"""The operator's settlement runs, reconciliation, cases, campaigns and fee plans: read-only lists."""

from __future__ import annotations

import datetime as dt

from tests.incentives.helpers import discount_campaign
from zhifu.console.routes import _percent
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.fees.service import RuleIn, create_rule
from zhifu.incentives.service import CreateCampaign, create_campaign
from zhifu.settlement import service as settlement


def test_settlement_runs_list_the_run(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().astimezone(SHANGHAI).date()
    run = settlement.run_settlement(world.db, today, at=clock.now() + dt.timedelta(days=2), out_dir=tmp_path)
    page = world.login("op-rcb").get("/console/operator/settlement-runs")
    assert page.status_code == 200 and "<h1>结算批次" in page.text, page.text[-2000:]
    assert today.isoformat() in page.text and run["batch_no"] in page.text and "已出文件" in page.text
    assert f">{run['payout_count']}<" in page.text and f"¥{run['payout_fen'] // 100}." in page.text
    assert world.login("shop-a").get("/console/operator/settlement-runs").status_code == 403


def test_reconciliation_and_cases_pages_start_empty(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    recon = op.get("/console/operator/reconciliation")
    assert recon.status_code == 200 and "尚未对账" in recon.text
    cases = op.get("/console/operator/cases?status=resolved")
    assert (
        cases.status_code == 200 and "暂无差错单" in cases.text and 'value="resolved" selected' in cases.text
    )
    assert op.get("/console/operator/reconciliation?starting_after=nope").status_code == 400


def test_campaigns_list_budget_and_version(world) -> None:  # type: ignore[no-untyped-def]
    doc = discount_campaign(budget_fen=123_456) | {"name": "春耕立减"}
    with world.db.tx() as c:
        create_campaign(c, CreateCampaign.model_validate(doc))
    page = world.login("op-rcb").get("/console/operator/campaigns")
    assert page.status_code == 200 and "春耕立减" in page.text
    assert page.text.count("¥1,234.56") == 2 and "yiyuan_rcb" in page.text and ">v1<" in page.text


def test_fee_plans_show_rate_as_percent(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        create_rule(
            c,
            RuleIn(
                channel="unionpay_qr",
                card_type="debit",
                rate_ppm=3_800,
                min_fen=10,
                cap_fen=2_000,
                effective_from=dt.date(2021, 1, 1),
                note="借记卡封顶",
            ),
        )
    page = world.login("op-rcb").get("/console/operator/fee-plans?lang=en")
    assert page.status_code == 200 and "0.38%" in page.text and "¥0.10" in page.text and "¥20.00" in page.text
    assert "2021-01-01" in page.text and "借记卡封顶" in page.text and "debit" in page.text


def test_percent_has_no_float_rounding() -> None:
    assert [_percent(p) for p in (3_800, 6_000, 1_250, 0, 1_000_000)] == [
        "0.38%",
        "0.60%",
        "0.125%",
        "0.00%",
        "100.00%",
    ]
