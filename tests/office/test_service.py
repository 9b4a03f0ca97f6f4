"""The office's rules on both backends: the seed's items and units from the profile, updates only by an item's
units, 会商 decisions as actions (an ownerless one refused), training only with the town's shops, circles that
may not overlap, reminders once a day, SME reports versioned."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from tests.office.conftest import NANMA, SHIQIAO
from zhifu.core.errors import ConflictError, InvalidRequest, PermissionDenied
from zhifu.office import documents, service
from zhifu.office.models import office_actions, office_meetings, office_updates


def _count(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_seeds_items_and_units_come_from_the_profile(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.read() as c:
        its = service.items(c, today=dt.date(2022, 1, 10))
    assert [i["number"] for i in its] == [1, 2, 3, 4, 5, 6, 7]
    three = its[2]
    assert three["title"] == "扩大“智付”应用场景建设" and three["lead_name"] == "中国人民银行沂源县支行"
    assert three["co_units"] == ["commerce_bureau", "finance_center", "cbirc_yiyuan"] and three[
        "due"
    ] == dt.date(2022, 12, 31)
    assert its[6]["co_names"] == ["淄博银保监分局沂源监管组"] and its[6]["due"] == dt.date(2022, 3, 31)
    # on 2022-01-10 only item 1's 2021 milestone is past due, and it is the lead unit's
    late = [i for i in its if i["late"]]
    assert [i["number"] for i in late] == [1] and late[0]["late_units"] == ["pboc_yiyuan"]
    assert world.office.is_office and world.office.unit_id == "pboc_yiyuan"
    assert not world.commerce.is_office and world.commerce.unit_id == "commerce_bureau"


def test_units_update_their_own_items_only(world) -> None:  # type: ignore[no-untyped-def]
    req = service.UpdateIn(
        text="商务局组织农贸市场商户受理改造 120 户",
        status="on_track",
        progress_ppm=300_000,
        figures=["trainings", "merchants_active"],
    )
    doc = world.db.run(lambda c: service.post_update(c, world.commerce, 3, req))
    assert doc["unit_id"] == "commerce_bureau" and doc["figures"]["merchants_active"] == 2
    with pytest.raises(PermissionDenied) as refused:
        world.db.run(lambda c: service.post_update(c, world.commerce, 1, req))  # item 1 is not the bureau's
    assert "不由本单位" in refused.value.message and refused.value.param == "item"
    assert _count(world.db, office_updates) == 1
    with world.db.read() as c:
        three = service.item(c, 3)
    assert three["progress_ppm"] == 300_000 and three["updates"][0]["unit_name"] == "县商务局"
    done = service.UpdateIn(text="节点完成", status="done", progress_ppm=0, milestone=1)
    world.db.run(lambda c: service.post_update(c, world.office, 3, done))
    with world.db.read() as c:
        three = service.item(c, 3)
    assert three["progress_ppm"] == 1_000_000 and three["milestone_rows"][0]["done_on"] is not None


def test_a_consultation_with_two_decisions_makes_two_tracked_actions(world) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    held = dt.date(2022, 1, 20)
    bad = service.MeetingIn(
        held_on=held,
        title="商贸圈推进会商",
        units_present=["pboc_yiyuan", "commerce_bureau"],
        problems="部分商贸圈商户不愿受理云闪付",
        decisions=[
            service.DecisionIn(
                item=7, decision="石桥镇样板街 2 月底前挂牌", owner="pboc_yiyuan", due=dt.date(2022, 2, 28)
            ),
            service.DecisionIn(item=3, decision="商务局摸排农贸市场商户", due=dt.date(2022, 2, 15)),
        ],
    )
    with pytest.raises(InvalidRequest) as no_owner:
        world.db.run(lambda c: service.record_meeting(c, world.office, bad))
    assert no_owner.value.param == "decisions.1.owner" and "未指定责任单位" in no_owner.value.message
    assert _count(world.db, office_meetings) == 0 and _count(world.db, office_actions) == 0
    good = bad.model_copy(
        update={
            "decisions": [bad.decisions[0], bad.decisions[1].model_copy(update={"owner": "commerce_bureau"})]
        }
    )
    with pytest.raises(PermissionDenied):
        world.db.run(
            lambda c: service.record_meeting(c, world.commerce, good)
        )  # only the office records 会商
    m = world.db.run(lambda c: service.record_meeting(c, world.office, good))
    assert [(a["item"], a["owner_unit"]) for a in m["actions"]] == [
        (3, "commerce_bureau"),
        (7, "pboc_yiyuan"),
    ]
    with world.db.read() as c:
        assert service.item(c, 7)["open_actions"] == 1
        late = service.items(c, today=dt.date(2022, 3, 1))[2]
    assert any(x["what"] == "action" and x["unit"] == "commerce_bureau" for x in late["late"])
    action = m["actions"][0]["id"]
    with pytest.raises(PermissionDenied):
        world.db.run(lambda c: service.complete_action(c, world.commerce, m["actions"][1]["id"], "x"))
    world.db.run(lambda c: service.complete_action(c, world.commerce, action, "已摸排 300 户"))
    with world.db.read() as c:
        assert service.item(c, 3)["open_actions"] == 0
        titles = {i["number"]: i["title"] for i in service.items(c)}
        doc = service.meeting(c, m["id"])
    pdf = documents.minutes_pdf(doc, "源政办字〔2021〕61号", titles)
    reader = PdfReader(io.BytesIO(pdf))
    assert pdf.startswith(b"%PDF") and len(reader.pages) >= 1
    text = reader.pages[0].extract_text().replace("\x00", "")
    assert "会商纪要" in text and "石桥镇样板街 2 月底前挂牌" in text and "县商务局" in text


def test_training_takes_only_the_towns_merchants(world) -> None:  # type: ignore[no-untyped-def]
    req = service.TrainingIn(
        held_on=dt.date(2022, 1, 15),
        town_code=SHIQIAO,
        trainer="psbc",
        topic="云闪付受理操作",
        attendees=[
            service.AttendeeIn(merchant_id=world.shiqiao, cashiers=3),
            service.AttendeeIn(merchant_id=world.nanma, cashiers=1),
        ],
    )
    with pytest.raises(InvalidRequest) as wrong_town:
        world.db.run(lambda c: service.record_training(c, world.office, req))
    assert wrong_town.value.param == "attendees.1.merchant_id" and "不在本乡镇" in wrong_town.value.message
    with pytest.raises(PermissionDenied):
        world.db.run(lambda c: service.record_training(c, world.commerce, req))
    ok = req.model_copy(update={"attendees": req.attendees[:1]})
    world.db.run(lambda c: service.record_training(c, world.office, ok))
    world.db.run(
        lambda c: service.record_publicity(
            c,
            world.office,
            service.PublicityIn(
                held_on=dt.date(2022, 1, 16),
                town_code=SHIQIAO,
                kind="on_site",
                title="赶大集现场宣传",
                reach=800,
            ),
        )
    )
    with world.db.read() as c:
        f = service.training_figures(c, today=dt.date(2022, 2, 1))
    town = next(t for t in f["towns"] if t["town_code"] == SHIQIAO)
    assert (town["cashiers"], town["merchants"], town["reach"], town["first_training"]) == (
        3,
        1,
        800,
        dt.date(2022, 1, 15),
    )
    assert town["before"] == {"count": 0, "smart": 0, "bank_standard": 0} and town["after_days"] == 18
    assert f["by_acquirer"] == [
        {"acquirer_id": "yiyuan_rcb", "name": "沂源农商银行", "merchants": 1, "cashiers": 3}
    ]


def test_circles_refuse_overlaps_and_count_launches(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.read() as c:
        assert (
            len(service.circles(c)) == 12 and service.circle_counts(c, dt.date(2022, 3, 31))["circles"] == 0
        )
    world.db.run(lambda c: service.launch_circle(c, world.office, "shiqiao_street", dt.date(2021, 11, 1)))
    world.db.run(
        lambda c: service.save_circle(
            c,
            world.office,
            service.CircleIn(
                id="shiqiao_market",
                name="石桥镇集市商贸圈",
                town_code=SHIQIAO,
                lead_institution="yiyuan_rcb",
                area="中心街",
                launch_date=dt.date(2021, 12, 1),
            ),
        )
    )
    twin = service.CircleIn(
        id="shiqiao_market2",
        name="石桥镇集市商贸圈",
        town_code=SHIQIAO,
        lead_institution="psbc",
        launch_date=dt.date(2022, 1, 1),
    )
    with pytest.raises(ConflictError) as overlap:
        world.db.run(lambda c: service.save_circle(c, world.office, twin))
    assert overlap.value.param == "launch_date"
    added = world.db.run(
        lambda c: service.add_circle_merchants(c, world.office, "shiqiao_market", by_address=True)
    )
    assert added["added"] == 1 and added["merchants"] == 1
    with pytest.raises(ConflictError) as twice:
        world.db.run(
            lambda c: service.add_circle_merchants(c, world.office, "shiqiao_street", [world.shiqiao])
        )
    assert twice.value.param == "merchant_ids.0"
    with pytest.raises(InvalidRequest):
        world.db.run(lambda c: service.add_circle_merchants(c, world.office, "shiqiao_street", [world.nanma]))
    with world.db.read() as c:
        assert service.circle_counts(c, dt.date(2022, 3, 31)) == {"circles": 2, "streets": 1}
        assert service.kpi_commerce_circles(c, dt.date(2021, 11, 15)) == 1


def test_reminders_once_a_day_and_sme_versions(world) -> None:  # type: ignore[no-untyped-def]
    day = dt.date(2022, 4, 2)
    first = world.db.run(lambda c: service.sweep(c, today=day))
    again = world.db.run(lambda c: service.sweep(c, today=day))
    assert first and again == [] and any(r["ref"] == "item:7" for r in first)
    with world.db.read() as c:
        assert {r["unit_id"] for r in service.reminders(c, day=day)} == {"pboc_yiyuan"}
    row = service.SmeItem(
        institution="yiyuan_rcb", town_code=NANMA, month="2022-01", product="sme_card", accounts=40
    )
    world.db.run(lambda c: service.submit_sme(c, [row], submitted_by="t"))
    with pytest.raises(ConflictError):
        world.db.run(lambda c: service.submit_sme(c, [row], submitted_by="t"))
    world.db.run(
        lambda c: service.submit_sme(
            c, [row.model_copy(update={"accounts": 44})], submitted_by="t", correction=True
        )
    )
    with pytest.raises(InvalidRequest) as bad:
        world.db.run(
            lambda c: service.submit_sme(c, [row.model_copy(update={"product": "gold"})], submitted_by="t")
        )
    assert bad.value.param == "items.0.product"
    with world.db.read() as c:
        assert service.sme_figures(c)["by_product"] == {"sme_card": 44}
