"""The rail client: one kept-alive client per calling thread, the same one for every call of that thread, and
`close` closes them all."""

from __future__ import annotations

import threading

import httpx

from zhifu.channels.http import RailHttp


def test_one_client_per_thread_and_close_closes_all() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, text="ok")

    http = RailHttp("unionpay", "http://rail.test", transport=httpx.MockTransport(answer))
    mine = http.client
    assert http.client is mine  # the same client for every call of a thread
    theirs: list[httpx.Client] = []

    def call() -> None:
        theirs.append(http.client)
        assert http.request("POST", "/gateway").text == "ok"

    t = threading.Thread(target=call)
    t.start()
    t.join()
    assert theirs[0] is not mine
    assert http.request("POST", "/gateway").text == "ok"
    assert seen == ["/gateway", "/gateway"]
    http.close()
    assert mine.is_closed and theirs[0].is_closed


def test_a_given_client_is_shared() -> None:
    given = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    http = RailHttp("wechat", "http://rail.test", client=given)
    other: list[httpx.Client] = []
    t = threading.Thread(target=lambda: other.append(http.client))
    t.start()
    t.join()
    assert http.client is given and other == [given]
    http.close()
    assert given.is_closed
