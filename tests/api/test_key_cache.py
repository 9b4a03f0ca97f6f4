"""A verified API key is remembered briefly (zhifu.api.deps.KEY_CACHE_S): the next request reads no key row; a key
revoked in this process, through the API or through another engine on the same database (the CLI's), is refused
by the very next request; one revoked by another process is refused once the memory's TTL has passed."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import event

from zhifu import merchants
from zhifu.api import deps
from zhifu.db import Database

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _key_reads(platform, fn) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def note(_conn, _cur, statement, *_a):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(platform.db.engine, "before_cursor_execute", note)
    try:
        fn()
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", note)
    return sum("FROM api_keys" in s for s in seen)


def test_second_request_reads_no_key_row(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/balance", headers=mh).status_code == 200
    reads = _key_reads(platform, lambda: platform.client.get("/v1/balance", headers=mh))
    assert reads == 0
    r = platform.client.get("/v1/balance", headers=mh)
    assert (
        r.status_code == 200 and r.json()["merchant_id"] == mid
    )  # the remembered key is still this merchant's


def test_revoked_through_the_api_is_refused_at_once(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/balance", headers=mh).status_code == 200
    key_id = platform.client.get("/v1/keys", headers=mh).json()["data"][0]["id"]
    r = platform.client.post(f"/v1/keys/{key_id}/revoke", headers=mh)  # the merchant revokes the key it uses
    assert r.status_code == 200, r.text
    r = platform.client.get("/v1/balance", headers=mh)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", r.text


def test_revoked_through_another_engine_is_refused_at_once(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/balance", headers=mh).status_code == 200
    other = Database(platform.db.url)  # what `zhifu keys --revoke` opens in this process
    try:
        with other.read() as c:
            key_id = merchants.list_keys(c, mid)[0]["id"]
        other.run(lambda c: merchants.revoke_key(c, key_id, merchant_id=mid))
    finally:
        other.dispose()
    assert platform.client.get("/v1/balance", headers=mh).status_code == 401


def test_revoked_by_another_process_is_refused_after_the_ttl(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(deps, "KEY_CACHE_S", 0.3)
    mid, mh = platform.merchant()
    assert platform.client.get("/v1/balance", headers=mh).status_code == 200
    path = platform.db.url.removeprefix("sqlite:///")
    raw = sqlite3.connect(path)  # no engine of this process sees this write
    try:
        raw.execute("UPDATE api_keys SET status = 'revoked' WHERE merchant_id = ?", (mid,))
        raw.commit()
    finally:
        raw.close()
    time.sleep(0.35)
    assert platform.client.get("/v1/balance", headers=mh).status_code == 401


def test_a_refused_key_is_never_remembered(platform) -> None:  # type: ignore[no-untyped-def]
    bad = {"Authorization": "Bearer sk_" + "x" * 40}
    for _ in range(2):
        r = platform.client.get("/v1/balance", headers=bad)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
