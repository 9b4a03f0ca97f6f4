"""契约模糊测试 / the OpenAPI contract, fuzzed: schemathesis generates requests for every operation of the API
from its own OpenAPI document (a bounded number of examples each) and checks every answer: no server error, a
status code the operation documents, and a body that matches the schema documented for that status."""

from __future__ import annotations

import collections
import json
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 4  # bounded so the whole pass stays well under a minute on one core
SKIPPED = {"GET /v1/stream"}  # a server-sent event stream: it never ends, so it has no body to check
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_answers_within_its_documented_responses(platform, capsys) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    # something to list: a payment and its refund, so list routes answer bodies with items to check
    paid = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 5_000, "merchant_order_no": "fuzz-1", "auth_code": "6212345678901234561"},
        headers=mh,
    ).json()
    platform.client.post(f"/v1/payments/{paid['id']}/refunds", json={"amount_fen": 100}, headers=mh)
    keys = [mh, mh, platform.op, platform.op, {}]  # a merchant, the operator, and (less often) nobody
    app = platform.app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    rng = random.Random(16)
    calls: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.label in SKIPPED:
            continue
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            headers = rng.choice(keys)
            try:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                calls[response.status_code] += 1
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: BLE001 - schemathesis raises groups of failures; all are shown
                calls[-1] += 1
                failures.append(f"{case.operation.label}: {type(exc).__name__}: {str(exc)[:600]}")

        run()
    with capsys.disabled():
        print(
            f"\nschemathesis: {operations} operations, {sum(calls.values())} requests, by status "
            f"{json.dumps(dict(sorted(calls.items())))}, {len(failures)} failures"
        )
    assert operations >= 150
    assert not failures, "\n".join(failures[:40])


@pytest.fixture
def backend() -> str:
    """The contract is the same on both backends; it is fuzzed on SQLite (the NUL and body cases that differ
    between backends are pinned in test_hardening.py on both)."""
    return "sqlite"
