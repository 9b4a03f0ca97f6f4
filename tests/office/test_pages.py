"""The console pages as people use them: the office sees the seven items, a unit posts an update on its own
item and is refused on another's, a 会商 with an ownerless decision is refused inline, the merchant shares and
withdraws, the lender sees evidence only while consent holds, the dashboard carries the office's figures."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.office.conftest import PASSWORD


class Tab:
    def __init__(self, app, username: str) -> None:  # type: ignore[no-untyped-def]
        self.client = TestClient(app)
        page = self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token},
            follow_redirects=True,
        )
        assert r.status_code == 200, r.text
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]

    def get(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.get(url, follow_redirects=False)

    def post(self, url: str, data: dict | list):  # type: ignore[no-untyped-def,type-arg]
        pairs = list(data.items()) if isinstance(data, dict) else data
        body: dict[str, list[str]] = {"csrf_token": [self.csrf]}
        for k, v in pairs:
            body.setdefault(k, []).append(v)
        return self.client.post(url, data=body, follow_redirects=False)


def test_office_and_unit_pages(world) -> None:  # type: ignore[no-untyped-def]
    app = world.platform.app
    office = Tab(app, "pboc")
    home = office.get("/console/regulator/office")
    assert home.status_code == 200 and home.text.count("data-item=") == 7
    assert "扩大“智付”应用场景建设" in home.text and "县商务局" in home.text
    unit = Tab(app, "commerce")
    page = unit.get("/console/regulator/office/items/3")
    assert "data-update-form" in page.text
    r = unit.post(
        "/console/regulator/office/items/3/updates",
        [
            ("text", "农贸市场改造完成 60%"),
            ("status", "on_track"),
            ("progress", "60"),
            ("figures", "trainings"),
        ],
    )
    assert r.status_code == 303, r.text
    assert "农贸市场改造完成 60%" in unit.get("/console/regulator/office/items/3").text
    assert "data-update-form" not in unit.get("/console/regulator/office/items/1").text
    refused = unit.post(
        "/console/regulator/office/items/1/updates", {"text": "越权", "status": "on_track", "progress": "10"}
    )
    assert refused.status_code == 403 and "不由本单位" in refused.text
    empty = unit.post(
        "/console/regulator/office/items/3/updates", {"text": "", "status": "on_track", "progress": "10"}
    )
    assert empty.status_code == 400 and 'data-error-field="text"' in empty.text
    # a 会商 whose second decision names no owner: refused inline, nothing recorded
    form = [
        ("held_on", "2022-01-20"),
        ("title", "样板街推进会商"),
        ("units_present", "pboc_yiyuan"),
        ("units_present", "commerce_bureau"),
        ("problems", "石桥镇商户受理意愿低"),
        ("item_0", "7"),
        ("decision_0", "石桥镇样板街挂牌"),
        ("owner_0", "pboc_yiyuan"),
        ("due_0", "2022-02-28"),
        ("item_1", "3"),
        ("decision_1", "摸排农贸市场商户"),
        ("owner_1", ""),
        ("due_1", "2022-02-15"),
    ]
    bad = office.post("/console/regulator/office/meetings", form)
    assert bad.status_code == 400 and "未指定责任单位" in bad.text and "data-meeting=" not in bad.text
    assert unit.post("/console/regulator/office/meetings", form).status_code == 403
    good = [(k, "commerce_bureau" if k == "owner_1" else v) for k, v in form]
    assert office.post("/console/regulator/office/meetings", good).status_code == 303
    meetings = office.get("/console/regulator/office/meetings").text
    mid = re.search(r'data-meeting="(mtg_[0-9A-Z]+)"', meetings).group(1)  # type: ignore[union-attr]
    assert meetings.count("data-action=") == 2
    pdf = office.get(f"/console/regulator/office/meetings/{mid}/minutes.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # training in 石桥镇 with a shop from 南麻街道: refused, the line named
    t = office.post(
        "/console/regulator/office/training",
        {
            "held_on": "2022-01-15",
            "town_code": "370323109",
            "trainer": "psbc",
            "topic": "云闪付受理",
            "attendees": f"{world.shiqiao} 3\n{world.nanma} 1",
        },
    )
    assert t.status_code == 400 and "不在本乡镇" in t.text
    t = office.post(
        "/console/regulator/office/training",
        {
            "held_on": "2022-01-15",
            "town_code": "370323109",
            "trainer": "psbc",
            "topic": "云闪付受理",
            "attendees": f"{world.shiqiao} 3",
        },
    )
    assert t.status_code == 303
    dash = office.get("/console/regulator/kpi")
    assert (
        dash.status_code == 200
        and 'data-cashiers-trained="3"' in dash.text
        and 'data-dash-town="370323109"' in dash.text
    )


def test_merchant_shares_and_withdraws_and_the_lender_sees_only_meanwhile(world) -> None:  # type: ignore[no-untyped-def]
    app = world.platform.app
    shop, lender = Tab(app, "shop"), Tab(app, "op-rcb")
    look = {"merchant_id": world.shiqiao, "months": "6"}
    before = lender.post("/console/operator/credit/evidence", look)
    assert before.status_code == 403 and "data-evidence" not in before.text
    no_tick = shop.post("/console/merchant/credit/grant", {"lender": "yiyuan_rcb"})
    assert no_tick.status_code == 400 and 'data-error-field="agree"' in no_tick.text
    assert (
        shop.post("/console/merchant/credit/grant", {"lender": "yiyuan_rcb", "agree": "yes"}).status_code
        == 303
    )
    seen = lender.post("/console/operator/credit/evidence", look)
    assert seen.status_code == 200 and "data-evidence=" in seen.text
    pdf = shop.post("/console/merchant/credit/evidence.pdf", {"lender": "yiyuan_rcb"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert shop.get("/console/merchant/credit").text.count("data-disclosure=") == 2
    assert shop.post("/console/merchant/credit/withdraw", {"lender": "yiyuan_rcb"}).status_code == 303
    after = lender.post("/console/operator/credit/evidence", look)
    assert after.status_code == 403 and "data-evidence" not in after.text
    assert 'data-withdrawn="yes"' in shop.get("/console/merchant/credit").text
