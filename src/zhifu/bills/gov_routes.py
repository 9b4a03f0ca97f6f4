"""Social insurance contributions and non-tax payment codes over HTTP: the JSON API (`/v1/social…`,
`/v1/nontax…`), the payer's phone pages (`/pay/social`, `/pay/nontax`) and the bureau's console page
(`/console/biller/gov`: the social insurance bureau's contributions, or the finance bureau's codes and fiscal
e-receipts, with their downloads). Part of the bills' routes: `zhifu.bills.routes` mounts it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from zhifu import audit
from zhifu.bills import nontax, receipts, service, social
from zhifu.bills.importer import FILE_BYTES_MAX
from zhifu.bills.routes import (  # the bills' routes mount this module and lend it their HTTP plumbing
    N_,
    _date,
    _may_manage,
    _public_page,
    _read_limited,
    get_db,
    json_response,
    principal,
    raw_body,
    run_idempotent,
)
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal

router: APIRouter = APIRouter()
api = APIRouter(prefix="/v1", tags=["bills"])
public = APIRouter(include_in_schema=False)
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_biller_user = console.role("biller")
console.add_nav("biller", (("/console/biller/gov", N_("社保与非税 / Social insurance & non-tax")),), after=1)
MEMBER_ROWS = 4  # rows of the payer's form; the API takes up to social.MEMBERS_MAX


# ---------------------------------------------------------------- JSON API


@api.get(
    "/social/tiers", summary="Resident pension and medical insurance: tiers and collection windows by year"
)
def tiers() -> Response:
    t = social.tier_table()
    return json_response(
        {
            "object": "list",
            "data": social.plans_public(),
            "illustrative": t["illustrative"],
            "has_more": False,
        }
    )


@api.post(
    "/social/contributions",
    summary="Pay a year's contribution for one or more insured persons (one order, one payment)",
)
def contribute(
    req: social.ContributionIn,
    request: Request,
    p: Principal = Depends(principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: social.contribute(db, req))


@api.get(
    "/social/contributions/{order_id}", summary="A contribution order: persons (masked), status, receipt"
)
def get_order(order_id: str, p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:  # an order id is unguessable and what it shows is masked, as a receipt's
        return json_response(social.get_order(c, order_id))


@api.post("/nontax/codes", summary="Issue a 16-digit non-tax payment code (finance bureau)")
def issue_code(
    req: nontax.CodeIn,
    request: Request,
    p: Principal = Depends(principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        _may_manage(p, c, req.biller_id)
    return run_idempotent(request, p, body, lambda: db.run(lambda c: nontax.issue_code(c, req)))


@api.post(
    "/billers/{biller_id}/nontax-codes",
    summary="Issue a file of payment codes (CSV or XLSX body, one line per item): whole or not at all",
)
async def import_codes(
    biller_id: str,
    request: Request,
    filename: str = Query("", max_length=200),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    data = await _read_limited(request)
    with db.read() as c:
        _may_manage(p, c, biller_id)
    return json_response(db.run(lambda c: nontax.import_codes(c, biller_id, data, filename=filename)))


@api.get("/nontax/codes/{code}", summary="A payment code: payer (masked), items, amount, validity, state")
def get_code(code: str, p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(nontax.get_code(c, code))


@api.post("/nontax/payments", summary="Pay a payment code within its validity")
def pay_code(
    req: nontax.PayCodeIn,
    request: Request,
    p: Principal = Depends(principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: nontax.pay_code(db, req))


@api.get(
    "/billers/{biller_id}/fiscal-receipts",
    summary="The fiscal e-receipt records of issue dates start..end (csv, xlsx, json or xml)",
    responses={200: {"content": {"text/csv": {}, "application/json": {}, "application/xml": {}}}},
)
def fiscal_receipts(
    biller_id: str,
    start: str,
    end: str,
    format: str = "csv",
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        _may_manage(p, c, biller_id)
        data, media, name, n = nontax.export_receipts(
            c, biller_id, _date(start, "start"), _date(end, "end"), format
        )
    audit.exported(db, "fiscal_receipts", name, {"format": format, "receipts": n})
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- the payer's pages


def _today() -> dt.date:
    return clock.now().astimezone(SHANGHAI).date()


def _social_form(request: Request, form: dict[str, Any], *, error: ZhifuError | None = None) -> Response:
    plans = social.open_plans(_today())
    return _public_page(
        request,
        "bills/social_pay.html",
        {
            "plans": plans,
            "form": form,
            "rows": MEMBER_ROWS,
            "relations": social.RELATIONS,
            "error": error.message if error else None,
            "param": error.param if error else None,
        },
        400 if error else 200,
    )


@public.get("/pay/social")
def social_page(request: Request) -> Response:
    return _social_form(request, {})


@public.post("/pay/social")
async def social_pay(request: Request) -> Response:
    form = dict(await request.form())
    db: Database = request.app.state.db
    members = []
    for i in range(MEMBER_ROWS):
        name, number = str(form.get(f"name{i}", "")).strip(), str(form.get(f"id{i}", "")).strip()
        if name or number:
            members.append({"name": name, "id_number": number, "relation": form.get(f"rel{i}", "self")})
    try:
        scheme, _, year = str(form.get("plan", "")).partition(":")
        if scheme not in social.SCHEMES or not year.isdigit():
            raise InvalidRequest("请选择险种和年度 / choose a scheme and year", param="plan")
        tier = str(form.get(f"tier_{scheme}_{year}", "")).strip()
        if not tier.isdigit():
            raise InvalidRequest("请选择缴费档次 / choose a tier", param="tier_fen")
        if not members:
            raise InvalidRequest("请填写至少一位参保人 / list at least one insured person", param="members")
        for i, m in enumerate(members):
            if not m["name"]:
                raise InvalidRequest(
                    f"请填写第 {i + 1} 位参保人姓名 / members[{i}].name is empty", param=f"members[{i}].name"
                )
            if not m["id_number"]:
                raise InvalidRequest(
                    f"请填写第 {i + 1} 位参保人身份证号码 / members[{i}].id_number is empty",
                    param=f"members[{i}].id_number",
                )
        req = social.ContributionIn(
            scheme=scheme,  # type: ignore[arg-type]
            year=int(year),
            tier_fen=int(tier),
            members=members,  # type: ignore[arg-type]
            payer_phone=str(form.get("phone", "")).strip() or None,
            channel=str(form.get("channel", "unionpay_qr")),
        )
        out = social.contribute(db, req)
    except ZhifuError as exc:
        return _social_form(request, form, error=exc)
    except ValidationError as exc:  # a field out of its bounds (a name too long)
        loc = exc.errors()[0]["loc"]
        field = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
        err = InvalidRequest(f"{field} 填写有误 / {field} is not valid", param=field)
        return _social_form(request, form, error=err)
    return _paying(request, db, out["payment_id"], out["biller_id"], f"/pay/social/orders/{out['id']}")


def _paying(request: Request, db: Database, payment_id: str, biller_id: str, status_url: str) -> Response:
    from zhifu import payments as payments_api

    with db.read() as c:
        b = service._biller(c, biller_id)
        p = payments_api.get_payment(c, b.merchant_id, payment_id)
    code_url = p.get("code_url")
    return _public_page(
        request,
        "bills/gov_paying.html",
        {"payment": p, "status_url": status_url, "qr": receipts.qr_svg(code_url) if code_url else ""},
    )


@public.get("/pay/social/orders/{order_id}")
def social_order(request: Request, order_id: str) -> Response:
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            o = social.get_order(c, order_id)
    except ZhifuError as exc:
        return _public_page(request, "bills/social_order.html", {"o": None, "error": exc.message}, 404)
    return _public_page(request, "bills/social_order.html", {"o": o, "error": None})


@public.get("/pay/nontax")
def nontax_page(request: Request, code: str = "") -> Response:
    db: Database = request.app.state.db
    found, error = None, None
    if code:
        try:
            with db.read() as c:
                found = nontax.get_code(c, code)
        except ZhifuError as exc:
            error = exc.message
    return _public_page(
        request,
        "bills/nontax_pay.html",
        {"code": code, "found": found, "error": error},
        404 if error else 200,
    )


@public.post("/pay/nontax")
def nontax_pay(
    request: Request, code: str = Form(""), channel: str = Form("unionpay_qr"), phone: str = Form("")
) -> Response:
    db: Database = request.app.state.db
    try:
        out = nontax.pay_code(db, nontax.PayCodeIn(code=code, channel=channel, payer_phone=phone or None))
    except ZhifuError as exc:
        found = None
        try:
            with db.read() as c:
                found = nontax.get_code(c, code)
        except ZhifuError:
            pass
        return _public_page(
            request, "bills/nontax_pay.html", {"code": code, "found": found, "error": exc.message}, 400
        )
    return _paying(request, db, out["payment"]["id"], out["biller_id"], f"/pay/nontax?code={out['code']}")


# ---------------------------------------------------------------- the bureau's console page


def _gov_page(request: Request, user: User, **extra: Any) -> Response:
    db: Database = request.app.state.db
    biller_id = user.biller_id or ""
    ctx: dict[str, Any] = {
        "kind": None,
        "error": None,
        "faults": [],
        "issued": None,
        "imported": None,
        "today": _today(),
        **extra,
    }
    with db.read() as c:
        b = service._biller(c, biller_id) if biller_id else None
        ctx["biller"] = b
        if b is not None and b.category == "social_insurance":
            ctx["kind"] = "social"
            ctx["summary"] = social.summary(c, b.id)
            ctx["rows"] = social.list_contributions(c, b.id, limit=100)
            ctx["plans"] = social.plans_public()
        elif b is not None and b.category == "tax" and b.account_len_min <= 16 <= b.account_len_max:
            ctx["kind"] = "nontax"
            ctx["counts"] = nontax.code_counts(c, b.id)
            ctx["codes"] = nontax.list_codes(c, b.id, limit=100)
    return console.page(
        request,
        "bills/gov_console.html",
        ctx,
        status=400 if ctx["error"] else 200,
        active="/console/biller/gov",
    )


@pages.get("/console/biller/gov")
def gov_home(request: Request, user: User = Depends(_biller_user)) -> Response:
    return _gov_page(request, user)


@pages.get("/console/biller/gov/social.csv")
def gov_social_file(
    request: Request, year: int = Query(...), scheme: str = Query(...), user: User = Depends(_biller_user)
) -> Response:
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            social.bureau(c, user.biller_id)
            data, n = social.export_paid(c, user.biller_id or "", year, scheme)
    except ZhifuError as exc:
        return _gov_page(request, user, error=exc.message)
    name = f"social_{scheme}_{year}.csv"
    audit.exported(db, "social_contributions", name, {"persons": n})
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@pages.get("/console/biller/gov/receipts")
def gov_receipts_file(
    request: Request, start: str = "", end: str = "", format: str = "csv", user: User = Depends(_biller_user)
) -> Response:
    db: Database = request.app.state.db
    try:
        lo, hi = _date(start, "start"), _date(end, "end")
        with db.read() as c:
            data, media, name, n = nontax.export_receipts(c, user.biller_id or "", lo, hi, format)
    except ZhifuError as exc:
        return _gov_page(request, user, error=exc.message)
    audit.exported(db, "fiscal_receipts", name, {"format": format, "receipts": n})
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@pages.post("/console/biller/gov/codes")
def gov_issue(
    request: Request,
    code: str = Form(""),
    payer_name: str = Form(""),
    collector: str = Form(""),
    item_code: str = Form(""),
    item_name: str = Form(""),
    amount: str = Form(""),
    valid_until: str = Form(""),
    user: User = Depends(_biller_user),
) -> Response:
    from zhifu.core.money import parse_yuan

    db: Database = request.app.state.db
    try:
        fen = parse_yuan(amount, param="amount_fen")
        req = nontax.CodeIn(
            biller_id=user.biller_id or "",
            code=code,
            payer_name=payer_name,
            collector=collector,
            items=[nontax.ItemIn(code=item_code, name=item_name, standard_fen=fen, amount_fen=fen)],
            amount_fen=fen,
            valid_until=_date(valid_until, "valid_until"),
        )
        issued = db.run(lambda c: nontax.issue_code(c, req))
    except ZhifuError as exc:
        return _gov_page(request, user, error=exc.message)
    except ValidationError as exc:
        field = ".".join(str(x) for x in exc.errors()[0]["loc"])
        return _gov_page(request, user, error=f"请填写 {field} / {field} is missing or too long")
    return _gov_page(request, user, issued=issued)


@pages.post("/console/biller/gov/code-file")
async def gov_issue_file(request: Request, file: UploadFile, user: User = Depends(_biller_user)) -> Response:
    data = await file.read(FILE_BYTES_MAX + 1)
    db: Database = request.app.state.db
    try:
        out = db.run(
            lambda c: nontax.import_codes(c, user.biller_id or "", data, filename=file.filename or "")
        )
    except nontax.CodeFileRefused as exc:
        return _gov_page(request, user, error=exc.message, faults=exc.faults)
    except ZhifuError as exc:
        return _gov_page(request, user, error=exc.message)
    return _gov_page(request, user, imported=out)


@pages.get("/console/biller/gov/codes")
def gov_issue_get(request: Request, user: User = Depends(_biller_user)) -> Response:
    return RedirectResponse("/console/biller/gov", status_code=303)


router.include_router(api)
router.include_router(public)
router.include_router(pages)
