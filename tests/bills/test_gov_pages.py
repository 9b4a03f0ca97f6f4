"""Social insurance and non-tax codes over HTTP on both backends: the API (tiers, contributions, codes, payments,
fiscal-receipt export), the payer's pages with their inline errors, the bureaus' console page with its downloads
recorded in the audit log, and the regulator's page counting both categories."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from tests.bills.helpers import biller_in, complete
from tests.bills.test_nontax import code
from tests.bills.test_regulator import _login
from tests.bills.test_social import person
from zhifu.audit.models import audit_log, audit_queue
from zhifu.bills import service as bills

SI = {"name": "沂源县社会保险事业中心", "category": "social_insurance", "multiple_payments": False}
FIN = {"name": "沂源县财政局", "category": "tax", "account_len_min": 16, "account_len_max": 16}


def _register(platform, biller_id: str, **kw) -> dict:  # type: ignore[no-untyped-def]
    r = platform.client.post("/v1/billers", json=biller_in(biller_id, **kw).model_dump(), headers=platform.op)
    assert r.status_code == 200, r.text
    return r.json()


def _key(platform, merchant_id: str) -> dict:  # type: ignore[no-untyped-def]
    r = platform.client.post(f"/v1/merchants/{merchant_id}/keys", headers=platform.op)
    return {"Authorization": f"Bearer {r.json()['secret']}"}


def _code_body(n: int, **kw) -> dict:  # type: ignore[no-untyped-def]
    return {
        "biller_id": "finance",
        "code": code(n),
        "payer_name": "赵一鸣",
        "collector": "沂源县教育和体育局",
        "items": [{"code": "103040101", "name": "考试报名费", "standard_fen": 6_000, "amount_fen": 6_000}],
        "amount_fen": 6_000,
        "valid_until": "2022-06-30",
    } | kw


def test_api_contributions_codes_and_export(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    _register(platform, "social_insurance", **SI)
    fin = _register(platform, "finance", **FIN)
    c = platform.client
    tiers = c.get("/v1/social/tiers").json()
    assert any(
        t["scheme"] == "pension" and t["year"] == 2022 and 30_000 in t["tiers_fen"] for t in tiers["data"]
    )
    ids = [person(1966), person(1969)]
    body = {
        "scheme": "pension",
        "year": 2022,
        "tier_fen": 30_000,
        "members": [
            {"name": "孙大伟", "id_number": ids[0]},
            {"name": "周小红", "id_number": ids[1], "relation": "spouse"},
        ],
        "channel": "wechat",
    }
    r = c.post("/v1/social/contributions", json=body, headers=platform.op)
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["amount_fen"] == 60_000 and ids[0] not in r.text and order["status"] == "paying"
    complete(platform.db, order["payment_id"])
    r = c.get(f"/v1/social/contributions/{order['id']}", headers=platform.op)
    assert r.json()["status"] == "paid" and r.json()["receipt_no"]
    r = c.post("/v1/social/contributions", json=body | {"tier_fen": 12_345}, headers=platform.op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tier_fen"
    r = c.post(
        "/v1/social/contributions", json=body | {"scheme": "medical", "tier_fen": 35_000}, headers=platform.op
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "collection_window_closed"
    r = c.post("/v1/social/contributions", json=body, headers=platform.op)
    assert r.status_code == 409 and r.json()["error"]["param"] == "members[0].id_number"
    # the finance bureau issues codes with its own key; another biller's key cannot issue for it
    fh = _key(platform, fin["merchant_id"])
    r = c.post("/v1/nontax/codes", json=_code_body(1), headers=fh)
    assert r.status_code == 200 and r.json()["state"] == "unpaid", r.text
    r = c.post("/v1/nontax/codes", json=_code_body(2, amount_fen=5_000), headers=fh)
    assert r.status_code == 400 and r.json()["error"]["param"] == "amount_fen"
    r = c.post("/v1/nontax/codes", json=_code_body(2, code="1234567890123456"), headers=fh)
    assert r.status_code == 400 and r.json()["error"]["code"] == "code_check_digit"
    r = c.get(f"/v1/nontax/codes/{code(7)}", headers=platform.op)
    assert r.status_code == 404 and r.json()["error"]["param"] == "code"
    r = c.post("/v1/nontax/payments", json={"code": code(1), "channel": "alipay"}, headers=platform.op)
    assert r.status_code == 200, r.text
    complete(platform.db, r.json()["payment"]["id"])
    r = c.post("/v1/nontax/payments", json={"code": code(1), "channel": "alipay"}, headers=platform.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "code_paid"
    r = c.get(
        "/v1/billers/finance/fiscal-receipts",
        params={"start": "2022-06-01", "end": "2022-06-30", "format": "json"},
        headers=fh,
    )
    assert r.status_code == 200 and r.json()["EInvoices"][0]["PayerPartyName"] == "赵一鸣"
    r = c.get(
        "/v1/billers/finance/fiscal-receipts",
        params={"start": "2022-06-01", "end": "2022-06-31", "format": "csv"},
        headers=fh,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "end"


def test_payer_pages_console_and_regulator(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from zhifu.api.app import create_app
    from zhifu.payments import ensure_platform_accounts

    with db.tx() as conn:
        ensure_platform_accounts(conn)
        bills.register_biller(conn, biller_in("social_insurance", **SI))
        bills.register_biller(conn, biller_in("finance", **FIN))
    app = create_app(db)
    payer = TestClient(app)
    page = payer.get("/pay/social")
    assert page.status_code == 200 and "2022 年" in page.text and "城乡居民基本养老保险" in page.text
    assert "城乡居民基本医疗保险" not in page.text  # its window is closed on 15 June
    ids = [person(1958), person(1961)]
    form = {
        "plan": "pension:2022",
        "tier_pension_2022": "100000",
        "name0": "刘德福",
        "id0": ids[0],
        "rel0": "self",
        "name1": "陈桂兰",
        "id1": ids[1][:-1] + ("0" if ids[1][-1] != "0" else "1"),  # a wrong check digit
        "rel1": "spouse",
        "channel": "unionpay_qr",
    }
    r = payer.post("/pay/social", data=form)
    assert r.status_code == 400 and 'data-param="members[1].id_number"' in r.text and "校验位" in r.text
    assert 'value="刘德福"' in r.text  # what the payer typed is kept
    r = payer.post("/pay/social", data=form | {"id1": ids[1]})
    assert r.status_code == 200, r.text
    pid = re.search(r'data-payment-id="([^"]+)"', r.text)[1]  # type: ignore[index]
    status_url = re.search(r'id="status-link" href="([^"]+)"', r.text)[1]  # type: ignore[index]
    complete(db, pid)
    r = payer.get(status_url)
    assert 'data-status="paid"' in r.text and "陈*兰" in r.text and ids[1] not in r.text
    # the non-tax page: a code is found, paid, and shows its fiscal e-receipt
    with db.tx() as conn:
        from zhifu.bills import nontax

        nontax.issue_code(conn, nontax.CodeIn(**_code_body(3)))
    r = payer.get("/pay/nontax", params={"code": code(3)[:-1] + str((int(code(3)[-1]) + 1) % 10)})
    assert r.status_code == 404 and "校验位" in r.text
    r = payer.get("/pay/nontax", params={"code": code(3)})
    assert 'data-state="unpaid"' in r.text and "考试报名费" in r.text
    r = payer.post("/pay/nontax", data={"code": code(3), "channel": "wechat"})
    assert r.status_code == 200
    complete(db, re.search(r'data-payment-id="([^"]+)"', r.text)[1])  # type: ignore[index]
    r = payer.get("/pay/nontax", params={"code": code(3)})
    assert 'data-state="paid"' in r.text and 'id="fiscal-receipt"' in r.text and "陆拾元整" in r.text
    r = payer.post("/pay/nontax", data={"code": code(3), "channel": "wechat"})
    assert r.status_code == 400 and "已缴款" in r.text
    # the social insurance bureau's console page and its paid list (full IDs: recorded in the audit log)
    si = _login(app, db, "si-desk", "biller", biller_id="social_insurance")
    r = si.get("/console/biller/gov")
    assert r.status_code == 200 and 'id="si-summary"' in r.text and "2,000.00" in r.text.replace("¥", "")
    r = si.get("/console/biller/gov/social.csv", params={"year": 2022, "scheme": "pension"})
    assert r.status_code == 200 and ids[0] in r.content.decode("utf-8-sig") and "刘德福" in r.text
    r = si.get("/console/biller/gov/social.csv", params={"year": 2040, "scheme": "pension"})
    assert r.status_code == 400 and "2040" in r.text
    # the finance bureau issues a code from its page and exports the receipts
    fin = _login(app, db, "fin-desk", "biller", biller_id="finance")
    r = fin.get("/console/biller/gov")
    assert 'id="codes"' in r.text and code(3) in r.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)[1]  # type: ignore[index]
    issue = {
        "csrf_token": token,
        "code": code(4),
        "payer_name": "钱二",
        "collector": "沂源县公安局",
        "item_code": "103010101",
        "item_name": "证照工本费",
        "amount": "20.00",
        "valid_until": "2022-06-01",
    }
    r = fin.post("/console/biller/gov/codes", data=issue)
    assert r.status_code == 400 and "valid_until" in r.text
    r = fin.post("/console/biller/gov/codes", data=issue | {"valid_until": "2022-06-20"})
    assert r.status_code == 200 and 'id="issued"' in r.text and code(4) in r.text
    r = fin.get(
        "/console/biller/gov/receipts", params={"start": "2022-06-01", "end": "2022-06-30", "format": "xlsx"}
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"
    with db.read() as conn:
        actions = {a for t in (audit_queue, audit_log) for (a,) in conn.execute(select(t.c.action))}
    assert {"export.social_contributions", "export.fiscal_receipts"} <= actions
    # the regulator's page counts both categories, one payment each
    reg = _login(app, db, "pboc", "regulator")
    day = dt.date(2022, 6, 15).isoformat()
    r = reg.get("/console/regulator/public-services", params={"start": day, "end": day})
    assert 'data-key="social_insurance" data-count="1" data-amount-fen="200000"' in r.text
    assert 'data-key="tax" data-count="1" data-amount-fen="6000"' in r.text
    assert "社保" in r.text and "非税收入" in r.text  # the categories shown by name
    # and the monthly report's public-service sheet lists both categories
    import io

    from openpyxl import load_workbook

    from zhifu.kpi import report

    with db.read() as conn:
        doc = report.collect(conn, "2022-06")
    sheet = list(
        load_workbook(io.BytesIO(report.to_xlsx(doc)))["公共事业缴费"].iter_rows(min_row=2, values_only=True)
    )
    assert ("类别", "社保 Social insurance", "1", "¥2,000.00") in sheet
    assert ("类别", "税费及非税收入 Tax and non-tax revenue", "1", "¥60.00") in sheet


def test_a_file_of_codes_over_the_api_and_the_console(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    fin = _register(platform, "finance", **FIN)
    fh = _key(platform, fin["merchant_id"])
    head = "code,payer_name,collector,item_code,item_name,amount,valid_until"
    lines = [f"{code(20 + i)},钱{i}号,县公安局,103010101,证照工本费,20.00,2022-06-30" for i in range(1_000)]
    data = "\n".join([head, *lines]).encode()
    assert len(data) > 64 * 1024  # a month of codes is more than the API's usual body
    bad = data.replace(b"20.00,2022-06-30", b"20.00,2022-06-31", 1)
    r = platform.client.post("/v1/billers/finance/nontax-codes?filename=codes.csv", content=bad, headers=fh)
    assert r.status_code == 400 and r.json()["error"]["errors"][0] == {
        "line": 2,
        "field": "valid_until",
        "message": r.json()["error"]["errors"][0]["message"],
    }
    r = platform.client.post("/v1/billers/finance/nontax-codes?filename=codes.csv", content=data, headers=fh)
    assert r.status_code == 200 and r.json()["codes"] == 1_000 and r.json()["total_fen"] == 2_000_000, r.text
    r = platform.client.get(f"/v1/nontax/codes/{code(20)}", headers=platform.op)
    assert r.json()["payer_name"] == "钱*号" and r.json()["state"] == "unpaid"
    # the bureau's console page takes the same file: refused naming the line, then issued
    desk = _login(platform.app, platform.db, "fin-desk", "biller", biller_id="finance")
    token = re.search(r'name="csrf_token" value="([^"]+)"', desk.get("/console/biller/gov").text)[1]  # type: ignore[index]
    more = f"{head}\n{code(5000)},孙七,县公安局,1,费,5.00,2022-06-30\n{code(20)},孙七,县公安局,1,费,5.00,2022-06-30"
    r = desk.post(
        "/console/biller/gov/code-file",
        data={"csrf_token": token},
        files={"file": ("more.csv", more.encode(), "text/csv")},
    )
    assert r.status_code == 400 and 'data-line="3" data-field="code"' in r.text and "已存在" in r.text
    r = desk.post(
        "/console/biller/gov/code-file",
        data={"csrf_token": token},
        files={"file": ("more.csv", more.rsplit("\n", 1)[0].encode(), "text/csv")},
    )
    assert r.status_code == 200 and 'id="codes-imported"' in r.text and "已开具 1 个缴款码" in r.text
