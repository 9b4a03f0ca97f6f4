"""The log from the outside: reviews, fee changes and the console reviewer are logged with who did them; the
API's proofs check offline; the regulator's page filters, proves and verifies, and reports tampering."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.console.conftest import World
from zhifu import audit
from zhifu.audit import offline


def test_actions_that_matter_are_logged_with_their_actor(world: World) -> None:
    api: Any = world.platform
    op = world.login("op-rcb")
    page = op.get(f"/console/operator/merchants/{world.pending_a}")
    assert page.status_code == 200
    r = op.post(f"/console/operator/merchants/{world.pending_a}/review", {"action": "approve", "reason": ""})
    assert r.status_code in (200, 303), r.text
    r = api.client.post(
        "/v1/fee_rules",
        json={
            "channel": "wechat",
            "card_type": "*",
            "merchant_class": "*",
            "rate_ppm": 3000,
            "effective_from": "2030-01-01",
        },
        headers=api.op,
    )
    assert r.status_code == 200, r.text
    audit.integrate_db(world.db)
    with world.db.read() as c:
        approvals = audit.list_entries(c, action="merchant.approve")["data"]
        by_api = [e for e in approvals if e["object_id"] == world.mch_a][0]
        assert by_api["actor"].startswith("key:key_") and by_api["role"] == "operator"
        by_console = [e for e in approvals if e["object_id"] == world.pending_a][0]
        assert by_console["actor"] == "op-rcb" and by_console["details"]["to"] == "active"
        fee = audit.list_entries(c, action="fee_rule.created")["data"][0]
        assert fee["details"]["rate_ppm"] == 3000 and fee["actor"].startswith("key:")


def test_api_proofs_check_offline_and_merchants_see_only_their_own(world: World) -> None:
    api: Any = world.platform
    audit.integrate_db(world.db)
    keys = api.client.get("/v1/audit/public-key", headers=api.op).json()["data"]
    pub = keys[-1]["public_key"]
    cp = api.client.get("/v1/audit/checkpoint", headers=api.op)
    assert cp.status_code == 200 and cp.text.startswith("zhifu-audit/")
    page = api.client.get("/v1/audit/entries", params={"merchant": world.mch_a}, headers=api.op).json()
    index = page["data"][0]["index"]
    bundle = api.client.get(f"/v1/audit/entries/{index}/proof", headers=api.op).json()
    assert offline.check_bundle(bundle, pub).startswith("OK")
    mine = api.client.get("/v1/audit/entries", headers=world.headers_a).json()["data"]
    assert mine and all(e["merchant_id"] == world.mch_a for e in mine)
    other = api.client.get("/v1/audit/entries", params={"merchant": world.mch_b}, headers=world.headers_a)
    assert other.status_code == 404 and other.json()["error"]["param"] == "merchant"
    theirs = api.client.get("/v1/audit/entries", params={"merchant": world.mch_b}, headers=api.op).json()[
        "data"
    ]
    r = api.client.get(f"/v1/audit/entries/{theirs[0]['index']}/proof", headers=world.headers_a)
    assert r.status_code == 404
    assert api.client.get("/v1/audit/checkpoint").status_code == 401
    bad = api.client.get("/v1/audit/consistency", params={"old": 10**9}, headers=api.op)
    assert bad.status_code == 404 and bad.json()["error"]["param"] == "size"


def test_regulator_page_filters_proves_and_reports_tampering(world: World) -> None:
    audit.integrate_db(world.db)
    reg = world.login("pboc")
    page = reg.get("/console/regulator/audit", params={"action": "merchant.approve"})
    assert page.status_code == 200 and "审计日志" in page.text and "data-root" in page.text
    assert page.text.count("data-entry=") == 2
    bad = reg.get("/console/regulator/audit", params={"before": "x"})
    assert bad.status_code == 400 and "before" in bad.text
    proof = reg.get("/console/regulator/audit/entries/0/proof")
    assert proof.status_code == 200 and proof.json()["type"] == "inclusion"
    ok = reg.post("/console/regulator/audit/verify", {})
    assert ok.status_code == 200 and "data-verify-ok" in ok.text
    with world.db.tx() as c:
        c.execute(text("UPDATE audit_log SET body = replace(body, 'approve', 'reject') WHERE leaf_index = 1"))
    tampered = reg.post("/console/regulator/audit/verify", {})
    assert "data-verify-bad" in tampered.text and "<strong>1</strong>" in tampered.text
    assert "被篡改" in reg.get("/console/regulator/audit").text  # the last verification is remembered
    merchant = world.login("shop-a")
    assert merchant.get("/console/regulator/audit").status_code in (403, 404)
