"""模拟通道的通知 / The fake rails' notifications: the notifier thread and the payer's requests deliver at the same
time, and each owed notification goes out once, never twice at once; one that could not be sent is owed again."""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import time

import httpx
import pytest

from zhifu.railsim.server import FakeRails


def _owe(sim: FakeRails, n: int) -> None:
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    with sim.store._tx() as db:
        db.executemany(
            "INSERT INTO outbox (rail, url, body, headers, due_at, state) VALUES (?,?,?,?,?,?)",
            [
                ("unionpay_qr", "http://platform/notify", f"n={i}".encode(), json.dumps({}), due, "due")
                for i in range(n)
            ],
        )


def _states(sim: FakeRails) -> collections.Counter[str]:
    with sim.store._tx() as db:
        return collections.Counter(r[0] for r in db.execute("SELECT state FROM outbox"))


def test_concurrent_deliveries_send_each_notification_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    posted: collections.Counter[bytes] = collections.Counter()
    lock = threading.Lock()

    def receive(request: httpx.Request) -> httpx.Response:
        time.sleep(0.005)  # the platform takes a moment: other deliverers run meanwhile
        with lock:
            posted[request.content] += 1
        return httpx.Response(200, text="ok")

    sim = FakeRails(tmp_path, "http://rails", deliver=httpx.Client(transport=httpx.MockTransport(receive)))
    _owe(sim, 40)
    threads = [threading.Thread(target=sim.deliver_due) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(posted) == 40
    assert set(posted.values()) == {1}  # none sent twice
    assert _states(sim) == {"sent": 40}


def test_what_was_claimed_and_not_sent_is_owed_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def receive(request: httpx.Request) -> httpx.Response:
        calls.append(request.content)
        if len(calls) == 3:
            raise RuntimeError("the deliverer broke")
        return httpx.Response(200, text="ok")

    sim = FakeRails(tmp_path, "http://rails", deliver=httpx.Client(transport=httpx.MockTransport(receive)))
    _owe(sim, 5)
    with pytest.raises(RuntimeError):
        sim.deliver_due()
    assert _states(sim) == {"sent": 2, "due": 3}  # none left claimed
    assert sim.deliver_due() == 3
    assert _states(sim) == {"sent": 5}
