"""The operator's request desk: a correction filed by one operator is refused to its filer and applied by a
second of the same acquirer; bad input re-shows the form naming the field in Chinese and files nothing;
another acquirer's operator reaches neither the merchant nor the request."""

from __future__ import annotations

from sqlalchemy import select

from tests.console.conftest import PASSWORD, World, csrf_of
from zhifu import merchants
from zhifu.consent.models import subject_requests
from zhifu.console import service

DESK = "/console/operator/subject-requests"


def _form(page: str) -> dict[str, str]:
    import re

    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token
    return {"form_token": token.group(1)}


def test_file_then_a_second_operator_applies(world: World) -> None:
    with world.db.tx() as c:
        service.create_user(c, "op-rcb2", "operator", PASSWORD, institution_id="yiyuan_rcb")
    maker = world.login("op-rcb")
    page = maker.get(DESK)
    assert page.status_code == 200 and "数据主体请求" in page.text
    bad = maker.post(
        DESK,
        {
            **_form(page.text),
            "subject_type": "merchant",
            "merchant_id": world.mch_a,
            "kind": "correction",
            "field": "phone",
            "value": "123",
            "reason": "法人来电",
        },
    )
    assert bad.status_code == 400 and 'data-form-error="value"' in bad.text and "新值" in bad.text
    foreign = maker.post(
        DESK,
        {
            **_form(page.text),
            "subject_type": "merchant",
            "merchant_id": world.mch_b,
            "kind": "deletion",
            "reason": "x",
        },
    )
    assert foreign.status_code == 404 and "商户号" in foreign.text  # mch_b belongs to another acquirer
    with world.db.read() as c:
        assert c.execute(select(subject_requests)).first() is None
    form = {
        **_form(page.text),
        "subject_type": "merchant",
        "merchant_id": world.mch_a,
        "kind": "correction",
        "field": "address",
        "value": "沂源县南麻街道新华路 8 号",
        "reason": "商户书面申请更正地址",
    }
    filed = maker.post(DESK, form)
    assert filed.status_code in (200, 303), filed.text
    again = maker.post(DESK, form)  # the same form twice files once
    with world.db.read() as c:
        rid = c.execute(select(subject_requests.c.id)).scalar_one()
    assert rid in again.headers.get("location", "") or again.status_code == 200
    own = maker.get(f"{DESK}/{rid}")
    assert "data-own" in own.text
    refused = maker.post(f"{DESK}/{rid}/decide", {**_form(own.text), "decision": "approve"})
    assert refused.status_code == 403 and "另一" in refused.text
    other_bank = world.login("op-psbc")
    assert other_bank.get(f"{DESK}/{rid}").status_code == 404
    checker = world.login("op-rcb2")
    view = checker.get(f"{DESK}/{rid}")
    assert "data-approve" in view.text
    no_note = checker.post(f"{DESK}/{rid}/decide", {**_form(view.text), "decision": "reject"})
    assert no_note.status_code == 400 and "复核意见" in no_note.text
    done = checker.post(f"{DESK}/{rid}/decide", {**_form(view.text), "decision": "approve"})
    assert done.status_code in (200, 303)
    shown = checker.get(f"{DESK}/{rid}")
    assert 'data-status="applied"' in shown.text and "data-corrected" in shown.text
    with world.db.read() as c:
        assert merchants.get_merchant(c, world.mch_a)["address"] == "沂源县南麻街道新华路 8 号"
    assert csrf_of(shown.text)
