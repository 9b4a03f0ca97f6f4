"""Actions that matter reach the audit log, on both backends, each with who did it: a refund (in its own
transaction: a refused refund leaves no entry), a settlement run, its payout files (with their digests) and the
bank's result file, a console login, and every download of a report or a statement; the log still verifies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.settlement.helpers import pay, result_file, sh
from zhifu import audit
from zhifu.console import service as console
from zhifu.core.clock import FixedClock
from zhifu.settlement import service as settlement


def _entries(db, action: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        audit.integrate(c)
    with db.read() as c:
        return audit.list_entries(c, action=action, limit=200)["data"]


def test_refunds_settlement_logins_and_downloads_are_audited(
    platform,
    fixed_clock: FixedClock,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch,
) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr(console, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = platform.db
    mid, mh = platform.merchant(short_name="张记早餐")
    key_id = platform.client.get("/v1/keys", headers=mh).json()["data"][0]["id"]
    pid = pay(db, fixed_clock, mid, 12_345, sh(2022, 6, 14, 9))

    # a refund: one entry by the merchant's key, in the refund's own transaction
    r = platform.client.post(f"/v1/payments/{pid}/refunds", json={"amount_fen": 345}, headers=mh)
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    too_much = platform.client.post(f"/v1/payments/{pid}/refunds", json={"amount_fen": 99_999}, headers=mh)
    assert too_much.status_code == 400
    refunds = _entries(db, "refund.created")
    assert [(e["object_id"], e["actor"], e["role"], e["merchant_id"]) for e in refunds] == [
        (rid, f"key:{key_id}", "merchant", mid)
    ]
    assert refunds[0]["details"] == {
        "payment_id": pid,
        "amount_fen": 345,
        "fee_refunded_fen": refunds[0]["details"]["fee_refunded_fen"],
    }

    # a settlement run, its payout files and the bank's result file
    fixed_clock.set(sh(2022, 6, 15, 2))
    with audit.acting("ops-night", "operator"):
        batch = settlement.run_settlement(db, sh(2022, 6, 14).date(), out_dir=tmp_path)
        settlement.import_result(
            db, result_file(db, batch["batch_no"]), filename="result.csv", at=sh(2022, 6, 15, 10)
        )
    (run,) = _entries(db, "settlement.run")
    assert (run["object_id"], run["actor"], run["role"]) == (batch["batch_no"], "ops-night", "operator")
    assert run["details"]["payouts"] == 1 and run["details"]["payout_fen"] == batch["payout_fen"]
    (files,) = _entries(db, "settlement.payout_files")
    assert files["details"]["sha256"] == {
        k: hashlib.sha256(Path(v).read_bytes()).hexdigest() for k, v in batch["files"].items()
    }
    (results,) = _entries(db, "settlement.payout_results")
    assert (results["details"]["paid"], results["details"]["failed"]) == (1, 0)

    # downloads: the monthly report (operator key), a statement (merchant key), the reconciliation report
    assert (
        platform.client.get(
            "/v1/kpi/report", params={"month": "2022-06", "format": "xlsx"}, headers=platform.op
        ).status_code
        == 200
    )
    assert (
        platform.client.get(
            "/v1/statements", params={"month": "2022-06", "format": "csv"}, headers=mh
        ).status_code
        == 200
    )
    assert platform.client.get("/v1/recon/report.csv", headers=platform.op).status_code == 200
    bad = platform.client.get("/v1/statements", params={"month": "2022-13", "format": "csv"}, headers=mh)
    assert bad.status_code == 400  # nothing was exported, nothing is recorded
    exports = {(e["action"], e["object_id"], e["role"]) for e in _entries_like(db, "export.")}
    assert exports == {
        ("export.kpi_report", "2022-06", "operator"),
        ("export.statement", f"{mid}-2022-06", "merchant"),
        ("export.recon_report", "recon-all", "operator"),
    }

    # a console login, and a statement downloaded from the console, name the person
    with db.tx() as c:
        console.create_user(c, "shop-a", "merchant", "correct horse battery", merchant_id=mid)
    browser = TestClient(platform.app)
    page = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = browser.post(
        "/login",
        data={"username": "shop-a", "password": "wrong horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert wrong.status_code != 303
    ok = browser.post(
        "/login",
        data={"username": "shop-a", "password": "correct horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    (login,) = _entries(db, "console.login")
    assert (login["actor"], login["role"], login["object_type"]) == ("shop-a", "merchant", "console_user")
    r = browser.get("/console/merchant/statement", params={"month": "2022-06", "format": "xlsx"})
    assert r.status_code == 200
    mine = [e for e in _entries(db, "export.statement") if e["actor"] == "shop-a"]
    assert len(mine) == 1 and mine[0]["merchant_id"] == mid and mine[0]["details"] == {"format": "xlsx"}

    with db.tx() as c:
        report = audit.verify(c)
    assert report.ok, report


def _entries_like(db, prefix: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        audit.integrate(c)
    with db.read() as c:
        return [e for e in audit.list_entries(c, limit=200)["data"] if e["action"].startswith(prefix)]
