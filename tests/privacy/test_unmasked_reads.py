"""Masking by role, on both backends: planted personal values (an ID number, a phone, an account number) appear
nowhere in the API's merchant documents, the operator's and the regulator's console pages or the audit log —
only their masks (ID 6+4, phone 3+4, account 6+4). An acquirer's operator may read one field in full, with a
reason, through the API or the console form; that read is an audit entry naming who, role, field and why. The
regulator, a merchant, another acquirer's operator, a missing reason or an unknown field get a clear refusal
and leave no entry."""

from __future__ import annotations

import random

from sqlalchemy import select

from tests.console.conftest import cheap_argon2, world  # noqa: F401
from tests.factories import application
from zhifu import audit
from zhifu.audit.models import audit_log
from zhifu.privacy.scan import scan_tables
from zhifu.reference import generate_resident_id, mask_account, mask_id, mask_phone

ID_NO = generate_resident_id(random.Random(2121))
PHONE = "13953307219"
ACCOUNT = "6231000055501234"
PLANTED = (ID_NO, PHONE, ACCOUNT)


def _entries(db) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        audit.integrate(c)
    with db.read() as c:
        return audit.list_entries(c, action="personal_data.read_unmasked")["data"]


def _plant(world) -> str:  # type: ignore[no-untyped-def]
    p = world.platform
    doc = application(legal_person_id=ID_NO, phone=PHONE, settle_account_no=ACCOUNT, short_name="核查小店")
    r = p.client.post("/v1/merchants", json=doc, headers=p.op)
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert p.client.post(f"/v1/merchants/{mid}/approve", headers=p.op).status_code == 200
    return mid


def _clean(text: str) -> None:
    for value in PLANTED:
        assert value not in text


def test_pages_and_documents_show_masks_only(world) -> None:  # type: ignore[no-untyped-def]
    mid = _plant(world)
    p = world.platform
    doc = p.client.get(f"/v1/merchants/{mid}", headers=p.op).text
    _clean(doc)
    assert mask_id(ID_NO) in doc and mask_phone(PHONE) in doc and mask_account(ACCOUNT) in doc
    assert mask_id(ID_NO).startswith(ID_NO[:6]) and mask_id(ID_NO).endswith(ID_NO[-4:])
    _clean(p.client.get("/v1/merchants", headers=p.op).text)
    operator = world.login("op-rcb")
    page = operator.get(f"/console/operator/merchants/{mid}").text
    _clean(page)
    assert mask_phone(PHONE) in page and "data-reveal-form" in page
    _clean(operator.get("/console/operator/merchants").text)
    regulator = world.login("pboc")
    _clean(regulator.get("/console/regulator/merchants").text)
    with world.db.read() as c:
        _clean("\n".join(c.execute(select(audit_log.c.body)).scalars()))


def test_an_operator_reads_a_field_in_full_and_it_is_audited(world) -> None:  # type: ignore[no-untyped-def]
    mid = _plant(world)
    p = world.platform
    r = p.client.get(
        f"/v1/merchants/{mid}/personal-data",
        params={"field": "phone", "reason": "回访核实联系电话"},
        headers=p.op,
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"] == PHONE and r.headers["cache-control"] == "no-store"
    (e,) = _entries(world.db)
    assert (e["role"], e["object_type"], e["object_id"], e["merchant_id"]) == (
        "operator",
        "merchant",
        mid,
        mid,
    )
    assert e["actor"].startswith("key:") and e["details"] == {"field": "phone", "reason": "回访核实联系电话"}

    # refused: no reason, an unknown field, a merchant's own key, an unknown merchant — none audited
    for params, status, param in (
        ({"field": "phone", "reason": "  "}, 400, "reason"),
        ({"field": "cvv2", "reason": "核对一下信息"}, 400, "field"),
        ({"field": "password_hint", "reason": "核对一下信息"}, 400, "field"),
    ):
        r = p.client.get(f"/v1/merchants/{mid}/personal-data", params=params, headers=p.op)
        assert r.status_code == status and r.json()["error"]["param"] == param, r.text
    r = p.client.get(
        f"/v1/merchants/{mid}/personal-data",
        params={"field": "phone", "reason": "核对一下信息"},
        headers=world.headers_a,
    )
    assert r.status_code == 403
    r = p.client.get(
        "/v1/merchants/mch_nobody/personal-data",
        params={"field": "phone", "reason": "核对一下信息"},
        headers=p.op,
    )
    assert r.status_code == 404
    assert len(_entries(world.db)) == 1

    # the console: the merchant's own acquirer reads the ID number with a reason
    operator = world.login("op-rcb")
    url = f"/console/operator/merchants/{mid}/personal-data"
    shown = operator.post(url, {"field": "legal_person_id", "reason": "开户资料复核"})
    assert shown.status_code == 200 and ID_NO in shown.text and "data-revealed-value" in shown.text
    newest = _entries(world.db)[0]
    assert (newest["actor"], newest["role"], newest["details"]["field"]) == (
        "op-rcb",
        "operator",
        "legal_person_id",
    )
    # an empty reason is an inline Chinese message naming the field, and nothing is shown or logged
    bad = operator.post(url, {"field": "settle_account_no", "reason": ""})
    assert bad.status_code == 400 and 'data-error-field="reason"' in bad.text and "请写明查看原因" in bad.text
    assert ACCOUNT not in bad.text
    # another acquirer's operator finds no such merchant; the regulator may not read in full
    assert world.login("op-psbc").post(url, {"field": "phone", "reason": "核对一下信息"}).status_code == 404
    assert world.login("pboc").post(url, {"field": "phone", "reason": "核对一下信息"}).status_code == 403
    assert len(_entries(world.db)) == 2
    with world.db.read() as c:  # a read in full leaves the value in no table, the audit log included
        assert scan_tables(c, list(PLANTED)) == []
