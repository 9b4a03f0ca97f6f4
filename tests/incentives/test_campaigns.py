"""Campaigns without payments: validation (nothing stored on bad input), versions, funding, status, CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.incentives.helpers import discount_campaign, seed_rule
from zhifu import ledger
from zhifu.incentives.models import campaign_versions, campaigns


def _counts(platform) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        return (
            c.execute(select(func.count()).select_from(campaigns)).scalar_one(),
            c.execute(select(func.count()).select_from(campaign_versions)).scalar_one(),
            c.execute(select(func.count()).select_from(ledger.models.entries)).scalar_one(),
        )


def _with(rules: dict, **top) -> dict:  # type: ignore[type-arg]
    doc = seed_rule()
    doc["rules"].update(rules)
    doc.update(top)
    return doc


BAD = [
    ("empty window", _with({"ends_at": "2022-06-01T00:00:00+08:00"}), "rules.ends_at"),
    ("inverted window", _with({"ends_at": "2022-05-01T00:00:00+08:00"}), "rules.ends_at"),
    ("naive time", _with({"starts_at": "2022-06-01T00:00:00"}), "rules.starts_at"),
    ("zero budget", _with({}, budget_fen=0), "budget_fen"),
    ("negative budget", _with({}, budget_fen=-100), "budget_fen"),
    (
        "max below min",
        _with({"discount": {"probability_ppm": 500_000, "min_fen": 500, "max_fen": 100}}),
        "rules.discount.max_fen",
    ),
    (
        "probability above 1",
        _with({"discount": {"probability_ppm": 1_000_001, "min_fen": 1, "max_fen": 2}}),
        "rules.discount.probability_ppm",
    ),
    (
        "probability below 0",
        _with({"discount": {"probability_ppm": -1, "min_fen": 1, "max_fen": 2}}),
        "rules.discount.probability_ppm",
    ),
    ("unknown issuer", _with({"issuers": ["no_such_bank"]}), "rules.issuers.0"),
    ("unknown town", _with({"towns": ["370323999"]}), "rules.towns.0"),
    ("unknown circle", _with({"circles": ["atlantis"]}), "rules.circles.0"),
    ("unknown channel", _with({"channels": ["bitcoin"]}), "rules.channels.0"),
    ("unknown funder", _with({}, funder="martians"), "funder"),
    ("inverted day hours", _with({"daily_from": "18:00", "daily_to": "08:00"}), "rules.daily_to"),
    ("bad weekday", _with({"weekdays": [0]}), "rules.weekdays.0"),
    ("no benefit", _with({"cost_refund": False, "subsidy_ppm": 0, "fee_waiver": False}), "rules.discount"),
    (
        "zero tier weight",
        _with({"discount": {"probability_ppm": 1, "tiers": [{"amount_fen": 5, "weight": 0}]}}),
        "rules.discount.tiers.0.weight",
    ),
]


@pytest.mark.parametrize(("name", "body", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_campaigns_change_nothing(platform, name, body, param) -> None:  # type: ignore[no-untyped-def]
    r = platform.client.post("/v1/campaigns", json=body, headers=platform.op)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["message"], err
    assert _counts(platform) == (0, 0, 0)


def test_create_fund_version_status(platform) -> None:  # type: ignore[no-untyped-def]
    r = platform.client.post("/v1/campaigns", json=seed_rule(), headers=platform.op)
    assert r.status_code == 200, r.text
    cmp = r.json()
    assert (cmp["status"], cmp["version"], cmp["funded_fen"], cmp["remaining_fen"]) == (
        "active",
        1,
        1_000_000,
        1_000_000,
    )
    cid = cmp["id"]
    r = platform.client.post(f"/v1/campaigns/{cid}/fund", json={"amount_fen": 5_000}, headers=platform.op)
    assert r.json()["remaining_fen"] == 1_005_000
    r = platform.client.post(f"/v1/campaigns/{cid}/fund", json={"amount_fen": 0}, headers=platform.op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "amount_fen"
    new_rules = {**seed_rule()["rules"], "subsidy_ppm": 3_000}
    r = platform.client.post(f"/v1/campaigns/{cid}/versions", json=new_rules, headers=platform.op)
    assert r.json()["version"] == 2 and r.json()["rules"]["subsidy_ppm"] == 3_000
    bad = {**new_rules, "towns": ["nowhere"]}
    assert (
        platform.client.post(f"/v1/campaigns/{cid}/versions", json=bad, headers=platform.op).status_code
        == 400
    )
    vs = platform.client.get(f"/v1/campaigns/{cid}/versions", headers=platform.op).json()["data"]
    assert [(v["version"], v["rules"]["subsidy_ppm"]) for v in vs] == [(1, 2_000), (2, 3_000)]
    assert (
        platform.client.post(f"/v1/campaigns/{cid}/pause", headers=platform.op).json()["status"] == "paused"
    )
    assert platform.client.post(f"/v1/campaigns/{cid}/pause", headers=platform.op).status_code == 409
    assert (
        platform.client.post(f"/v1/campaigns/{cid}/resume", headers=platform.op).json()["status"] == "active"
    )
    ended = platform.client.post(f"/v1/campaigns/{cid}/end", headers=platform.op).json()
    assert ended["status"] == "ended" and ended["remaining_fen"] == 0
    with platform.db.tx() as c:
        assert ledger.get_balance(c, "campaign_funder:government").posted_fen == 0  # all returned
        assert ledger.verify(c) == []
    listed = platform.client.get("/v1/campaigns", headers=platform.op).json()
    assert [x["id"] for x in listed["data"]] == [cid]
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/campaigns", headers=mh).status_code == 403  # operators only
    funders = platform.client.get("/v1/campaigns/funders", headers=platform.op).json()["data"]
    assert funders == [{"funder": "government", "funded_fen": 1_005_000, "spent_fen": 0, "remaining_fen": 0}]


def test_cli(platform, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    monkeypatch.setenv("ZHIFU_DATABASE_URL", platform.db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        f = tmp_path / "c.json"
        f.write_text(json.dumps(discount_campaign(), ensure_ascii=False), encoding="utf-8")
        r = runner.invoke(app, ["campaign", "create", str(f)])
        assert r.exit_code == 0, r.output
        cid = r.output.strip().splitlines()[-1]
        assert cid.startswith("cmp_")
        r = runner.invoke(app, ["campaign", "fund", cid, "500"])
        assert r.exit_code == 0 and "¥1,005.00" in r.output, r.output
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(discount_campaign(budget_fen=-1)), encoding="utf-8")
        r = runner.invoke(app, ["campaign", "create", str(bad)])
        assert r.exit_code == 1 and "budget_fen" in r.output
        rules = tmp_path / "r.json"
        rules.write_text(json.dumps({**discount_campaign()["rules"], "towns": ["x"]}), encoding="utf-8")
        r = runner.invoke(app, ["campaign", "rules", cid, str(rules)])
        assert r.exit_code == 1 and "rules.towns.0" in r.output
        r = runner.invoke(app, ["campaign", "report", cid])
        assert r.exit_code == 0 and "remaining ¥1,005.00" in r.output
        assert "(active)" in runner.invoke(app, ["campaign", "list"]).output
        assert "(ended)" in runner.invoke(app, ["campaign", "end", cid]).output
    finally:
        get_settings.cache_clear()
