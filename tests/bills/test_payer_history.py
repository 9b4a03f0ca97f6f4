"""缴费记录的手机验证 / Payment history by phone number on both backends: a one-time code (six digits, stored only
as a keyed hash) proves the phone, then the payer sees their own payments and receipts and no one else's; a
wrong code counts down to a lock, an expired code is refused, sends are limited per phone and per address, a bad
phone is named inline, and the simulator's SMS outbox page shows the text with the phone masked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.bills.helpers import account, complete, make_biller, month_of_bills
from zhifu.bills import payer_auth
from zhifu.bills import service as bills
from zhifu.bills.payer_models import bill_phone_codes

A, B = "13700001111", "13900002222"


class Capture:
    name = "capture"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def code_for(self, phone: str) -> str:
        text = next(t for p, t in reversed(self.sent) if p == phone)
        return re.search(r"\d{6}", text).group(0)  # type: ignore[union-attr]


@pytest.fixture
def sms() -> Any:
    cap = Capture()
    old = payer_auth.set_sender(cap)
    try:
        yield cap
    finally:
        payer_auth.set_sender(old)


def _setup(platform) -> dict[str, str]:  # type: ignore[no-untyped-def]
    db = platform.db
    make_biller(db)
    with db.tx() as c:
        bills.import_bills(c, "water", month_of_bills(2), filename="june.csv")
    paid = {}
    for i, phone in ((1, A), (2, B)):
        p = bills.pay(
            db,
            bills.PayBillIn(
                biller_id="water", account_no=account(i), channel="unionpay_qr", payer_phone=phone
            ),
        )
        complete(db, p["payment"]["id"])
        paid[phone] = p["payment"]["id"]
    with db.tx() as c:
        bills.link_household(c, A, "water", account(1), "家里 home")
    return paid


def _prove(platform, sms, phone: str) -> Any:  # type: ignore[no-untyped-def]
    r = platform.client.post("/pay/history/code", data={"phone": phone})
    assert r.status_code == 200 and 'id="code-sent"' in r.text, r.text
    return platform.client.post(
        "/pay/history/verify", data={"phone": phone, "code": sms.code_for(phone)}, follow_redirects=False
    )


def test_a_proven_phone_sees_its_own_payments_and_receipts_only(platform, fixed_clock, sms) -> None:  # type: ignore[no-untyped-def]
    paid = _setup(platform)
    c = platform.client
    r = c.get("/pay/history")
    assert 'id="ask-code"' in r.text and paid[A] not in r.text  # nothing before the phone is proven
    r = _prove(platform, sms, A)
    assert r.status_code == 303 and payer_auth.SESSION_COOKIE in r.headers["set-cookie"]
    assert "HttpOnly" in r.headers["set-cookie"] and A not in r.headers["set-cookie"]
    page = c.get("/pay/history").text
    assert f'data-payment-id="{paid[A]}"' in page and paid[B] not in page
    with platform.db.read() as conn:
        receipt = bills.find_lines(conn, "water", q=paid[A])[0]["receipt_no"]
    assert f'href="/receipts/{receipt}"' in page and "家里 home" in page and "137****1111" in page
    # another person's phone: A's session cannot be bent to B's index, and A's code does not open B
    token = c.cookies.get(payer_auth.SESSION_COOKIE)
    forged = token.replace(token.split(".")[1], payer_auth.privacy.blind_index(B))
    c.cookies.set(payer_auth.SESSION_COOKIE, forged, path="/pay")
    assert paid[B] not in c.get("/pay/history").text and 'id="ask-code"' in c.get("/pay/history").text
    c.cookies.clear()
    c.post("/pay/history/code", data={"phone": A})
    r = c.post("/pay/history/verify", data={"phone": B, "code": sms.code_for(A)}, follow_redirects=False)
    assert (
        r.status_code == 400
        and 'data-field="code"' in r.text
        and payer_auth.SESSION_COOKIE not in r.headers.get("set-cookie", "")
    )
    # the code is kept only as a keyed hash
    with platform.db.read() as conn:
        row = conn.execute(select(bill_phone_codes)).one()
    assert sms.code_for(A) not in row.code_hash and len(row.code_hash) == 64 and A not in row.phone_index


def test_wrong_codes_count_down_to_a_lock(platform, fixed_clock, sms) -> None:  # type: ignore[no-untyped-def]
    _setup(platform)
    c = platform.client
    c.post("/pay/history/code", data={"phone": A})
    good = sms.code_for(A)
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        r = c.post("/pay/history/verify", data={"phone": A, "code": bad}, follow_redirects=False)
        assert r.status_code == 400 and f"还可再试 {left} 次" in r.text
    r = c.post("/pay/history/verify", data={"phone": A, "code": bad}, follow_redirects=False)
    assert r.status_code == 409 and "错误次数过多" in r.text
    r = c.post("/pay/history/verify", data={"phone": A, "code": good}, follow_redirects=False)
    assert r.status_code == 409 and payer_auth.SESSION_COOKIE not in r.headers.get("set-cookie", "")
    r = c.post("/pay/history/verify", data={"phone": A, "code": "12ab"}, follow_redirects=False)
    assert r.status_code == 400 and 'data-field="code"' in r.text
    # a new code starts afresh
    assert _prove(platform, sms, A).status_code == 303


def test_an_expired_code_is_refused(platform, fixed_clock, sms) -> None:  # type: ignore[no-untyped-def]
    _setup(platform)
    c = platform.client
    c.post("/pay/history/code", data={"phone": A})
    fixed_clock.advance(minutes=5, seconds=1)
    r = c.post("/pay/history/verify", data={"phone": A, "code": sms.code_for(A)}, follow_redirects=False)
    assert r.status_code == 400 and "已过期" in r.text and 'id="ask-code"' in r.text
    # the session lasts half an hour
    assert _prove(platform, sms, A).status_code == 303
    assert 'id="payments"' in c.get("/pay/history").text
    fixed_clock.advance(minutes=31)
    assert 'id="ask-code"' in c.get("/pay/history").text


def test_sends_are_limited_per_phone_and_per_address_and_bad_phones_named(platform, fixed_clock, sms) -> None:  # type: ignore[no-untyped-def]
    c = platform.client
    r = c.post("/pay/history/code", data={"phone": "1370000111"})
    assert r.status_code == 400 and 'data-field="phone"' in r.text and "11 位" in r.text
    assert sms.sent == []
    for _ in range(payer_auth.PHONE_SENDS_MAX):
        assert c.post("/pay/history/code", data={"phone": A}).status_code == 200
    r = c.post("/pay/history/code", data={"phone": A})
    assert r.status_code == 429 and "过于频繁" in r.text
    assert len(sms.sent) == payer_auth.PHONE_SENDS_MAX
    fixed_clock.advance(minutes=16)  # the phone's window has passed
    assert c.post("/pay/history/code", data={"phone": A}).status_code == 200
    # one address asking for many phones: stopped at ten an hour
    for i in range(payer_auth.IP_SENDS_MAX - payer_auth.PHONE_SENDS_MAX - 1):
        assert c.post("/pay/history/code", data={"phone": f"1500000{i:04d}"}).status_code == 200
    r = c.post("/pay/history/code", data={"phone": "15899990000"})
    assert r.status_code == 429 and "本网络" in r.text


def test_the_simulated_outbox_shows_the_text_with_the_phone_masked(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    before = len(payer_auth.OUTBOX.recent())
    r = platform.client.post("/pay/history/code", data={"phone": A})
    assert r.status_code == 200 and "/pay/sms-outbox" in r.text
    assert len(payer_auth.OUTBOX.recent()) == before + 1
    page = platform.client.get("/pay/sms-outbox").text
    assert "137****1111" in page and A not in page
    assert re.search(r"验证码为 \d{6}", page)
