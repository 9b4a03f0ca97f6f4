"""营销需同意 / A campaign's offer reaches only payers with a live marketing consent: a grant lets it through, a
withdrawal refuses the very next send, an unknown payer is refused, each refusal is audited, the phone is never
written to the log, and a bad phone or an ended campaign refuses the whole request and sends nothing."""

from __future__ import annotations

import time
from typing import Any

from tests.incentives.helpers import seed_rule
from zhifu import audit, privacy

GRANTED = "13905331001"
UNKNOWN = "13905331002"


def _campaign(api: Any) -> str:
    r = api.client.post("/v1/campaigns", json=seed_rule(), headers=api.op)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _notice_actions(api: Any, cid: str) -> list[tuple[str, Any]]:
    audit.integrate_db(api.db)
    with api.db.read() as c:
        entries = audit.list_entries(c, limit=200)["data"]
    return [(e["action"], e) for e in entries if e["action"] in ("campaign.notice_sent", "consent.refused")]


def test_grant_sends_withdrawal_refuses_at_once_unknown_refused(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    cid = _campaign(api)
    r = api.client.post(
        "/v1/consents",
        headers=api.op,
        json={
            "subject_type": "payer",
            "phone": GRANTED,
            "purpose": "marketing",
            "scope": "接收本县商户优惠活动短信",
            "data_categories": ["phone"],
            "method": "paper",
        },
    )
    assert r.status_code == 200, r.text
    url = f"/v1/campaigns/{cid}/notices"
    r = api.client.post(url, headers=api.op, json={"phones": [GRANTED, UNKNOWN, GRANTED]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["requested"], body["payers"], body["sent"], body["refused_no_consent"]) == (3, 2, 1, 1)

    w = api.client.post(
        "/v1/consents/withdraw",
        headers=api.op,
        json={"subject_type": "payer", "phone": GRANTED, "purpose": "marketing"},
    )
    assert w.status_code == 200, w.text
    t0 = time.perf_counter()
    r = api.client.post(url, headers=api.op, json={"phones": [GRANTED]})
    assert time.perf_counter() - t0 < 1.0
    assert (r.json()["sent"], r.json()["refused_no_consent"]) == (0, 1)

    acts = _notice_actions(api, cid)
    sent = [e for a, e in acts if a == "campaign.notice_sent"]
    refused = [e for a, e in acts if a == "consent.refused"]
    assert len(sent) == 1 and len(refused) == 2
    key = privacy.blind_index(GRANTED)
    assert key in repr(sent[0]) and GRANTED not in repr(acts) and UNKNOWN not in repr(acts)
    assert {privacy.blind_index(UNKNOWN), key} <= {str(e.get("object_id")) for e in refused}


def test_bad_phone_or_ended_campaign_sends_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    api = platform
    cid = _campaign(api)
    url = f"/v1/campaigns/{cid}/notices"
    r = api.client.post(url, headers=api.op, json={"phones": [UNKNOWN, "1390533"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "phones[1]" and "手机号" in r.json()["error"]["message"]
    r = api.client.post(url, headers=api.op, json={"phones": []})
    assert r.status_code == 400, r.text
    r = api.client.post("/v1/campaigns/cmp_nope/notices", headers=api.op, json={"phones": [UNKNOWN]})
    assert r.status_code == 404, r.text
    assert api.client.post(f"/v1/campaigns/{cid}/end", headers=api.op).status_code == 200
    r = api.client.post(url, headers=api.op, json={"phones": [UNKNOWN]})
    assert r.status_code == 409, r.text
    assert _notice_actions(api, cid) == []


def test_cli_sends_to_consenting_payers_and_names_a_bad_line(platform, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    api = platform
    cid = _campaign(api)
    r = api.client.post(
        "/v1/consents",
        headers=api.op,
        json={
            "subject_type": "payer",
            "phone": GRANTED,
            "purpose": "marketing",
            "scope": "接收本县商户优惠活动短信",
            "data_categories": ["phone"],
            "method": "app",
        },
    )
    assert r.status_code == 200, r.text
    monkeypatch.setenv("ZHIFU_DATABASE_URL", api.db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        bad = tmp_path / "bad.txt"
        bad.write_text(f"{GRANTED}\n\n12345\n", encoding="utf-8")
        r = runner.invoke(app, ["campaign", "notices", cid, str(bad)])
        assert r.exit_code == 1 and "line 3" in r.output and "phone" in r.output, r.output
        assert _notice_actions(api, cid) == []
        good = tmp_path / "phones.txt"
        good.write_text(f"{GRANTED}\n{UNKNOWN}\n", encoding="utf-8")
        r = runner.invoke(app, ["campaign", "notices", cid, str(good)])
        assert r.exit_code == 0, r.output
        assert "sent 1" in r.output and "refused (no consent) 1" in r.output, r.output
    finally:
        get_settings.cache_clear()
