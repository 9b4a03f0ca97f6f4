"""The console's pages: login, and the merchant, operator, regulator, biller and complaints sections.

Every route declares who may call it (`_role(...)`); forms and htmx requests carry the session's CSRF token;
errors render as pages in the user's language. Static assets are served from here under /static.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from zhifu import audit
from zhifu.channels import CHANNELS
from zhifu.console import service
from zhifu.console.service import Session, User
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.db import Database
from zhifu.payments import PaymentStatus
from zhifu.web.i18n import translator
from zhifu.web.templating import STATIC_DIR, get_templates, remember_language, request_language
from zhifu.web.vocabulary import N_
from zhifu.webhooks import EVENT_TYPES

SESSION_COOKIE: Final = "zhifu_session"
LOGIN_CSRF_COOKIE: Final = "zhifu_login_csrf"  # double-submit token for the login form (no session yet)
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_FIELDS_MAX: Final = 40  # no console form has more; a form with thousands of fields is refused
FORM_FILES_MAX: Final = 1  # the operator's statement and bank result uploads carry one file
STREAM_POLL_S: Final = 1.0
STREAM_PING_S: Final = 15.0
STREAM_LIFETIME_S: Final = 300.0  # the browser reconnects with Last-Event-ID; a stale session ends here
CURSOR_CHARS_MAX: Final = 40
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

HOME: Final[dict[str, str]] = {
    "merchant": "/console/merchant",
    "operator": "/console/operator",
    "regulator": "/console/regulator",
    "biller": "/console/biller",
    "complaints": "/console/complaints",
}

NAV: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "merchant": (
        ("/console/merchant", N_("Today's takings")),
        ("/console/merchant/payments", N_("Payments")),
        ("/console/merchant/refunds", N_("Refunds")),
        ("/console/merchant/settlements", N_("Settlements")),
        ("/console/merchant/codes", N_("Codes and stickers")),
        ("/console/merchant/keys", N_("API keys")),
        ("/console/merchant/webhooks", N_("Webhooks")),
        ("/console/merchant/profile", N_("Profile")),
    ),
    "operator": (
        ("/console/operator", N_("Review queue")),
        ("/console/operator/merchants", N_("Merchants")),
        ("/console/operator/payments", N_("Payments")),
        ("/console/operator/settlement-runs", N_("Settlement runs")),
        ("/console/operator/reconciliation", N_("Reconciliation")),
        ("/console/operator/cases", N_("Cases")),
        ("/console/operator/campaigns", N_("Campaigns")),
        ("/console/operator/fee-plans", N_("Fee plans")),
    ),
    "regulator": (
        ("/console/regulator", N_("Dashboard")),
        ("/console/regulator/merchants", N_("Merchants")),
        ("/console/regulator/payments", N_("Payments")),
        ("/console/regulator/risk", N_("Risk alerts")),
        ("/console/regulator/complaints", N_("Complaints")),
    ),
    "biller": (("/console/biller", N_("Bills")),),
    "complaints": (("/console/complaints", N_("Complaints")),),
}

# Sections other parts of the programme fill in; until then they show an empty state.
PLACEHOLDERS: Final[dict[str, tuple[str, str, str]]] = {
    # path: (role, title, what will be here)
}


class LoginRequired(Exception):
    """No valid session: a page redirects to the login form, a form post says the session ended."""


class CsrfFailed(Exception):
    pass


def _db(request: Request) -> Database:
    return request.app.state.db


def _auth(request: Request) -> tuple[User, Session]:
    found = getattr(request.state, "console_auth", None)
    if found is None:
        with _db(request).read() as c:
            found = service.session_user(c, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise LoginRequired
        request.state.console_auth = found
    return found


def _role(*roles: str) -> Callable[[Request], User]:
    """A dependency: the logged-in user, who must have one of these roles (403 otherwise)."""

    def dependency(request: Request) -> User:
        user, _ = _auth(request)
        service.require(user, *roles)
        return user

    dependency.roles = roles  # type: ignore[attr-defined]  # read by the isolation tests
    return dependency


async def _csrf_guard(request: Request) -> None:
    """Every unsafe request carries the CSRF token: in the form, or in X-CSRF-Token (htmx)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form(max_fields=FORM_FIELDS_MAX, max_files=FORM_FILES_MAX)
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if request.url.path == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    else:
        expected = _auth(request)[1].csrf_token
    if not expected or not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _finish(request: Request, response: Response) -> Response:
    remember_language(request, response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _nav(user: User | None, active: str) -> list[dict[str, Any]]:
    if user is None:
        return []
    return [{"href": href, "label": label, "active": href == active} for href, label in NAV[user.role]]


def _page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    active: str | None = None,
) -> Response:
    auth = getattr(request.state, "console_auth", None)
    user, session = auth if auth else (None, None)
    ctx: dict[str, Any] = {
        "csrf_token": session.csrf_token if session else "",
        "user": user,
        "user_name": user.display_name if user else None,
        "logout_url": "/logout",
        "nav_items": _nav(user, active or request.url.path),
        "path": request.url.path,
        "channels": CHANNELS,
        "channel_label": lambda c: service.channel_label(c, request_language(request)),
    }
    if user is not None and user.role == "operator":
        from zhifu.calendar.routes import banner  # the working-day calendar's end, within 30 days of it

        ctx["calendar_warning"] = banner(_db(request))
    ctx.update(context or {})
    response = get_templates().TemplateResponse(request, template, ctx, status_code=status)
    return _finish(request, response)


def _error_page(request: Request, code: str, status: int, detail: str | None = None) -> Response:
    title, message = translator(request_language(request)).error(code)
    auth = getattr(request.state, "console_auth", None)
    back = HOME[auth[0].role] if auth else "/login"
    return _page(
        request,
        "error.html",
        {"title": title, "message": detail or message, "code": None, "back_url": back},
        status=status,
    )


def _redirect(request: Request, url: str) -> Response:
    return _finish(request, RedirectResponse(url, status_code=303))


class ConsoleRoute(APIRoute):
    """Turns errors into pages: no session → login, wrong role → 403, someone else's → 404, …"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if request.headers.get("hx-request"):
                    return _finish(request, Response(status_code=401, headers={"HX-Redirect": "/login"}))
                if request.method in SAFE_METHODS:
                    return _redirect(request, f"/login?next={quote(request.url.path)}")
                return _error_page(request, "session_expired", 401)
            except CsrfFailed:
                return _error_page(request, "csrf_failed", 403)
            except PermissionDenied:
                return _error_page(request, "forbidden", 403)
            except NotFound:
                return _error_page(request, "not_found", 404)
            except service.LoginThrottled:
                return _error_page(request, "rate_limited", 429)
            except ZhifuError as exc:
                if (
                    400 <= exc.http_status < 500
                ):  # bad input (a typo'd date): say which field, in the page's language
                    from zhifu.console.operator_routes import explain

                    return _error_page(
                        request, "bad_request", exc.http_status, explain(exc, request_language(request))
                    )
                return _error_page(request, "server_error", exc.http_status, exc.message)
            except RequestValidationError:
                return _error_page(
                    request,
                    "server_error",
                    400,
                    translator(request_language(request)).gettext("The form was not filled in correctly."),
                )

        return route_handler


router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, dependencies=[Depends(_csrf_guard)])
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

# ---------------------------------------------------------------- login

PUBLIC: Final = "public"  # routes anyone may call (the isolation tests read this marker)


def _safe_next(value: str | None, user: User) -> str:
    """Only a path inside the console the user's role may open; never another site."""
    if value and value.startswith(HOME[user.role]) and not value.startswith("//") and "\\" not in value:
        return value
    return HOME[user.role]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/", name="console_root")
@router.get("/console", name="console_home")
def home(request: Request) -> Response:
    try:
        user, _ = _auth(request)
    except LoginRequired:
        return _redirect(request, "/login")
    return _redirect(request, HOME[user.role])


def _login_page(
    request: Request, *, error: str | None = None, username: str = "", next_url: str = "", status: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(
        request,
        "login.html",
        {
            "csrf_token": token,
            "error": error,
            "username": username,
            "next": next_url[:200],
            "login_url": "/login",
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login",
        max_age=3600,
    )
    return response


FONT_CACHE_S: Final = 365 * 24 * 3600  # the font file never changes under its name


@router.get("/fonts/{name}")
def bundled_font(name: str) -> Response:
    """The bundled CJK font the stylesheets name last in their font stack (public: the login page needs it)."""
    from fastapi.responses import FileResponse

    from zhifu.assets.fonts import CJK_FONT_FILE, cjk_font_path

    if name != CJK_FONT_FILE:
        raise NotFound(f"no font {name}", param="name")
    return FileResponse(
        cjk_font_path(),
        media_type="font/otf",
        headers={"Cache-Control": f"public, max-age={FONT_CACHE_S}, immutable"},
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    try:
        user, _ = _auth(request)
        return _redirect(request, _safe_next(next, user))
    except LoginRequired:
        return _login_page(request, next_url=next)


@router.post("/login")
def login(
    request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")
) -> Response:
    _ = translator(request_language(request))
    try:
        result = _db(request).run(lambda c: service.login(c, username, password, _client_ip(request)))
    except InvalidRequest as exc:
        return _login_page(request, error=exc.message, username=username[:64], status=400)
    if result.throttled:
        raise service.LoginThrottled("too many failed logins; wait 15 minutes")
    if result.user is None or result.token is None or result.session is None:
        return _login_page(
            request, error=_("Wrong username or password."), username=username[:64], next_url=next, status=401
        )
    response = _redirect(request, _safe_next(next, result.user))
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=service.SESSION_TTL_S,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    _db(request).run(lambda c: service.logout(c, request.cookies.get(SESSION_COOKIE)))
    response = _redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- merchant

_merchant = _role("merchant")


@router.get("/console/merchant")
def merchant_home(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        takings = service.takings_today(c, user)
    return _page(request, "console/merchant_home.html", {"takings": takings, "charts": False})


def _parse_time(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _sse(event: str, html: str) -> str:
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


@router.get("/console/merchant/stream")
async def merchant_stream(request: Request, cursor: str = "", user: User = Depends(_merchant)) -> Response:
    """Server-sent events: one HTML row per payment received (spoken by the page), and the new total."""
    start = request.headers.get("last-event-id") or cursor or "evt_0"
    if len(start) > CURSOR_CHARS_MAX or not start.startswith("evt_"):
        raise InvalidRequest("cursor must be an event id", param="cursor")
    db = _db(request)
    env = get_templates().env
    lang = request_language(request)

    def fetch(after: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        with db.read() as c:
            rows = service.payments_since(c, user, after)
            return rows, (service.takings_today(c, user) if rows else None)

    async def events() -> AsyncIterator[str]:
        after, waited, idle = start, 0.0, 0.0
        yield ": connected\n\n"
        while not await request.is_disconnected():
            rows, takings = await asyncio.to_thread(fetch, after)
            for ev in rows:
                pay = dict(ev["data"]["object"])
                pay["succeeded_at"] = _parse_time(pay.get("succeeded_at")) or ev["created_at"]
                html = env.get_template("console/_payment_item.html").render(
                    lang=lang,
                    p=pay,
                    label=service.channel_label(pay["channel"], lang),
                    speak=service.announcement(pay),
                )
                yield f"id: {ev['id']}\n" + _sse("payment", html)
                after, idle = ev["id"], 0.0
            if takings is not None:
                yield _sse(
                    "takings", env.get_template("console/_takings.html").render(lang=lang, takings=takings)
                )
            if waited >= STREAM_LIFETIME_S:
                break
            await asyncio.sleep(STREAM_POLL_S)
            waited += STREAM_POLL_S
            idle += STREAM_POLL_S
            if idle >= STREAM_PING_S:
                yield ": ping\n\n"
                idle = 0.0

    return _finish(
        request,
        StreamingResponse(events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}),
    )


def _payments_page(
    request: Request, user: User, base: str, q: str, status: str, channel: str, starting_after: str
) -> Response:
    with _db(request).read() as c:
        rows, more = service.search_payments(
            c, user, q=q, status=status, channel=channel, starting_after=starting_after
        )
    return _page(
        request,
        "console/payments.html",
        {
            "rows": rows,
            "more": more,
            "q": q,
            "status": status,
            "channel": channel,
            "base": base,
            "statuses": [s.value for s in PaymentStatus],
            "show_merchant": user.role != "merchant",
        },
        active=base,
    )


def _payment_page(
    request: Request,
    user: User,
    base: str,
    payment_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    with _db(request).read() as c:
        pay = service.payment_detail(c, user, payment_id)
    return _page(
        request,
        "console/payment.html",
        {"p": pay, "base": base, "error": error, "done": done, "can_refund": user.role == "merchant"},
        status=status,
        active=base,
    )


@router.get("/console/merchant/payments")
def merchant_payments(
    request: Request,
    q: str = "",
    status: str = "",
    channel: str = "",
    starting_after: str = "",
    user: User = Depends(_merchant),
) -> Response:
    return _payments_page(request, user, "/console/merchant/payments", q, status, channel, starting_after)


@router.get("/console/merchant/payments/{payment_id}")
def merchant_payment(
    request: Request, payment_id: str, done: str = "", user: User = Depends(_merchant)
) -> Response:
    return _payment_page(request, user, "/console/merchant/payments", payment_id, done=done[:10])


@router.post("/console/merchant/payments/{payment_id}/refund")
def merchant_refund(
    request: Request,
    payment_id: str,
    amount: str = Form(""),
    reason: str = Form(""),
    confirm: str = Form(""),
    user: User = Depends(_merchant),
) -> Response:
    """First post: a confirmation page; the confirmed post makes the refund."""
    base = "/console/merchant/payments"
    try:
        amount_fen, clean_reason = service.parse_refund(amount, reason)
    except ZhifuError as exc:
        return _payment_page(request, user, base, payment_id, error=exc.message, status=400)
    if confirm != "yes":
        with _db(request).read() as c:
            pay = service.payment_detail(c, user, payment_id)
        if pay["refundable_fen"] <= 0:
            return _payment_page(
                request,
                user,
                base,
                payment_id,
                status=409,
                error=translator(request_language(request)).gettext("This payment cannot be refunded."),
            )
        return _page(
            request,
            "console/refund_confirm.html",
            {
                "p": pay,
                "amount": amount.strip(),
                "reason": clean_reason,
                "amount_fen": amount_fen if amount_fen is not None else pay["refundable_fen"],
            },
            active=base,
        )
    try:
        _db(request).run(lambda c: service.refund(c, user, payment_id, amount, reason))
    except (InvalidRequest, ConflictError) as exc:
        return _payment_page(request, user, base, payment_id, error=exc.message, status=exc.http_status)
    return _redirect(request, f"{base}/{quote(payment_id)}?done=refund")


@router.get("/console/merchant/refunds")
def merchant_refunds(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        rows = service.list_refunds(c, user)
    return _page(request, "console/refunds.html", {"rows": rows})


@router.get("/console/merchant/settlements")
def merchant_settlements(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        rows = service.settlements(c, user)
    month = service.clock.now().astimezone(service.SHANGHAI).strftime("%Y-%m")
    return _page(request, "console/settlements.html", {"rows": rows, "month": month})


@router.get("/console/merchant/statement")
def merchant_statement(
    request: Request, month: str = "", format: str = "csv", user: User = Depends(_merchant)
) -> Response:
    with _db(request).read() as c:
        data, name = service.statement(c, user, month, format)
    audit.exported(_db(request), "statement", name, {"format": format}, merchant_id=user.merchant_id)
    return _finish(
        request,
        Response(
            data,
            media_type=service.STATEMENT_FORMATS[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        ),
    )


@router.get("/console/merchant/codes")
def merchant_codes(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        code = service.merchant_code(c, user)
    return _page(request, "console/codes.html", {"code": code})


@router.get("/console/merchant/sticker.pdf")
def merchant_sticker(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        pdf = service.sticker_pdf(c, user)
    if pdf is None:
        raise NotFound("no payment code yet", param="code")
    return _finish(
        request,
        Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="sticker.pdf"'},
        ),
    )


def _keys_page(
    request: Request, user: User, *, secret: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    with _db(request).read() as c:
        keys = service.list_keys(c, user)
    return _page(
        request,
        "console/keys.html",
        {"keys": keys, "secret": secret, "error": error},
        status=status,
        active="/console/merchant/keys",
    )


@router.get("/console/merchant/keys")
def merchant_keys(request: Request, user: User = Depends(_merchant)) -> Response:
    return _keys_page(request, user)


@router.post("/console/merchant/keys")
def merchant_key_create(request: Request, label: str = Form(""), user: User = Depends(_merchant)) -> Response:
    try:
        _, secret = _db(request).run(lambda c: service.create_key(c, user, label))
    except ZhifuError as exc:
        return _keys_page(request, user, error=exc.message, status=exc.http_status)
    return _keys_page(request, user, secret=secret)


@router.post("/console/merchant/keys/{key_id}/revoke")
def merchant_key_revoke(request: Request, key_id: str, user: User = Depends(_merchant)) -> Response:
    _db(request).run(lambda c: service.revoke_key(c, user, key_id))
    return _redirect(request, "/console/merchant/keys")


def _webhooks_page(
    request: Request,
    user: User,
    *,
    secret: str | None = None,
    error: str | None = None,
    url: str = "",
    status: int = 200,
) -> Response:
    with _db(request).read() as c:
        rows = service.list_endpoints(c, user)
    return _page(
        request,
        "console/webhooks.html",
        {"rows": rows, "secret": secret, "error": error, "url": url, "event_types": EVENT_TYPES},
        status=status,
        active="/console/merchant/webhooks",
    )


@router.get("/console/merchant/webhooks")
def merchant_webhooks(request: Request, user: User = Depends(_merchant)) -> Response:
    return _webhooks_page(request, user)


@router.post("/console/merchant/webhooks")
def merchant_webhook_create(
    request: Request, url: str = Form(""), events: list[str] = Form([]), user: User = Depends(_merchant)
) -> Response:
    try:
        made = _db(request).run(lambda c: service.create_endpoint(c, user, url, events))
    except ZhifuError as exc:
        return _webhooks_page(request, user, error=exc.message, url=url[:512], status=exc.http_status)
    return _webhooks_page(request, user, secret=made["secret"])


@router.post("/console/merchant/webhooks/{endpoint_id}/delete")
def merchant_webhook_delete(request: Request, endpoint_id: str, user: User = Depends(_merchant)) -> Response:
    _db(request).run(lambda c: service.delete_endpoint(c, user, endpoint_id))
    return _redirect(request, "/console/merchant/webhooks")


@router.get("/console/merchant/profile")
def merchant_profile(request: Request, user: User = Depends(_merchant)) -> Response:
    with _db(request).read() as c:
        m = service.profile(c, user)
    return _page(request, "console/profile.html", {"m": m})


# ---------------------------------------------------------------- operator

_operator = _role("operator")


@router.get("/console/operator")
def operator_queue(request: Request, user: User = Depends(_operator)) -> Response:
    with _db(request).read() as c:
        rows = service.review_queue(c, user)
    return _page(request, "console/operator_queue.html", {"rows": rows})


def _review_page(
    request: Request,
    user: User,
    merchant_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    reason: str = "",
) -> Response:
    from zhifu.console import operations

    with _db(request).read() as c:
        m = service.merchant_review(c, user, merchant_id)
        code = operations.merchant_code(c, user, merchant_id)
    return _page(
        request,
        "console/merchant_review.html",
        {"m": m, "error": error, "reason": reason, "code": code, "form_token": operations.new_form_token()},
        status=status,
        active="/console/operator",
    )


@router.get("/console/operator/merchants/{merchant_id}")
def operator_merchant(request: Request, merchant_id: str, user: User = Depends(_operator)) -> Response:
    return _review_page(request, user, merchant_id)


@router.post("/console/operator/merchants/{merchant_id}/review")
def operator_review(
    request: Request,
    merchant_id: str,
    action: str = Form(""),
    reason: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    try:
        _db(request).run(lambda c: service.review_merchant(c, user, merchant_id, action, reason))
    except (InvalidRequest, ConflictError) as exc:
        return _review_page(
            request, user, merchant_id, error=exc.message, status=exc.http_status, reason=reason[:500]
        )
    return _redirect(request, f"/console/operator/merchants/{quote(merchant_id)}")


def _merchants_page(
    request: Request, user: User, base: str, status: str, town: str, starting_after: str
) -> Response:
    with _db(request).read() as c:
        rows, more = service.list_merchants(
            c, user, status=status, town_code=town, starting_after=starting_after
        )
    from zhifu.merchants import MerchantStatus, county

    return _page(
        request,
        "console/merchants.html",
        {
            "rows": rows,
            "more": more,
            "status": status,
            "town": town,
            "base": base,
            "statuses": [s.value for s in MerchantStatus],
            "towns": county().towns,
            "detail_base": "/console/operator/merchants" if user.role == "operator" else None,
        },
        active=base,
    )


@router.get("/console/operator/merchants")
def operator_merchants(
    request: Request,
    status: str = "",
    town: str = "",
    starting_after: str = "",
    user: User = Depends(_operator),
) -> Response:
    return _merchants_page(request, user, "/console/operator/merchants", status, town, starting_after)


@router.get("/console/operator/payments")
def operator_payments(
    request: Request,
    q: str = "",
    status: str = "",
    channel: str = "",
    starting_after: str = "",
    user: User = Depends(_operator),
) -> Response:
    return _payments_page(request, user, "/console/operator/payments", q, status, channel, starting_after)


@router.get("/console/operator/payments/{payment_id}")
def operator_payment(request: Request, payment_id: str, user: User = Depends(_operator)) -> Response:
    return _payment_page(request, user, "/console/operator/payments", payment_id)


# Codes of settlement runs, reconciliation cases and campaigns as the operator's lists show them.
CODE_LABELS: Final[dict[str, str]] = {
    "posted": N_("Posted"),
    "filed": N_("Files written"),
    "open": N_("Open"),
    "proposed": N_("Proposed"),
    "resolved": N_("Resolved"),
    "paused": N_("Paused"),
    "ended": N_("Ended"),
    "missing_ours": N_("Missing on our side"),
    "missing_channel": N_("Missing on the channel's side"),
    "amount_mismatch": N_("Amount differs"),
    "status_mismatch_ours_succeeded": N_("Succeeded here, not at the channel"),
    "status_mismatch_channel_succeeded": N_("Succeeded at the channel, not here"),
    "fee_mismatch": N_("Fee differs"),
    "duplicate": N_("Duplicate"),
    "refund_mismatch": N_("Refund differs"),
    "ledger_mismatch": N_("Ledger differs"),
    "refund_payer": N_("Refund the payer"),
    "credit_merchant": N_("Credit the merchant"),
    "write_off_suspense": N_("Write off to suspense"),
    "accept_channel_record": N_("Accept the channel's record"),
    "accept_ours": N_("Accept our record"),
    "debit": N_("Debit card"),
    "credit": N_("Credit card"),
    "wallet": N_("Wallet balance"),
    "county_finance": N_("County finance bureau"),
    "commerce_bureau": N_("Commerce bureau"),
    "government": N_("Government"),
    "approved": N_("Approved"),
    "rejected": N_("Sent back"),
}


def _ops_page(request: Request, template: str, context: dict[str, Any], **kw: Any) -> Response:
    _ = translator(request_language(request))

    def label(code: str | None) -> str:
        if code is None:
            return ""
        if code in CODE_LABELS:
            return _.gettext(CODE_LABELS[code])
        from zhifu.console.operations import institution_name

        return institution_name(code)  # an institution's name; any other code as it is

    return _page(request, template, {**context, "label": label, "percent": _percent}, **kw)


def _percent(ppm: int) -> str:
    """Parts per million as a percentage without floats: 3800 → "0.38%", 6000 → "0.60%", 1250 → "0.125%"."""
    whole, frac = divmod(ppm, 10_000)
    digits = f"{frac:04d}".rstrip("0").ljust(2, "0")
    return f"{whole}.{digits}%"


def _date_param(value: str, param: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"日期格式应为 YYYY-MM-DD / {param} must be a date (YYYY-MM-DD)", param=param
        ) from exc


# ---------------------------------------------------------------- regulator

_regulator = _role("regulator")


@router.get("/console/regulator")
def regulator_dashboard(request: Request, user: User = Depends(_regulator)) -> Response:
    lang = request_language(request)
    _ = translator(lang)
    with _db(request).read() as c:
        figures = service.programme_figures(c, user)
        audit_status = audit.status(c)  # the log's latest checkpoint and last verification
    chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [_("Count"), _("Amount (yuan)")]},
        "grid": {"left": 48, "right": 56, "top": 48, "bottom": 24, "containLabel": True},
        "xAxis": {
            "type": "category",
            "axisLabel": {"rotate": 30},
            "data": [service.channel_label(c["channel"], lang) for c in figures["channels"]],
        },
        "yAxis": [{"type": "value", "name": _("Count")}, {"type": "value", "name": _("Amount (yuan)")}],
        "series": [
            {"name": _("Count"), "type": "bar", "data": [c["count"] for c in figures["channels"]]},
            {
                "name": _("Amount (yuan)"),
                "type": "line",
                "yAxisIndex": 1,
                "data": [c["amount_fen"] / 100 for c in figures["channels"]],
            },  # chart axis only, never stored
        ],
    }
    return _page(
        request,
        "console/regulator.html",
        {"f": figures, "chart": chart, "charts": True, "audit": audit_status},
    )


@router.get("/console/regulator/merchants")
def regulator_merchants(
    request: Request,
    status: str = "",
    town: str = "",
    starting_after: str = "",
    user: User = Depends(_regulator),
) -> Response:
    return _merchants_page(request, user, "/console/regulator/merchants", status, town, starting_after)


@router.get("/console/regulator/payments")
def regulator_payments(
    request: Request,
    q: str = "",
    status: str = "",
    channel: str = "",
    starting_after: str = "",
    user: User = Depends(_regulator),
) -> Response:
    return _payments_page(request, user, "/console/regulator/payments", q, status, channel, starting_after)


@router.get("/console/regulator/payments/{payment_id}")
def regulator_payment(request: Request, payment_id: str, user: User = Depends(_regulator)) -> Response:
    return _payment_page(request, user, "/console/regulator/payments", payment_id)


# ---------------------------------------------------------------- sections still to come


def _placeholder(path: str, role: str, title: str, text: str) -> None:
    def page(request: Request, user: User = Depends(_role(role))) -> Response:
        return _page(request, "console/placeholder.html", {"heading": title, "text": text})

    router.add_api_route(path, page, methods=["GET"], name=f"placeholder:{path}")


for _path, (_who, _title, _text) in PLACEHOLDERS.items():
    _placeholder(_path, _who, _title, _text)


# The names other capabilities use to add their own console pages: the same route class, CSRF guard,
# role dependency, page rendering and menu as the console's pages.
csrf_guard = _csrf_guard
role = _role
page = _page
error_page = _error_page


def add_nav(role_name: str, entries: tuple[tuple[str, str], ...], *, after: int = 1) -> None:
    """Insert (href, msgid) entries into a role's menu after its first `after` entries, once."""
    current = NAV[role_name]
    fresh = tuple(e for e in entries if e[0] not in dict(current))
    NAV[role_name] = current[:after] + fresh + current[after:]  # type: ignore[index]


# The operator's action pages live beside this module and share its route class, guard and rendering.
from zhifu.console import operator_routes as _operator_routes  # noqa: E402

router.include_router(_operator_routes.router)
