"""The console's transit pages render for each role with their data, and refuse the wrong role."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.transit import helpers as h
from zhifu.api.app import create_app


def _login(app, db, username: str, role: str, **scope: str) -> TestClient:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from zhifu.console import service as console

    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with db.tx() as c:
        console.create_user(c, username, role, "correct horse battery", **scope)
    client = TestClient(app)
    page = client.get("/login")
    token = page.cookies.get("zhifu_login_csrf") or client.cookies.get("zhifu_login_csrf")
    r = client.post(
        "/login",
        data={"username": username, "password": "correct horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def test_pages_for_staff_bank_and_regulator(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    bus = h.operator(db, "bus")
    h.line(db, bus["merchant_id"], "l1")
    h.validator(db, bus["merchant_id"], "v1", "l1")
    app = create_app(db)
    staff = _login(app, db, "busco", "merchant", merchant_id=bus["merchant_id"])
    r = staff.get("/console/merchant/transit")
    assert r.status_code == 200 and "v1" in r.text and "1 路" in r.text
    bank = _login(app, db, "op-rcb", "operator", institution_id="yiyuan_rcb")
    r = bank.get("/console/operator/transit")
    assert r.status_code == 200 and bus["id"] in r.text
    reg = _login(app, db, "pboc", "regulator")
    r = reg.get("/console/regulator/transit")
    assert r.status_code == 200 and "公交" in r.text
    assert reg.get("/console/operator/transit").status_code == 403
    assert staff.get("/console/regulator/transit").status_code == 403
    r = reg.get("/console/regulator/transit?start=2022-13-01")
    assert r.status_code == 400
