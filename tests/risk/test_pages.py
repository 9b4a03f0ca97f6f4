"""The console's risk pages on both backends: the regulator sees alerts by town and typology, two operators freeze
a merchant's settlement (maker and checker), a limit change with a past date is refused inline, and the API."""

from __future__ import annotations

from tests.console.conftest import cheap_argon2, world  # noqa: F401  (the console's fixtures)
from zhifu.risk import service

RULES = """
rules:
  - id: any.payment
    typology: paofen
    stage: success
    subject: merchant
    all: ["amount_fen >= 1"]
    outcome: review
    score: 40
"""


def test_regulator_sees_alerts_and_operators_freeze(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    service.forget_ruleset()
    service.reset_monitor()
    with world.db.tx() as c:
        service.load_rules(c, RULES, by="test", at=__import__("zhifu.core.clock", fromlist=["now"]).now())
    service.forget_ruleset()
    assert service.scan(world.db) >= 2
    reg = world.login("pboc")
    page = reg.get("/console/regulator/risk")
    assert page.status_code == 200
    assert "风险预警" in page.text and "any.payment" in page.text and "data-alerts" in page.text
    assert "placeholder" not in page.text
    assert reg.post("/console/operator/risk/limits", {"key": "barcode_d_payer_day"}).status_code == 403

    maker, checker = world.login("op-rcb"), world.login("op-psbc")
    listing = maker.get("/console/operator/risk")
    assert listing.status_code == 200 and "风险案件" in listing.text
    with world.db.read() as c:
        cases, _ = service.list_cases(c, status="active")
    case = next(x for x in cases if x["subject"] == world.mch_a)
    url = f"/console/operator/risk/cases/{case['id']}"
    assert maker.post(f"{url}/assign", {"assignee": "op-rcb"}).status_code == 303
    assert maker.post(f"{url}/decide", {"action": "freeze", "note": "跑分嫌疑"}).status_code == 303
    mine = maker.post(f"{url}/approve", {"verdict": "approve"})
    assert mine.status_code == 403 and "提出人不能复核" in mine.text  # the maker cannot check
    assert checker.post(f"{url}/approve", {"verdict": "approve"}).status_code == 303
    detail = checker.get(url)
    assert "data-status>frozen<" in detail.text and "op-psbc · approved" in detail.text

    bad = maker.post(
        "/console/operator/risk/limits",
        {"key": "barcode_d_payer_day", "value": "20000", "effective_on": "2000-01-01"},
    )
    assert bad.status_code == 400 and "effective_on" in bad.text and "已过" in bad.text


def test_api_limits_rules_and_bad_input(platform) -> None:  # type: ignore[no-untyped-def]
    service.forget_ruleset()
    r = platform.client.get("/v1/risk/limits", headers=platform.op)
    assert r.status_code == 200 and {x["key"] for x in r.json()["data"]} >= {"barcode_d_payer_day"}
    r = platform.client.post(
        "/v1/risk/limits",
        headers=platform.op,
        json={"key": "barcode_d_payer_day", "value": 1, "effective_on": "2000-01-01"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "effective_date_in_past"
    r = platform.client.post(
        "/v1/risk/rules", headers=platform.op, content=RULES.replace("score: 40", "score: x")
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "line 9"
    r = platform.client.post("/v1/risk/rules", headers=platform.op, content=RULES)
    assert r.status_code == 200 and r.json()["version"] == 1
    assert platform.client.get("/v1/risk/rules", headers=platform.op).json()["version"] == 1
