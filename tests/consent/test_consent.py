"""Consent gates the uses it covers, withdrawal bites on the next use, refusals and exports are logged, a
payer's phone is never stored, and bad or foreign requests are refused with the field named."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from zhifu import audit
from zhifu.consent.models import consents

PHONE = "13905330001"


def _grant_credit(api: Any, headers: dict[str, str], mid: str, lender: str = "沂源农商银行") -> Any:
    return api.client.post(
        "/v1/consents",
        headers=headers,
        json={
            "subject_type": "merchant",
            "merchant_id": mid,
            "purpose": "credit_sharing",
            "recipient": lender,
            "scope": "向沂源农商银行提供近6个月经营流水用于普惠贷款审批",
            "data_categories": ["turnover"],
            "method": "app",
            "evidence": "app-consent-record-001",
        },
    )


def test_turnover_evidence_needs_consent_and_withdrawal_bites_at_once(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    mid, headers = api.merchant()
    pid = api.client.post(
        "/v1/payments",
        json={"amount_fen": 1250, "merchant_order_no": "T-1", "channel": "wechat"},
        headers=headers,
    ).json()["id"]
    assert api.client.post(f"/sim/payments/{pid}/pay", json={}).json()["status"] == "succeeded"
    url = f"/v1/merchants/{mid}/turnover-evidence"
    refused = api.client.get(url, params={"lender": "沂源农商银行"}, headers=api.op)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent_required"
    assert _grant_credit(api, headers, mid).status_code == 200
    ok = api.client.get(url, params={"lender": "沂源农商银行"}, headers=api.op)
    assert ok.status_code == 200, ok.text
    month = ok.json()["months"][0]
    assert month["count"] == 1 and month["amount_fen"] == 1250
    other_lender = api.client.get(url, params={"lender": "另一家小贷公司"}, headers=api.op)
    assert other_lender.status_code == 403  # consent names its recipient (PIPL art. 23)
    r = api.client.post(
        "/v1/consents/withdraw",
        headers=headers,
        json={"subject_type": "merchant", "purpose": "credit_sharing"},
    )
    assert r.status_code == 200 and r.json()["data"][0]["withdrawn_at"]
    t0 = time.perf_counter()
    after = api.client.get(url, params={"lender": "沂源农商银行"}, headers=api.op)
    assert after.status_code == 403 and time.perf_counter() - t0 < 1.0
    audit.integrate_db(api.db)
    with api.db.read() as c:
        acts = [e["action"] for e in audit.list_entries(c, merchant_id=mid, limit=50)["data"]]
    assert acts.count("consent.refused") == 3 and "data.shared" in acts and "consent.withdrawn" in acts


def test_payer_consent_export_and_no_phone_stored(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    r = api.client.post(
        "/v1/consents",
        headers=api.op,
        json={
            "subject_type": "payer",
            "phone": PHONE,
            "purpose": "marketing",
            "scope": "接收随机立减活动短信",
            "data_categories": ["phone"],
            "method": "paper",
        },
    )
    assert r.status_code == 200, r.text
    with api.db.read() as c:
        stored = [tuple(row) for row in c.execute(select(consents))]
    assert PHONE not in repr(stored)
    exp = api.client.get(
        "/v1/data-subjects/export", params={"subject_type": "payer", "phone": PHONE}, headers=api.op
    )
    assert exp.status_code == 200 and exp.json()["purposes"] == ["marketing"]
    audit.integrate_db(api.db)
    exp2 = api.client.get(
        "/v1/data-subjects/export", params={"subject_type": "payer", "phone": PHONE}, headers=api.op
    ).json()
    assert [e["action"] for e in exp2["access_log"]][:2] == ["data.exported", "consent.granted"]
    r = api.client.post(
        "/v1/consents/withdraw",
        headers=api.op,
        json={"subject_type": "payer", "phone": PHONE, "purpose": "marketing"},
    )
    assert r.status_code == 200
    listed = api.client.get("/v1/consents", params={"subject_type": "payer", "phone": PHONE}, headers=api.op)
    assert listed.json()["data"][0]["withdrawn_at"] is not None


def test_bad_and_foreign_requests_are_refused(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    mid_a, headers_a = api.merchant()
    mid_b, _ = api.merchant(short_name="邮储小店")
    unknown = api.client.post(
        "/v1/consents/withdraw",
        headers=api.op,
        json={"subject_type": "payer", "phone": "13900000000", "purpose": "marketing"},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "subject"
    foreign = api.client.get(
        "/v1/data-subjects/export",
        params={"subject_type": "merchant", "merchant_id": mid_b},
        headers=headers_a,
    )
    assert foreign.status_code == 404
    foreign_grant = _grant_credit(api, headers_a, mid_b)
    assert foreign_grant.status_code == 404
    bad_phone = api.client.post(
        "/v1/consents",
        headers=api.op,
        json={
            "subject_type": "payer",
            "phone": "12345",
            "purpose": "marketing",
            "scope": "x",
            "data_categories": ["phone"],
            "method": "app",
        },
    )
    assert bad_phone.status_code == 400 and bad_phone.json()["error"]["param"] == "phone"
    no_recipient = api.client.post(
        "/v1/consents",
        headers=headers_a,
        json={
            "subject_type": "merchant",
            "merchant_id": mid_a,
            "purpose": "credit_sharing",
            "scope": "x",
            "data_categories": ["turnover"],
            "method": "app",
        },
    )
    assert no_recipient.status_code == 400 and no_recipient.json()["error"]["param"] == "recipient"
    by_merchant = api.client.get(
        f"/v1/merchants/{mid_a}/turnover-evidence", params={"lender": "x"}, headers=headers_a
    )
    assert by_merchant.status_code == 403
    with api.db.read() as c:
        assert c.execute(select(consents)).first() is None
