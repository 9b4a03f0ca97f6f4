"""A plainly started server has no unauthenticated way to move money: the simulated payer's routes exist only with
the simulator switched on, and the cashier's "confirm in the app" pays nothing without it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from zhifu.api.app import create_app
from zhifu.core.config import get_settings


@pytest.fixture
def simulator_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "simulator", False)


def test_plain_server_answers_404_on_the_simulator_routes(platform, simulator_off) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = platform.client.post(
        "/v1/payments", json={"amount_fen": 500, "merchant_order_no": "s1", "channel": "wechat"}, headers=mh
    ).json()
    assert p["status"] == "created" and p["code_url"].startswith("weixin://")
    plain = TestClient(create_app(platform.db))
    for path, body in (
        (f"/sim/payments/{p['id']}/pay", {}),
        ("/sim/scan", {"code_url": "x", "app": "wechat"}),
    ):
        r = plain.post(path, json=body)
        assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error", (path, r.text)
    assert not any(getattr(r, "path", "").startswith("/sim/") for r in plain.app.routes)
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["status"] == "created"  # nothing paid it
    with platform.db.tx() as c:
        from zhifu import ledger

        assert ledger.get_balance(c, f"merchant_payable:{mid}").posted_fen == 0


def test_simulator_on_keeps_the_payer(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = platform.client.post(
        "/v1/payments", json={"amount_fen": 500, "merchant_order_no": "s2", "channel": "wechat"}, headers=mh
    ).json()
    r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={})
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
