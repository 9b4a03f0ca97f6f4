"""The UnionPay connector against the fake acquirer gateway over HTTP: every flow, and bad input refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from zhifu.channels.base import BadNotification, PaymentOrder, RailError, RailTimeout, merchant_code
from zhifu.channels.statement import StatementFormatError, business_date_of
from zhifu.channels.unionpay import wire
from zhifu.channels.unionpay.sign import Signer
from zhifu.core.ids import new_id

MERCHANT = "mch_01HZX0000000000000000000AA"
PAYCODE = "621234567890123450"  # 18 digits; a last digit is appended per outcome


def _order(flow: str = "pay_code", code_end: str | None = "0", amount: int = 1234) -> PaymentOrder:
    now = dt.datetime.now(dt.UTC)
    return PaymentOrder(
        payment_id=new_id("pay"),
        merchant_id=MERCHANT,
        amount_fen=amount,
        description="早餐",
        expires_at=now + dt.timedelta(minutes=5),
        created_at=now,
        auth_code=PAYCODE + code_end if code_end is not None and flow == "pay_code" else None,
        flow=flow,
    )


def _delivered(sim: Any, receiver: Any, payment_id: str, kind: str = "payment") -> Any:
    """Deliver what is due; the notification our receiver parsed for this payment (earlier tests may owe more)."""
    assert sim.deliver_due() >= 1
    found = [n for n in receiver.parsed if n.payment_id == payment_id and n.kind == kind]
    assert len(found) == 1
    return found[0]


def _wait(check: Any, timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# ---------------------------------------------------------------- golden paths


def test_pay_code_success_answers_at_once_and_query_agrees(make_conn) -> None:
    conn = make_conn()
    o = _order()
    r = conn.create(o)
    assert r.status == "succeeded" and r.amount_fen == 1234
    assert r.channel_ref and len(r.channel_ref) == 21 and r.channel_ref.isdigit()
    assert r.card_type == "debit" and r.card_issuer == "yiyuan_rcb"
    q = conn.query(o.payment_id)
    assert (q.status, q.channel_ref, q.amount_fen) == ("succeeded", r.channel_ref, 1234)


def test_userpaying_then_query_succeeds(make_conn, rails) -> None:  # type: ignore[no-untyped-def]
    conn = make_conn()
    o = _order(code_end="7")
    assert conn.create(o).status == "processing"
    assert conn.query(o.payment_id).status == "processing"  # waiting for the payer's PIN
    rails[0].store.pay("unionpay_qr", o.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    assert conn.query(o.payment_id).status == "succeeded"


def test_decline_is_failed_with_the_reason(make_conn) -> None:
    conn = make_conn()
    r = conn.create(_order(code_end="8"))
    assert r.status == "failed" and r.failure_code == "insufficient_funds"
    assert r.failure_message and "insufficient" in r.failure_message


def test_timeout_then_query_succeeds(make_conn) -> None:
    conn = make_conn()
    o = _order(code_end="9")
    started = time.monotonic()
    with pytest.raises(RailTimeout):
        conn.create(o)
    assert time.monotonic() - started < 1.0  # our timeout, not the rail's hang
    assert conn.query(o.payment_id).status == "succeeded"


def test_unknown_order_is_unknown(make_conn) -> None:
    assert make_conn().query(new_id("pay")).status == "unknown"


def test_consumer_scanned_qr_paid_by_the_payer_notifies_us(make_conn, rails) -> None:
    sim, receiver = rails
    conn = make_conn()
    o = _order(flow="dynamic_code")
    r = conn.create(o)
    assert r.status == "awaiting" and r.code_url and r.code_url.startswith("https://qr.95516.com/")
    assert conn.query(o.payment_id).status == "awaiting"
    sim.store.pay(
        "unionpay_qr",
        o.payment_id,
        outcome="success",
        payer_ref="up_user_1",
        card_type="credit",
        card_issuer="yiyuan_rcb",
        at=dt.datetime.now(dt.UTC),
    )
    n = _delivered(sim, receiver, o.payment_id)
    assert (n.kind, n.payment_id, n.outcome, n.amount_fen) == ("payment", o.payment_id, "succeeded", 1234)
    assert (
        n.merchant_code == merchant_code(MERCHANT) and n.payer_ref == "up_user_1" and n.card_type == "credit"
    )
    assert n.notify_id.endswith(":00") and n.channel_ref == conn.query(o.payment_id).channel_ref
    rail, body, headers = next(x for x in receiver.received if o.payment_id.encode() in x[1])
    fields = dict(parse_qsl(body.decode()))
    assert rail == "unionpay_qr" and fields["txnSubType"] == "07" and fields["signMethod"] == "01"
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")


def test_terminal_rail_consume_is_self_service_and_a_decline_notifies_failed(make_conn, rails) -> None:
    sim, receiver = rails
    conn = make_conn("nfc")
    o = _order(flow="terminal")
    r = conn.create(o)
    assert r.status == "awaiting" and r.code_url is None
    assert sim.store.order("nfc", o.payment_id).trade_type == "01"
    sim.store.pay("nfc", o.payment_id, outcome="decline_card_blocked", at=dt.datetime.now(dt.UTC))
    n = _delivered(sim, receiver, o.payment_id)
    assert (n.payment_id, n.outcome, n.failure_code) == (o.payment_id, "failed", "card_blocked")
    q = conn.query(o.payment_id)
    assert q.status == "failed" and q.failure_code == "card_blocked"


def test_close_an_unpaid_order_and_a_paid_one_stays_paid(make_conn, rails) -> None:
    sim, _ = rails
    conn = make_conn("bank_app")
    o = _order(flow="dynamic_code")
    conn.create(o)
    assert conn.close(o.payment_id).status == "closed"
    assert conn.query(o.payment_id).status == "closed"
    with pytest.raises(ValueError):
        sim.store.pay("bank_app", o.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    paid = _order()
    conn.create(paid)
    assert conn.close(paid.payment_id).status == "succeeded"


def test_refund_is_accepted_then_succeeds_by_query_and_by_notification(make_conn, rails) -> None:
    sim, receiver = rails
    conn = make_conn()
    o = _order(amount=5000)
    pay = conn.create(o)
    refund_id = new_id("re")
    r = conn.refund(o.payment_id, refund_id, 2000, 5000)
    assert r.status == "processing" and r.channel_ref and r.channel_ref != pay.channel_ref
    q = conn.refund_query(o.payment_id, refund_id)
    assert (q.status, q.amount_fen, q.channel_ref) == ("succeeded", 2000, r.channel_ref)
    n = _delivered(sim, receiver, o.payment_id, "refund")
    assert (n.kind, n.payment_id, n.refund_id, n.amount_fen, n.outcome) == (
        "refund",
        o.payment_id,
        refund_id,
        2000,
        "succeeded",
    )
    too_much = conn.refund(o.payment_id, new_id("re"), 3001, 5000)
    assert too_much.status == "failed" and too_much.failure_code == "unionpay_33"
    assert conn.refund_query(o.payment_id, new_id("re")).status == "unknown"
    unpaid = _order(flow="dynamic_code")
    conn.create(unpaid)
    assert conn.refund(unpaid.payment_id, new_id("re"), 100, 1234).failure_code == "order_not_paid"


def test_statement_download_equals_what_the_gateway_holds(make_conn, rails) -> None:
    sim, _ = rails
    conn = make_conn("face")
    paid = _order(amount=777)
    conn.create(paid)  # a pay code at a face terminal: sub-type 06
    scanned = _order(flow="dynamic_code", amount=888)
    conn.create(scanned)
    sim.store.pay("face", scanned.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    conn.refund(paid.payment_id, new_id("re"), 77, 777)
    day = business_date_of(dt.datetime.now(dt.UTC))
    data = conn.fetch_statement(day)
    lines = conn.parse_statement(data, day)
    held = sim.statement_lines("face", day)
    key = (
        "channel_ref",
        "merchant_order_no",
        "merchant_code",
        "txn_time",
        "txn_type",
        "amount_fen",
        "fee_fen",
        "status",
        "original_ref",
        "card_type",
    )

    def row(x: Any) -> tuple[Any, ...]:  # ZM times are whole seconds
        return tuple(x.txn_time.replace(microsecond=0) if k == "txn_time" else getattr(x, k) for k in key)

    assert [row(x) for x in lines] == [row(x) for x in held]
    assert len(lines) == 3 and {x.channel for x in lines} == {"face"}
    by_order = {x.merchant_order_no: x for x in lines}
    assert by_order[paid.payment_id].extra["txn_subtype"] == "06"
    assert (
        "txn_subtype" not in by_order[scanned.payment_id].extra
    )  # 01 self-service at the terminal, the default
    assert (
        next(x for x in lines if x.txn_type == "refund").original_ref == by_order[paid.payment_id].channel_ref
    )
    assert by_order[paid.payment_id].fee_fen > 0
    assert make_conn("sscard").parse_statement(make_conn("sscard").fetch_statement(day), day) == []
    with pytest.raises(StatementFormatError, match="trans_time"):
        conn.parse_statement(data, day + dt.timedelta(days=3))  # a file of another day


# ---------------------------------------------------------------- bad notifications


def _notification(rails: Any, make_conn: Any) -> tuple[bytes, dict[str, str]]:
    sim, _ = rails
    conn = make_conn()
    o = _order(flow="dynamic_code")
    conn.create(o)
    sim.store.pay("unionpay_qr", o.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    _, body, headers = sim.store.last_notification("unionpay_qr", o.payment_id)
    sim.deliver_due()
    return body, headers


def _resign(fields: dict[str, str], signer: Signer) -> bytes:
    return urlencode(signer.sign(fields)).encode()


def test_forged_missing_and_wrongly_certified_notifications_are_refused(make_conn, rails) -> None:
    sim, _ = rails
    conn = make_conn()
    body, headers = _notification(rails, make_conn)
    assert conn.parse_notification(body, headers).outcome == "succeeded"  # the genuine one passes
    fields = dict(parse_qsl(body.decode()))
    forged = urlencode({**fields, "txnAmt": "1"}).encode()
    with pytest.raises(BadNotification, match="does not verify"):
        conn.parse_notification(forged, headers)
    with pytest.raises(BadNotification, match="no signature"):
        conn.parse_notification(
            urlencode({k: v for k, v in fields.items() if k != "signature"}).encode(), headers
        )
    with pytest.raises(BadNotification, match="certId"):
        conn.parse_notification(urlencode({**fields, "certId": "12345"}).encode(), headers)
    # signed by the acquirer's own key (anyone but UnionPay): the serial is not UnionPay's
    keys = sim.server_keys["unionpay"]
    acquirer = Signer.from_files(keys["acquirer_key_path"], keys["acquirer_cert_path"])
    with pytest.raises(BadNotification, match="certId"):
        conn.parse_notification(_resign({**fields, "txnAmt": "1"}, acquirer), headers)
    with pytest.raises(BadNotification):
        conn.parse_notification(b"\xff\xfe garbage", headers)
    assert conn.notification_ack(False).status_code == 400 and conn.notification_ack(True).body == b"ok"


def test_notification_of_another_rail_or_merchant(make_conn, rails) -> None:
    sim, _ = rails
    keys = sim.server_keys["unionpay"]
    unionpay = Signer.from_files(keys["unionpay_key_path"], keys["unionpay_cert_path"])
    body, headers = _notification(rails, make_conn)
    fields = dict(parse_qsl(body.decode()))
    with pytest.raises(BadNotification, match="unionpay_qr"):
        make_conn("nfc").parse_notification(body, headers)
    other = make_conn().parse_notification(_resign({**fields, "merId": "898000000000001"}, unionpay), headers)
    assert other.merchant_code == "898000000000001" != merchant_code(MERCHANT)  # the caller checks it


# ---------------------------------------------------------------- bad answers


def _fixed(status: int, body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


def test_5xx_garbage_and_unsigned_answers_are_rail_errors(make_conn, rails) -> None:
    sim, _ = rails
    with pytest.raises(RailError, match="HTTP 502"):
        make_conn(transport=_fixed(502, b"bad gateway")).query(new_id("pay"))
    with pytest.raises(RailError, match="refused"):
        make_conn(transport=_fixed(200, b"<html>oops</html>")).query(new_id("pay"))
    with pytest.raises(RailError, match="no signature"):
        make_conn(transport=_fixed(200, b"respCode=00&origRespCode=00&signMethod=01")).query(new_id("pay"))
    keys = sim.server_keys["unionpay"]
    acquirer = Signer.from_files(keys["acquirer_key_path"], keys["acquirer_cert_path"])
    with pytest.raises(RailError, match="certId"):
        make_conn(transport=_fixed(200, _resign({"respCode": "00"}, acquirer))).query(new_id("pay"))


def test_the_gateway_refuses_a_request_with_a_bad_signature(rails) -> None:
    sim, _ = rails
    keys = sim.server_keys["unionpay"]
    acquirer = Signer.from_files(keys["acquirer_key_path"], keys["acquirer_cert_path"])
    fields = acquirer.sign(
        {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "txnType": "00",
            "txnSubType": "00",
            "bizType": "000000",
            "accessType": "1",
            "orderId": new_id("pay"),
            "txnTime": "20240101120000",
        }
    )
    r = httpx.post(
        f"{sim.base_url}{wire.QUERY_TRANS}",
        content=urlencode({**fields, "orderId": "pay_x"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert dict(parse_qsl(r.text))["respCode"] == "11"
    ok = httpx.post(
        f"{sim.base_url}{wire.QUERY_TRANS}",
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert dict(parse_qsl(ok.text))["respCode"] == "34"  # verified, and no such order


def test_statement_of_another_rail_or_day_is_refused(make_conn, rails) -> None:
    sim, _ = rails
    keys = sim.server_keys["unionpay"]
    unionpay = Signer.from_files(keys["unionpay_key_path"], keys["unionpay_cert_path"])
    day = dt.date(2024, 3, 15)
    qr_mer = keys["statement_mer_ids"]["unionpay_qr"]
    nfc_mer = keys["statement_mer_ids"]["nfc"]

    def answer(settle: str, name: str) -> httpx.MockTransport:
        content = base64.b64encode(wire.pack_file(name, b"")).decode()
        return _fixed(
            200, _resign({"respCode": "00", "settleDate": settle, "fileContent": content}, unionpay)
        )

    good = make_conn(transport=answer("0315", wire.zm_file_name(day, qr_mer)))
    assert good.fetch_statement(day) == b""
    with pytest.raises(StatementFormatError, match="not INN240315"):
        make_conn(transport=answer("0315", wire.zm_file_name(day, nfc_mer))).fetch_statement(day)
    with pytest.raises(StatementFormatError, match="settlement date 0314"):
        make_conn(transport=answer("0314", wire.zm_file_name(day, qr_mer))).fetch_statement(day)
    with pytest.raises(StatementFormatError, match="fileContent"):
        make_conn(
            transport=_fixed(
                200,
                _resign({"respCode": "00", "settleDate": "0315", "fileContent": "bm90IHpsaWI="}, unionpay),
            )
        ).fetch_statement(day)


# ---------------------------------------------------------------- signing against the published algorithm


def _independent_verify(fields: dict[str, str], cert_pem: bytes) -> None:
    """UnionPay 5.1.0 signMethod 01 as published, written out here without the connector's code."""
    data = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
    digest = hashlib.sha256(data.encode("utf-8")).hexdigest()
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert fields["certId"] == str(cert.serial_number)
    cert.public_key().verify(
        base64.b64decode(fields["signature"]), digest.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_requests_verify_under_an_independent_implementation(make_conn, rails) -> None:
    sim, _ = rails
    seen: list[dict[str, str]] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.read().decode())))
        return httpx.Response(500)

    with pytest.raises(RailError):
        make_conn(transport=httpx.MockTransport(capture)).create(_order())
    fields = seen[0]
    assert fields["signMethod"] == "01" and fields["version"] == "5.1.0" and fields["txnType"] == "01"
    assert (
        fields["txnSubType"] == "06" and fields["qrNo"] == PAYCODE + "0" and fields["currencyCode"] == "156"
    )
    assert (
        fields["txnAmt"] == "1234"
        and len(fields["txnTime"]) == 14
        and fields["merId"] == merchant_code(MERCHANT)
    )
    keys = sim.server_keys["unionpay"]
    with open(keys["acquirer_cert_path"], "rb") as f:
        _independent_verify(fields, f.read())


def test_an_independently_signed_answer_verifies_in_the_connector(rails) -> None:
    from zhifu.channels.unionpay.sign import Verifier

    sim, _ = rails
    keys = sim.server_keys["unionpay"]
    with open(keys["unionpay_key_path"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(keys["unionpay_cert_path"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    fields = {
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "queryId": "123",
        "signMethod": "01",
        "certId": str(cert.serial_number),
    }
    data = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    sig = key.sign(hashlib.sha256(data.encode()).hexdigest().encode(), padding.PKCS1v15(), hashes.SHA256())
    Verifier(cert).verify({**fields, "signature": base64.b64encode(sig).decode()})
