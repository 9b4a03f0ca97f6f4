"""Merchant onboarding and review: validation, lifecycle, keys, caps, masking."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import application
from zhifu import privacy
from zhifu.merchants import merchants


def _count(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        return c.execute(select(func.count()).select_from(merchants)).scalar_one()


BAD = [
    ("bad id check digit", {"legal_person_id": "370323199001011230"}, "legal_person_id"),
    ("bad credit code", {"credit_code": "92370323MA3C12345X"}, "credit_code"),
    ("missing credit code", {"credit_code": None}, "credit_code"),
    ("micro with credit code", {"type": "micro"}, "credit_code"),
    ("account not own name", {"settle_account_name": "李四"}, "settle_account_name"),
    (
        "enterprise account must be legal name",
        {"type": "enterprise", "settle_account_name": "张三"},
        "settle_account_name",
    ),
    ("short name too long", {"short_name": "很" * 26}, "short_name"),
    ("unknown mcc", {"mcc": "0001"}, "mcc"),
    ("unknown town", {"town_code": "999999999"}, "town_code"),
    ("unknown acquirer", {"acquirer_id": "nobank"}, "acquirer_id"),
    ("bad phone", {"phone": "12345"}, "phone"),
    ("unknown field", {"favourite": "tea"}, "favourite"),
]


@pytest.mark.parametrize(("name", "override", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_applications_are_refused(platform, name, override, param) -> None:  # type: ignore[no-untyped-def]
    r = platform.client.post("/v1/merchants", json=application(**override), headers=platform.op)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param, r.text
    assert _count(platform) == 0


def test_lifecycle_and_masking(platform) -> None:  # type: ignore[no-untyped-def]
    app = application()
    m = platform.client.post("/v1/merchants", json=app, headers=platform.op).json()
    assert m["status"] == "pending_review"
    assert app["legal_person_id"] not in str(m) and m["legal_person_id_masked"].count("*") >= 8
    assert m["phone_masked"] == "138****8000"
    r = platform.client.post(f"/v1/merchants/{m['id']}/reject", json={}, headers=platform.op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "reason"
    r = platform.client.post(
        f"/v1/merchants/{m['id']}/request_changes", json={"reason": "门头照片不清晰"}, headers=platform.op
    )
    assert r.json()["status"] == "changes_requested" and r.json()["review_note"] == "门头照片不清晰"
    assert platform.client.post(f"/v1/merchants/{m['id']}/approve", headers=platform.op).status_code == 409
    with platform.db.tx() as c:
        from zhifu.merchants import MerchantApplication, resubmit

        resubmit(c, m["id"], MerchantApplication.model_validate(app))
        row = c.execute(select(merchants).where(merchants.c.id == m["id"])).one()
        assert privacy.decrypt(row.legal_person_id_enc, c) == app["legal_person_id"]
    assert app["legal_person_id"] not in row.legal_person_id_enc
    assert (
        platform.client.post(f"/v1/merchants/{m['id']}/approve", headers=platform.op).json()["status"]
        == "active"
    )
    key = platform.client.post(f"/v1/merchants/{m['id']}/keys", headers=platform.op).json()
    mh = {"Authorization": f"Bearer {key['secret']}"}
    assert platform.client.get("/v1/merchant", headers=mh).json()["id"] == m["id"]
    assert key["secret"] not in platform.client.get("/v1/keys", headers=mh).text
    s = platform.client.post(
        f"/v1/merchants/{m['id']}/suspend", json={"reason": "风险核查"}, headers=platform.op
    )
    assert s.json()["status"] == "suspended"
    r = platform.client.post(
        "/v1/payments", json={"amount_fen": 100, "merchant_order_no": "x", "channel": "wechat"}, headers=mh
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "merchant_not_active"
    rolled = platform.client.post(f"/v1/keys/{key['id']}/roll", headers=mh).json()
    assert platform.client.get("/v1/merchant", headers=mh).status_code == 401
    nh = {"Authorization": f"Bearer {rolled['secret']}"}
    assert platform.client.get("/v1/merchant", headers=nh).status_code == 200
    platform.client.post(f"/v1/keys/{rolled['id']}/revoke", headers=nh)
    assert platform.client.get("/v1/merchant", headers=nh).status_code == 401


def test_micro_merchant_daily_cap(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant(
        type="micro",
        credit_code=None,
        legal_name="王五",
        legal_person_name="王五",
        settle_account_name="王五",
        daily_cap_fen=50_000,
    )
    ok = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 40_000, "merchant_order_no": "m1", "auth_code": "6212345678901234561"},
        headers=mh,
    )
    assert ok.json()["status"] == "succeeded"
    over = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 10_001, "merchant_order_no": "m2", "channel": "wechat"},
        headers=mh,
    )
    assert over.status_code == 400 and over.json()["error"]["code"] == "merchant_limit_exceeded"
    fits = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 10_000, "merchant_order_no": "m3", "channel": "wechat"},
        headers=mh,
    )
    assert fits.status_code == 200


def test_operator_routes_need_operator(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/merchants", headers=mh).status_code == 403
    assert (
        platform.client.post(f"/v1/merchants/{mid}/suspend", json={"reason": "x"}, headers=mh).status_code
        == 403
    )
    assert platform.client.get("/v1/merchants").status_code == 401


def test_cli_onboarding(platform, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    monkeypatch.setenv("ZHIFU_DATABASE_URL", platform.db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        f = tmp_path / "m.json"
        f.write_text(json.dumps(application(), ensure_ascii=False), encoding="utf-8")
        r = runner.invoke(app, ["merchant", "create", str(f)])
        assert r.exit_code == 0, r.output
        mid = r.output.strip().splitlines()[-1]
        assert runner.invoke(app, ["merchant", "approve", mid]).exit_code == 0
        assert "active" in runner.invoke(app, ["merchant", "list"]).output
        k = runner.invoke(app, ["merchant", "keys", mid, "--create"])
        assert k.output.strip().splitlines()[-1].startswith("sk_")
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(application(phone="1"), ensure_ascii=False), encoding="utf-8")
        r = runner.invoke(app, ["merchant", "create", str(bad)])
        assert r.exit_code == 1 and "phone" in r.output
        r = runner.invoke(app, ["merchant", "reject", mid, "--reason", "x"])
        assert r.exit_code == 1 and "active" in r.output
        op = runner.invoke(app, ["admin", "create-key"])
        assert op.exit_code == 0 and op.output.strip().splitlines()[-1].startswith("sk_")
    finally:
        get_settings.cache_clear()
