"""Carries the fake rails' notifications to the app of the test that is running."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient


class _ForwardToApp(httpx.BaseTransport):
    """Carries the fake rails' notifications to the app of the test that is running (no socket needed)."""

    client: TestClient | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.client is None:
            return httpx.Response(503, text="no app")
        r = self.client.request(
            request.method, request.url.path, content=request.read(), headers=dict(request.headers)
        )
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)


FORWARD = _ForwardToApp()


SIM = None  # the session's fake rails (set by the fake_rails fixture)


def produce_statement(channel: str, day, kinds=None, *, seed: int = 1):  # type: ignore[no-untyped-def]
    """Plant discrepancies in the fake rail's file of a day, then download it through the connector, as the
    platform does; returns the file and what reconciliation should make of each line and item."""
    import types

    from zhifu.channels import get_channel
    from zhifu.channels.registry import FACTS
    from zhifu.railsim.statements import plant
    from zhifu.recon.formats import parse_statement

    assert SIM is not None, "the fake_rails fixture is not running"
    got = plant(SIM.store, FACTS[channel], day, dict(kinds or {}), seed=seed)
    data = get_channel(channel).fetch_statement(day)
    parsed = parse_statement(channel, data, day)
    physical = {seq.line_no: line.line_no for seq, line in zip(got.lines, parsed, strict=True)}
    return types.SimpleNamespace(
        data=data,
        lines=parsed,
        truth=got.truth,
        item_classes=got.item_classes,
        line_classes={physical[n]: cls for n, cls in got.line_classes.items()},
    )


def pump(db, *, at=None) -> None:  # type: ignore[no-untyped-def]
    """What the rails' notifications would tell us, learnt at once by asking them: payments still processing or
    created and refunds still pending."""
    from zhifu.payments import sweep_processing, sweep_refunds

    sweep_processing(db, at=at, older_than_s=0)
    sweep_refunds(db, at=at, older_than_s=0)
