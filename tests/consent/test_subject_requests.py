"""Data-subject requests: a correction or deletion filed by one operator is applied only when a second approves
it, through the owner's service; every step is logged; deletion withdraws and unlinks consents and keeps the
transactions; bad, foreign and self-approved requests are refused and change nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.consent.test_consent import PHONE, _grant_credit
from zhifu import audit, merchants, privacy
from zhifu.consent.models import consents, subject_requests


def _second_operator(api: Any) -> dict[str, str]:
    with api.db.tx() as c:
        _, secret = merchants.create_key(c, merchant_id=None, role="operator")
    return {"Authorization": f"Bearer {secret}"}


def _grant_marketing(api: Any, phone: str = PHONE) -> None:
    r = api.client.post(
        "/v1/consents",
        headers=api.op,
        json={
            "subject_type": "payer",
            "phone": phone,
            "purpose": "marketing",
            "scope": "接收本县商户优惠券短信",
            "data_categories": ["phone"],
            "method": "paper",
        },
    )
    assert r.status_code == 200, r.text


def test_merchant_correction_needs_a_second_operator_and_goes_through_merchants(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    mid, _ = api.merchant()
    checker = _second_operator(api)
    body = {
        "subject_type": "merchant",
        "merchant_id": mid,
        "kind": "correction",
        "field": "phone",
        "value": "13800001111",
        "reason": "法人来电：手机号已更换",
    }
    r = api.client.post("/v1/data-subjects/requests", json=body, headers=api.op)
    assert r.status_code == 200, r.text
    req = r.json()
    assert req["status"] == "pending" and req["value"] == "138****1111"
    with api.db.read() as c:
        row = c.execute(select(subject_requests)).one()
        assert "13800001111" not in str(tuple(row))  # the new value is held encrypted until the decision
        before = merchants.merchant_row(c, mid).phone_masked
    twice = api.client.post("/v1/data-subjects/requests", json=body, headers=api.op)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "request_pending"
    self_ok = api.client.post(f"/v1/data-subjects/requests/{req['id']}/approve", json={}, headers=api.op)
    assert self_ok.status_code == 403 and self_ok.json()["error"]["code"] == "maker_checker"
    with api.db.read() as c:
        assert merchants.merchant_row(c, mid).phone_masked == before  # nothing changed
    ok = api.client.post(f"/v1/data-subjects/requests/{req['id']}/approve", json={}, headers=checker)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "applied" and ok.json()["result"]["corrected"] == "phone"
    with api.db.read() as c:
        m = merchants.merchant_row(c, mid)
        assert m.phone_masked == "138****1111" and privacy.decrypt(m.phone_enc, c) == "13800001111"
        assert c.execute(select(subject_requests.c.value_enc)).scalar_one() is None
    again = api.client.post(
        f"/v1/data-subjects/requests/{req['id']}/reject", json={"note": "x"}, headers=checker
    )
    assert again.status_code == 409
    audit.integrate_db(api.db)
    with api.db.read() as c:
        actions = [e["action"] for e in audit.list_entries(c, merchant_id=mid)["data"]]
    assert {"subject_request.filed", "subject_request.approved", "merchant.corrected"} <= set(actions)


def test_payer_deletion_withdraws_and_unlinks_consents_and_says_what_is_kept(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    _grant_marketing(api)
    checker = _second_operator(api)
    r = api.client.post(
        "/v1/data-subjects/requests",
        json={"subject_type": "payer", "phone": PHONE, "kind": "deletion", "reason": "本人书面申请删除"},
        headers=api.op,
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "139****0001"
    rid = r.json()["id"]
    no_note = api.client.post(f"/v1/data-subjects/requests/{rid}/reject", json={}, headers=checker)
    assert no_note.status_code == 400 and no_note.json()["error"]["param"] == "note"
    done = api.client.post(f"/v1/data-subjects/requests/{rid}/approve", json={}, headers=checker).json()
    assert done["status"] == "applied"
    assert done["result"]["consents_withdrawn"] == 1 and done["result"]["consents_unlinked"] == 1
    assert any(k["category"] == "payments_refunds_bills" for k in done["result"]["kept"])
    key = privacy.blind_index(PHONE)
    with api.db.read() as c:
        rows = c.execute(select(consents)).all()
        assert rows and all(r.subject_key != key and r.withdrawn_at is not None for r in rows)
    gone = api.client.get("/v1/consents", params={"subject_type": "payer", "phone": PHONE}, headers=api.op)
    assert gone.json()["data"] == []


def test_payer_phone_correction_moves_their_consents(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    _grant_marketing(api)
    checker = _second_operator(api)
    rid = api.client.post(
        "/v1/data-subjects/requests",
        json={
            "subject_type": "payer",
            "phone": PHONE,
            "kind": "correction",
            "field": "phone",
            "value": "13905330002",
            "reason": "换号",
        },
        headers=api.op,
    ).json()["id"]
    r = api.client.post(f"/v1/data-subjects/requests/{rid}/approve", json={}, headers=checker)
    assert r.status_code == 200 and r.json()["result"]["consents_moved"] == 1
    new = api.client.get(
        "/v1/consents", params={"subject_type": "payer", "phone": "13905330002"}, headers=api.op
    )
    assert len(new.json()["data"]) == 1


def test_bad_and_foreign_requests_are_refused_and_change_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    mid, headers = api.merchant()
    other, other_headers = api.merchant(short_name="另一家")
    base = {"subject_type": "merchant", "merchant_id": mid, "reason": "r"}
    cases = [
        ({**base, "kind": "erase"}, "kind"),
        ({**base, "kind": "correction", "field": "legal_person_id", "value": "x"}, "field"),
        ({**base, "kind": "correction", "field": "phone", "value": "12345"}, "value"),
        ({**base, "kind": "correction", "field": "phone"}, "value"),
        ({**base, "kind": "deletion", "field": "phone"}, "field"),
        ({**base, "kind": "deletion", "reason": ""}, "reason"),
        ({"subject_type": "payer", "phone": "13905339999", "kind": "deletion", "reason": "r"}, "phone"),
        ({"subject_type": "payer", "phone": "139", "kind": "deletion", "reason": "r"}, "phone"),
        ({**base, "merchant_id": "mch_01HZZZZZZZZZZZZZZZZZZZZZZZ", "kind": "deletion"}, "merchant"),
    ]
    for body, param in cases:
        r = api.client.post("/v1/data-subjects/requests", json=body, headers=api.op)
        assert r.status_code in (400, 404), (body, r.text)
        assert r.json()["error"]["param"] == param, (body, r.json())
    # a merchant's key files nothing, and sees no other tenant's data
    r = api.client.post("/v1/data-subjects/requests", json={**base, "kind": "deletion"}, headers=headers)
    assert r.status_code in (401, 403)
    foreign = api.client.get(
        "/v1/data-subjects/export",
        params={"subject_type": "merchant", "merchant_id": mid},
        headers=other_headers,
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["param"] == "subject"
    foreign_consent = _grant_credit(api, other_headers, mid)
    assert foreign_consent.status_code == 404
    assert api.client.get("/v1/data-subjects/requests/dsr_nope", headers=api.op).status_code == 404
    with api.db.read() as c:
        assert c.execute(select(subject_requests)).first() is None
