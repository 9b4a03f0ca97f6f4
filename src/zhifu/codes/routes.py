"""The cashier pages (`/c/{code}`) and the code API of merchants and operators."""

from __future__ import annotations

import secrets
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from zhifu.api.deps import (
    get_db,
    json_response,
    merchant_principal,
    operator_principal,
    principal,
    raw_body,
    run_idempotent,
)
from zhifu.channels import facts
from zhifu.codes import service
from zhifu.codes.service import APPS, CodeUnavailable, PageToken
from zhifu.core import clock
from zhifu.core.errors import InvalidRequest, ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal, Principal
from zhifu.web import get_templates, request_language, translator

router = APIRouter()
PAYER_COOKIE = "zhifu_payer"  # stands in for the app's user id (openid / UnionPay user) in the simulator
PAYER_COOKIE_MAX_AGE_S = 365 * 24 * 3600
AMOUNT_CHARS_MAX = 16
NO_STORE = {"Cache-Control": "no-store"}
SIM_OUTCOMES = (
    "success",
    "decline_insufficient_funds",
    "decline_limit_exceeded",
    "decline_card_blocked",
    "timeout",
)
# Errors the payer sees on the cashier page itself (the page stays so they can fix the amount or choose).
_PAGE_ERRORS = (
    "static_code_daily_limit",
    "remote_collection_forbidden",
    "invalid_amount",
    "amount_too_large",
    "parameter_missing",
    "unknown_app",
    "merchant_limit_exceeded",
)
_CODE_PAGES = {
    "code_unknown": "code_unknown",
    "code_revoked": "code_revoked",
    "code_expired": "code_expired",
    "code_used": "code_expired",
}


# ---------------------------------------------------------------- rendering


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context = {"csrf_token": "", "apps": APPS, **context}
    resp = get_templates().TemplateResponse(request, name, context, status_code=status, headers=NO_STORE)
    return resp


def _problem(request: Request, exc: ZhifuError, code_id: str | None = None) -> Response:
    """A clear page for a code that cannot be paid, or any other refusal."""
    _ = translator(request_language(request))
    if isinstance(exc, CodeUnavailable):
        title, message = _.error(_CODE_PAGES.get(exc.code, "code_unknown"))
        if exc.code == "code_used":
            title = _("This code has already been paid")
        return _render(
            request,
            "error.html",
            {"title": title, "message": message, "code": exc.code, "back_url": "javascript:history.back()"},
            exc.http_status,
        )
    return _render(request, "cashier/problem.html", {"error": exc, "code_id": code_id}, exc.http_status)


def _payer(request: Request) -> tuple[str, bool]:
    found = request.cookies.get(PAYER_COOKIE, "")
    if found and len(found) <= 40 and found.replace("_", "").isalnum():
        return found, False
    return f"web_{secrets.token_hex(8)}", True


def _with_payer(resp: Response, payer: str, new: bool) -> Response:
    if new:
        resp.set_cookie(
            PAYER_COOKIE, payer, max_age=PAYER_COOKIE_MAX_AGE_S, httponly=True, samesite="lax", path="/c/"
        )
    return resp


def _page_url(code_id: str, page: PageToken, scene: str) -> str:
    query = {"t": page.token, "s": page.sig}
    if scene != "on_site":
        query["scene"] = scene
    return f"/c/{code_id}?{urlencode(query)}"


def _receipt_url(code_id: str, page: PageToken) -> str:
    return f"/c/{code_id}/r/{page.token}?{urlencode({'s': page.sig})}"


def _scene(value: str | None) -> str:
    return "remote" if value == "remote" else "on_site"


def _channel_label(request: Request, channel: str) -> str:
    c = facts(channel)
    return c.label_zh if request_language(request) == "zh" else c.label_en


def _app_labels(request: Request) -> dict[str, str]:
    return {app: _channel_label(request, channel) for app, channel in service.APP_CHANNELS.items()}


# ---------------------------------------------------------------- cashier pages


@router.get("/c/{code_id}", include_in_schema=False)
def cashier(
    code_id: str,
    request: Request,
    t: str | None = None,
    s: str | None = None,
    scene: str | None = None,
    db: Database = Depends(get_db),
) -> Response:
    """Opened by the scanning app. Each page load gets its own token in the URL, so a reload or the back button
    comes back to the same page and the same payment."""
    payer, new = _payer(request)
    try:
        with db.tx() as c:
            view = service.open_code(c, code_id)
    except ZhifuError as exc:
        return _problem(request, exc, code_id)
    scene_ = _scene(scene)
    page = PageToken(t or "", s or "")
    try:
        issued = service.check_page_token(code_id, page.token, page.sig)
    except InvalidRequest:
        issued = None
    if issued is not None:
        with db.tx() as c:
            started = service.page_started(c, code_id, page)
        if started:
            return RedirectResponse(_receipt_url(code_id, page), 303, headers=NO_STORE)
    if issued is None or not service.page_fresh(issued, clock.now()):
        fresh = service.new_page_token(code_id)
        return _with_payer(
            RedirectResponse(_page_url(code_id, fresh, scene_), 303, headers=NO_STORE), payer, new
        )
    return _with_payer(_pay_page(request, view, page, scene_), payer, new)


def _pay_page(
    request: Request,
    view: service.CashierPage,
    page: PageToken,
    scene: str,
    *,
    amount: str = "",
    chosen: str | None = None,
    error: ZhifuError | None = None,
    status: int = 200,
) -> Response:
    detected = service.detect_app(request.headers.get("user-agent"))
    return _render(
        request,
        "cashier/pay.html",
        {
            "view": view,
            "page": page,
            "scene": scene,
            "detected": detected,
            "chosen": chosen or detected,
            "app_labels": _app_labels(request),
            "amount": amount,
            "error": error,
        },
        status,
    )


@router.post("/c/{code_id}/pay", include_in_schema=False)
def cashier_pay(
    code_id: str,
    request: Request,
    t: str = Form(""),
    s: str = Form(""),
    amount: str = Form(""),
    app: str = Form(""),
    scene: str = Form("on_site"),
    db: Database = Depends(get_db),
) -> Response:
    """The payer submitted the amount: create the payment (once per page) and show the app's payment sheet."""
    payer, new = _payer(request)
    page = PageToken(t, s)
    scene_ = _scene(scene)
    try:
        with db.tx() as c:
            view = service.open_code(c, code_id)
    except CodeUnavailable as exc:
        with db.tx() as c:  # a page already paid still shows its receipt after the code expires or is used
            found = service.page_started(c, code_id, page)
        if found:
            return RedirectResponse(_receipt_url(code_id, page), 303, headers=NO_STORE)
        return _problem(request, exc, code_id)
    detected = service.detect_app(request.headers.get("user-agent"))
    chosen = detected or (app if app in APPS else None)
    amount_fen: int | None = None
    try:
        if view.kind == "static":
            text = amount.strip()[:AMOUNT_CHARS_MAX]
            if not text:
                raise InvalidRequest("enter the amount to pay", param="amount", code="parameter_missing")
            amount_fen = parse_yuan(text, param="amount")
        if chosen is None:
            raise InvalidRequest("choose the app to pay with", param="app", code="unknown_app")
        db.run(
            lambda c: service.start_payment(
                c, code_id, page, app=chosen, payer_ref=payer, amount_fen=amount_fen, scene=scene_
            )
        )
    except ZhifuError as exc:
        if exc.code in _PAGE_ERRORS:
            return _with_payer(
                _pay_page(
                    request,
                    view,
                    page,
                    scene_,
                    amount=amount[:AMOUNT_CHARS_MAX],
                    chosen=chosen,
                    error=exc,
                    status=exc.http_status if exc.http_status != 400 else 422,
                ),
                payer,
                new,
            )
        return _problem(request, exc, code_id)
    return _with_payer(RedirectResponse(_receipt_url(code_id, page), 303, headers=NO_STORE), payer, new)


@router.get("/c/{code_id}/r/{token}", include_in_schema=False)
def cashier_receipt(
    code_id: str, token: str, request: Request, s: str = Query(""), db: Database = Depends(get_db)
) -> Response:
    """The app's payment sheet while unpaid; the result with a receipt once paid, declined or expired."""
    page = PageToken(token, s)
    try:
        view = db.run(lambda c: service.cashier_payment(c, code_id, page))
    except ZhifuError as exc:
        return _problem(request, exc, code_id)
    return _render(
        request,
        "cashier/receipt.html",
        {
            "v": view,
            "p": view["payment"],
            "page": page,
            "outcomes": SIM_OUTCOMES,
            "channel_label": _channel_label(request, view["payment"]["channel"]),
        },
    )


@router.post("/c/{code_id}/r/{token}/confirm", include_in_schema=False)
def cashier_confirm(
    code_id: str,
    token: str,
    request: Request,
    s: str = Form(""),
    outcome: str = Form("success"),
    db: Database = Depends(get_db),
) -> Response:
    """The payer confirms in the app; a second tap, the back button or a late tap after a decline pay nothing."""
    page = PageToken(token, s)
    try:
        service.confirm_payment(db, code_id, page, outcome=outcome if outcome in SIM_OUTCOMES else "success")
    except ZhifuError as exc:
        return _problem(request, exc, code_id)
    return RedirectResponse(_receipt_url(code_id, page), 303, headers=NO_STORE)


# ---------------------------------------------------------------- the simulator's payer


# ---------------------------------------------------------------- the code API


class StaticCodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: str | None = Field(default=None, max_length=32)
    replace: bool = False


class DynamicCodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: StrictInt
    expires_in_s: StrictInt | None = None
    description: str = Field(default="", max_length=128)
    store_id: str | None = Field(default=None, max_length=32)


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


@router.post("/v1/merchants/{merchant_id}/codes", tags=["codes"], summary="Issue a merchant's static code")
def issue_static(
    merchant_id: str,
    request: Request,
    req: StaticCodeBody | None = None,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    req = req or StaticCodeBody()
    return run_idempotent(
        request,
        p,
        body,
        lambda: db.run(
            lambda c: service.issue_static(c, merchant_id, store_id=req.store_id, replace=req.replace)
        ),
    )


@router.post("/v1/codes", tags=["codes"], summary="Create a dynamic code for one payment")
def create_dynamic(
    req: DynamicCodeBody,
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(
        request,
        p,
        body,
        lambda: db.run(
            lambda c: service.create_dynamic(
                c,
                p.merchant_id,
                req.amount_fen,
                expires_in_s=req.expires_in_s,
                description=req.description,
                store_id=req.store_id,
            )
        ),
    )


@router.get("/v1/codes", tags=["codes"], summary="List the merchant's codes, newest first")
def list_codes(
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
    kind: Literal["static", "dynamic"] | None = None,
    status: Literal["active", "revoked", "used", "expired"] | None = None,
    limit: int = Query(20, ge=1, le=100),
) -> Response:
    with db.tx() as c:
        rows = service.list_codes(c, p.merchant_id, kind=kind, status=status, limit=limit)
    return json_response({"object": "list", "data": rows, "has_more": False})


@router.get("/v1/codes/{code_id}", tags=["codes"], summary="Retrieve a code")
def get_code(code_id: str, p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.tx() as c:
        return json_response(service.get_code(c, code_id, merchant_id=p.merchant_id))


@router.post("/v1/codes/{code_id}/revoke", tags=["codes"], summary="Revoke a code")
def revoke(
    code_id: str, req: RevokeBody, p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        db.run(lambda c: service.revoke(c, code_id, reason=req.reason, merchant_id=p.merchant_id))
    )
