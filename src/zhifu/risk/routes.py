"""风险控制 HTTP / Risk control over HTTP (operator keys): limits, rule sets, lists, alerts, cases; and the console's
risk pages: the regulator's 风险预警 (alerts and cases by town and typology) and the operator's risk cases with
their actions (assign, note, decide, approve)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, operator_principal
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.merchants import service as merchants
from zhifu.risk import limits, service
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1/risk", tags=["risk"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_regulator = console.role("regulator")
_operator = console.role("operator")
REG = "/console/regulator/risk"
OPS = "/console/operator/risk"
console.add_nav("operator", ((OPS, N_("Risk cases")),), after=5)


class LimitChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: int
    effective_on: dt.date
    note: str = Field(default="", max_length=200)


class ListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=200)
    expires_at: dt.datetime | None = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    note: str = Field(default="", max_length=500)


def _who(p: Principal) -> str:
    return f"key:{p.key_id}"


# ---------------------------------------------------------------- JSON


@api.get("/limits", summary="Every limit: value now, default and history")
def get_limits(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": limits.list_limits(c, clock.now())})


@api.post("/limits", summary="Schedule a limit change from a date (today: at once; a past date is refused)")
def post_limit(
    req: LimitChange, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        db.run(
            lambda c: limits.set_limit(
                c, req.key, req.value, req.effective_on, by=_who(p), note=req.note, at=clock.now()
            )
        )
    )


@api.get("/rules", summary="The active rule set and the history of loads")
def get_rules(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        rs = service.active_ruleset(c)
        return json_response(
            {
                "version": rs.version,
                "sha256": rs.sha256,
                "rules": service.describe_rules(rs),
                "history": service.ruleset_history(c),
            }
        )


@api.post("/rules", summary="Load a rule set (YAML body); a bad file is refused naming its line")
async def post_rules(
    request: Request, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    source = (await request.body()).decode("utf-8", errors="replace")
    return json_response(db.run(lambda c: service.load_rules(c, source, by=_who(p), at=clock.now())))


@api.get("/lists", summary="Live list entries")
def get_lists(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": service.list_entries(c, clock.now())})


@api.post("/lists/{name}", summary="Add (or replace) a list entry, with an optional expiry")
def post_list(
    name: str, req: ListEntry, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        db.run(
            lambda c: service.add_to_list(
                c, name, req.value, by=_who(p), reason=req.reason, expires_at=req.expires_at, at=clock.now()
            )
        )
    )


@api.get("/alerts", summary="Alerts, newest first")
def get_alerts(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    town: str | None = None,
    typology: str | None = None,
    limit: int = Query(50, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_alerts(
            c, town=town, typology=typology, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@api.get("/cases", summary="Cases, newest first")
def get_cases(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    status: str | None = None,
    town: str | None = None,
    typology: str | None = None,
    limit: int = Query(50, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_cases(
            c, status=status, town=town, typology=typology, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@api.get("/cases/{case_id}", summary="A case with its alerts, payments and audit trail")
def get_case(
    case_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.get_case(c, case_id))


@api.post(
    "/cases/{case_id}/decisions", summary="Decide (freeze, terminate and report wait for a second person)"
)
def post_decision(
    case_id: str, req: Decision, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        db.run(lambda c: service.decide(c, case_id, req.action, by=_who(p), note=req.note, at=clock.now()))
    )


@api.post("/cases/{case_id}/approve", summary="Approve the pending decision (not by the one who proposed it)")
def post_approve(
    case_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.approve(c, case_id, by=_who(p), at=clock.now())))


@api.get("/summary", summary="Alerts and open cases by town and typology")
def get_summary(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(service.summary(c))


# ---------------------------------------------------------------- console pages


def _db(request: Request) -> Database:
    return request.app.state.db


def _towns(request: Request) -> dict[str, str]:
    from zhifu.merchants import county

    try:
        return {t.code: t.name for t in county().towns}
    except Exception:  # a database without a county profile still shows codes
        return {}


@pages.get(REG)
def regulator_risk(
    request: Request, town: str = "", typology: str = "", user: User = Depends(_regulator)
) -> Response:
    with _db(request).read() as c:
        summary = service.summary(c)
        alerts, _ = service.list_alerts(
            c, town=town or None, typology=typology or None, shadow=False, limit=50
        )
        cases, _ = service.list_cases(
            c, status="active", town=town or None, typology=typology or None, limit=50
        )
    return console.page(
        request,
        "console/risk.html",
        {
            "summary": summary,
            "alerts": alerts,
            "cases": cases,
            "towns": _towns(request),
            "town": town,
            "typology": typology,
            "base": REG,
            "can_act": False,
            "error": None,
            "case": None,
            "limits": None,
            "decisions": (),
            "me": user.username,
        },
        active=REG,
    )


def _ops_page(
    request: Request, user: User, *, case_id: str = "", error: str | None = None, status: int = 200
) -> Response:
    with _db(request).read() as c:
        cases, _ = service.list_cases(c, status="active", limit=100)
        case = service.get_case(c, case_id) if case_id else None
        lim = limits.list_limits(c, clock.now())
        shop = (
            merchants.get_merchant(c, case["subject"])
            if case and case["subject_kind"] == "merchant"
            else None
        )
    return console.page(
        request,
        "console/risk.html",
        {
            "summary": None,
            "alerts": case["alerts_list"] if case else [],
            "cases": cases,
            "case": case,
            "shop": shop,
            "towns": _towns(request),
            "town": "",
            "typology": "",
            "base": OPS,
            "can_act": True,
            "error": error,
            "limits": lim,
            "decisions": service.DECISIONS,
            "me": user.username,
        },
        status=status,
        active=OPS,
    )


@pages.get(OPS)
def operator_risk(request: Request, user: User = Depends(_operator)) -> Response:
    return _ops_page(request, user)


@pages.get(OPS + "/cases/{case_id}")
def operator_case(request: Request, case_id: str, user: User = Depends(_operator)) -> Response:
    return _ops_page(request, user, case_id=case_id)


def _act(request: Request, user: User, case_id: str, fn: Any) -> Response:
    try:
        _db(request).run(fn)
    except ZhifuError as exc:
        if exc.http_status == 404:
            raise
        return _ops_page(request, user, case_id=case_id, error=exc.message, status=exc.http_status)
    return _redirect(request, f"{OPS}/cases/{case_id}")


def _redirect(request: Request, url: str) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse(url, status_code=303)


@pages.post(OPS + "/cases/{case_id}/assign")
def operator_assign(
    request: Request, case_id: str, assignee: str = Form(""), user: User = Depends(_operator)
) -> Response:
    return _act(
        request,
        user,
        case_id,
        lambda c: service.assign_case(c, case_id, assignee.strip(), by=user.username, at=clock.now()),
    )


@pages.post(OPS + "/cases/{case_id}/note")
def operator_note(
    request: Request, case_id: str, note: str = Form(""), user: User = Depends(_operator)
) -> Response:
    return _act(
        request,
        user,
        case_id,
        lambda c: service.note_case(c, case_id, note, by=user.username, at=clock.now()),
    )


@pages.post(OPS + "/cases/{case_id}/decide")
def operator_decide(
    request: Request,
    case_id: str,
    action: str = Form(""),
    note: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    return _act(
        request,
        user,
        case_id,
        lambda c: service.decide(c, case_id, action, by=user.username, note=note, at=clock.now()),
    )


@pages.post(OPS + "/cases/{case_id}/approve")
def operator_approve(
    request: Request, case_id: str, verdict: str = Form("approve"), user: User = Depends(_operator)
) -> Response:
    return _act(
        request,
        user,
        case_id,
        lambda c: service.approve(
            c, case_id, by=user.username, approve_it=verdict != "reject", at=clock.now()
        ),
    )


@pages.post(OPS + "/limits")
def operator_limit(
    request: Request,
    key: str = Form(""),
    value: str = Form(""),
    effective_on: str = Form(""),
    note: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    from zhifu.core.errors import InvalidRequest

    try:
        if not value.strip().isdigit():
            raise InvalidRequest("限额须为整数（分）/ value must be a whole number of fen", param="value")
        try:
            day = dt.date.fromisoformat(effective_on.strip())
        except ValueError:
            raise InvalidRequest(
                "生效日期格式应为 2022-06-16 / effective date must look like 2022-06-16", param="effective_on"
            ) from None
        _db(request).run(
            lambda c: limits.set_limit(c, key, int(value), day, by=user.username, note=note, at=clock.now())
        )
    except ZhifuError as exc:
        return _ops_page(request, user, error=f"{exc.param}: {exc.message}", status=exc.http_status)
    return _redirect(request, OPS)


@pages.get(OPS + "/cases/{case_id}/report.csv")
def operator_report(request: Request, case_id: str, user: User = Depends(_operator)) -> Response:
    with _db(request).read() as c:
        body = service.str_report(c, case_id)
    return Response(
        body.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="str-{case_id}.csv"'},
    )


router.include_router(api)
router.include_router(pages)
