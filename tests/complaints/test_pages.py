"""The issue's "done when", over HTTP on both backends: a double charge filed on the public page (phone proven by
a one-time code) reaches the acquirer, is acknowledged and decided within its clock across the 2024 Spring
Festival, its refund goes through maker-checker and the ledger, the complainant is told and rates it, and the
regulator's page, the dashboard's slot and the monthly report count it. Plus the API and bad input."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.complaints.conftest import PHONE, sh
from tests.rails_support import pump as pump_notifications
from zhifu import ledger
from zhifu.complaints import deliver_messages
from zhifu.complaints.models import complaints
from zhifu.console import service as console_service
from zhifu.kpi import report
from zhifu.kpi import service as kpi

PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        console_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


class Browser:
    def __init__(self, app, username: str | None = None) -> None:  # type: ignore[no-untyped-def]
        self.client = TestClient(app)
        self.csrf = ""
        if username:
            page = self.client.get("/login")
            r = self.client.post(
                "/login",
                data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            self.csrf = csrf_of(self.client.get(r.headers["location"]).text)

    def post(self, url: str, data: dict | None = None, **kw):  # type: ignore[no-untyped-def]
        return self.client.post(
            url, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kw
        )


def _users(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        for name, role in (("desk1", "complaints"), ("desk2", "complaints"), ("pboc", "regulator")):
            console_service.create_user(c, name, role, PASSWORD)


def _count(world) -> int:  # type: ignore[no-untyped-def]
    with world.db.read() as c:
        return c.execute(select(func.count()).select_from(complaints)).scalar_one()


def test_double_charge_from_the_public_page_to_the_regulators_report(world, clock, sms) -> None:  # type: ignore[no-untyped-def]
    _users(world)
    world.pay(1234, order="first")
    p = world.pay(1234, order="second")  # charged twice for one breakfast
    app = world.platform.app

    public = Browser(app)
    token = csrf_of(public.client.get("/complain").text)
    sent = public.client.post("/complain/code", data={"phone": PHONE, "csrf_token": token})
    assert sent.status_code == 200 and sent.json()["sent"], sent.text
    code = re.search(r"验证码为 (\d{6})", sms.last_to(PHONE) or "").group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": token,
        "phone": PHONE,
        "category": "double_charge",
        "payment_id": p["id"],
        "narrative": "早餐扣了两次 12.34 元",
        "consent": "yes",
    }
    wrong = public.client.post("/complain", data={**form, "code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and 'data-error-field="code"' in wrong.text and _count(world) == 0
    nocontact = public.client.post("/complain", data={**form, "phone": "", "code": code})
    assert nocontact.status_code == 400 and _count(world) == 0
    big = public.client.post(
        "/complain",
        data={**form, "code": code},
        files={"attachments": ("r.png", PNG + b"\x00" * (2 * 1024 * 1024), "image/png")},
    )
    assert big.status_code == 400 and "2 MB" in big.text and _count(world) == 0
    filed = public.client.post(
        "/complain", data={**form, "code": code}, files={"attachments": ("receipt.png", PNG, "image/png")}
    )
    assert filed.status_code == 200, filed.text
    cid = re.search(r'data-complaint-id="(cmpl_\w+)"', filed.text).group(1)  # type: ignore[union-attr]
    assert "2024-02-18" in filed.text and "2024-02-26" in filed.text  # acknowledge on the make-up Sunday
    replay = public.client.post("/complain", data={**form, "code": code})
    assert replay.status_code == 400 and _count(world) == 1  # a used code does not file again

    desk1, desk2 = Browser(app, "desk1"), Browser(app, "desk2")
    queue = desk1.client.get("/console/complaints").text
    assert cid in queue and "yiyuan_rcb" in queue
    detail = desk1.client.get(f"/console/complaints/{cid}").text
    assert 'data-org="yiyuan_rcb"' in detail and p["id"] in detail and "receipt.png" in detail
    assert desk1.client.get(f"/console/complaints/{cid}/attachments/1").content == PNG

    clock.set(sh(2024, 2, 18, 9, 30))  # the make-up working day: acknowledged on time
    desk1, desk2 = Browser(app, "desk1"), Browser(app, "desk2")  # a session lasts a working day
    assert (
        desk1.post(f"/console/complaints/{cid}/respond", {"message": "已核实重复扣款，正在退款"}).status_code
        == 303
    )
    bad = desk1.post(f"/console/complaints/{cid}/propose", {"payment_id": p["id"], "amount": "12.35"})
    assert bad.status_code == 400 and 'data-error-field="amount_fen"' in bad.text
    assert (
        desk1.post(
            f"/console/complaints/{cid}/propose", {"payment_id": p["id"], "amount": "12.34"}
        ).status_code
        == 303
    )
    self_check = desk1.post(f"/console/complaints/{cid}/approve", {"seq": "1"})
    assert self_check.status_code == 403 and 'data-proposal-status="proposed"' in self_check.text
    assert desk2.post(f"/console/complaints/{cid}/approve", {"seq": "1"}).status_code == 303
    pump_notifications(world.db)  # the rail confirms the refund: the payments service posts it to the ledger
    clock.set(sh(2024, 2, 26, 16, 0))
    desk1, desk2 = Browser(app, "desk1"), Browser(app, "desk2")
    r = desk2.post(
        f"/console/complaints/{cid}/decide",
        {"outcome": "monetary_relief", "decision": "确认重复扣款，已全额退回 12.34 元"},
    )
    assert r.status_code == 303
    late = desk1.post(f"/console/complaints/{cid}/decide", {"outcome": "explanation", "decision": "again"})
    assert late.status_code == 409

    with world.db.read() as c:
        assert ledger.verify(c) == []
        row = c.execute(select(complaints).where(complaints.c.id == cid)).one()
        assert row.acknowledged_at <= row.ack_due_at and row.decided_at <= row.decide_due_at
        assert row.relief_fen == 1234
    got = world.platform.client.get(f"/v1/payments/{p['id']}", headers=world.mh).json()
    assert got["refunded_fen"] == 1234
    deliver_messages(world.db)
    outcome = sms.last_to(PHONE) or ""
    link = re.search(r"/complain/rate/([\w\-]+)", outcome)
    assert "已办结" in outcome and "12363" in outcome and link
    rate_page = public.client.get(f"/complain/rate/{link.group(1)}")
    assert "全额退回" in rate_page.text
    rated = public.client.post(
        f"/complain/rate/{link.group(1)}", data={"rating": "5", "csrf_token": csrf_of(rate_page.text)}
    )
    assert rated.status_code == 200 and 'data-rated="5"' in rated.text

    reg = Browser(app, "pboc")
    page = reg.client.get("/console/regulator/complaints?start=2024-02-01&end=2024-02-29").text
    assert "100.0%" in page and cid in page and 'data-category="double_charge"' in page
    csv_text = reg.client.get("/console/regulator/complaints/export.csv?start=2024-02-01&end=2024-02-29").text
    assert cid in csv_text and "早餐扣了两次" in csv_text and PHONE not in csv_text
    with world.db.read() as c:
        f = kpi.make_filters(c, start=sh(2024, 2, 1).date(), end=sh(2024, 2, 29).date())
        ops = kpi.operations(c, f)["complaints"]
        assert (ops["received"], ops["decided"], ops["timely"], ops["timely_ppm"]) == (1, 1, 1, 1_000_000)
        doc = report.collect(c, "2024-02")
    rows = dict(report._summary_rows(doc))  # noqa: SLF001
    assert rows["投诉按时办结率"] == "100.0%" and rows["投诉受理件数 / 已办结 / 逾期未办结"] == "1 / 1 / 0"


def test_log_reassign_and_escalate_from_the_workbench(world, clock) -> None:  # type: ignore[no-untyped-def]
    _users(world)
    desk = Browser(world.platform.app, "desk1")
    before = _count(world)
    missing = desk.post("/console/complaints", {"phone": "", "category": "fees", "narrative": "收费高"})
    assert missing.status_code == 400 and "联系电话" in missing.text and _count(world) == before
    r = desk.post(
        "/console/complaints",
        {
            "phone": "13800001111",
            "category": "merchant_refuses_smart_pay",
            "merchant_id": world.mid,
            "narrative": "商户只收现金，拒收云闪付",
        },
    )
    assert r.status_code == 303
    cid = r.headers["location"].split("/")[-1].split("?")[0]
    no_reason = desk.post(f"/console/complaints/{cid}/assign", {"org": "psbc", "reason": ""})
    assert no_reason.status_code == 400 and 'data-error-field="reason"' in no_reason.text
    assert (
        desk.post(
            f"/console/complaints/{cid}/assign", {"org": "psbc", "reason": "商户实际由邮储服务"}
        ).status_code
        == 303
    )
    no_reason = desk.post(f"/console/complaints/{cid}/extend", {"days": "5", "reason": ""})
    assert no_reason.status_code == 400
    assert desk.post(f"/console/complaints/{cid}/escalate", {"reason": "商户多次拒收"}).status_code == 303
    page = desk.client.get(f"/console/complaints/{cid}").text
    assert 'data-org="psbc"' in page and 'data-event="escalated"' in page
    reg = Browser(world.platform.app, "pboc")
    assert cid in reg.client.get("/console/regulator/complaints?start=2024-02-01&end=2024-02-29").text


def test_api_files_acts_and_refuses_bad_input(world) -> None:  # type: ignore[no-untyped-def]
    client, op = world.platform.client, world.platform.op
    p = world.pay()
    r = client.post(
        "/v1/complaints",
        headers=world.mh,
        json={
            "phone": PHONE,
            "category": "refund_not_received",
            "payment_id": p["id"],
            "narrative": "退款没到",
        },
    )
    assert r.status_code == 200 and r.json()["source"] == "merchant_portal", r.text
    cid = r.json()["id"]
    bad = client.post("/v1/complaints", headers=op, json={"category": "fees", "narrative": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "phone"
    assert (
        client.post(f"/v1/complaints/{cid}/extend", headers=op, json={"days": 5}).json()["error"]["param"]
        == "reason"
    )
    assert (
        client.post(f"/v1/complaints/{cid}/respond", headers=world.mh, json={"message": "x"}).status_code
        == 403
    )
    ok = client.post(f"/v1/complaints/{cid}/respond", headers=op, json={"message": "已受理"})
    assert ok.status_code == 200 and ok.json()["status"] == "responded"
    listed = client.get("/v1/complaints", headers=world.mh).json()["data"]
    assert [c["id"] for c in listed] == [cid]
    assert (
        client.get("/v1/complaints/stats?start=2024-02-01&end=2024-02-29", headers=op).json()["timeliness"][
            "received"
        ]
        == 1
    )
