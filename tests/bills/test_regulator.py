"""The regulator sees public-service payments: the page by category, town and channel, the dashboard's line and
the monthly report show exactly the bills' own figures, on both backends; the background sweep frees a bill held
by a payment that ended unpaid."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient

from tests.bills.helpers import account, complete, make_biller, month_of_bills, sh
from zhifu.api.app import create_app
from zhifu.bills import service as bills
from zhifu.channels import REGISTRY
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.kpi import report

DAY = sh(2022, 6, 15).date()


def _login(app, db, username: str, role: str, **scope: str) -> TestClient:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from zhifu.console import service as console

    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with db.tx() as c:
        console.create_user(c, username, role, "correct horse battery", **scope)
    client = TestClient(app)
    client.get("/login")
    token = client.cookies.get("zhifu_login_csrf")
    r = client.post(
        "/login",
        data={"username": username, "password": "correct horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def _pay(db, biller: str, acc: str, channel: str, **kw) -> str:  # type: ignore[no-untyped-def]
    p = bills.pay(db, bills.PayBillIn(biller_id=biller, account_no=acc, channel=channel, **kw))
    assert complete(db, p["payment"]["id"])["status"] == "succeeded"
    return p["payment"]["id"]


def _paid_county(db) -> None:  # type: ignore[no-untyped-def]
    """Water bills in one town paid on three channels, power bought ad hoc in another town."""
    make_biller(db)
    make_biller(
        db,
        "power",
        name="国网沂源县供电公司",
        category="power",
        adhoc=True,
        check_digit="none",
        town_code="370323101",
    )
    with db.tx() as c:
        bills.import_bills(c, "water", month_of_bills(4), filename="june.csv")
    for i, channel in ((1, "wechat"), (2, "wechat"), (3, "alipay"), (4, "unionpay_qr")):
        _pay(db, "water", account(i), channel)
    _pay(db, "power", "8800000001", "unionpay_qr", amount_fen=10_000)
    _pay(db, "power", "8800000002", "alipay", amount_fen=5_050)


def _rows(html: str, table: str) -> dict[str, tuple[int, int]]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return {
        k: (int(n), int(a))
        for k, n, a in re.findall(r'data-key="([^"]*)" data-count="(\d+)" data-amount-fen="(\d+)"', body)
    }


def test_regulator_page_dashboard_and_report_show_the_bills_figures(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    _paid_county(db)
    with db.read() as c:
        own = bills.public_service_figures(c, start=DAY, end=DAY)
    assert (own["count"], own["amount_fen"]) == (6, 4 * 4560 + 10_000 + 5_050)
    app = create_app(db)
    reg = _login(app, db, "pboc", "regulator")
    r = reg.get(
        "/console/regulator/public-services", params={"start": DAY.isoformat(), "end": DAY.isoformat()}
    )
    assert r.status_code == 200, r.text
    total = re.search(r'id="ps-total" data-count="(\d+)" data-amount-fen="(\d+)"', r.text)
    assert total is not None and (int(total[1]), int(total[2])) == (own["count"], own["amount_fen"])
    for table, key in (("by-category", "category"), ("by-town", "town"), ("by-channel", "channel")):
        assert _rows(r.text, table) == {x[key]: (x["count"], x["amount_fen"]) for x in own[f"by_{key}"]}, (
            table
        )
    assert _rows(r.text, "by-category")["power"] == (2, 15_050)
    assert _rows(r.text, "by-channel")["wechat"] == (2, 2 * 4560)
    assert "水费" in r.text and "电费" in r.text
    # the next day has none of them; a bad date is refused naming the field
    r = reg.get("/console/regulator/public-services", params={"start": "2022-06-16", "end": "2022-06-16"})
    assert 'data-count="0"' in r.text
    r = reg.get("/console/regulator/public-services", params={"start": "2022-13-01"})
    assert r.status_code == 400 and "start" in r.text
    # the dashboard's operations line links to the page with the same count and amount
    r = reg.get("/console/regulator/kpi", params={"start": DAY.isoformat(), "end": DAY.isoformat()})
    assert r.status_code == 200, r.text
    cell = r.text.split("data-public-services>", 1)[1].split("</td>", 1)[0]
    assert f">{own['count']}</a>" in cell and "/console/regulator/public-services" in cell
    assert "332.90" in cell  # 4 × 45.60 + 100.00 + 50.50 yuan
    # only the regulator sees the page
    bank = _login(app, db, "desk", "operator", institution_id="yiyuan_rcb")
    assert bank.get("/console/regulator/public-services").status_code == 403
    # the monthly report: the summary and the public-service sheet carry the same figures
    from openpyxl import load_workbook

    with db.read() as c:
        doc = report.collect(c, "2022-06")
        # the report of a month still running is measured as of today
        today = clock.now().astimezone(SHANGHAI).date()
        assert doc["operations"]["public_services"]["end"] == min(today, sh(2022, 6, 30).date())
        month = bills.public_service_figures(
            c, start=sh(2022, 6, 1).date(), end=min(today, sh(2022, 6, 30).date())
        )
        pdf = report.to_pdf(doc)
    assert doc["operations"]["public_services"] == month
    wb = load_workbook(io.BytesIO(report.to_xlsx(doc)))
    summary = {row[0]: row[1] for row in wb["概览"].iter_rows(values_only=True) if row and row[0]}
    assert summary["公共事业缴费笔数"] == "6" and summary["公共事业缴费金额（元）"] == "¥332.90"
    sheet = [row for row in wb["公共事业缴费"].iter_rows(min_row=2, values_only=True)]
    assert ("类别", "电费 Power", "2", "¥150.50") in sheet and ("类别", "水费 Water", "4", "¥182.40") in sheet
    assert ("渠道", REGISTRY["wechat"].label_zh, "2", "¥91.20") in sheet
    assert sum(int(r[2]) for r in sheet if r[0] == "乡镇") == 6
    assert pdf.startswith(b"%PDF")


def test_background_sweep_frees_a_bill_held_by_an_unpaid_payment(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from zhifu.bills.models import bill_lines
    from zhifu.bills.models import bills as bill_table
    from zhifu.workers import sweep_payments

    make_biller(db)
    with db.tx() as c:
        bills.import_bills(c, "water", month_of_bills(1), filename="june.csv")
    held = bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(1), channel="wechat"))
    assert held["line"]["status"] == "pending"

    def state() -> tuple[str, int, int]:
        with db.read() as c:
            line = c.execute(select(bill_lines.c.status)).scalar_one()
            b = c.execute(select(bill_table.c.open_payments, bill_table.c.reserved_fen)).one()
        return line, int(b[0]), int(b[1])

    assert state() == ("pending", 1, 4560)
    sweep_payments(db)  # the order is still open: nothing is released
    assert state() == ("pending", 1, 4560)
    fixed_clock.advance(seconds=901)
    sweep_payments(db)  # what zhifu serve runs: the order expires and the bill's reservation goes with it
    assert state() == ("released", 0, 0)
    _pay(db, "water", account(1), "alipay")
