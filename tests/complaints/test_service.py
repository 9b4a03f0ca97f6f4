"""Complaints through the service on both backends: routing, clocks across the Spring Festival, linking instead
of duplicating, refunds through maker-checker and the payments service, bad input that changes nothing,
reminders and escalation on breach, analysis and the export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.complaints.conftest import PHONE, sh
from tests.rails_support import pump as pump_notifications
from zhifu import complaints as svc
from zhifu import ledger
from zhifu.complaints import service
from zhifu.complaints.models import complaint_events, complaint_refunds, complaints
from zhifu.core.errors import ConflictError, InvalidRequest, PermissionDenied


def _file(world, **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"phone": PHONE, "category": "double_charge", "narrative": "同一笔早餐扣了两次钱"} | kw
    return world.db.run(
        lambda c: svc.file_complaint(c, svc.FileComplaint(**body), source="api", actor="key_x")
    )


def _state(world) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    with world.db.read() as c:
        return (
            c.execute(select(func.count()).select_from(complaints)).scalar_one(),
            c.execute(select(func.count()).select_from(complaint_events)).scalar_one(),
            c.execute(select(func.count()).select_from(complaint_refunds)).scalar_one(),
            tuple(
                c.execute(
                    select(complaints.c.status, complaints.c.decide_due_at, complaints.c.relief_fen).order_by(
                        complaints.c.id
                    )
                ).all()
            ),
        )


def test_double_charge_routes_to_the_merchants_acquirer_with_spring_festival_clocks(world) -> None:  # type: ignore[no-untyped-def]
    p = world.pay()
    c = _file(world, payment_id=p["id"])
    assert (c["assignee_kind"], c["assignee_org"], c["kind"], c["status"]) == (
        "acquirer",
        "yiyuan_rcb",
        "transaction",
        "assigned",
    )
    assert c["ack_due"] == "2024-02-18"  # the make-up Sunday after the holiday, not Monday Feb 12
    assert c["decide_due"] == "2024-02-26"  # 15 calendar days end on Saturday Feb 24 → Monday
    assert c["channel"] == "unionpay_qr" and c["merchant_id"] == world.mid and c["phone"] != PHONE


def test_working_day_basis_is_configurable(world) -> None:  # type: ignore[no-untyped-def]
    world.db.run(lambda c: svc.set_rules(c, "op", decide_basis="working"))
    c = _file(world, category="other")
    assert c["decide_due"] == "2024-03-07" and c["assignee_org"] == "platform"
    with pytest.raises(InvalidRequest) as e:
        world.db.run(lambda c: svc.set_rules(c, "op", decide_days=0))
    assert e.value.param == "decide_days"


def test_second_complaint_about_a_payment_is_linked_not_duplicated(world) -> None:  # type: ignore[no-untyped-def]
    p = world.pay()
    first = _file(world, payment_id=p["id"])
    again = _file(world, payment_id=p["id"], phone="13800000001", narrative="我也被扣了两次")
    assert again["id"] == first["id"] and again["linked_to_existing"] and again["repeat_filings"] == 1
    assert [e["kind"] for e in again["events"]][-1] == "refiled"
    with world.db.read() as c:
        assert c.execute(select(func.count()).select_from(complaints)).scalar_one() == 1


@pytest.mark.parametrize(
    "body, param",
    [
        ({"phone": None}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"category": "weather"}, "category"),
        ({"narrative": "  "}, "narrative"),
        ({"payment_id": "pay_nope"}, "id"),
        ({"category": "merchant_refuses_smart_pay"}, "merchant_id"),
        ({"claimed_fen": -5}, "claimed_fen"),
    ],
)
def test_bad_intake_changes_nothing(world, body: dict[str, Any], param: str) -> None:  # type: ignore[no-untyped-def]
    before = _state(world)
    with pytest.raises(Exception) as e:
        _file(world, **body)
    assert getattr(e.value, "param", None) == param, e.value
    assert _state(world) == before


def test_attachments_checked_by_size_type_and_bytes(world) -> None:  # type: ignore[no-untyped-def]
    c = _file(world, category="fees")
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    ok = world.db.run(lambda x: svc.add_attachment(x, c["id"], "receipt.png", "image/png", png, actor="me"))
    assert ok["size_bytes"] == len(png)
    before = _state(world)
    for name, ctype, data, code in [
        (
            "big.pdf",
            "application/pdf",
            b"%PDF-" + b"0" * service.ATTACHMENT_BYTES_MAX,
            "attachment_too_large",
        ),
        ("x.exe", "application/x-msdownload", b"MZ", "attachment_type"),
        ("fake.png", "image/png", b"%PDF-1.4", "attachment_type"),
    ]:
        with pytest.raises(InvalidRequest) as e:
            world.db.run(
                lambda x, n=name, t=ctype, d=data: svc.add_attachment(x, c["id"], n, t, d, actor="me")
            )
        assert e.value.code == code
    assert _state(world) == before


def test_refund_through_maker_checker_payments_and_ledger(world) -> None:  # type: ignore[no-untyped-def]
    p = world.pay(2_000)
    c = _file(world, payment_id=p["id"])
    before = _state(world)
    with pytest.raises(InvalidRequest) as e:
        world.db.run(lambda x: svc.propose_refund(x, c["id"], p["id"], 2_001, actor="desk1"))
    assert e.value.code == "refund_exceeds_refundable" and _state(world) == before
    world.db.run(lambda x: svc.propose_refund(x, c["id"], p["id"], 1_500, actor="desk1"))
    with pytest.raises(InvalidRequest):  # 1500 proposed leaves 500 refundable
        world.db.run(lambda x: svc.propose_refund(x, c["id"], p["id"], 600, actor="desk2"))
    with pytest.raises(PermissionDenied):
        world.db.run(lambda x: svc.approve_refund(x, c["id"], 1, actor="desk1"))
    with pytest.raises(ConflictError) as e:
        world.db.run(lambda x: svc.decide(x, c["id"], "explanation", "解释", actor="desk1"))
    assert e.value.code == "refund_pending"
    done = world.db.run(lambda x: svc.approve_refund(x, c["id"], 1, actor="desk2"))
    refund_id = done["refund_proposals"][0]["refund_id"]
    assert done["relief_fen"] == 1_500 and refund_id.startswith("re_")
    pump_notifications(world.db)
    with world.db.read() as x:
        h = service.payment_history(x, c["id"])[0]
        assert [r["status"] for r in h["refunds"]] == ["succeeded"] and h["refundable_fen"] == 500
        assert any(line["description"] == f"refund {refund_id}" for line in h["ledger"])
        assert ledger.verify(x) == []


def test_extension_needs_a_reason_and_stops_at_sixty_days(world, sms) -> None:  # type: ignore[no-untyped-def]
    c = _file(world, category="fees")
    before = _state(world)
    with pytest.raises(InvalidRequest) as e:
        world.db.run(lambda x: svc.extend(x, c["id"], 10, "  ", actor="desk1"))
    assert e.value.param == "reason" and _state(world) == before
    with pytest.raises(InvalidRequest) as e:
        world.db.run(lambda x: svc.extend(x, c["id"], 60, "需要调取银联记录", actor="desk1"))
    assert e.value.code == "extension_too_long" and _state(world) == before
    out = world.db.run(lambda x: svc.extend(x, c["id"], 15, "需要调取银联记录", actor="desk1"))
    assert out["decide_due"] == "2024-03-12" and out["extensions"] == 1
    svc.deliver_messages(world.db)
    assert "2024-03-12" in (sms.last_to(PHONE) or "") and "银联记录" in sms.last_to(PHONE)


def test_decision_after_closure_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    c = _file(world, category="fees")
    _, token = world.db.run(
        lambda x: svc.decide(x, c["id"], "explanation", "收费符合公示标准", actor="desk1")
    )
    before = _state(world)
    for fn in (
        lambda x: svc.decide(x, c["id"], "explanation", "again", actor="d"),
        lambda x: svc.respond(x, c["id"], "hello", actor="d"),
        lambda x: svc.extend(x, c["id"], 3, "r", actor="d"),
        lambda x: svc.escalate(x, c["id"], "r", actor="d"),
    ):
        with pytest.raises(ConflictError) as e:
            world.db.run(fn)
        assert e.value.code == "complaint_closed"
    assert _state(world) == before
    closed = world.db.run(lambda x: svc.rate(x, token, 4))
    assert closed["status"] == "closed" and closed["rating"] == 4
    with pytest.raises(ConflictError):
        world.db.run(lambda x: svc.rate(x, token, 5))


def test_reminder_ack_overdue_and_escalation_on_breach(world, clock) -> None:  # type: ignore[no-untyped-def]
    c = _file(world, category="refund_not_received")
    clock.set(sh(2024, 2, 17, 23, 59))  # still inside the acknowledgement clock (due end of Feb 18)
    assert world.db.run(lambda x: svc.sweep(x)) == {"reminded": 0, "ack_overdue": 0, "escalated": 0}
    clock.set(sh(2024, 2, 19, 0, 1))
    assert world.db.run(lambda x: svc.sweep(x))["ack_overdue"] == 1
    clock.set(sh(2024, 2, 22, 9, 0))  # two working days before Feb 26
    assert world.db.run(lambda x: svc.sweep(x))["reminded"] == 1
    assert world.db.run(lambda x: svc.sweep(x)) == {"reminded": 0, "ack_overdue": 0, "escalated": 0}
    clock.set(sh(2024, 2, 27, 0, 0, 1))
    assert world.db.run(lambda x: svc.sweep(x))["escalated"] == 1
    with world.db.read() as x:
        got = svc.get_complaint(x, c["id"])
        assert got["status"] == "escalated" and "overdue" in got["escalation_reason"]
        t = svc.timeliness(x, sh(2024, 2, 1).date(), sh(2024, 2, 29).date())
        assert (t["received"], t["overdue"], t["timely_ppm"]) == (1, 1, 0)


def test_referrals_from_12363_import_whole_or_not_at_all(world) -> None:  # type: ignore[no-untyped-def]
    good = (
        "ref_no,received_at,phone,category,narrative\n"
        "R-2024-001,2024-02-08T15:00:00,13700000001,fees,收费过高\n"
        "R-2024-002,2024-02-08T16:00:00,13700000002,other,态度差\n"
    ).encode()
    bad = good + b"R-2024-003,yesterday,13700000003,fees,x\n"
    before = _state(world)
    with pytest.raises(InvalidRequest) as e:
        world.db.run(lambda x: svc.import_referrals(x, bad, actor="pboc"))
    assert "line 4" in e.value.message and e.value.param == "received_at" and _state(world) == before
    done = world.db.run(lambda x: svc.import_referrals(x, good, actor="pboc"))
    assert [d["source"] for d in done] == ["pboc_12363"] * 2 and done[0]["ack_due"] == "2024-02-09"
    assert done[0]["decide_due"] == "2024-02-23"  # received the day before: its clocks start then
    with pytest.raises(ConflictError):
        world.db.run(lambda x: svc.import_referrals(x, good, actor="pboc"))


def test_stats_signals_and_export_with_consent_only(world) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        p = world.pay(1_000 + i, order=f"s{i}")
        _file(
            world,
            payment_id=p["id"],
            phone=f"1390000000{i}",
            narrative=f"私密经过{i}",
            narrative_consent=i == 0,
        )
    _file(world, category="fees", phone="13900000000")
    with world.db.read() as x:
        s = svc.stats(x, sh(2024, 2, 1).date(), sh(2024, 2, 29).date())
        assert s["timeliness"]["received"] == 4 and s["repeat_complainants"] == 1
        assert {r["key"]: r["count"] for r in s["by_category"]} == {"double_charge": 3, "fees": 1}
        assert s["repeat_merchants"] == [{"merchant_id": world.mid, "count": 3}]
        assert svc.merchant_signals(x) == [
            {"merchant_id": world.mid, "signal": "complaints:double_charge", "count": 3, "window_days": 30}
        ]
        rows = list(
            csv.reader(
                io.StringIO(
                    svc.export_csv(x, sh(2024, 2, 1).date(), sh(2024, 2, 29).date()).decode("utf-8-sig")
                )
            )
        )
    assert len(rows) == 5 and rows[0][4] == "投诉经过 Consumer complaint narrative"
    narratives = [r[4] for r in rows[1:]]
    assert "私密经过0" in narratives and "私密经过1" not in narratives and "私密经过2" not in narratives
    assert not any(PHONE in ",".join(r) or "1390000000" in ",".join(r) for r in rows)


def test_cli_rules_import_stats_and_sweep(world, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu import cli as zcli
    from zhifu.cli import app

    monkeypatch.setattr(zcli, "database", lambda: world.db)
    import zhifu.complaints.cli as ccli

    monkeypatch.setattr(ccli, "database", lambda: world.db)
    run = CliRunner().invoke
    r = run(app, ["complaints", "rules", "--decide-basis", "lunar"])
    assert r.exit_code != 0 and "decide_basis" in r.output
    assert run(app, ["complaints", "rules", "--decide-basis", "working"]).exit_code == 0
    f = tmp_path / "r.csv"
    f.write_text(
        "ref_no,received_at,phone,category,narrative\nR-9,2024-02-09T09:00:00,13700000009,fees,收费\n"
    )
    r = run(app, ["complaints", "import-12363", str(f)])
    assert r.exit_code == 0 and "decide by 2024-03-07" in r.output, r.output
    r = run(app, ["complaints", "stats", "--start", "2024-02-01", "--end", "2024-02-29"])
    assert "received 1" in r.output
    assert "escalated 0" in run(app, ["complaints", "sweep"]).output


def test_one_time_code_allows_five_guesses_and_five_codes_an_hour(world) -> None:  # type: ignore[no-untyped-def]
    req = svc.FileComplaint(phone=PHONE, category="fees", narrative="收费")
    code = world.db.run(lambda c: svc.request_code(c, PHONE))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(service.OTP_ATTEMPTS_MAX):
        with pytest.raises(InvalidRequest):
            service.file_verified(world.db, req, wrong)
    with pytest.raises(InvalidRequest):  # the right code no longer works after five wrong guesses
        service.file_verified(world.db, req, code)
    for _ in range(service.OTP_PER_HOUR_MAX - 1):
        world.db.run(lambda c: svc.request_code(c, PHONE))
    with pytest.raises(ConflictError):
        world.db.run(lambda c: svc.request_code(c, PHONE))
    fresh_phone = "13600000000"
    good = world.db.run(lambda c: svc.request_code(c, fresh_phone))
    doc = service.file_verified(world.db, req.model_copy(update={"phone": fresh_phone}), good)
    assert doc["source"] == "public_page" and _state(world)[0] == 1
