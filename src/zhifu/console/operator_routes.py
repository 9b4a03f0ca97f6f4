"""The operator's action pages: onboarding with live checks, codes and stickers, settlement runs and payout
files, the bank's result file, a rail-day's reconciliation, cases (maker-checker), campaigns and fee plans.

Every form carries a one-time token (a second submission acts not at all), refuses bad input inline naming the
field in the page's language, and reaches only the operator's own acquirer's merchants.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from zhifu.console import operations as ops
from zhifu.console.routes import (
    ConsoleRoute,
    _csrf_guard,
    _db,
    _finish,
    _ops_page,
    _redirect,
    _role,
)
from zhifu.console.service import User
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, PermissionDenied, ZhifuError
from zhifu.core.messages import N_
from zhifu.web.i18n import translator
from zhifu.web.templating import request_language

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, dependencies=[Depends(_csrf_guard)])
_operator = _role("operator")
FORM_ERRORS = (InvalidRequest, ConflictError, PermissionDenied)  # shown inline; 404s stay pages


# ---------------------------------------------------------------- the forms' wording

# The field names services and forms use, as a person reads them (msgids; zh_CN in the catalogue).
FIELD_LABELS: Final[dict[str, str]] = {
    "type": N_("Merchant type"),
    "legal_name": N_("Registered name"),
    "short_name": N_("Shop name"),
    "credit_code": N_("Unified social credit code"),
    "legal_person_name": N_("Legal person or owner"),
    "legal_person_id": N_("Resident ID number"),
    "phone": N_("Mobile number"),
    "mcc": N_("Merchant category (MCC)"),
    "town_code": N_("Town"),
    "village_code": N_("Village"),
    "address": N_("Address"),
    "settle_bank": N_("Settlement bank"),
    "settle_account_no": N_("Settlement account no."),
    "settle_account_name": N_("Settlement account name"),
    "account_name": N_("Settlement account name"),
    "acquirer_id": N_("Acquirer"),
    "settlement_cycle": N_("Settlement cycle"),
    "business_date": N_("Business date"),
    "date": N_("Business date"),
    "before": N_("Business date"),
    "channel": N_("Channel"),
    "file": N_("File"),
    "reason": N_("Reason"),
    "action": N_("Action"),
    "note": N_("Note"),
    "checker": N_("Checker"),
    "maker": N_("Maker"),
    "case": N_("Case"),
    "merchant": N_("Merchant"),
    "name": N_("Campaign name"),
    "funder": N_("Funder"),
    "budget": N_("Budget"),
    "budget_fen": N_("Budget"),
    "starts_at": N_("Start date"),
    "ends_at": N_("End date"),
    "rules": N_("Rules"),
    "discount_min": N_("Smallest discount"),
    "discount_max": N_("Largest discount"),
    "probability": N_("Chance of a discount"),
    "amount_below": N_("Payments under"),
    "rate": N_("Rate"),
    "rate_ppm": N_("Rate"),
    "min_fen": N_("Minimum"),
    "min": N_("Minimum"),
    "cap_fen": N_("Cap"),
    "cap": N_("Cap"),
    "effective_from": N_("Effective from"),
    "effective_to": N_("Effective to"),
    "merchant_class": N_("Merchant class"),
    "card_type": N_("Card type"),
    "id": N_("Record"),
    "payout_id": N_("Payout"),
    "batch_no": N_("Batch no."),
    "amount_fen": N_("Amount"),
    "status": N_("Status"),
    "form": N_("Form"),
}

# Messages for error codes whose service message is English only.
CODE_MESSAGES: Final[dict[str, str]] = {
    "merchant_state": N_("The merchant is not in a state that allows this."),
    "case_not_open": N_("The case is no longer open."),
    "case_not_proposed": N_("The case has no proposal waiting."),
    "maker_is_checker": N_("You proposed this resolution; another person must approve it."),
    "action_not_allowed": N_("This action does not fit the case."),
    "campaign_status": N_("The campaign is not in a state that allows this."),
    "campaign_ended": N_("The campaign has ended."),
    "fee_rule_exists": N_("A rule for the same channel, card type and class starting that day exists."),
    "too_long": N_("Too long."),
    "calendar_out_of_range": N_("The working-day calendar does not cover this date; import the year first."),
    "statement_unavailable": N_("The channel's statement could not be downloaded."),
    "statement_format": N_("The file is not in the expected format."),
    "forbidden": N_("Your institution cannot do this."),
    "resource_missing": N_("Not found."),
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def field_label(field: str | None, lang: str) -> str:
    _ = translator(lang)
    label = FIELD_LABELS.get(field or "")
    return _(label) if label else (field or "")


def explain(exc: ZhifuError, lang: str) -> str:
    """One line for a person, in the page's language, naming the field: "统一社会信用代码：校验位错误"."""
    _ = translator(lang)
    field = getattr(exc, "field", None) or exc.param
    label = field_label(field, lang)
    if isinstance(exc, ops.FormError):
        text = _(exc.msgid) % exc.values if exc.values else _(exc.msgid)
        return f"{label}：{text}" if lang == "zh" else f"{label}: {text}"
    message = exc.message
    zh, sep, en = message.partition(" / ")
    if sep and _CJK.search(zh):
        text = zh if lang == "zh" else en
    elif exc.code in CODE_MESSAGES:
        text = _(CODE_MESSAGES[exc.code])
        if lang == "zh" and getattr(exc, "line_no", None):
            text = f"第 {exc.line_no} 行：{text}（{message}）"  # type: ignore[attr-defined]
        elif lang == "zh":
            text = f"{text}（{message}）"
    else:
        text = message if lang == "en" or _CJK.search(message) else f"{_('Not accepted.')}（{message}）"
    return f"{label}：{text}" if label and lang == "zh" else (f"{label}: {text}" if label else text)


async def _act_once(
    request: Request,
    user: User,
    values: dict[str, str],
    act: Callable[[Any], str],
    refused: Callable[[Any], Response],
) -> Response:
    """Run a form's action once (its token), then go where it says; bad input shows the form again with why."""
    try:
        url = await run_in_threadpool(ops.once, _db(request), user, values.get("form_token", ""), act)
    except FORM_ERRORS as exc:
        return refused(exc)
    return _redirect(request, url)


async def _form(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
    return values, upload


def _today() -> dt.date:
    from zhifu.core import clock

    return clock.now().astimezone(SHANGHAI).date()


def _common(user: User) -> dict[str, Any]:
    return {
        "form_token": ops.new_form_token(),
        "platform": ops.runs_platform(user),
        "platform_name": ops.institution_name(ops.platform_acquirer()),
        "institution_name": ops.institution_name(user.institution_id),
    }


def _fail(exc: ZhifuError) -> int:
    return 409 if isinstance(exc, ConflictError) else 403 if isinstance(exc, PermissionDenied) else 400


# ---------------------------------------------------------------- onboarding


def _onboard_page(
    request: Request,
    user: User,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> Response:
    from zhifu.merchants import county
    from zhifu.reference.mcc import all_mccs

    mccs = sorted(all_mccs(), key=lambda m: m.code)
    ctx = {
        **_common(user),
        "v": values or {},
        "error": error,
        "error_field": field,
        "towns": county().towns,
        "mccs": mccs,
    }
    if values and values.get("form_token"):
        ctx["form_token"] = values["form_token"]
    return _ops_page(request, "console/onboard.html", ctx, status=status, active="/console/operator/onboard")


@router.get("/console/operator/onboard")
def onboard_form(request: Request, user: User = Depends(_operator)) -> Response:
    return _onboard_page(request, user, {"type": "individual_business", "settlement_cycle": "T+1"})


@router.get("/console/operator/onboard/check/{field}")
def onboard_check(request: Request, field: str, user: User = Depends(_operator)) -> Response:
    """Live validation (htmx): the message for one field, or a tick."""
    values = {k: v[:200] for k, v in request.query_params.items()}
    refused = ops.check_field(field, values, user)
    html = (
        f'<span class="field__error" role="alert" data-check="bad">'
        f"{_escape(explain(refused, request_language(request)))}</span>"
        if refused is not None
        else '<span class="field__ok" data-check="ok">✓</span>'
    )
    return _finish(request, Response(html, media_type="text/html; charset=utf-8"))


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@router.post("/console/operator/onboard")
async def onboard_submit(request: Request, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        m = ops.onboard(c, user, values)
        return f"/console/operator/merchants/{quote(m['id'])}"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _onboard_page(
            request, user, values, explain(exc, lang), getattr(exc, "field", exc.param), status=_fail(exc)
        ),
    )


# ---------------------------------------------------------------- codes and stickers


@router.post("/console/operator/merchants/{merchant_id}/code")
async def issue_code(request: Request, merchant_id: str, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)
    back = f"/console/operator/merchants/{quote(merchant_id)}"

    def act(c: Any) -> str:
        ops.issue_code(c, user, merchant_id, replace=values.get("replace") == "1")
        return back + "#code"

    try:
        url = await run_in_threadpool(ops.once, _db(request), user, values.get("form_token", ""), act)
    except FORM_ERRORS as exc:
        from zhifu.console.routes import _review_page

        return _review_page(request, user, merchant_id, error=explain(exc, lang), status=_fail(exc))
    return _redirect(request, url)


@router.get("/console/operator/merchants/{merchant_id}/sticker.pdf")
def operator_sticker(request: Request, merchant_id: str, user: User = Depends(_operator)) -> Response:
    with _db(request).read() as c:
        pdf = ops.sticker(c, user, merchant_id)
    return _finish(
        request,
        Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="sticker-{merchant_id}.pdf"'},
        ),
    )


# ---------------------------------------------------------------- settlement


def _settlement_page(
    request: Request,
    user: User,
    *,
    before: str = "",
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    from zhifu.console.routes import _date_param
    from zhifu.settlement import service as settlement

    with _db(request).read() as c:
        rows, more = settlement.list_batches(c, limit=30, before=_date_param(before, "before"))
    yesterday = (_today() - dt.timedelta(days=1)).isoformat()
    ctx = {
        **_common(user),
        "rows": rows,
        "more": more,
        "error": error,
        "error_field": field,
        "v": values or {"business_date": yesterday},
        "done": done,
    }
    return _ops_page(
        request,
        "console/settlement_runs.html",
        ctx,
        status=status,
        active="/console/operator/settlement-runs",
    )


@router.get("/console/operator/settlement-runs")
def settlement_runs(
    request: Request, before: str = "", done: str = "", user: User = Depends(_operator)
) -> Response:
    return _settlement_page(request, user, before=before, done=done[:80])


@router.post("/console/operator/settlement-runs")
async def settlement_run(request: Request, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)
    db = _db(request)

    def act() -> str:
        d = ops.parse_date(values.get("business_date", ""), "business_date")
        batch = ops.run_settlement(db, user, d)
        return f"/console/operator/settlement-runs?done={quote(batch['business_date'])}"

    try:
        url = await run_in_threadpool(ops.once_outside, db, user, values.get("form_token", ""), act)
    except FORM_ERRORS as exc:
        return _settlement_page(
            request,
            user,
            error=explain(exc, lang),
            field=getattr(exc, "field", exc.param),
            values=values,
            status=_fail(exc),
        )
    return _redirect(request, url)


@router.get("/console/operator/settlement-runs/{business_date}/files/{kind}")
def payout_file(request: Request, business_date: str, kind: str, user: User = Depends(_operator)) -> Response:
    from zhifu.console.routes import _date_param

    d = _date_param(business_date, "date")
    assert d is not None
    with _db(request).read() as c:
        data, name, media = ops.payout_file(c, user, d, kind)
    return _finish(
        request,
        Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}),
    )


@router.post("/console/operator/settlement-runs/payout-results")
async def payout_results(request: Request, user: User = Depends(_operator)) -> Response:
    values, upload = await _form(request)
    lang = request_language(request)
    db = _db(request)
    data = await upload.read() if upload is not None else b""
    filename = (upload.filename or "") if upload is not None else ""

    def act() -> str:
        r = ops.import_bank_result(db, user, data, filename)
        return "/console/operator/settlement-runs?done=" + quote(
            f"{r['batch_no']}: {r['paid']}/{r['failed']}"
        )

    try:
        url = await run_in_threadpool(ops.once_outside, db, user, values.get("form_token", ""), act)
    except FORM_ERRORS as exc:
        return _settlement_page(request, user, error=explain(exc, lang), field="file", status=_fail(exc))
    return _redirect(request, url)


# ---------------------------------------------------------------- reconciliation


def _recon_page(
    request: Request,
    user: User,
    *,
    starting_after: str = "",
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    from zhifu.recon import service as recon

    with _db(request).read() as c:
        rows, more = recon.list_batches(c, limit=50, starting_after=starting_after or None)
    yesterday = (_today() - dt.timedelta(days=1)).isoformat()
    ctx = {
        **_common(user),
        "rows": rows,
        "more": more,
        "error": error,
        "error_field": field,
        "v": values or {"business_date": yesterday, "channel": "unionpay_qr"},
        "done": done,
    }
    return _ops_page(
        request, "console/reconciliation.html", ctx, status=status, active="/console/operator/reconciliation"
    )


@router.get("/console/operator/reconciliation")
def reconciliation(
    request: Request, starting_after: str = "", done: str = "", user: User = Depends(_operator)
) -> Response:
    return _recon_page(request, user, starting_after=starting_after, done=done[:80])


@router.post("/console/operator/reconciliation/statement-upload")
async def reconcile_day(request: Request, user: User = Depends(_operator)) -> Response:
    values, upload = await _form(request)
    lang = request_language(request)
    db = _db(request)
    data = await upload.read() if upload is not None else b""
    filename = (upload.filename or "") if upload is not None else ""

    def act() -> str:
        d = ops.parse_date(values.get("business_date", ""), "business_date")
        batches = ops.reconcile_day(db, user, values.get("channel", ""), d, data or None, filename)
        return "/console/operator/reconciliation?done=" + quote(",".join(b["id"] for b in batches))

    try:
        url = await run_in_threadpool(ops.once_outside, db, user, values.get("form_token", ""), act)
    except FORM_ERRORS as exc:
        return _recon_page(
            request,
            user,
            error=explain(exc, lang),
            field=getattr(exc, "field", exc.param),
            values=values,
            status=_fail(exc),
        )
    return _redirect(request, url)


# ---------------------------------------------------------------- cases


@router.get("/console/operator/cases")
def cases(request: Request, status: str = "open", user: User = Depends(_operator)) -> Response:
    if status not in ("open", "proposed", "resolved"):
        status = "open"
    with _db(request).read() as c:
        rows = ops.visible_cases(c, user, status)
    return _ops_page(request, "console/cases.html", {"rows": rows, "status": status})


def _case_page(
    request: Request,
    user: User,
    case_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    with _db(request).read() as c:
        case = ops.get_case(c, user, case_id)
    ctx = {**_common(user), "k": case, "error": error, "v": values or {}, "me": ops.actor(user)}
    return _ops_page(request, "console/case.html", ctx, status=status, active="/console/operator/cases")


@router.get("/console/operator/cases/{case_id}")
def case(request: Request, case_id: str, user: User = Depends(_operator)) -> Response:
    return _case_page(request, user, case_id)


@router.post("/console/operator/cases/{case_id}/{decision}")
async def case_decision(
    request: Request, case_id: str, decision: str, user: User = Depends(_operator)
) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        ops.case_decision(c, user, case_id, decision, values.get("action", ""), values.get("note", ""))
        return f"/console/operator/cases/{quote(case_id)}"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _case_page(
            request, user, case_id, error=explain(exc, lang), status=_fail(exc), values=values
        ),
    )


# ---------------------------------------------------------------- campaigns


def _campaigns_page(
    request: Request,
    user: User,
    *,
    starting_after: str = "",
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    from zhifu.incentives import service as incentives

    with _db(request).read() as c:
        rows, more = incentives.list_campaigns(c, limit=50, starting_after=starting_after or None)
    today = _today()
    ctx = {
        **_common(user),
        "rows": rows,
        "more": more,
        "error": error,
        "error_field": field,
        "funders": [
            (f, ops.institution_name(f) if f not in ops.GOVERNMENT else f) for f in ops.campaign_funders(user)
        ],
        "may_manage": lambda m: ops.may_manage_campaign(user, m),
        "v": values
        or {
            "starts_at": today.isoformat(),
            "ends_at": (today + dt.timedelta(days=30)).isoformat(),
            "probability": "30",
            "discount_min": "0.50",
            "discount_max": "5.00",
            "amount_below": "500.00",
            "channel": "unionpay_qr",
        },
    }
    if values and values.get("form_token"):
        ctx["form_token"] = values["form_token"]
    return _ops_page(
        request, "console/campaigns.html", ctx, status=status, active="/console/operator/campaigns"
    )


@router.get("/console/operator/campaigns")
def campaigns(request: Request, starting_after: str = "", user: User = Depends(_operator)) -> Response:
    return _campaigns_page(request, user, starting_after=starting_after)


@router.post("/console/operator/campaigns")
async def campaign_create(request: Request, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        ops.create_campaign(c, user, values)
        return "/console/operator/campaigns"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _campaigns_page(
            request,
            user,
            error=explain(exc, lang),
            field=getattr(exc, "field", exc.param),
            values=values,
            status=_fail(exc),
        ),
    )


@router.post("/console/operator/campaigns/{campaign_id}/{action}")
async def campaign_action(
    request: Request, campaign_id: str, action: str, user: User = Depends(_operator)
) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        ops.campaign_status(c, user, campaign_id, action)
        return "/console/operator/campaigns"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _campaigns_page(request, user, error=explain(exc, lang), status=_fail(exc)),
    )


# ---------------------------------------------------------------- fee plans


def _fees_page(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    from zhifu.fees import service as fees
    from zhifu.fees.calc import CARD_TYPES

    with _db(request).read() as c:
        rows = fees.list_rules(c)
    today = _today()
    ctx = {
        **_common(user),
        "rows": rows,
        "error": error,
        "error_field": field,
        "card_types": CARD_TYPES,
        "today": today.isoformat(),
        "v": values
        or {
            "effective_from": (today + dt.timedelta(days=1)).isoformat(),
            "channel": "*",
            "card_type": "*",
            "merchant_class": "*",
        },
    }
    if values and values.get("form_token"):
        ctx["form_token"] = values["form_token"]
    return _ops_page(
        request, "console/fee_plans.html", ctx, status=status, active="/console/operator/fee-plans"
    )


@router.get("/console/operator/fee-plans")
def fee_plans(request: Request, user: User = Depends(_operator)) -> Response:
    return _fees_page(request, user)


@router.post("/console/operator/fee-plans")
async def fee_plan_create(request: Request, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        ops.create_fee_rule(c, user, values)
        return "/console/operator/fee-plans"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _fees_page(
            request,
            user,
            error=explain(exc, lang),
            field=getattr(exc, "field", exc.param),
            values=values,
            status=_fail(exc),
        ),
    )


@router.post("/console/operator/fee-plans/{rule_id}/end")
async def fee_plan_end(request: Request, rule_id: str, user: User = Depends(_operator)) -> Response:
    values, _ = await _form(request)
    lang = request_language(request)

    def act(c: Any) -> str:
        ops.end_fee_rule(c, user, rule_id, values.get("effective_to", ""))
        return "/console/operator/fee-plans"

    return await _act_once(
        request,
        user,
        values,
        act,
        lambda exc: _fees_page(
            request, user, error=explain(exc, lang), field="effective_to", status=_fail(exc)
        ),
    )
