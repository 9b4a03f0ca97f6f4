"""The rural API edge to edge on both backends: a farmer's Class II account opened, topped up from the bound card
and spent at a merchant; a second Class II for the same person, a top-up from another card and a payment over
the day's limit answer the error object with the field named and move nothing; a station's purchase and batch."""

from __future__ import annotations

from tests.rural.helpers import TOWN, VILLAGE, card


def test_eaccount_and_payout_over_http(platform) -> None:  # type: ignore[no-untyped-def]
    c, op = platform.client, platform.op
    mid, hd = platform.merchant(legal_name="沂源县鲁村农资店", settle_account_name="沂源县鲁村农资店")
    card_no = card()
    body = {
        "bank_id": "yiyuan_rcb",
        "account_class": "II",
        "name": "李四",
        "id_no": "370323199001011234",
        "phone": "13912345678",
        "card_no": card_no,
    }
    r = c.post("/v1/rural/eaccounts", headers=op, json=body)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    again = c.post("/v1/rural/eaccounts", headers=op, json=body)
    assert again.status_code == 409 and again.json()["error"]["param"] == "account_class"
    wrong = c.post(
        f"/v1/rural/eaccounts/{aid}/topups",
        headers=op,
        json={"amount_fen": 100, "reference": "t0", "card_no": card()},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "card_not_bound"
    assert (
        c.post(
            f"/v1/rural/eaccounts/{aid}/topups",
            headers=op,
            json={"amount_fen": 1_500_000, "reference": "t1", "card_no": card_no},
        ).status_code
        == 201
    )
    over = c.post(
        f"/v1/rural/eaccounts/{aid}/payments",
        headers=op,
        json={"amount_fen": 1_000_001, "reference": "o1", "merchant_id": mid},
    )
    err = over.json()["error"]
    assert over.status_code == 400 and err["code"] == "day_limit_exceeded" and err["param"] == "amount_fen"
    assert "10000.00" in err["message"]
    assert (
        c.post(
            f"/v1/rural/eaccounts/{aid}/payments",
            headers=op,
            json={"amount_fen": 8_800, "reference": "o2", "merchant_id": mid},
        ).status_code
        == 201
    )
    doc = c.get(f"/v1/rural/eaccounts/{aid}", headers=op).json()
    assert doc["balance_fen"] == 1_491_200 and doc["usage"]["day_used_fen"] == 8_800
    assert card_no not in str(doc)

    assert (
        c.post(
            "/v1/rural/buyers",
            headers=op,
            json={"merchant_id": mid, "kind": "cooperative", "name": "鲁村果品合作社"},
        ).status_code
        == 201
    )
    f = c.post(
        "/v1/rural/farmers",
        headers=hd,
        json={"name": "王五", "town_code": TOWN, "village_code": VILLAGE, "card_no": card()},
    ).json()
    bad = c.post(
        "/v1/rural/purchases",
        headers=hd,
        json={"farmer_id": f["id"], "product": "苹果", "weight_g": -1, "price_fen_per_kg": 300},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "weight_g"
    assert (
        c.post(
            "/v1/rural/purchases",
            headers=hd,
            json={"farmer_id": f["id"], "product": "苹果", "weight_g": 10_000, "price_fen_per_kg": 300},
        ).status_code
        == 201
    )
    short = c.post("/v1/rural/payout_batches", headers=hd)  # the cooperative has not funded its account
    assert short.status_code == 400 and short.json()["error"]["code"] == "insufficient_funds"
