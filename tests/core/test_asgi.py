"""The body reader and replayer the body-limit and C3 middlewares share."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zhifu.core import asgi


def _receiver(messages: list[dict[str, Any]]) -> Any:
    it = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(it)

    return receive


def _chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ] + [{"type": "http.disconnect"}]


def test_reads_a_chunked_body_whole_and_replays_it_once() -> None:
    async def run() -> list[Any]:
        receive = _receiver(_chunks(b'{"a":', b"1}"))
        body = await asgi.read_body(receive, 100)
        replay = asgi.replaying(body or b"", receive)
        return [body, await replay(), await replay()]

    body, first, then = asyncio.run(run())
    assert body == b'{"a":1}'
    assert first == {"type": "http.request", "body": b'{"a":1}', "more_body": False}
    assert then == {"type": "http.disconnect"}


def test_a_disconnect_before_the_end_gives_none() -> None:
    receive = _receiver(
        [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    )
    assert asyncio.run(asgi.read_body(receive)) is None


def test_over_the_limit_stops_reading() -> None:
    receive = _receiver(_chunks(b"x" * 6, b"y" * 6, b"never read"))
    with pytest.raises(asgi.BodyTooLarge):
        asyncio.run(asgi.read_body(receive, 10))
    assert asyncio.run(receive())["body"] == b"never read"  # the rest of the body is left unread
