"""Reading a request's whole body in an ASGI middleware and handing it on: a middleware that must see the body
before the route does reads it here, then passes the application a `receive` that replays it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Message, Receive


class BodyTooLarge(Exception):
    """The body grew past the limit while it was being read."""


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or None when the client disconnected before sending it all. With a limit,
    BodyTooLarge as soon as the bytes read so far are over it (a chunked body is not read to its end)."""
    body, more = bytearray(), True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if limit is not None and len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read as one message, then defers to the original `receive`
    (for the disconnect a streaming response waits on)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
