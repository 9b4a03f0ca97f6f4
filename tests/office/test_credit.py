"""Turnover evidence goes to a lender only through the consent capability's gate: refused without consent and
after withdrawal (nothing disclosed, the refusal audited), signed when shared, every disclosure kept and audited;
credit recorded on it shows as financing supported by payment data."""

from __future__ import annotations

from sqlalchemy import func, select

from zhifu import audit
from zhifu.office import signing
from zhifu.office.models import office_disclosures


def _disclosed(db) -> int:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return int(c.execute(select(func.count()).select_from(office_disclosures)).scalar_one())


def test_share_with_a_lender_then_withdraw(world) -> None:  # type: ignore[no-untyped-def]
    api, mid = world.platform, world.shiqiao
    for i, amount in enumerate((1250, 3000)):
        pid = api.client.post(
            "/v1/payments",
            headers=world.shiqiao_headers,
            json={"amount_fen": amount, "merchant_order_no": f"C-{i}", "channel": "unionpay_qr"},
        ).json()["id"]
        assert api.client.post(f"/sim/payments/{pid}/pay", json={}).json()["status"] == "succeeded"
    url = f"/v1/merchants/{mid}/credit-evidence"
    refused = api.client.get(url, params={"lender": "yiyuan_rcb"}, headers=api.op)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent_required"
    assert _disclosed(world.db) == 0
    unknown = api.client.get(url, params={"lender": "某网贷平台"}, headers=api.op)
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "lender"
    r = api.client.post(
        "/v1/consents",
        headers=world.shiqiao_headers,
        json={
            "subject_type": "merchant",
            "merchant_id": mid,
            "purpose": "credit_sharing",
            "recipient": "yiyuan_rcb",
            "scope": "向沂源农商银行提供近6个月经营流水",
            "data_categories": ["turnover"],
            "method": "app",
        },
    )
    assert r.status_code == 200, r.text
    ok = api.client.get(url, params={"lender": "yiyuan_rcb"}, headers=api.op)
    assert ok.status_code == 200, ok.text
    ev = ok.json()
    assert ev["takings_fen"] == 4250 and ev["refund_rate_ppm"] == 0 and ev["monthly"][0]["count"] == 2
    body = {k: v for k, v in ev.items() if k not in ("id", "signature", "key_id", "digest")}
    assert signing.verify(body, ev["signature"])
    assert not signing.verify({**body, "takings_fen": 999_999}, ev["signature"])
    assert (
        api.client.get(url, params={"lender": "psbc"}, headers=api.op).status_code == 403
    )  # consent names a lender
    pdf = api.client.get(
        "/v1/office/credit-evidence.pdf", params={"lender": "yiyuan_rcb"}, headers=world.shiqiao_headers
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    credit = api.client.post(
        "/v1/office/credit",
        headers=api.op,
        json={
            "lender": "yiyuan_rcb",
            "merchant_id": mid,
            "disclosure_id": ev["id"],
            "amount_fen": 5_000_000,
            "term_months": 12,
            "granted_on": "2022-06-15",
        },
    )
    assert credit.status_code == 200, credit.text
    wrong = api.client.post(
        "/v1/office/credit",
        headers=api.op,
        json={
            "lender": "psbc",
            "merchant_id": mid,
            "disclosure_id": ev["id"],
            "amount_fen": 100,
            "term_months": 12,
            "granted_on": "2022-06-15",
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "disclosure_id"
    assert _disclosed(world.db) == 2
    w = api.client.post(
        "/v1/consents/withdraw",
        headers=world.shiqiao_headers,
        json={"subject_type": "merchant", "purpose": "credit_sharing"},
    )
    assert w.status_code == 200
    after = api.client.get(url, params={"lender": "yiyuan_rcb"}, headers=api.op)
    assert after.status_code == 403 and _disclosed(world.db) == 2
    figures = api.client.get(
        "/v1/office/figures", params={"start": "2022-01-01", "end": "2022-12-31"}, headers=api.op
    ).json()
    assert (
        figures["credit"]["amount_fen"] == 5_000_000
        and figures["credit"]["by_town"][0]["town_code"] == "370323109"
    )
    audit.integrate_db(world.db)
    with world.db.read() as c:
        acts = [e["action"] for e in audit.list_entries(c, merchant_id=mid, limit=100)["data"]]
    assert acts.count("office.evidence_disclosed") == 2 and acts.count("consent.refused") >= 3
    assert "office.credit_recorded" in acts
