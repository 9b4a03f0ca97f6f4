"""Every route of the app, tried as the wrong role and as another merchant or institution: 403 or 404, never
someone else's data. Routes are enumerated from the app; one that neither checks a key or a console role nor
is listed as public fails the suite, so a new route cannot escape these tests."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.routing import Mount

from zhifu.api.app import create_app
from zhifu.merchants.models import api_keys, merchants
from zhifu.payments.models import payments
from zhifu.webhooks.models import endpoints

M, O, R, B, C = "merchant", "operator", "regulator", "biller", "complaints"  # noqa: E741
ROLE_USERS = {M: "shop-a", O: "op-rcb", R: "pboc", B: "water", C: "desk"}

# Routes anyone may call, and why. Every other route must check a key (API) or a console role.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/openapi.json"): "API description",
    ("GET", "/docs"): "API description",
    ("GET", "/docs/oauth2-redirect"): "API description",
    ("GET", "/redoc"): "API description",
    ("MOUNT", "/static"): "vendored assets",
    ("POST", "/notify/{channel}"): "the rail signs its notification",
    ("POST", "/sim/payments/{payment_id}/pay"): "the simulated payer",
    ("POST", "/sim/scan"): "the simulated payer",
    ("GET", "/c/{code_id}"): "the consumer's cashier page behind a printed code",
    ("POST", "/c/{code_id}/pay"): "the consumer's cashier page behind a printed code",
    ("GET", "/c/{code_id}/r/{token}"): "the consumer's cashier page behind a printed code",
    ("POST", "/c/{code_id}/r/{token}/confirm"): "the consumer's cashier page behind a printed code",
    ("GET", "/"): "redirects to login or the user's home",
    ("GET", "/console"): "redirects to login or the user's home",
    ("GET", "/login"): "login form",
    ("POST", "/login"): "login",
    ("POST", "/logout"): "ends the caller's own session",
    ("GET", "/favicon.ico"): "the browser asks for it on every site",
    ("GET", "/fonts/{name}"): "the bundled CJK font; the login page renders Chinese with it",
    ("GET", "/complain"): "the public complaint page (the phone is proven by a one-time code)",
    ("POST", "/complain/code"): "the public complaint page (the phone is proven by a one-time code)",
    ("POST", "/complain"): "the public complaint page (the phone is proven by a one-time code)",
    ("GET", "/complain/rate/{token}"): "the complainant's rating link (its token is the credential)",
    ("POST", "/complain/rate/{token}"): "the complainant's rating link (its token is the credential)",
    (
        "GET",
        "/pay/bills",
    ): "the payer's bill page: shows a bill by biller and account, masked; paying goes to the rail",
    ("POST", "/pay/bills"): "the payer's bill page: starts a payment the payer completes at the rail",
    ("GET", "/pay/history"): "the payer's history: shown only to a session proven by a one-time code",
    (
        "POST",
        "/pay/history/code",
    ): "the payer's history: sends a one-time code, limited per phone and address",
    ("POST", "/pay/history/verify"): "the payer's history: the one-time code is the credential",
    ("POST", "/pay/history/logout"): "the payer's history: ends the payer's own session",
    ("GET", "/pay/social"): "the payer's social-insurance page: tiers and the open window, nothing personal",
    (
        "POST",
        "/pay/social",
    ): "the payer's social-insurance page: starts a payment the payer completes at the rail",
    (
        "GET",
        "/pay/social/orders/{order_id}",
    ): "a contribution order: its random id is the credential, IDs masked",
    ("GET", "/pay/nontax"): "the payer's non-tax page: a 缴款码 shown by its code, payer masked",
    ("POST", "/pay/nontax"): "the payer's non-tax page: starts a payment the payer completes at the rail",
    ("GET", "/v1/social/tiers"): "the county's published contribution tiers and windows, nothing personal",
    ("GET", "/pay/sms-outbox"): "the simulator's SMS outbox (404 unless ZHIFU_SIMULATOR=1), phones masked",
    ("GET", "/receipts/{receipt_no}"): "an e-receipt anyone holding its number can verify",
    ("GET", "/receipts/{receipt_no}/pdf"): "an e-receipt anyone holding its number can verify",
    ("GET", "/v1/receipts/public-key"): "the key that verifies e-receipts offline",
    ("GET", "/v1/receipts/{receipt_no}/verify"): "an e-receipt anyone holding its number can verify",
}

# Console pages and the roles that may open them (checked against each route's own role dependency).
CONSOLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/console/merchant"): (M,),
    ("GET", "/console/merchant/stream"): (M,),
    ("GET", "/console/merchant/payments"): (M,),
    ("GET", "/console/merchant/payments/{payment_id}"): (M,),
    ("POST", "/console/merchant/payments/{payment_id}/refund"): (M,),
    ("GET", "/console/merchant/refunds"): (M,),
    ("GET", "/console/merchant/statement"): (M,),
    ("GET", "/console/merchant/settlements"): (M,),
    ("GET", "/console/merchant/codes"): (M,),
    ("GET", "/console/merchant/sticker.pdf"): (M,),
    ("GET", "/console/merchant/keys"): (M,),
    ("POST", "/console/merchant/keys"): (M,),
    ("POST", "/console/merchant/keys/{key_id}/revoke"): (M,),
    ("GET", "/console/merchant/webhooks"): (M,),
    ("POST", "/console/merchant/webhooks"): (M,),
    ("POST", "/console/merchant/webhooks/{endpoint_id}/delete"): (M,),
    ("GET", "/console/merchant/profile"): (M,),
    ("GET", "/console/operator"): (O,),
    ("GET", "/console/operator/merchants"): (O,),
    ("GET", "/console/operator/merchants/{merchant_id}"): (O,),
    ("POST", "/console/operator/merchants/{merchant_id}/review"): (O,),
    ("GET", "/console/operator/payments"): (O,),
    ("GET", "/console/operator/payments/{payment_id}"): (O,),
    ("GET", "/console/operator/settlement-runs"): (O,),
    ("GET", "/console/operator/reconciliation"): (O,),
    ("GET", "/console/operator/cases"): (O,),
    ("GET", "/console/operator/campaigns"): (O,),
    ("GET", "/console/operator/fee-plans"): (O,),
    ("GET", "/console/regulator"): (R,),
    ("GET", "/console/regulator/merchants"): (R,),
    ("GET", "/console/regulator/payments"): (R,),
    ("GET", "/console/regulator/payments/{payment_id}"): (R,),
    ("GET", "/console/regulator/risk"): (R,),
    ("GET", "/console/regulator/complaints"): (R,),
    ("GET", "/console/biller"): (B,),
    ("GET", "/console/complaints"): (C,),
}

# API routes are classified by the key their dependencies ask for.
API_KEYS = {"merchant_principal": M, "operator_principal": O, "principal": "any"}


def app_routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    """(method, path) → route for every route the app serves, through included routers, and mounts."""
    out: dict[tuple[str, str], Any] = {}

    def add(route: Any, path: str, methods: set[str] | None) -> None:
        if isinstance(route, Mount):
            out[("MOUNT", route.path)] = route
            return
        for method in methods or ():
            if method != "HEAD":
                out[(method, path)] = route

    for route in app.routes:
        if type(route).__name__ == "_IncludedRouter":
            for ctx in route.effective_route_contexts():  # type: ignore[attr-defined]
                add(
                    ctx.original_route if isinstance(ctx.original_route, Mount) else ctx,
                    ctx.path,
                    ctx.methods,
                )
        else:
            add(route, getattr(route, "path", ""), getattr(route, "methods", None))
    return out


def _deps(dependant: Any) -> list[Any]:
    out = []
    for dep in dependant.dependencies:
        out.append(dep.call)
        out.extend(_deps(dep))
    return out


def classify(key: tuple[str, str], route: Any) -> tuple[str, Any]:
    """("public", why) | ("console", roles) | ("api", merchant / operator / any) | ("unchecked", None)."""
    if key in PUBLIC:
        return "public", PUBLIC[key]
    calls = _deps(route.dependant) if hasattr(route, "dependant") else []
    roles = next((tuple(c.roles) for c in calls if hasattr(c, "roles")), None)
    if roles is not None:
        return "console", roles
    keys = {API_KEYS[c.__name__] for c in calls if getattr(c, "__name__", "") in API_KEYS}
    if len(keys) == 1:
        return "api", keys.pop()
    return "unchecked", None


@pytest.fixture(scope="module")
def routes() -> dict[tuple[str, str], Any]:
    return app_routes(create_app())


@pytest.fixture(scope="module")
def console_routes(routes: dict) -> dict[tuple[str, str], tuple[str, ...]]:  # type: ignore[type-arg]
    """Every console page the app serves (ours and later ones) with the roles its dependency allows."""
    out = {}
    for key, route in routes.items():
        kind, roles = classify(key, route)
        if kind == "console":
            out[key] = roles
    return out


def test_every_route_checks_who_calls_it_or_is_listed_as_public(routes: dict) -> None:  # type: ignore[type-arg]
    unchecked = sorted(k for k, r in routes.items() if classify(k, r)[0] == "unchecked")
    assert unchecked == [], (
        "give these routes a key or console-role check, or list them in PUBLIC with a reason"
    )
    for key, roles in CONSOLE.items():
        assert classify(key, routes[key]) == ("console", roles), key
    for key, route in routes.items():
        if key[1].startswith("/console/"):
            assert classify(key, route)[0] == "console", key
    api_paths = {(m.upper(), p) for p, ops in create_app().openapi()["paths"].items() for m in ops}
    assert api_paths <= set(routes)
    assert len([k for k in routes if classify(k, routes[k])[0] == "api"]) >= 20


KNOWN = {"payment_id", "key_id", "endpoint_id", "refund_id", "merchant_id", "action", "channel"}


def _fill(path: str, world) -> str:  # type: ignore[no-untyped-def]
    ids = {
        "payment_id": world.pay_a,
        "key_id": world.key_a,
        "endpoint_id": world.endpoint_a,
        "refund_id": world.refund_a,
        "merchant_id": world.pending_a if "/console/" in path else world.mch_a,
        "action": "approve",
        "channel": "wechat",
    }
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "none_0"), path)


def _only_known_ids(path: str) -> bool:
    params = set(re.findall(r"\{(\w+)\}", path))
    return bool(params) and params <= KNOWN


def _secrets_of_a(world) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        world.pay_a,
        "A-0001",
        world.refund_a,
        world.key_a,
        world.endpoint_a,
        "shop-a.example",
        world.mch_a,
        world.pending_a,
    ]


def _state(world) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    with world.db.tx() as c:
        return (
            c.execute(
                select(payments.c.refunded_fen, payments.c.status).where(payments.c.id == world.pay_a)
            ).one(),
            c.execute(select(api_keys.c.status).where(api_keys.c.merchant_id == world.mch_a)).scalars().all(),
            c.execute(select(endpoints.c.id).where(endpoints.c.merchant_id == world.mch_a)).scalars().all(),
            c.execute(select(merchants.c.status).where(merchants.c.id == world.pending_a)).scalar(),
        )


FORM = {
    "amount": "1.00",
    "reason": "r",
    "confirm": "yes",
    "label": "x",
    "url": "https://x.example/h",
    "action": "approve",
}


@pytest.fixture
def water(world) -> None:  # type: ignore[no-untyped-def]
    """The biller the `water` login works for (its own pages need it registered)."""
    from tests.bills.helpers import make_biller

    make_biller(world.db, "water")


@pytest.mark.usefixtures("water")
def test_console_routes_refuse_the_wrong_role_and_anonymous_callers(world, console_routes: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    before = _state(world)
    browsers = {role: world.login(user) for role, user in ROLE_USERS.items()}
    anon = world.anonymous()
    for (method, path), allowed in console_routes.items():
        url = _fill(path, world)
        for role, b in browsers.items():
            if role in allowed:
                continue
            r = b.get(url) if method == "GET" else b.post(url, FORM)
            assert r.status_code in (403, 404), (role, method, url, r.status_code)
            assert not any(s in r.text for s in _secrets_of_a(world)), (role, url)
        r = anon.get(url) if method == "GET" else anon.client.post(url, data=FORM, follow_redirects=False)
        assert (r.status_code, r.headers.get("location", "")[:6]) in ((303, "/login"), (401, "")), (
            url,
            r.status_code,
        )
    assert _state(world) == before


def test_console_routes_refuse_another_merchant_and_another_institution(
    world, console_routes: dict, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def,type-arg]
    from zhifu.console import routes as console_pages

    monkeypatch.setattr(console_pages, "STREAM_LIFETIME_S", 0.0)  # the live stream answers once and ends
    before = _state(world)
    other = {M: world.login("shop-b"), O: world.login("op-psbc")}
    for (method, path), allowed in console_routes.items():
        if allowed[0] not in other:
            continue
        url = _fill(path, world)
        b = other[allowed[0]]
        r = b.get(url) if method == "GET" else b.post(url, FORM)
        if _only_known_ids(path):
            assert r.status_code == 404, (method, url, r.status_code)
        assert [s for s in _secrets_of_a(world) if s in r.text] == [], url
    assert _state(world) == before


def test_api_routes_refuse_the_wrong_key_and_another_merchant(world, routes: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    before = _state(world)
    client = world.platform.client
    op, shop_b = world.platform.op, world.headers_b
    for (method, path), route in routes.items():
        kind, role = classify((method, path), route)
        if kind != "api" or path == "/v1/stream":
            continue
        url = _fill(path, world)
        assert client.request(method, url).status_code == 401, (method, url)
        if role in (M, O):
            r = client.request(method, url, headers=op if role == M else shop_b)
            assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied", (
                method,
                url,
                r.text,
            )
        if role in (M, "any") and _only_known_ids(path):
            r = client.request(method, url, headers=shop_b)
            assert r.status_code == 404, (method, url, r.status_code)
            assert not any(s in r.text for s in _secrets_of_a(world) if s not in url), (
                url
            )  # an echoed id is no leak
        if role == M and method == "GET" and "{" not in path:
            r = client.get(url, headers=shop_b)
            assert r.status_code in (200, 400) and not any(s in r.text for s in _secrets_of_a(world)), url
    assert client.get("/v1/stream", headers=op).status_code == 403
    assert _state(world) == before
