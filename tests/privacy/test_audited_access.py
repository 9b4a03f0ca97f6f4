"""What was missing from the audit log is there, on both backends, each entry naming who, their role, what and
the object: a refused console login with its reason (never the password), a refused API key, a field-key
rotation and the retirement of the old key, and any file downloaded (a biller's payment file by the biller's
key) with its size and SHA-256 — while a report whose route records its own export is not entered twice."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.bills.helpers import biller_in
from zhifu import audit
from zhifu.audit.models import audit_log
from zhifu.console import service as console
from zhifu.privacy.rotation import rotate

PASSWORD = "correct horse battery"


def _entries(db, action: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        audit.integrate(c)
    with db.read() as c:
        return audit.list_entries(c, action=action, limit=200)["data"]


def _all_bodies(db) -> str:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return "\n".join(c.execute(select(audit_log.c.body)).scalars())


def test_refused_logins_and_keys_are_audited_without_the_secret(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    monkeypatch.setattr(console, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = platform.db
    with db.tx() as c:
        user = console.create_user(c, "ops-li", "regulator", PASSWORD)
    browser = TestClient(platform.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)  # type: ignore[union-attr]

    def attempt(username: str, password: str) -> int:
        r = browser.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            follow_redirects=False,
        )
        return r.status_code

    assert attempt("ops-li", "wrong horse battery 1") == 401
    assert attempt("ops-li.typo", "wrong horse battery 2") == 401
    for i in range(4):  # the fifth failure of the window, then the throttle
        attempt("ops-li", f"wrong horse battery {i + 3}")
    assert attempt("ops-li", PASSWORD) == 429
    failed = list(reversed(_entries(db, "console.login_failed")))
    assert [(e["actor"], e["role"], e["details"]["reason"]) for e in failed[:2]] == [
        ("ops-li", "regulator", "bad_password"),
        ("unknown-user", "public", "unknown_user"),
    ]
    assert failed[0]["object_type"] == "console_user" and failed[0]["object_id"] == user.id
    assert failed[1]["object_id"] == audit.digest("ops-li.typo")[:32]  # a name no one has, as a digest
    assert failed[-1]["details"]["reason"] == "throttled" and len(failed) == 7
    assert _entries(db, "console.login") == []
    bodies = _all_bodies(db)
    assert "wrong horse battery" not in bodies and PASSWORD not in bodies and "ops-li.typo" not in bodies

    # the API: no key, a malformed one, a well-formed key that does not exist
    for header, reason in (
        ({}, "missing"),
        ({"Authorization": "Bearer nonsense"}, "malformed"),
        ({"Authorization": "Bearer sk_" + "x" * 40}, "invalid_or_revoked"),
    ):
        r = platform.client.get("/v1/payments", headers=header)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        (e,) = [x for x in _entries(db, "api.auth_failed") if x["details"]["reason"] == reason]
        assert (e["actor"], e["role"], e["object_type"]) == ("anonymous", "public", "api_key")
        assert e["details"]["path"] == "/v1/payments" and e["details"]["method"] == "GET"
    assert "x" * 40 not in _all_bodies(db)
    with db.read() as c:
        assert audit.verify(c).ok


def test_field_key_rotation_is_audited(platform) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    with audit.acting("ops-key", "operator"):
        first = rotate(db)
        second = rotate(db)
    rotated = list(reversed(_entries(db, "privacy.key_rotated")))
    assert [(e["actor"], e["role"], e["object_id"]) for e in rotated] == [
        ("ops-key", "operator", f"v{first.version}"),
        ("ops-key", "operator", f"v{second.version}"),
    ]
    retired = _entries(db, "privacy.key_retired")
    assert first.version in {v for e in retired for v in e["details"]["versions"]}
    assert all(e["object_type"] == "privacy_key" for e in retired)


def test_every_download_is_audited_once(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    r = platform.client.post("/v1/billers", json=biller_in("water").model_dump(), headers=platform.op)
    assert r.status_code == 200, r.text
    r = platform.client.post(f"/v1/merchants/{r.json()['merchant_id']}/keys", headers=platform.op)
    key = r.json()
    bh = {"Authorization": f"Bearer {key['secret']}"}
    f = platform.client.get("/v1/billers/water/payment-file", params={"date": "2022-06-15"}, headers=bh)
    assert f.status_code == 200
    (e,) = _entries(db, "export.download")
    assert (e["actor"], e["role"], e["object_type"]) == (f"key:{key['id']}", "merchant", "export")
    assert e["details"]["path"] == "/v1/billers/water/payment-file"
    assert e["details"]["sha256"] == hashlib.sha256(f.content).hexdigest()
    assert e["details"]["bytes"] == len(f.content) and e["object_id"] == e["details"]["filename"] != ""
    # a refused download is not an export
    bad = platform.client.get("/v1/billers/water/payment-file", params={"date": "2022-13-01"}, headers=bh)
    assert bad.status_code == 400
    # a route that records its own export entry is not entered twice
    r = platform.client.get(
        "/v1/kpi/report", params={"month": "2022-06", "format": "xlsx"}, headers=platform.op
    )
    assert r.status_code == 200
    assert len(_entries(db, "export.kpi_report")) == 1
    assert len(_entries(db, "export.download")) == 1


def test_an_operator_downloading_a_payout_file_is_audited(
    platform, fixed_clock, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The bank file carries full account numbers (the bank needs them): taking it from the console is an
    audit entry naming the operator, the file and its digest."""
    from argon2 import PasswordHasher

    from tests.settlement.helpers import merchant, pay, sh
    from zhifu.settlement import service as settlement

    monkeypatch.setattr(console, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = platform.db
    mid = merchant(db, 1)
    pay(db, fixed_clock, mid, 12_345, sh(2022, 6, 14, 9))
    fixed_clock.set(sh(2022, 6, 15, 2))
    settlement.run_settlement(db, sh(2022, 6, 14).date(), out_dir=tmp_path)
    with db.tx() as c:
        console.create_user(c, "op-rcb", "operator", PASSWORD, institution_id="yiyuan_rcb")
    browser = TestClient(platform.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)  # type: ignore[union-attr]
    r = browser.post("/login", data={"username": "op-rcb", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 200, r.text
    f = browser.get("/console/operator/settlement-runs/2022-06-14/files/bank")
    assert f.status_code == 200 and len(f.content) > 0
    (e,) = _entries(db, "export.download")
    assert (e["actor"], e["role"], e["object_type"]) == ("op-rcb", "operator", "export")
    assert e["details"]["path"] == "/console/operator/settlement-runs/2022-06-14/files/bank"
    assert e["details"]["sha256"] == hashlib.sha256(f.content).hexdigest()
    assert e["object_id"] == e["details"]["filename"] == "ZF20220614.gbk.txt"
