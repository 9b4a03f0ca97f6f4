"""The dashboard edge to edge: JSON for operator keys, pages for the regulator, the monthly report's files."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from zhifu.api.app import create_app
from zhifu.console import service as console_service
from zhifu.db import Database
from zhifu.kpi import report, service
from zhifu.merchants import service as merchants

from .conftest import SIM_DAYS, SIM_START

END = SIM_START + dt.timedelta(days=SIM_DAYS - 1)
PASSWORD = "correct horse battery"


@pytest.fixture
def site(county: Database, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        console_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    with county.tx() as c:
        from sqlalchemy import text

        c.execute(text("DELETE FROM console_sessions"))
        c.execute(text("DELETE FROM console_users"))
        console_service.create_user(c, "pboc", "regulator", PASSWORD)
        console_service.create_user(c, "desk", "complaints", PASSWORD)
        _, secret = merchants.create_key(c, merchant_id=None, role="operator")
    client = TestClient(create_app(county))
    client.__enter__()
    yield client, {"Authorization": f"Bearer {secret}"}
    client.__exit__(None, None, None)


def _login(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    home = client.get(r.headers["location"])
    return (
        re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
        if "csrf_token" in home.text
        else ""
    )  # type: ignore[union-attr]


def test_json_overview_matches_the_service(site, county: Database) -> None:  # type: ignore[no-untyped-def]
    client, op = site
    r = client.get(
        "/v1/kpi/overview", params={"start": SIM_START.isoformat(), "end": END.isoformat()}, headers=op
    )
    assert r.status_code == 200, r.text
    with county.read() as c:
        expected = service.totals(c, service.Filters(SIM_START, END))
    assert r.json()["totals"] == expected
    r = client.get("/v1/kpi/coverage", params={"town": "990101101", "merchants": "true"}, headers=op)
    assert r.status_code == 200 and r.json()["villages"] and r.json()["merchants"]
    r = client.get("/v1/kpi/trend", params={"town": "nowhere"}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "town"
    r = client.get(
        "/v1/kpi/share", params={"start": END.isoformat(), "end": SIM_START.isoformat()}, headers=op
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "start"
    assert client.get("/v1/kpi/overview").status_code == 401


def test_regulator_pages(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    assert client.get("/console/regulator/kpi", follow_redirects=False).status_code == 303  # login first
    _login(client, "pboc")
    r = client.get(
        "/console/regulator/kpi",
        params={"start": SIM_START.isoformat(), "end": END.isoformat(), "channel": "unionpay_qr"},
    )
    assert r.status_code == 200, r.text
    assert 'id="targets"' in r.text and "chart-unionpay" in r.text and 'id="pilot"' in r.text
    assert "青石镇" in r.text and "/console/regulator/kpi/coverage" in r.text  # pilot town; menu entry
    r = client.get("/console/regulator/kpi/coverage", params={"town": "990101101"})
    assert r.status_code == 200 and 'id="villages"' in r.text and 'id="merchants"' in r.text
    r = client.get("/console/regulator/kpi/report", params={"month": END.strftime("%Y-%m"), "format": "pdf"})
    assert r.status_code == 200 and r.content[:5] == b"%PDF-"
    r = client.get("/console/regulator/kpi", params={"start": "yesterday"})
    assert r.status_code == 400


def test_other_roles_may_not_open_the_dashboard(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    _login(client, "desk")
    assert client.get("/console/regulator/kpi").status_code == 403


def test_page_upload_of_submissions(site, county: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    csrf = _login(client, "pboc")
    page = client.get("/console/regulator/kpi/submissions")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    body = "institution,town_code,month,cards_issued,app_users\nhechuan_rcb,990101101,2022-01,-3,1\n"
    r = client.post("/console/regulator/kpi/submissions", data={"csrf_token": csrf, "csv_text": body})
    assert r.status_code == 400 and "line 2" in r.text and "cards_issued" in r.text


def test_monthly_report_files(county: Database, tmp_path: Path) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    month = END.strftime("%Y-%m")
    with county.read() as c:
        doc = report.collect(c, month)
        xlsx = report.to_xlsx(doc)
        pdf = report.to_pdf(doc)
    wb = load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["概览", "目标进度", "分乡镇", "分机构", "趋势", "占比", "公共事业缴费"]
    assert wb["概览"]["A1"].value.endswith(f"（{END.year}年{END.month}月）")
    assert wb["分乡镇"].max_row == 1 + len(doc["towns"])
    assert wb["概览"]["B4"].value == f"{doc['totals']['count']:,}"
    assert pdf[:5] == b"%PDF-" and b"SourceHanSans" in pdf
    # the text through the embedded font's ToUnicode map (pypdf leaves a NUL before each two-byte code)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")
    assert "智付普惠工程月度报告" in text and "分乡镇" in text
    with pytest.raises(Exception, match="month"):
        with county.read() as c:
            report.render(c, "2022-13", "pdf")
