"""模拟付款人 / The simulated payer (`POST /sim/payments/{id}/pay`): when the rail's notification has already closed
the payment, the payer's answer is read from it and the rail is not asked again; when the notification is late,
the rail is asked and the answer still shows the outcome at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests import rails_support
from zhifu.railsim import payer as payer_mod


class _Counting:
    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.queries = 0

    def query(self, *a: Any, **kw: Any) -> Any:
        self.queries += 1
        return self.channel.query(*a, **kw)


@pytest.fixture()
def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, _Counting]:
    made: dict[str, _Counting] = {}
    real = payer_mod.get_channel

    def get_channel(name: str) -> Any:
        return made.setdefault(name, _Counting(real(name)))

    monkeypatch.setattr(payer_mod, "get_channel", get_channel)
    return made


def _create(platform: Any, mh: dict[str, str], order: str) -> dict[str, Any]:
    r = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 1_234, "merchant_order_no": order, "channel": "unionpay_qr"},
        headers=mh,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("created", "processing"), r.text
    return r.json()


def test_a_notified_payment_is_answered_without_asking_the_rail(platform, counting) -> None:  # type: ignore[no-untyped-def]
    _, mh = platform.merchant()
    p = _create(platform, mh, "sim-notified")
    r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "success"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded" and r.json()["fee_fen"] >= 0
    assert sum(c.queries for c in counting.values()) == 0  # the notification closed it: no second call


def test_a_late_notification_is_covered_by_asking_the_rail(platform, counting) -> None:  # type: ignore[no-untyped-def]
    _, mh = platform.merchant()
    p = _create(platform, mh, "sim-late")
    behaviour = rails_support.SIM.store.behaviour
    before = behaviour.notify_delay_ms
    behaviour.notify_delay_ms = 600_000  # the rail notifies ten minutes later
    try:
        r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "success"})
    finally:
        behaviour.notify_delay_ms = before
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"  # shown at once, from the rail's answer to our query
    assert counting["unionpay_qr"].queries == 1
    again = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "success"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "payment_not_open"


def test_a_notification_is_verified_before_its_transaction(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The signature check is CPU with no database: done inside the transaction it held the write lock (on
    SQLite, every other payment's) for its whole length."""
    from zhifu.channels import get_channel

    connector = get_channel("unionpay_qr")
    real = connector.parse_notification
    depths: list[int] = []

    def parse(body: bytes, headers: Any) -> Any:
        depths.append(getattr(platform.db._local, "depth", 0))  # write transactions open on this thread
        return real(body, headers)

    monkeypatch.setattr(connector, "parse_notification", parse)
    _, mh = platform.merchant()
    p = _create(platform, mh, "sim-verified-first")
    r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "success"})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert depths == [0]  # one notification, checked with no transaction open
