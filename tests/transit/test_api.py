"""The transit and scenic API edge to edge on both backends: a validator syncs, decides offline, uploads late and
twice; bad input answers the error object and changes nothing; another merchant's key finds nothing."""

from __future__ import annotations

import datetime as dt

from tests.transit import helpers as h
from zhifu.core.clock import SHANGHAI
from zhifu.transit import Validator


def _operator(platform, kind: str = "bus") -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    name = f"沂源县{kind}公司"
    mid, headers = platform.merchant(type="enterprise", legal_name=name, settle_account_name=name, mcc="4111")
    r = platform.client.post(
        "/v1/transit/operators",
        headers=platform.op,
        json={
            "id": f"op-{kind.replace('_', '-')}",
            "name": name,
            "kind": kind,
            "merchant_id": mid,
            "daily_cap_fen": 400,
            "monthly_cap_fen": 8_000,
            "concessions": {"student": 500_000},
        },
    )
    assert r.status_code == 200, r.text
    return mid, headers


def test_a_validator_syncs_decides_offline_and_uploads_late(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    c = platform.client
    mid, hd = _operator(platform)
    assert (
        c.post(
            "/v1/transit/lines", headers=hd, json={"id": "l1", "name": "1路", "flat_fare_fen": 200}
        ).status_code
        == 200
    )
    assert c.post("/v1/transit/validators", headers=hd, json={"id": "v1", "line_id": "l1"}).status_code == 200
    rider = c.post(
        "/v1/transit/riders",
        headers=platform.op,
        json={"channel": "unionpay_qr", "method_token": h.GOOD_PAYCODE},
    ).json()
    sync = c.post("/v1/transit/validators/v1/sync", headers=hd).json()
    now = fixed_clock.now()
    v = Validator.from_sync(sync, now)
    for i in range(3):  # three rides today, offline
        at = now + dt.timedelta(hours=i * 3)
        fixed_clock.set(at)  # the rider's app shows a fresh QR at each ride
        token = c.post(f"/v1/transit/riders/{rider['id']}/token", headers=platform.op).json()["token"]
        assert v.tap(token, at).accept
    batch = {
        "validator_time": now.isoformat(),
        "pending_after": 0,
        "taps": [{**t, "tapped_at": t["tapped_at"]} for t in v.batch(100)],
    }
    fixed_clock.set(now + dt.timedelta(days=1))
    batch["validator_time"] = fixed_clock.now().isoformat()
    first = c.post("/v1/transit/validators/v1/taps", headers=hd, json=batch).json()
    again = c.post("/v1/transit/validators/v1/taps", headers=hd, json=batch).json()
    assert (first["stored"], again["stored"], again["already"]) == (3, 0, 3)
    run = c.post("/v1/transit/charges/run", headers=hd).json()
    assert (run["charges"], run["succeeded"], run["amount_fen"]) == (1, 1, 400)
    account = c.get(f"/v1/transit/riders/{rider['id']}", headers=hd).json()
    assert account["days"][0]["fare_fen"] == 600 and account["days"][0]["capped_fen"] == 400
    health = c.get("/v1/transit/validators", headers=hd).json()["data"][0]
    assert health["taps_uploaded"] == 3 and health["deny_stale"] is True
    figs = c.get(
        "/v1/transit/figures",
        headers=platform.op,
        params={"start": (now - dt.timedelta(days=1)).astimezone(SHANGHAI).date().isoformat()},
    ).json()
    assert figs["by_kind"]["bus"] == {"count": 1, "amount_fen": 400}
    assert figs["by_channel"] == {"unionpay_qr": {"count": 1, "amount_fen": 400}}


def test_bad_input_answers_the_error_object_and_changes_nothing(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    c = platform.client
    mid, hd = _operator(platform)
    other_mid, other = platform.merchant()
    c.post("/v1/transit/lines", headers=hd, json={"id": "l1", "name": "1路", "flat_fare_fen": 200})
    cases = [
        (
            c.post(
                "/v1/transit/validators/nosuch/taps",
                headers=hd,
                json={"validator_time": fixed_clock.now().isoformat(), "taps": []},
            ),
            404,
            "validator_id",
        ),
        (
            c.post("/v1/transit/lines", headers=hd, json={"id": "l2", "name": "x", "flat_fare_fen": 0}),
            400,
            "flat_fare_fen",
        ),
        (
            c.post("/v1/transit/lines", headers=hd, json={"id": "l1", "name": "x", "flat_fare_fen": 100}),
            409,
            "id",
        ),
        (
            c.post("/v1/transit/lines", headers=other, json={"id": "l9", "name": "x", "flat_fare_fen": 100}),
            404,
            "merchant_id",
        ),
        (c.post("/v1/transit/charges/run", headers=hd, params={"through": "2099-01-01"}), 400, "through"),
        (c.post("/v1/transit/operators", headers=hd, json={}), 403, "authorization"),
        (
            c.post(
                "/v1/scenic/slots",
                headers=hd,
                json={"day": "2022-06-20", "windows": ["09:00-11:00"], "max_capacity": 10},
            ),
            404,
            "merchant_id",
        ),
    ]
    for r, status, param in cases:
        assert r.status_code == status, r.text
        assert r.json()["error"]["param"] == param, r.text
    assert [x["id"] for x in c.get("/v1/transit/lines", headers=hd).json()["data"]] == ["l1"]
    assert c.get("/v1/transit/lines", headers=other).json()["data"] == []  # nothing of another merchant


def test_scenic_over_the_api(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    c = platform.client
    fixed_clock.set(dt.datetime(2022, 6, 15, 7, tzinfo=SHANGHAI))
    mid, hd = _operator(platform, "scenic")
    assert (
        c.post(
            "/v1/scenic/ticket-types", headers=hd, json={"id": "adult", "name": "成人票", "price_fen": 6_000}
        ).status_code
        == 200
    )
    slots = c.post(
        "/v1/scenic/slots",
        headers=hd,
        json={"day": "2022-06-15", "windows": ["09:00-11:00"], "max_capacity": 4, "capacity_ppm": 500_000},
    ).json()["data"]
    assert slots[0]["capacity"] == 2
    o = c.post(
        "/v1/scenic/orders",
        headers=hd,
        json={"slot_id": slots[0]["id"], "type_id": "adult", "quantity": 2, "auth_code": h.GOOD_PAYCODE},
    ).json()
    assert o["status"] == "paid" and len(o["tickets"]) == 2
    r = c.post(
        "/v1/scenic/orders",
        headers=hd,
        json={"slot_id": slots[0]["id"], "type_id": "adult", "quantity": 1, "auth_code": h.GOOD_PAYCODE},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "sold_out"
    fixed_clock.set(dt.datetime(2022, 6, 15, 9, tzinfo=SHANGHAI))
    code = o["tickets"][0]["code"]
    assert c.post("/v1/scenic/scans", headers=hd, json={"code": code}).json()["accepted"] is True
    second = c.post("/v1/scenic/scans", headers=hd, json={"code": code}).json()
    assert (second["accepted"], second["reason"]) == (False, "already_used")
