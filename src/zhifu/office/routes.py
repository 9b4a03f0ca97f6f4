"""The programme office over HTTP: the API (/v1/office/…, operator keys; the lender's evidence and credit, issuers'
SME reports; a merchant key downloads its own signed evidence), and the console pages of the office and member
units (/console/regulator/office…), the lender (/console/operator/credit) and the merchant (/console/merchant/credit)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhifu.api.deps import get_db, json_response, loads, merchant_principal, operator_principal, raw_body
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.dates import parse_date
from zhifu.core.errors import InvalidRequest, NotFound, ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal, Principal, county
from zhifu.office import documents, service, signing

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["office"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_regulator = console.role("regulator")
_operator = console.role("operator")
_merchant = console.role("merchant")
BASE: Final = "/console/regulator/office"
LENDER: Final = "/console/operator/credit"
MERCHANT: Final = "/console/merchant/credit"
DECISION_ROWS: Final = 4  # decision lines the meeting form offers; the API takes up to DECISIONS_MAX

console.add_nav("regulator", ((BASE, "工作推进 / Programme office"),), after=1)
console.add_nav(
    "operator", ((LENDER, "流水证明与贷款 / Credit evidence"),), after=len(console.NAV["operator"])
)
console.add_nav(
    "merchant", ((MERCHANT, "经营流水授权 / Share turnover"),), after=len(console.NAV["merchant"])
)


def _db(request: Request) -> Database:
    return request.app.state.db


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate(loads(body) if body else {})
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e.get("loc", ())) or None
        raise InvalidRequest(f"{loc or 'body'}: {e.get('msg', 'invalid')}", param=loc) from None


def _first_error(exc: ValidationError) -> tuple[str, str]:
    e = exc.errors()[0]
    loc = ".".join(str(p) for p in e.get("loc", ()))
    return f"{loc}: {e.get('msg', 'invalid')}", loc


# ---------------------------------------------------------------- API


class CreditBody(service.CreditIn):
    lender: str = Field(max_length=40)


class SmeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[service.SmeItem] = Field(min_length=1, max_length=service.SME_ITEMS_MAX)
    correction: bool = False


@api.get("/office/items", summary="The work items with units, due dates, progress and who is late (operator)")
def api_items(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    service.ensure_loaded(db)
    with db.read() as c:
        return json_response({"object": "list", "data": service.items(c)})


@api.get("/office/items/{number}", summary="One work item with milestones, updates and actions (operator)")
def api_item(
    number: int, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    service.ensure_loaded(db)
    with db.read() as c:
        return json_response(service.item(c, number))


@api.get("/office/meetings", summary="会商 meetings with their decisions as actions (operator)")
def api_meetings(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": service.meetings(c)})


@api.get("/office/circles", summary="Commerce circles and pilot streets with coverage and share (operator)")
def api_circles(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    service.ensure_loaded(db)
    with db.read() as c:
        return json_response({"object": "list", "data": service.circles(c)})


@api.get("/office/figures", summary="The office's dashboard figures for a period (operator)")
def api_figures(
    start: dt.date = Query(...),
    end: dt.date = Query(...),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response(service.kpi_programme_office(c, start, end))


@api.get(
    "/merchants/{merchant_id}/credit-evidence",
    summary="A merchant's turnover evidence for a lender institution, signed; only under the merchant's consent "
    "naming that lender (operator)",
)
def api_evidence(
    merchant_id: str,
    lender: str = Query(..., max_length=40),
    months: int = Query(6),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(
        service.credit_evidence(db, merchant_id, lender, months=months, channel="api", actor=p.key_id)
    )


@api.get(
    "/office/credit-evidence.pdf",
    summary="The merchant's own signed turnover evidence for a lender (merchant)",
)
def api_evidence_pdf(
    lender: str = Query(..., max_length=40),
    months: int = Query(6),
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return _evidence_pdf(db, p.merchant_id, lender, months, p.key_id)


@api.post("/office/credit", summary="Record credit granted on disclosed evidence (operator, for the lender)")
def api_credit(
    body: bytes = Depends(raw_body),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    b = _parse(CreditBody, body)
    req = service.CreditIn(**b.model_dump(exclude={"lender"}))
    return json_response(db.run(lambda c: service.record_credit(c, b.lender, req, actor=p.key_id)))


@api.post("/office/sme-reports", summary="Issuers' 小微企业卡 / 银企通 counts by town and month (operator)")
def api_sme(
    body: bytes = Depends(raw_body),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    b = _parse(SmeBody, body)
    rows = db.run(lambda c: service.submit_sme(c, b.items, submitted_by=p.key_id, correction=b.correction))
    return json_response({"object": "list", "data": rows})


@api.get(
    "/office/evidence-key",
    summary="The public key that signs turnover evidence (PEM)",
    response_class=Response,
    responses={
        200: {"description": "PEM", "content": {"application/x-pem-file": {"schema": {"type": "string"}}}}
    },
)
def api_key(p: Principal = Depends(operator_principal)) -> Response:
    return Response(signing.public_key_pem(), media_type="application/x-pem-file")


def _evidence_pdf(db: Database, merchant_id: str, lender: str, months: int, actor: str) -> Response:
    ev = service.credit_evidence(db, merchant_id, lender, months=months, channel="pdf", actor=actor)
    name = next((i.name for i in county().institutions if i.id == ev["lender"]), ev["lender"])
    data = documents.evidence_pdf(ev, name, signing.public_key_pem())
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="turnover-evidence-{ev["id"]}.pdf"'},
    )


# ---------------------------------------------------------------- the office and member units


def _actor(request: Request, user: User) -> service.Actor:
    with _db(request).read() as c:
        return service.actor_for(c, user)


def _home(request: Request, user: User, *, error: str | None = None, code: int = 200) -> Response:
    db = _db(request)
    service.ensure_loaded(db)
    actor = _actor(request, user)
    with db.read() as c:
        its = service.items(c)
        names = {u["id"]: u["name"] for u in service.units(c)}
        mine = service.reminders(c, unit=None if actor.is_office else actor.unit_id)
        acts = service.actions(c, unit=None if actor.is_office else actor.unit_id, open_only=True)
    return console.page(
        request,
        "office/home.html",
        {
            "items": its,
            "actor": actor,
            "unit_name": names.get(actor.unit_id or "", ""),
            "reminders": mine,
            "actions": acts,
            "error": error,
            "late": sum(bool(i["late"]) for i in its),
        },
        status=code,
        active=BASE,
    )


@pages.get(BASE)
def home(request: Request, user: User = Depends(_regulator)) -> Response:
    return _home(request, user)


def _item_page(
    request: Request,
    user: User,
    number: int,
    *,
    error: str | None = None,
    field: str | None = None,
    done: str = "",
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    db = _db(request)
    service.ensure_loaded(db)
    actor = _actor(request, user)
    with db.read() as c:
        doc = service.item(c, number)
    mine = actor.unit_id in {doc["lead_unit"], *doc["co_units"]}
    return console.page(
        request,
        "office/item.html",
        {
            "it": doc,
            "actor": actor,
            "can_update": mine,
            "figures": service.FIGURES,
            "error": error,
            "error_field": field,
            "done": done[:20],
            "form": form or {},
            "statuses": service.ITEM_STATUSES,
        },
        status=code,
        active=BASE,
    )


@pages.get(BASE + "/items/{number}")
def item_page(request: Request, number: int, done: str = "", user: User = Depends(_regulator)) -> Response:
    return _item_page(request, user, number, done=done)


@pages.post(BASE + "/items/{number}/updates")
async def item_update(request: Request, number: int, user: User = Depends(_regulator)) -> Response:
    form = await request.form(max_fields=console.FORM_FIELDS_MAX, max_files=0)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    figures = [v for v in form.getlist("figures") if isinstance(v, str)]
    actor = _actor(request, user)
    try:
        pct = fields.get("progress", "0").strip() or "0"
        if not pct.isdigit() or int(pct) > 100:
            raise InvalidRequest("进度须为 0–100 的整数 / progress is a whole number 0–100", param="progress")
        ms = fields.get("milestone", "").strip()
        req = service.UpdateIn(
            text=fields.get("text", ""),
            status=fields.get("status", ""),
            progress_ppm=int(pct) * 10_000,
            figures=figures,
            milestone=int(ms) if ms.isdigit() else None,
        )
        _db(request).run(lambda c: service.post_update(c, actor, number, req))
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _item_page(
            request,
            user,
            number,
            error="请填写进展说明 / " + msg if loc == "text" else msg,
            field=loc,
            form=fields,
            code=400,
        )
    except NotFound:
        raise
    except ZhifuError as exc:
        return _item_page(
            request, user, number, error=exc.message, field=exc.param, form=fields, code=exc.http_status
        )
    return console._redirect(request, f"{BASE}/items/{number}?done=update")  # noqa: SLF001


@pages.post(BASE + "/items/{number}")
def item_change(
    request: Request,
    number: int,
    due: str = Form(""),
    milestone_title: str = Form(""),
    milestone_due: str = Form(""),
    user: User = Depends(_regulator),
) -> Response:
    actor = _actor(request, user)
    try:
        d = _date(due, "due") if due else None
        md = _date(milestone_due, "milestone_due") if milestone_due else None
        _db(request).run(
            lambda c: service.set_item(
                c, actor, number, due=d, milestone_title=milestone_title.strip() or None, milestone_due=md
            )
        )
    except NotFound:
        raise
    except ZhifuError as exc:
        return _item_page(request, user, number, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{BASE}/items/{number}?done=changed")  # noqa: SLF001


@pages.get(BASE + "/attachments/{update_id}/{seq}")
def item_attachment(request: Request, update_id: str, seq: int, user: User = Depends(_regulator)) -> Response:
    with _db(request).read() as c:
        data, ctype, name = service.attachment(c, update_id[:32], seq)
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


def _date(value: str, param: str) -> dt.date:
    return parse_date(value, param)


@pages.post(BASE + "/actions/{action_id}/done")
def action_done(
    request: Request, action_id: str, note: str = Form(""), user: User = Depends(_regulator)
) -> Response:
    actor = _actor(request, user)
    try:
        _db(request).run(lambda c: service.complete_action(c, actor, action_id[:32], note[:500]))
    except NotFound:
        raise
    except ZhifuError as exc:
        return _home(request, user, error=exc.message, code=exc.http_status)
    return console._redirect(request, BASE)  # noqa: SLF001


# ---------------------------------------------------------------- 会商


def _meetings_page(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    field: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    db = _db(request)
    service.ensure_loaded(db)
    actor = _actor(request, user)
    with db.read() as c:
        ms = service.meetings(c)
        us = service.units(c)
        its = service.items(c)
    return console.page(
        request,
        "office/meetings.html",
        {
            "meetings": ms,
            "units": us,
            "items": its,
            "actor": actor,
            "rows": range(DECISION_ROWS),
            "error": error,
            "error_field": field,
            "form": form or {},
        },
        status=code,
        active=BASE,
    )


@pages.get(BASE + "/meetings")
def meetings_page(request: Request, user: User = Depends(_regulator)) -> Response:
    return _meetings_page(request, user)


@pages.post(BASE + "/meetings")
async def meeting_create(request: Request, user: User = Depends(_regulator)) -> Response:
    form = await request.form(max_fields=console.FORM_FIELDS_MAX, max_files=0)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    present = [v for v in form.getlist("units_present") if isinstance(v, str)]
    actor = _actor(request, user)
    try:
        decisions = []
        for i in range(DECISION_ROWS):
            text = fields.get(f"decision_{i}", "").strip()
            if not text:
                continue
            due = fields.get(f"due_{i}", "").strip()
            item_no = fields.get(f"item_{i}", "")
            decisions.append(
                service.DecisionIn(
                    item=int(item_no) if item_no.isdigit() else 0,
                    decision=text,
                    owner=fields.get(f"owner_{i}", ""),
                    due=_date(due, f"decisions.{len(decisions)}.due") if due else None,
                )
            )
        if not fields.get("held_on", "").strip():
            raise InvalidRequest("请填写会商日期 / the meeting needs a date", param="held_on")
        req = service.MeetingIn(
            held_on=_date(fields["held_on"], "held_on"),
            title=fields.get("title", ""),
            units_present=present,
            problems=fields.get("problems", ""),
            decisions=decisions,
        )
        doc = _db(request).run(lambda c: service.record_meeting(c, actor, req))
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _meetings_page(request, user, error=msg, field=loc, form=fields, code=400)
    except ZhifuError as exc:
        return _meetings_page(
            request, user, error=exc.message, field=exc.param, form=fields, code=exc.http_status
        )
    return console._redirect(request, f"{BASE}/meetings#{doc['id']}")  # noqa: SLF001


@pages.get(BASE + "/meetings/{meeting_id}/minutes.pdf")
def minutes(request: Request, meeting_id: str, user: User = Depends(_regulator)) -> Response:
    with _db(request).read() as c:
        doc = service.meeting(c, meeting_id[:32])
        titles = {i["number"]: i["title"] for i in service.items(c)}
    prog = county().programme
    data = documents.minutes_pdf(doc, prog.document if prog else "", titles)
    return console._finish(
        request,
        Response(
            data,
            media_type="application/pdf",
            headers={  # noqa: SLF001
                "Content-Disposition": f'attachment; filename="minutes-{doc["held_on"]}-{doc["id"]}.pdf"'
            },
        ),
    )


# ---------------------------------------------------------------- training and publicity


def _training_page(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    field: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    db = _db(request)
    actor = _actor(request, user)
    with db.read() as c:
        figs = service.training_figures(c)
        ts = service.trainings(c)
        pubs = service.publicity(c)
    return console.page(
        request,
        "office/training.html",
        {
            "f": figs,
            "trainings": ts,
            "publicity": pubs,
            "actor": actor,
            "towns": county().towns,
            "institutions": county().institutions,
            "kinds": service.PUBLICITY_KINDS,
            "error": error,
            "error_field": field,
            "form": form or {},
            "pct": _pct,
        },
        status=code,
        active=BASE,
    )


def _pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm / 10_000:.1f}%"


@pages.get(BASE + "/training")
def training_page(request: Request, user: User = Depends(_regulator)) -> Response:
    return _training_page(request, user)


def _attendees(text: str) -> list[service.AttendeeIn]:
    """One shop a line: `mch_… [cashiers]`; the line is named when it is wrong."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.replace(",", " ").replace("，", " ").split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise InvalidRequest(
                f"参训名单第 {n} 行应为「商户号 人数」/ line {n}: `merchant_id cashiers`", param="attendees"
            )
        try:
            out.append(
                service.AttendeeIn(merchant_id=parts[0], cashiers=int(parts[1]) if len(parts) == 2 else 1)
            )
        except ValidationError:
            raise InvalidRequest(
                f"参训名单第 {n} 行有误 / line {n} is not a merchant and 1–100 cashiers", param="attendees"
            ) from None
    return out


@pages.post(BASE + "/training")
def training_create(
    request: Request,
    held_on: str = Form(""),
    town_code: str = Form(""),
    trainer: str = Form(""),
    topic: str = Form(""),
    attendees: str = Form(""),
    user: User = Depends(_regulator),
) -> Response:
    actor = _actor(request, user)
    form = {
        "held_on": held_on,
        "town_code": town_code,
        "trainer": trainer,
        "topic": topic,
        "attendees": attendees,
    }
    try:
        req = service.TrainingIn(
            held_on=_date(held_on, "held_on"),
            town_code=town_code,
            trainer=trainer,
            topic=topic,
            attendees=_attendees(attendees[:40_000]),
        )
        _db(request).run(lambda c: service.record_training(c, actor, req))
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _training_page(request, user, error=msg, field=loc, form=form, code=400)
    except ZhifuError as exc:
        return _training_page(
            request, user, error=exc.message, field=exc.param, form=form, code=exc.http_status
        )
    return console._redirect(request, f"{BASE}/training")  # noqa: SLF001


@pages.post(BASE + "/publicity")
def publicity_create(
    request: Request,
    held_on: str = Form(""),
    town_code: str = Form(""),
    kind: str = Form(""),
    title: str = Form(""),
    reach: str = Form(""),
    user: User = Depends(_regulator),
) -> Response:
    actor = _actor(request, user)
    try:
        if not reach.strip().isdigit():
            raise InvalidRequest("覆盖人次须为整数 / reach is a whole number", param="reach")
        req = service.PublicityIn(
            held_on=_date(held_on, "held_on"),
            town_code=town_code or None,
            kind=kind,
            title=title,
            reach=int(reach),
        )
        _db(request).run(lambda c: service.record_publicity(c, actor, req))
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _training_page(request, user, error=msg, field=loc, code=400)
    except ZhifuError as exc:
        return _training_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{BASE}/training")  # noqa: SLF001


# ---------------------------------------------------------------- commerce circles and pilot streets


def _circles_page(
    request: Request, user: User, *, error: str | None = None, field: str | None = None, code: int = 200
) -> Response:
    db = _db(request)
    service.ensure_loaded(db)
    actor = _actor(request, user)
    with db.read() as c:
        cs = service.circles(c)
        deadline = service.pilot_deadline(c)
        by_deadline = service.circle_counts(c, deadline) if deadline else None
    return console.page(
        request,
        "office/circles.html",
        {
            "circles": cs,
            "actor": actor,
            "deadline": deadline,
            "by_deadline": by_deadline,
            "target": service.CIRCLES_TARGET,
            "towns": county().towns,
            "institutions": county().institutions,
            "error": error,
            "error_field": field,
            "pct": _pct,
        },
        status=code,
        active=BASE,
    )


@pages.get(BASE + "/circles")
def circles_page(request: Request, user: User = Depends(_regulator)) -> Response:
    return _circles_page(request, user)


@pages.post(BASE + "/circles")
def circle_save(
    request: Request,
    id: str = Form(""),
    name: str = Form(""),
    kind: str = Form("circle"),
    town_code: str = Form(""),
    lead_institution: str = Form(""),
    area: str = Form(""),
    launch_date: str = Form(""),
    end_date: str = Form(""),
    user: User = Depends(_regulator),
) -> Response:
    actor = _actor(request, user)
    try:
        req = service.CircleIn(
            id=id.strip(),
            name=name,
            kind=kind,
            town_code=town_code,
            lead_institution=lead_institution,
            area=area,
            launch_date=_date(launch_date, "launch_date") if launch_date else None,
            end_date=_date(end_date, "end_date") if end_date else None,
        )
        _db(request).run(lambda c: service.save_circle(c, actor, req))
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _circles_page(request, user, error=msg, field=loc, code=400)
    except ZhifuError as exc:
        return _circles_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{BASE}/circles")  # noqa: SLF001


@pages.post(BASE + "/circles/{circle_id}/{action}")
def circle_action(
    request: Request,
    circle_id: str,
    action: str,
    launch_date: str = Form(""),
    merchant_ids: str = Form(""),
    by_address: str = Form(""),
    user: User = Depends(_regulator),
) -> Response:
    actor = _actor(request, user)
    db = _db(request)
    try:
        if action == "launch":
            d = _date(launch_date, "launch_date")
            db.run(lambda c: service.launch_circle(c, actor, circle_id[:40], d))
        elif action == "merchants":
            ids = [m for m in merchant_ids.replace(",", " ").split() if m][: service.CIRCLE_MERCHANTS_MAX]
            db.run(
                lambda c: service.add_circle_merchants(
                    c, actor, circle_id[:40], ids, by_address=by_address == "1"
                )
            )
        else:
            raise NotFound(f"no action {action}", param="action")
    except NotFound:
        raise
    except ZhifuError as exc:
        return _circles_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{BASE}/circles")  # noqa: SLF001


# ---------------------------------------------------------------- the lender (an acquirer's operator)


def _lender_page(
    request: Request,
    user: User,
    *,
    ev: dict[str, Any] | None = None,
    error: str | None = None,
    field: str | None = None,
    done: str = "",
    merchant_id: str = "",
    code: int = 200,
) -> Response:
    with _db(request).read() as c:
        ds = service.disclosures(c, lender=user.institution_id)
        figs = service.credit_figures(c)
    mine = [x for x in figs["by_lender"] if x["lender"] == user.institution_id]
    return console.page(
        request,
        "office/lender.html",
        {
            "ev": ev,
            "disclosures": ds,
            "mine": mine[0] if mine else None,
            "error": error,
            "error_field": field,
            "done": done,
            "merchant_id": merchant_id,
            "pct": _pct,
        },
        status=code,
        active=LENDER,
    )


@pages.get(LENDER)
def lender_page(request: Request, done: str = "", user: User = Depends(_operator)) -> Response:
    return _lender_page(request, user, done=done[:20])


@pages.post(LENDER + "/evidence")
def lender_evidence(
    request: Request, merchant_id: str = Form(""), months: str = Form("6"), user: User = Depends(_operator)
) -> Response:
    mid = merchant_id.strip()[:32]
    try:
        n = int(months) if months.strip().isdigit() else 0
        ev = service.credit_evidence(
            _db(request), mid, user.institution_id or "", months=n, channel="console", actor=user.username
        )
    except ZhifuError as exc:
        return _lender_page(
            request, user, error=exc.message, field=exc.param, merchant_id=mid, code=exc.http_status
        )
    return _lender_page(request, user, ev=ev, merchant_id=mid)


@pages.post(LENDER + "/credit")
def lender_credit(
    request: Request,
    merchant_id: str = Form(""),
    disclosure_id: str = Form(""),
    amount: str = Form(""),
    term_months: str = Form(""),
    granted_on: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    try:
        req = service.CreditIn(
            merchant_id=merchant_id.strip(),
            disclosure_id=disclosure_id.strip(),
            amount_fen=parse_yuan(amount, param="amount"),
            term_months=int(term_months) if term_months.strip().isdigit() else 0,
            granted_on=_date(granted_on, "granted_on"),
        )
        _db(request).run(
            lambda c: service.record_credit(c, user.institution_id or "", req, actor=user.username)
        )
    except ValidationError as exc:
        msg, loc = _first_error(exc)
        return _lender_page(request, user, error=msg, field=loc, code=400)
    except ZhifuError as exc:
        return _lender_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{LENDER}?done=credit")  # noqa: SLF001


# ---------------------------------------------------------------- the merchant


def _merchant_page(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    field: str | None = None,
    done: str = "",
    code: int = 200,
) -> Response:
    from zhifu.consent import list_for

    with _db(request).read() as c:
        cs = [x for x in list_for(c, "merchant", user.merchant_id or "") if x["purpose"] == "credit_sharing"]
        ds = service.disclosures(c, merchant_id=user.merchant_id)
    lenders = [i for i in county().institutions if {"acquirer", "issuer"} & set(i.roles)]
    names = {i.id: i.name for i in county().institutions}
    return console.page(
        request,
        "office/merchant_credit.html",
        {
            "consents": cs,
            "disclosures": ds,
            "lenders": lenders,
            "names": names,
            "error": error,
            "error_field": field,
            "done": done,
        },
        status=code,
        active=MERCHANT,
    )


@pages.get(MERCHANT)
def merchant_page(request: Request, done: str = "", user: User = Depends(_merchant)) -> Response:
    return _merchant_page(request, user, done=done[:20])


@pages.post(MERCHANT + "/{action}")
def merchant_action(
    request: Request,
    action: str,
    lender: str = Form(""),
    agree: str = Form(""),
    user: User = Depends(_merchant),
) -> Response:
    from zhifu.consent import GrantIn, grant, withdraw

    db, mid = _db(request), user.merchant_id or ""
    names = {i.id: i.name for i in county().institutions}
    if action not in ("grant", "withdraw", "evidence.pdf"):
        raise NotFound(f"no action {action}", param="action")
    try:
        lender_id = service._lender(lender)  # noqa: SLF001  (the same check the evidence uses)
        if action == "grant":
            if agree != "yes":
                raise InvalidRequest("请勾选同意 / tick the box to agree", param="agree")
            req = GrantIn(
                subject_type="merchant",
                merchant_id=mid,
                purpose="credit_sharing",
                recipient=lender_id,
                scope=f"向{names[lender_id]}提供近 {service.EVIDENCE_MONTHS_DEFAULT} 个月经营流水（月度收款、"
                "连续性、退款率、开通时长），用于小额贷款审批",
                data_categories=["turnover"],
                method="console",
            )
            db.run(lambda c: grant(c, req))
        elif action == "withdraw":
            db.run(lambda c: withdraw(c, "merchant", mid, "credit_sharing", recipient=lender_id))
        else:
            return console._finish(
                request,
                _evidence_pdf(
                    db,
                    mid,
                    lender_id,
                    service.EVIDENCE_MONTHS_DEFAULT,  # noqa: SLF001
                    user.username,
                ),
            )
    except NotFound as exc:
        return _merchant_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    except ZhifuError as exc:
        return _merchant_page(request, user, error=exc.message, field=exc.param, code=exc.http_status)
    return console._redirect(request, f"{MERCHANT}?done={action}")  # noqa: SLF001


router.include_router(api)
router.include_router(pages)
