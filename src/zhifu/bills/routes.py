"""Public-service payments over HTTP: the JSON API (`/v1/billers…`, `/v1/bill_payments`, `/v1/receipts…`), the
payer's phone pages (`/pay/bills`, `/receipts/{no}`), and the console pages of the biller and the operator."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, operator_principal, principal, raw_body, run_idempotent
from zhifu.bills import payer_auth, receipts, refunds, service
from zhifu.bills.importer import FILE_BYTES_MAX, BillFileRefused
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.dates import parse_date
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.web.templating import get_templates
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["bills"])
public = APIRouter(include_in_schema=False)  # the payer's pages: no session, nothing but their own bill
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_biller_user = console.role("biller")
_operator = console.role("operator")
console.add_nav("operator", (("/console/operator/billers", N_("Billers")),), after=3)
console.add_nav(
    "regulator", (("/console/regulator/public-services", N_("公共事业缴费 / Public services")),), after=3
)
_regulator = console.role("regulator")
console.add_nav("biller", (("/console/biller/refunds", N_("退款复核 / Refunds")),), after=1)
CSV = "text/csv; charset=utf-8"


def _may_manage(p: Principal, conn: Any, biller_id: str) -> None:
    """An operator key, or the key of the biller's own merchant."""
    if p.role == "operator":
        return
    if p.merchant_id is None or service.biller_of_merchant(conn, p.merchant_id) != biller_id:
        raise NotFound(f"no biller {biller_id}", param="biller_id")  # another's biller is simply not found


def _date(value: str, param: str = "date") -> dt.date:
    return parse_date(value, param)


# ---------------------------------------------------------------- JSON API


@api.post("/billers", summary="Register a biller with its payment rule and account-number format (operator)")
def register_biller(
    req: service.BillerIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.register_biller(c, req)))


@api.get("/billers", summary="The biller registry")
def list_billers(
    category: str | None = None, p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": service.list_billers(c, category=category), "has_more": False}
        )


@api.post("/billers/{biller_id}/bills", summary="Import a bill file (CSV or XLSX body): whole or not at all")
async def import_bills(
    biller_id: str,
    request: Request,
    filename: str = Query("", max_length=200),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    data = await _read_limited(request)
    with db.read() as c:
        _may_manage(p, c, biller_id)
    return json_response(db.run(lambda c: service.import_bills(c, biller_id, data, filename=filename)))


async def _read_limited(request: Request) -> bytes:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > FILE_BYTES_MAX:
            raise InvalidRequest(
                f"文件超过 {FILE_BYTES_MAX // 1024 // 1024} MB / the file is over "
                f"{FILE_BYTES_MAX // 1024 // 1024} MB",
                param="file",
                code="file_too_large",
            )
    return data


@api.get("/billers/{biller_id}/bills", summary="A biller's bills, newest first")
def list_bills(
    biller_id: str,
    status: str | None = None,
    account_no: str | None = None,
    limit: int = Query(50, ge=1, le=100),
    starting_after: str | None = None,
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        _may_manage(p, c, biller_id)
        rows, more = service.list_bills(
            c, biller_id, status=status, account_no=account_no, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@api.get("/billers/{biller_id}/accounts/{account_no}", summary="Presentment: the open bills of an account")
def present(
    biller_id: str, account_no: str, p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.present(c, biller_id, account_no))


@api.post("/bill_payments", summary="Pay a bill (or a direct-pay biller) through the payment service")
def pay_bill(
    req: service.PayBillIn,
    request: Request,
    p: Principal = Depends(principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: service.pay(db, req))


@api.get("/billers/{biller_id}/payment-file", summary="The daily payment file (csv, or fixed-width GBK)")
def payment_file(
    biller_id: str,
    date: str,
    format: str = "csv",
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        _may_manage(p, c, biller_id)
        data, name = service.payment_file(c, biller_id, _date(date), format)
    media = CSV if format == "csv" else "text/plain; charset=gbk"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@api.post("/billers/{biller_id}/settlements", summary="Settle a business date to the biller (operator)")
def settle(
    biller_id: str,
    date: str = Query(...),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: service.settle(c, biller_id, _date(date))))


@api.post(
    "/billers/{biller_id}/returns",
    summary="Import the biller's return file for a date; differences become cases",
)
async def import_return(
    biller_id: str,
    request: Request,
    date: str = Query(...),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    data = await _read_limited(request)
    with db.read() as c:
        _may_manage(p, c, biller_id)
    return json_response(db.run(lambda c: service.import_return_file(c, biller_id, _date(date), data)))


class RefundRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    payment_id: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=200)


class RefundDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"]
    note: str = Field(default="", max_length=200)


@api.post(
    "/billers/{biller_id}/refund-requests",
    summary="Propose refunding a bill payment the biller cannot apply (maker); another key decides",
)
def propose_refund(
    biller_id: str, req: RefundRequestIn, p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    def act(c: Any) -> dict[str, Any]:
        _may_manage(p, c, biller_id)
        return refunds.propose(c, biller_id, req.payment_id, reason=req.reason, by=p.key_id, role=p.role)

    return json_response(db.run(act), 201)


@api.post(
    "/billers/{biller_id}/refund-requests/{request_id}/decision",
    summary="Approve (the refund is made, the receipt reissued) or reject a refund request (checker)",
)
def decide_refund(
    biller_id: str,
    request_id: str,
    req: RefundDecisionIn,
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    def act(c: Any) -> dict[str, Any]:
        _may_manage(p, c, biller_id)
        return refunds.decide(
            c,
            biller_id,
            request_id,
            approve=req.decision == "approve",
            by=p.key_id,
            role=p.role,
            note=req.note,
        )

    return json_response(db.run(act))


@api.get("/billers/{biller_id}/refund-requests", summary="A biller's refund requests, newest first")
def list_refunds(
    biller_id: str,
    status: str | None = None,
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        _may_manage(p, c, biller_id)
        rows = refunds.list_requests(c, biller_id, status=status)
    return json_response({"object": "list", "data": rows, "has_more": False})


@api.get("/billers/{biller_id}/cases", summary="Open differences against the biller's return files")
def cases(biller_id: str, p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        _may_manage(p, c, biller_id)
        return json_response({"object": "list", "data": service.list_cases(c, biller_id), "has_more": False})


@api.get("/public-services", summary="Public-service payments by category, town and channel (operator)")
def figures(
    start: dt.date | None = None,
    end: dt.date | None = None,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response(service.public_service_figures(c, start=start, end=end))


@api.get("/receipts/{receipt_no}/verify", summary="Is this receipt genuine and unaltered? (public)")
def verify_receipt(receipt_no: str, sig: str | None = None, db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(service.verify_receipt(c, receipt_no, sig))


@api.get("/receipts/public-key", summary="The platform's receipt-signing public key (Ed25519, PEM)")
def receipt_key() -> Response:
    return json_response(
        {"object": "receipt_key", "key_id": receipts.KEY_ID, "pem": receipts.public_key_pem()}
    )


# ---------------------------------------------------------------- the payer's pages


def _public_page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    from zhifu.console.service import channel_label
    from zhifu.web.templating import request_language

    lang = request_language(request)
    base: dict[str, Any] = {
        "csrf_token": "",
        "user": None,
        "nav_items": [],
        "path": request.url.path,
        "channel_label": lambda c: channel_label(c, lang),
    }
    response = get_templates().TemplateResponse(request, template, {**base, **ctx}, status_code=status)
    for name, value in console.SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@public.get("/pay/bills")
def payer_find(request: Request, biller: str = "", account: str = "") -> Response:
    db: Database = request.app.state.db
    ctx: dict[str, Any] = {"biller_id": biller, "account": account, "found": None, "error": None}
    with db.read() as c:
        ctx["billers"] = service.list_billers(c)
        if biller and account:
            try:
                ctx["found"] = service.present(c, biller, account)
            except ZhifuError as exc:
                ctx["error"] = exc.message
    return _public_page(request, "bills/pay.html", ctx, 200 if ctx["error"] is None else 404)


@public.post("/pay/bills")
def payer_pay(
    request: Request,
    biller: str = Form(...),
    account: str = Form(...),
    bill_id: str = Form(""),
    amount: str = Form(""),
    channel: str = Form("unionpay_qr"),
    phone: str = Form(""),
) -> Response:
    from zhifu.core.money import parse_yuan

    db: Database = request.app.state.db
    try:
        amount_fen = parse_yuan(amount, param="amount_fen") if amount else None
        out = service.pay(
            db,
            service.PayBillIn(
                biller_id=biller,
                account_no=account,
                bill_id=bill_id or None,
                amount_fen=amount_fen,
                channel=channel,
                payer_phone=phone or None,
                via="phone",
            ),
        )
    except ZhifuError as exc:
        with db.read() as c:
            found = None
            try:
                found = service.present(c, biller, account)
            except ZhifuError:
                pass
            billers = service.list_billers(c)
        return _public_page(
            request,
            "bills/pay.html",
            {
                "biller_id": biller,
                "account": account,
                "found": found,
                "error": exc.message,
                "param": exc.param,
                "billers": billers,
            },
            400,
        )
    code_url = out["payment"]["code_url"]
    return _public_page(
        request, "bills/paying.html", {"out": out, "qr": receipts.qr_svg(code_url) if code_url else ""}
    )


def _history_page(request: Request, ctx: dict[str, Any], status: int = 200) -> Response:
    base: dict[str, Any] = {
        "step": "phone",
        "phone": "",
        "error": None,
        "param": None,
        "sent": None,
        "history": None,
        "me": None,
    }
    base["simulator"] = _simulator()
    return _public_page(request, "bills/history.html", {**base, **ctx}, status)


def _simulator() -> bool:
    from zhifu.core.config import get_settings

    return get_settings().simulator


@public.get("/pay/history")
def payer_history(request: Request) -> Response:
    """My payments by phone number: the phone proven by a one-time code first (a signed session after that)."""
    db: Database = request.app.state.db
    try:
        idx, masked = payer_auth.read_session(request.cookies.get(payer_auth.SESSION_COOKIE))
    except ZhifuError:
        return _history_page(request, {})
    with db.read() as c:
        h = payer_auth.history(c, idx)
    return _history_page(request, {"step": "history", "history": h, "me": masked})


@public.post("/pay/history/code")
def payer_history_code(request: Request, phone: str = Form("")) -> Response:
    db: Database = request.app.state.db
    ip = request.client.host if request.client else ""
    try:
        sent = db.run(lambda c: payer_auth.request_code(c, phone, ip))
    except ZhifuError as exc:
        return _history_page(
            request, {"phone": phone, "error": exc.message, "param": exc.param}, exc.http_status
        )
    return _history_page(request, {"step": "code", "phone": phone.strip(), "sent": sent})


@public.post("/pay/history/verify")
def payer_history_verify(request: Request, phone: str = Form(""), code: str = Form("")) -> Response:
    from fastapi.responses import RedirectResponse

    db: Database = request.app.state.db
    try:
        token = payer_auth.verify(db, phone, code)
    except ZhifuError as exc:
        step = (
            "phone"
            if exc.code in ("code_expired", "code_locked", "code_missing", "invalid_phone")
            else "code"
        )
        return _history_page(
            request,
            {"step": step, "phone": phone.strip(), "error": exc.message, "param": exc.param},
            exc.http_status,
        )
    out = RedirectResponse("/pay/history", status_code=303)
    out.set_cookie(
        payer_auth.SESSION_COOKIE,
        token,
        max_age=int(payer_auth.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        path="/pay",
        secure=request.url.scheme == "https",
    )
    return out


@public.post("/pay/history/logout")
def payer_history_logout() -> Response:
    from fastapi.responses import RedirectResponse

    out = RedirectResponse("/pay/history", status_code=303)
    out.delete_cookie(payer_auth.SESSION_COOKIE, path="/pay")
    return out


@public.get("/pay/sms-outbox")
def sms_outbox(request: Request) -> Response:
    """The simulator's SMS gateway as a page (the demo's payers read their codes here); absent otherwise."""
    if not _simulator():
        raise NotFound("no such page")
    return _public_page(request, "bills/outbox.html", {"messages": payer_auth.OUTBOX.recent()})


@public.get("/receipts/{receipt_no}")
def receipt_page(request: Request, receipt_no: str, sig: str | None = None) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        v = service.verify_receipt(c, receipt_no, sig)
    qr = receipts.qr_svg(v["receipt"]["verify_url"]) if v["genuine"] else ""
    return _public_page(request, "bills/receipt.html", {"v": v, "qr": qr}, 200 if v["genuine"] else 404)


@public.get("/receipts/{receipt_no}/pdf")
def receipt_pdf(receipt_no: str, request: Request) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        r = service.get_receipt(c, receipt_no)
    return Response(
        receipts.pdf(r),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{receipt_no}.pdf"'},
    )


# ---------------------------------------------------------------- the biller's console


def _own(user: User) -> str:
    if not user.biller_id:
        raise PermissionDenied("no biller on this account", code="forbidden")
    return user.biller_id


@pages.get("/console/biller")
def biller_home(request: Request, user: User = Depends(_biller_user)) -> Response:
    return _biller_page(request, user)


def _biller_page(request: Request, user: User, **extra: Any) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        ov = service.biller_overview(c, _own(user))
        sett = service.list_settlements(c, _own(user))[:10]
        open_cases = service.list_cases(c, _own(user))[:50]
        lines = service.find_lines(c, _own(user), q=extra.pop("q", ""), limit=20)
    return console.page(
        request,
        "bills/biller_home.html",
        {
            "ov": ov,
            "settlements": sett,
            "cases": open_cases,
            "lines": lines,
            "report": None,
            "error": None,
            "faults": [],
            **extra,
        },
        status=400 if extra.get("error") else 200,
        active="/console/biller",
    )


@pages.post("/console/biller/bills")
async def biller_upload(request: Request, file: UploadFile, user: User = Depends(_biller_user)) -> Response:
    data = await file.read(FILE_BYTES_MAX + 1)
    db: Database = request.app.state.db
    try:
        report = db.run(lambda c: service.import_bills(c, _own(user), data, filename=file.filename or ""))
    except BillFileRefused as exc:
        return _biller_page(request, user, error=exc.message, faults=exc.faults)
    except ZhifuError as exc:
        return _biller_page(request, user, error=exc.message)
    return _biller_page(request, user, report=report)


@pages.post("/console/biller/returns")
async def biller_return(
    request: Request, file: UploadFile, date: str = Form(...), user: User = Depends(_biller_user)
) -> Response:
    data = await file.read(FILE_BYTES_MAX + 1)
    db: Database = request.app.state.db
    try:
        out = db.run(lambda c: service.import_return_file(c, _own(user), _date(date), data))
    except ZhifuError as exc:
        return _biller_page(request, user, error=exc.message)
    return _biller_page(request, user, return_report=out)


def _refunds_page(request: Request, user: User, biller_id: str, **extra: Any) -> Response:
    """One page for the biller's users and the operator: propose, and decide what another proposed."""
    db: Database = request.app.state.db
    with db.read() as c:
        biller = service.get_biller(c, biller_id)
        pending = refunds.list_requests(c, biller_id, status=refunds.PENDING)
        decided = [r for r in refunds.list_requests(c, biller_id, limit=30) if r["status"] != refunds.PENDING]
        lines = service.find_lines(c, biller_id, q=extra.pop("q", ""), limit=20)
    error = extra.get("error")
    base = (
        "/console/biller/refunds"
        if user.role == "biller"
        else f"/console/operator/billers/{biller_id}/refunds"
    )
    return console.page(
        request,
        "bills/refunds.html",
        {
            "biller": biller,
            "base": base,
            "pending": pending,
            "decided": decided,
            "lines": lines,
            "labels": refunds.STATUS_LABELS,
            "error": None,
            "param": None,
            "values": {},
            "done": None,
            "failed_id": None,
            **extra,
        },
        status=400 if error else 200,
        active="/console/biller/refunds" if user.role == "biller" else "/console/operator/billers",
    )


def _propose(request: Request, user: User, biller_id: str, payment_id: str, reason: str) -> Response:
    db: Database = request.app.state.db
    try:
        out = db.run(
            lambda c: refunds.propose(
                c, biller_id, payment_id, reason=reason, by=user.username, role=user.role
            )
        )
    except ZhifuError as exc:
        return _refunds_page(
            request,
            user,
            biller_id,
            error=exc.message,
            param=exc.param,
            values={"payment_id": payment_id, "reason": reason},
        )
    return _refunds_page(request, user, biller_id, done=("proposed", out))


def _decide(
    request: Request, user: User, biller_id: str, request_id: str, decision: str, note: str
) -> Response:
    db: Database = request.app.state.db
    if decision not in ("approve", "reject"):
        raise NotFound(f"no action {decision}")
    try:
        out = db.run(
            lambda c: refunds.decide(
                c,
                biller_id,
                request_id,
                approve=decision == "approve",
                by=user.username,
                role=user.role,
                note=note,
            )
        )
    except ZhifuError as exc:
        return _refunds_page(
            request, user, biller_id, error=exc.message, param=exc.param, failed_id=request_id
        )
    return _refunds_page(request, user, biller_id, done=(out["status"], out))


@pages.get("/console/biller/refunds")
def biller_refunds(request: Request, user: User = Depends(_biller_user), q: str = "") -> Response:
    return _refunds_page(request, user, _own(user), q=q.strip())


@pages.post("/console/biller/refunds")
def biller_refund(
    request: Request,
    payment_id: str = Form(""),
    reason: str = Form(""),
    user: User = Depends(_biller_user),
) -> Response:
    """The maker's form: a request to refund, which another user of the biller (or an operator) decides."""
    return _propose(request, user, _own(user), payment_id, reason)


@pages.post("/console/biller/refunds/{request_id}/{decision}")
def biller_refund_decide(
    request: Request,
    request_id: str,
    decision: str,
    note: str = Form(""),
    user: User = Depends(_biller_user),
) -> Response:
    """The checker's buttons: approve (the refund is made, the receipt reissued) or reject with a note."""
    return _decide(request, user, _own(user), request_id, decision, note)


@pages.get("/console/operator/billers/{biller_id}/refunds")
def operator_refunds(
    request: Request, biller_id: str, user: User = Depends(_operator), q: str = ""
) -> Response:
    return _refunds_page(request, user, biller_id, q=q.strip())


@pages.post("/console/operator/billers/{biller_id}/refunds")
def operator_refund(
    request: Request,
    biller_id: str,
    payment_id: str = Form(""),
    reason: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    return _propose(request, user, biller_id, payment_id, reason)


@pages.post("/console/operator/billers/{biller_id}/refunds/{request_id}/{decision}")
def operator_refund_decide(
    request: Request,
    biller_id: str,
    request_id: str,
    decision: str,
    note: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    return _decide(request, user, biller_id, request_id, decision, note)


@pages.get("/console/biller/files/{date}/{fmt}")
def biller_file(request: Request, date: str, fmt: str, user: User = Depends(_biller_user)) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        data, name = service.payment_file(c, _own(user), _date(date), fmt)
    media = CSV if fmt == "csv" else "text/plain; charset=gbk"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- the operator's console


@pages.get("/console/operator/billers")
def operator_billers(request: Request, user: User = Depends(_operator), settled: str = "") -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        rows = service.list_billers(c)
        figs = service.public_service_figures(c)
        open_cases = service.list_cases(c)[:50]
    return console.page(
        request,
        "bills/operator_billers.html",
        {"rows": rows, "f": figs, "cases": open_cases, "settled": settled},
    )


@pages.post("/console/operator/billers/{biller_id}/settle")
def operator_settle(
    request: Request, biller_id: str, date: str = Form(...), user: User = Depends(_operator)
) -> Response:
    db: Database = request.app.state.db
    out = db.run(lambda c: service.settle(c, biller_id, _date(date)))
    return console.page(request, "bills/settled.html", {"s": out})


# ---------------------------------------------------------------- the regulator's page


@pages.get("/console/regulator/public-services")
def regulator_figures(
    request: Request,
    start: str = "",
    end: str = "",
    town: str = "",
    channel: str = "",
    category: str = "",
    institution: str = "",
    user: User = Depends(_regulator),
) -> Response:
    """Public-service payments by category, town and channel, over business dates (default: this month),
    restricted to a town, a channel and a category when chosen (the dashboard's filters)."""
    from zhifu.channels import REGISTRY
    from zhifu.core import clock
    from zhifu.merchants import county

    today = service.business_date(clock.now())
    towns = {t.code: t.name for t in county().towns}
    error, param = None, None
    try:
        lo = _date(start, "start") if start else today.replace(day=1)
        hi = _date(end, "end") if end else today
        if lo > hi:
            raise InvalidRequest("起始日期晚于截止日期 / start must not be after end", param="start")
        if town and town not in towns:
            raise InvalidRequest(f"没有乡镇 {town} / town: unknown {town!r}", param="town")
        if channel and channel not in REGISTRY:
            raise InvalidRequest(f"没有渠道 {channel} / channel: unknown {channel!r}", param="channel")
        if category and category not in service.CATEGORY_LABELS:
            raise InvalidRequest(f"没有类别 {category} / category: unknown {category!r}", param="category")
    except InvalidRequest as exc:
        lo, hi, error, param = today.replace(day=1), today, exc.message, exc.param
        town = channel = category = ""
    db: Database = request.app.state.db
    with db.read() as c:
        figs = service.public_service_figures(
            c,
            start=lo,
            end=hi,
            town=town or None,
            channel=channel or None,
            category=category or None,
            acquirer=institution or None,  # the dashboard's institution: the acquirer serving the biller
        )
    return console.page(
        request,
        "bills/regulator.html",
        {
            "f": figs,
            "start": lo,
            "end": hi,
            "towns": towns,
            "town": town,
            "channel": channel,
            "category": category,
            "institution": institution,
            "channels": list(REGISTRY),
            "categories": service.CATEGORY_LABELS,
            "error": error,
            "param": param,
        },
        status=400 if error else 200,
        active="/console/regulator/public-services",
    )


router.include_router(api)
router.include_router(public)
router.include_router(pages)

# Social insurance contributions and non-tax payment codes: their own module, on this capability's router.
from zhifu.bills.gov_routes import router as _gov_router  # noqa: E402

router.include_router(_gov_router)
