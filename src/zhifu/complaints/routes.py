"""投诉 over HTTP: the public phone-first page (/complain, no login, one-time code), the API (/v1/complaints),
the handlers' workbench (/console/complaints) and the regulator's page (/console/regulator/complaints)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from zhifu.api.deps import (
    get_db,
    json_response,
    loads,
    operator_principal,
    principal,
    raw_body,
    run_idempotent,
)
from zhifu.complaints import service
from zhifu.complaints.models import OUTCOMES
from zhifu.complaints.sms import sender
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.db import Database
from zhifu.merchants import Principal, county

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["complaints"])
public = APIRouter(include_in_schema=False)
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_handler = console.role("complaints")
_regulator = console.role("regulator")
PUBLIC_CSRF_COOKIE: Final = "zhifu_complain_csrf"
DESK: Final = "/console/complaints"
REG: Final = "/console/regulator/complaints"
UPLOAD_FILES_MAX: Final = service.ATTACHMENTS_MAX


def _db(request: Request) -> Database:
    return request.app.state.db


def _deliver(db: Database) -> None:
    """Messages go out after the commit; a failure stays queued for the background pass."""
    service.deliver_messages(db)


# ---------------------------------------------------------------- API


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: str | None = Field(default=None, max_length=40)
    handler: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=service.REASON_CHARS_MAX)
    message: str = Field(default="", max_length=service.REASON_CHARS_MAX)
    days: StrictInt | None = None
    outcome: str | None = None
    decision: str = Field(default="", max_length=service.NARRATIVE_CHARS_MAX)


class ProposalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(max_length=32)
    amount_fen: StrictInt
    note: str = Field(default="", max_length=200)


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate(loads(body) if body else {})
    except ValueError as exc:
        if isinstance(exc, ValidationError) and exc.errors():
            e = exc.errors()[0]
            loc = ".".join(str(p) for p in e.get("loc", ())) or None
            raise InvalidRequest(f"{loc or 'body'}: {e.get('msg', 'invalid')}", param=loc) from None
        raise InvalidRequest("the body is not JSON", param="body") from None


@api.post(
    "/complaints",
    summary="File a complaint (operator key: a phone call or the API; merchant key: the "
    "merchant portal, about its own payments)",
)
def create(
    request: Request,
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
    body: bytes = Depends(raw_body),
    source: str = Query("api"),
) -> Response:
    def run() -> Any:
        req = _parse(service.FileComplaint, body)
        if p.role == "merchant":
            if req.merchant_id not in (None, p.merchant_id):
                raise NotFound(f"no merchant {req.merchant_id}", param="merchant_id")
            req = req.model_copy(update={"merchant_id": p.merchant_id, "external_ref": None})
            src = "merchant_portal"
        else:
            src = source if source in ("api", "phone", "pboc_12363") else "api"
        doc = db.run(lambda c: service.file_complaint(c, req, source=src, actor=p.key_id))
        return doc

    return run_idempotent(request, p, body, run)


@api.get(
    "/complaints", summary="Complaints: open ones by due time, or all newest first (a merchant sees its own)"
)
def list_(
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
    status: str | None = None,
    org: str | None = None,
    open_only: bool = False,
    limit: int = Query(50, ge=1, le=service.PAGE_MAX),
) -> Response:
    with db.read() as c:
        rows = service.list_complaints(
            c, status=status, org=org, merchant_id=p.merchant_id, open_only=open_only, limit=limit
        )
    return json_response({"object": "list", "data": rows})


@api.get(
    "/complaints/stats", summary="Statistics and timeliness for complaints received start..end (operator)"
)
def stats(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    start: dt.date = Query(...),
    end: dt.date = Query(...),
) -> Response:
    with db.read() as c:
        return json_response(service.stats(c, start, end))


@api.get("/complaints/signals", summary="Merchants with repeated money complaints, for risk (operator)")
def signals(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": service.merchant_signals(c)})


@api.get(
    "/complaints/export",
    summary="CFPB-style CSV; narratives only with consent (operator)",
    responses={
        200: {
            "description": "The complaints of the period as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    start: dt.date = Query(...),
    end: dt.date = Query(...),
) -> Response:
    with db.read() as c:
        data = service.export_csv(c, start, end)
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="complaints-{start}-{end}.csv"'},
    )


@api.get("/complaints/{complaint_id}", summary="A complaint with its timeline and linked payments")
def get(complaint_id: str, p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        doc = service.get_complaint(c, complaint_id, merchant_id=p.merchant_id)
        if p.role == "operator":
            doc["payments"] = service.payment_history(c, complaint_id)
    return json_response(doc)


def _act(db: Database, p: Principal, complaint_id: str, action: str, b: ActionBody) -> Any:
    actor = p.key_id
    if action == "assign":
        return db.run(
            lambda c: service.assign(
                c, complaint_id, b.org or "", actor=actor, reason=b.reason, handler=b.handler
            )
        )
    if action == "respond":
        return db.run(lambda c: service.respond(c, complaint_id, b.message, actor=actor))
    if action == "extend":
        if b.days is None:
            raise InvalidRequest("days is required", param="days")
        return db.run(lambda c: service.extend(c, complaint_id, b.days, b.reason, actor=actor))  # type: ignore[arg-type]
    if action == "escalate":
        return db.run(lambda c: service.escalate(c, complaint_id, b.reason, actor=actor))
    if action == "decide":
        return db.run(lambda c: service.decide(c, complaint_id, b.outcome or "", b.decision, actor=actor))[0]
    raise NotFound(f"no action {action}", param="action")


@api.post(
    "/complaints/{complaint_id}/{action}", summary="assign · respond · extend · escalate · decide (operator)"
)
def act(
    complaint_id: str,
    action: str,
    request: Request,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    body: bytes = Depends(raw_body),
) -> Response:
    def run() -> Any:
        doc = _act(db, p, complaint_id, action, _parse(ActionBody, body))
        _deliver(db)
        return doc

    return run_idempotent(request, p, body, run)


@api.post(
    "/complaints/{complaint_id}/refund_proposals",
    summary="Propose a refund of a linked payment (operator, the maker)",
)
def propose(
    complaint_id: str,
    request: Request,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    body: bytes = Depends(raw_body),
) -> Response:
    def run() -> Any:
        b = _parse(ProposalBody, body)
        return db.run(
            lambda c: service.propose_refund(
                c, complaint_id, b.payment_id, b.amount_fen, actor=p.key_id, note=b.note
            )
        )

    return run_idempotent(request, p, body, run)


@api.post(
    "/complaints/{complaint_id}/refund_proposals/{seq}/{decision}",
    summary="approve · reject a refund proposal (operator; the checker must be another key)",
)
def decide_proposal(
    complaint_id: str,
    seq: int,
    decision: str,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    if decision == "approve":
        return json_response(db.run(lambda c: service.approve_refund(c, complaint_id, seq, actor=p.key_id)))
    if decision == "reject":
        return json_response(db.run(lambda c: service.reject_refund(c, complaint_id, seq, actor=p.key_id)))
    raise NotFound(f"no decision {decision}", param="decision")


# ---------------------------------------------------------------- the public page (no login)


def _public_page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    token = request.cookies.get(PUBLIC_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = console.page(
        request,
        template,
        {
            "csrf_token": token,
            "categories": service.CATEGORY_LABELS,
            "max_mb": service.ATTACHMENT_BYTES_MAX // (1024 * 1024),
            "error": None,
            "error_field": None,
            "thanks": False,
            "token": "",
            **ctx,
        },
        status=status,
    )
    response.set_cookie(
        PUBLIC_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/complain", max_age=3600
    )
    return response


def _public_csrf(request: Request, sent: str) -> None:
    expected = request.cookies.get(PUBLIC_CSRF_COOKIE)
    if not expected or not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDenied(
            "页面已过期，请刷新后重试 / the page expired; reload it and try again", param="csrf_token"
        )


@public.get("/complain")
def complain_form(request: Request, payment_id: str = "", merchant_id: str = "") -> Response:
    return _public_page(
        request,
        "complaints/public.html",
        {"form": {"payment_id": payment_id[:32], "merchant_id": merchant_id[:32]}},
    )


@public.post("/complain/code")
def complain_code(request: Request, phone: str = Form(""), csrf_token: str = Form("")) -> Response:
    """Send a one-time code to the phone (the SMS sender; the demo writes it to the server log)."""
    try:
        _public_csrf(request, csrf_token)
        code = _db(request).run(lambda c: service.request_code(c, phone))
    except ZhifuError as exc:
        return json_response({"error": exc.to_dict()}, exc.http_status)
    try:
        sender().send(phone.strip(), f"【智付】您的投诉验证码为 {code}，10 分钟内有效。")
    except Exception:  # the code exists; the person asks again
        return json_response(
            {
                "error": {
                    "type": "api_error",
                    "code": "sms_failed",
                    "param": "phone",
                    "message": "短信发送失败，请稍后再试 / the text could not be sent; try again",
                }
            },
            502,
        )
    return json_response({"sent": True, "expires_in_s": service.OTP_TTL_S})


@public.post("/complain")
async def complain_submit(request: Request) -> Response:
    form = await request.form(max_fields=30, max_files=UPLOAD_FILES_MAX)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    uploads = [
        f for f in form.getlist("attachments") if not isinstance(f, str) and getattr(f, "filename", "")
    ]
    files: list[tuple[str, str, bytes]] = []
    try:
        _public_csrf(request, fields.get("csrf_token", ""))
        for f in uploads:
            data = await f.read(service.ATTACHMENT_BYTES_MAX + 1)
            files.append((f.filename or "attachment", f.content_type or "", data))
        claimed = fields.get("claimed", "").strip()
        req = service.FileComplaint(
            phone=fields.get("phone", ""),
            category=fields.get("category", ""),
            narrative=fields.get("narrative", ""),
            narrative_consent=fields.get("consent") == "yes",
            payment_id=fields.get("payment_id", "").strip() or None,
            merchant_id=fields.get("merchant_id", "").strip() or None,
            claimed_fen=parse_yuan(claimed, param="claimed") if claimed else None,
        )
        if req.payment_id and req.merchant_id:
            req = req.model_copy(update={"merchant_id": None})
        doc = service.file_verified(_db(request), req, fields.get("code", ""), attachments=files)
    except ValidationError as exc:
        e = exc.errors()[0]
        return _public_page(
            request,
            "complaints/public.html",
            {"form": fields, "error": str(e.get("msg")), "error_field": ".".join(map(str, e["loc"]))},
            400,
        )
    except ZhifuError as exc:
        return _public_page(
            request,
            "complaints/public.html",
            {"form": fields, "error": exc.message, "error_field": exc.param},
            exc.http_status,
        )
    return _public_page(request, "complaints/public_done.html", {"c": doc})


@public.get("/complain/rate/{token}")
def rate_form(request: Request, token: str) -> Response:
    try:
        with _db(request).read() as c:
            doc = service.outcome_for_token(c, token[:64])
    except NotFound as exc:
        return _public_page(request, "complaints/public_rate.html", {"c": None, "error": exc.message}, 404)
    return _public_page(request, "complaints/public_rate.html", {"c": doc, "token": token})


@public.post("/complain/rate/{token}")
def rate_submit(
    request: Request, token: str, rating: str = Form(""), comment: str = Form(""), csrf_token: str = Form("")
) -> Response:
    try:
        _public_csrf(request, csrf_token)
        value = int(rating) if rating.isdigit() else 0
        doc = _db(request).run(lambda c: service.rate(c, token[:64], value, comment[:200]))
    except ZhifuError as exc:
        with _db(request).read() as c:
            try:
                current = service.outcome_for_token(c, token[:64])
            except NotFound:
                current = None
        return _public_page(
            request,
            "complaints/public_rate.html",
            {"c": current, "token": token, "error": exc.message},
            exc.http_status,
        )
    return _public_page(request, "complaints/public_rate.html", {"c": doc, "token": token, "thanks": True})


# ---------------------------------------------------------------- the handlers' workbench


def _orgs() -> list[tuple[str, str]]:
    insts = [(i.id, i.name) for i in county().institutions if {"acquirer", "issuer"} & set(i.roles)]
    return [*insts, (service.PLATFORM, "智付平台 / platform"), (service.PBOC, "人民银行县支行 / PBOC office")]


def _queue_page(
    request: Request,
    *,
    status: str = "",
    org: str = "",
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    with _db(request).read() as c:
        rows = service.list_complaints(
            c, status=status or None, org=org or None, open_only=not status, limit=100
        )
    return console.page(
        request,
        "complaints/queue.html",
        {
            "rows": rows,
            "status": status,
            "org": org,
            "orgs": _orgs(),
            "categories": service.CATEGORY_LABELS,
            "error": error,
            "form": form or {},
            "now": clock.now(),
        },
        status=code,
        active=DESK,
    )


@pages.get(DESK)
def queue(request: Request, status: str = "", org: str = "", user: User = Depends(_handler)) -> Response:
    return _queue_page(request, status=status[:12], org=org[:40])


@pages.post(DESK)
def log_call(
    request: Request,
    phone: str = Form(""),
    category: str = Form(""),
    narrative: str = Form(""),
    payment_id: str = Form(""),
    merchant_id: str = Form(""),
    user: User = Depends(_handler),
) -> Response:
    """An operator enters a complaint taken on the telephone."""
    form = {
        "phone": phone[:20],
        "category": category[:40],
        "narrative": narrative[:2000],
        "payment_id": payment_id[:32],
        "merchant_id": merchant_id[:32],
    }
    try:
        req = service.FileComplaint(
            phone=phone,
            category=category,
            narrative=narrative,
            payment_id=payment_id.strip() or None,
            merchant_id=None if payment_id.strip() else (merchant_id.strip() or None),
        )
        doc = _db(request).run(lambda c: service.file_complaint(c, req, source="phone", actor=user.username))
    except ValidationError as exc:
        return _queue_page(request, error=str(exc.errors()[0].get("msg")), form=form, code=400)
    except ZhifuError as exc:
        return _queue_page(request, error=exc.message, form=form, code=exc.http_status)
    return console._redirect(request, f"{DESK}/{quote(doc['id'])}?done=logged")  # noqa: SLF001


def _detail_page(
    request: Request,
    user: User,
    complaint_id: str,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str = "",
    code: int = 200,
) -> Response:
    with _db(request).read() as c:
        doc = service.get_complaint(c, complaint_id)
        history = service.payment_history(c, complaint_id)
    names = dict(_orgs())
    return console.page(
        request,
        "complaints/detail.html",
        {
            "c": doc,
            "history": history,
            "orgs": _orgs(),
            "org_name": names.get(doc["assignee_org"], doc["assignee_org"]),
            "outcomes": OUTCOMES,
            "error": error,
            "error_field": error_field,
            "done": done[:20],
            "base": DESK,
            "can_act": user.role == "complaints",
            "me": user.username,
        },
        status=code,
        active=DESK,
    )


@pages.get(DESK + "/{complaint_id}")
def detail(request: Request, complaint_id: str, done: str = "", user: User = Depends(_handler)) -> Response:
    return _detail_page(request, user, complaint_id, done=done)


@pages.get(DESK + "/{complaint_id}/attachments/{seq}")
def attachment(request: Request, complaint_id: str, seq: int, user: User = Depends(_handler)) -> Response:
    with _db(request).read() as c:
        data, ctype, name = service.get_attachment(c, complaint_id, seq)
    return console._finish(
        request,
        Response(
            data,
            media_type=ctype,
            headers={  # noqa: SLF001
                "Content-Disposition": f'attachment; filename="{quote(name)}"'
            },
        ),
    )


@pages.post(DESK + "/{complaint_id}/{action}")
def desk_action(
    request: Request,
    complaint_id: str,
    action: str,
    org: str = Form(""),
    reason: str = Form(""),
    message: str = Form(""),
    days: str = Form(""),
    outcome: str = Form(""),
    decision: str = Form(""),
    payment_id: str = Form(""),
    amount: str = Form(""),
    seq: str = Form(""),
    user: User = Depends(_handler),
) -> Response:
    db, who = _db(request), user.username
    try:
        if action == "assign":
            db.run(lambda c: service.assign(c, complaint_id, org, actor=who, reason=reason))
        elif action == "respond":
            db.run(lambda c: service.respond(c, complaint_id, message, actor=who))
        elif action == "extend":
            if not days.strip().isdigit():
                raise InvalidRequest(
                    "延期天数须为正整数 / days must be a positive whole number", param="days"
                )
            db.run(lambda c: service.extend(c, complaint_id, int(days), reason, actor=who))
        elif action == "escalate":
            db.run(lambda c: service.escalate(c, complaint_id, reason, actor=who))
        elif action == "decide":
            db.run(lambda c: service.decide(c, complaint_id, outcome, decision, actor=who))
        elif action == "propose":
            amount_fen = parse_yuan(amount, param="amount")
            db.run(
                lambda c: service.propose_refund(
                    c, complaint_id, payment_id, amount_fen, actor=who, note=reason
                )
            )
        elif action in ("approve", "reject"):
            n = int(seq) if seq.isdigit() else 0
            fn = service.approve_refund if action == "approve" else service.reject_refund
            db.run(lambda c: fn(c, complaint_id, n, actor=who))
        else:
            raise NotFound(f"no action {action}", param="action")
    except NotFound:
        raise
    except ZhifuError as exc:
        return _detail_page(
            request, user, complaint_id, error=exc.message, error_field=exc.param, code=exc.http_status
        )
    _deliver(db)
    return console._redirect(request, f"{DESK}/{quote(complaint_id)}?done={action}")  # noqa: SLF001


# ---------------------------------------------------------------- the regulator


def _period(start: str, end: str) -> tuple[dt.date, dt.date]:
    today = clock.now().astimezone(SHANGHAI).date()
    try:
        s = dt.date.fromisoformat(start) if start else today.replace(day=1) - dt.timedelta(days=61)
        e = dt.date.fromisoformat(end) if end else today
    except ValueError:
        raise InvalidRequest("日期格式应为 2024-02-01 / dates look like 2024-02-01", param="start") from None
    if e < s:
        raise InvalidRequest("结束日期早于开始日期 / end is before start", param="end")
    return s, e


def _regulator_page(
    request: Request,
    start: str,
    end: str,
    *,
    error: str | None = None,
    imported: int | None = None,
    text: str = "",
    code: int = 200,
) -> Response:
    s, e = _period(start, end)
    with _db(request).read() as c:
        doc = service.stats(c, s, e)
        escalated = service.list_complaints(c, status="escalated", limit=50)
        recent = service.list_complaints(c, limit=30)
        signals = service.merchant_signals(c)
    return console.page(
        request,
        "complaints/regulator.html",
        {
            "s": doc,
            "start": s,
            "end": e,
            "escalated": escalated,
            "recent": recent,
            "signals": signals,
            "error": error,
            "imported": imported,
            "text": text,
            "pct": _pct,
        },
        status=code,
        active=REG,
    )


def _pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm // 10_000}.{(ppm % 10_000) // 1_000}%"


@pages.get(REG)
def regulator(request: Request, start: str = "", end: str = "", user: User = Depends(_regulator)) -> Response:
    try:
        return _regulator_page(request, start[:10], end[:10])
    except InvalidRequest as exc:
        return _regulator_page(request, "", "", error=exc.message, code=400)


@pages.get(REG + "/export.csv")
def regulator_export(
    request: Request, start: str = "", end: str = "", user: User = Depends(_regulator)
) -> Response:
    s, e = _period(start[:10], end[:10])
    with _db(request).read() as c:
        data = service.export_csv(c, s, e)
    return console._finish(
        request,
        Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={  # noqa: SLF001
                "Content-Disposition": f'attachment; filename="complaints-{s}-{e}.csv"'
            },
        ),
    )


@pages.post(REG + "/import")
def regulator_import(
    request: Request, csv_text: str = Form(""), user: User = Depends(_regulator)
) -> Response:
    """Referrals from the PBOC's 12363 hotline, pasted as CSV (ref_no,received_at,phone,category,narrative,…)."""
    db = _db(request)
    try:
        done = db.run(lambda c: service.import_referrals(c, csv_text.encode("utf-8"), actor=user.username))
    except ZhifuError as exc:
        return _regulator_page(
            request, "", "", error=exc.message, text=csv_text[:20_000], code=exc.http_status
        )
    return _regulator_page(request, "", "", imported=len(done))


@pages.post(REG + "/{complaint_id}/escalate")
def regulator_escalate(
    request: Request, complaint_id: str, reason: str = Form(""), user: User = Depends(_regulator)
) -> Response:
    """The PBOC office takes a complaint over (督办)."""
    try:
        _db(request).run(lambda c: service.escalate(c, complaint_id, reason, actor=user.username))
    except NotFound:
        raise
    except ZhifuError as exc:
        return _regulator_page(request, "", "", error=exc.message, code=exc.http_status)
    return console._redirect(request, REG)  # noqa: SLF001


router.include_router(api)
router.include_router(public)
router.include_router(pages)
