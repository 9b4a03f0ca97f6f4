"""The bill API end to end on both backends: register, import, refuse a bad file naming line and field, present,
pay on two channels, verify the receipt publicly, files and figures; another biller's data is not found."""

from __future__ import annotations

from tests.bills.helpers import account, biller_in, month_of_bills


def _register(platform, biller_id: str = "water", **kw) -> dict:  # type: ignore[no-untyped-def]
    body = biller_in(biller_id, **kw).model_dump()
    r = platform.client.post("/v1/billers", json=body, headers=platform.op)
    assert r.status_code == 200, r.text
    return r.json()


def test_bill_api_end_to_end(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    b = _register(platform)
    r = platform.client.post(f"/v1/merchants/{b['merchant_id']}/keys", headers=platform.op)
    bh = {"Authorization": f"Bearer {r.json()['secret']}"}
    bad = month_of_bills(3).replace(b"45.60", b"45.6x", 1)
    r = platform.client.post("/v1/billers/water/bills?filename=june.csv", content=bad, headers=bh)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bill_file_refused"
    assert r.json()["error"]["errors"][0] == {
        "line": 2,
        "field": "amount_due",
        "message": r.json()["error"]["errors"][0]["message"],
    }
    big = {**bh, "content-length": str(100 * 1024 * 1024)}
    r = platform.client.post("/v1/billers/water/bills", content=b"x", headers=big)
    assert r.status_code == 413
    data = month_of_bills(1_500)
    assert len(data) > 64 * 1024  # the upload route takes more than the API's usual 64 KB body
    r = platform.client.post("/v1/billers/water/bills?filename=june.csv", content=data, headers=bh)
    assert r.status_code == 200 and r.json()["accepted"] == 1_500, r.text
    r = platform.client.get(f"/v1/billers/water/accounts/{account(7)}", headers=platform.op)
    assert r.json()["bills"][0]["outstanding_fen"] == 4560
    r = platform.client.get(f"/v1/billers/water/accounts/{account(7)[:-1]}", headers=platform.op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "account_no"
    paid = []
    for i, channel in ((7, "wechat"), (8, "unionpay_qr")):
        r = platform.client.post(
            "/v1/bill_payments",
            json={"biller_id": "water", "account_no": account(i), "channel": channel},
            headers=platform.op,
        )
        assert r.status_code == 200, r.text
        pid = r.json()["payment"]["id"]
        r = platform.client.post(
            f"/sim/payments/{pid}/pay", json={"payer": {"id": "u1", "card_type": "debit"}}
        )
        assert r.json()["status"] == "succeeded", r.text
        paid.append(pid)
    r = platform.client.post(
        "/v1/bill_payments",
        json={"biller_id": "water", "account_no": account(7), "channel": "alipay"},
        headers=platform.op,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "bill_already_paid"
    lines = platform.client.get("/v1/billers/water/bills?status=paid", headers=bh).json()["data"]
    assert len(lines) == 2
    with platform.db.read() as c:
        from zhifu.bills import service

        no = service.find_lines(c, "water")[0]["receipt_no"]
        sig = service.get_receipt(c, no)["signature"]
    v = platform.client.get(f"/v1/receipts/{no}/verify", params={"sig": sig}).json()
    assert v["genuine"] is True
    page = platform.client.get(f"/receipts/{no}", params={"sig": sig})
    assert page.status_code == 200 and 'data-genuine="1"' in page.text
    forged = platform.client.get(f"/receipts/{no}", params={"sig": sig[:-3] + "abc"})
    assert forged.status_code == 404 and 'data-genuine="0"' in forged.text
    pdf = platform.client.get(f"/receipts/{no}/pdf")
    assert pdf.content.startswith(b"%PDF")
    f = platform.client.get("/v1/billers/water/payment-file", params={"date": "2022-06-15"}, headers=bh)
    assert f.status_code == 200 and f.text.count("\r\n") == 3
    figs = platform.client.get("/v1/public-services", headers=platform.op).json()
    assert figs["count"] == 2 and {x["channel"] for x in figs["by_channel"]} == {"wechat", "unionpay_qr"}
    # another biller's key sees nothing of this biller's
    other = _register(platform, "gas", name="沂源县燃气公司", category="gas")
    r = platform.client.post(f"/v1/merchants/{other['merchant_id']}/keys", headers=platform.op)
    gh = {"Authorization": f"Bearer {r.json()['secret']}"}
    assert platform.client.get("/v1/billers/water/bills", headers=gh).status_code == 404
    pay_page = platform.client.get("/pay/bills", params={"biller": "water", "account": account(9)})
    assert pay_page.status_code == 200 and "45.60" in pay_page.text
    r = platform.client.post(
        "/pay/bills", data={"biller": "water", "account": account(9), "channel": "wechat"}
    )
    assert r.status_code == 200 and "data-payment-id" in r.text
