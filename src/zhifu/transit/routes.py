"""Transit and scenic over HTTP: the JSON API (`/v1/transit/…` for operators' back offices and validators,
`/v1/scenic/…` for ticketing and gates) and the console pages of the operator's staff (a merchant login of the
bus company's or scenic area's merchant), the bank operator and the regulator.

A route that creates a payment commits first and reads the outcome in a second transaction, since the rail
answers only after the creating transaction commits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhifu.api.deps import (
    get_db,
    json_response,
    merchant_principal,
    operator_principal,
    raw_body,
    run_idempotent,
)
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.dates import parse_date
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal, Principal
from zhifu.merchants import service as merchants
from zhifu.transit import scenic, service
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["transit"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_merchant_user = console.role("merchant")
_operator_user = console.role("operator")
_regulator_user = console.role("regulator")
console.add_nav("merchant", (("/console/merchant/transit", N_("公交与景区 / Transit")),), after=5)
console.add_nav("operator", (("/console/operator/transit", N_("公交与景区 / Transit")),), after=4)
console.add_nav("regulator", (("/console/regulator/transit", N_("公交与景区 / Transit")),), after=3)


def _date(value: str, param: str = "day") -> dt.date:
    return parse_date(value, param)


# ---------------------------------------------------------------- JSON API: transit


@api.post("/transit/operators", summary="Enable transit or ticketing on an active merchant (operator)")
def register_operator(
    req: service.OperatorIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.register_operator(c, req)))


@api.get("/transit/operators", summary="Transit operators and scenic areas (operator)")
def list_operators(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": service.list_operators(c), "has_more": False})


@api.post("/transit/caps", summary="Daily and monthly fare caps and concessions of the caller's operator")
def set_caps(
    req: service.CapsIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.set_caps(c, p.merchant_id, req)))


@api.post("/transit/lines", summary="Add a line with its fare rule and stops")
def add_line(
    req: service.LineIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.add_line(c, p.merchant_id, req)))


@api.get("/transit/lines", summary="The caller's lines, fares and stops")
def list_lines(
    p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:  # a merchant that runs no operator has no lines: an empty list
        return json_response(
            {"object": "list", "data": service.list_lines(c, p.merchant_id), "has_more": False}
        )


class ValidatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=40)
    line_id: str | None = Field(default=None, max_length=40)
    label: str = Field(default="", max_length=60)


@api.post("/transit/validators", summary="Register a validator (a bus reader or a gate)")
def add_validator(
    req: ValidatorIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        db.run(lambda c: service.add_validator(c, p.merchant_id, req.id, req.line_id, req.label))
    )


@api.get(
    "/transit/validators", summary="Validator health: last sync, deny-list age, taps waiting on the device"
)
def validators(
    p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": service.validator_health(c, p.merchant_id), "has_more": False}
        )


@api.post(
    "/transit/validators/{validator_id}/sync", summary="A validator's sync: public key, deny list, passes"
)
def sync(
    validator_id: str,
    pending_taps: int | None = Query(None, ge=0),
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(
        db.run(lambda c: service.sync(c, p.merchant_id, validator_id, pending_taps=pending_taps))
    )


@api.post("/transit/validators/{validator_id}/taps", summary="Upload a batch of taps (idempotent per tap id)")
def upload(
    validator_id: str,
    batch: service.TapBatch,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: service.upload_taps(c, p.merchant_id, validator_id, batch)))


@api.post(
    "/transit/riders", summary="Issue a transit QR bound to a payment agreement (the platform's rider app)"
)
def issue_rider(
    req: service.RiderIn,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.issue_rider(c, req)))


@api.post("/transit/riders/{rider_id}/token", summary="A fresh ride QR for the rider's app (platform)")
def rider_token(
    rider_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {
                "object": "ride_token",
                "rider_id": rider_id,
                "token": service.ride_token(c, rider_id),
                "ttl_s": service.RIDE_TOKEN_TTL_S,
            }
        )


@api.get(
    "/transit/riders/{rider_id}", summary="A rider's days, charges and deny entry at the caller's operator"
)
def rider_account(
    rider_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.rider_account(c, p.merchant_id, rider_id))


@api.post(
    "/transit/riders/{rider_id}/retry", summary="Charge a rider's debt now (lifts the deny entry on success)"
)
def retry(
    rider_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        service.rider_account(c, p.merchant_id, rider_id)
    stats = service.charge_due(
        db,
        merchant_id=p.merchant_id,
        rider_id=rider_id,
        retry_now=True,
        through=service.local_day(clock.now()),
    )
    with db.read() as c:
        return json_response({**service.rider_account(c, p.merchant_id, rider_id), "run": stats})


class DenyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rider_id: str = Field(min_length=1, max_length=40)
    reason: str = Field(pattern="^(lost|fraud)$")


@api.post("/transit/deny", summary="Put a lost or misused transit QR on the deny list")
def deny(
    req: DenyIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    def go(c: Any) -> dict[str, Any]:
        service.operator_row(c, p.merchant_id, kind="transit")
        service.deny(c, p.merchant_id, req.rider_id, req.reason)
        ids, version = service.deny_list(c, p.merchant_id)
        return {"object": "deny_list", "version": version, "count": len(ids)}

    return json_response(db.run(go))


@api.post("/transit/charges/run", summary="Charge riders' capped fares up to a day (default yesterday)")
def run_charges(
    through: str | None = None,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        service.operator_row(c, p.merchant_id, kind="transit")
    day = _date(through, "through") if through else None
    if day is not None and day >= service.local_day(clock.now()):
        raise InvalidRequest("只能结算已结束的日期 / through must be a day that has ended", param="through")
    return json_response(service.charge_due(db, merchant_id=p.merchant_id, through=day))


@api.get("/transit/charges", summary="Fare charges, newest first")
def charges(
    status: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response(
            {
                "object": "list",
                "data": service.list_charges(c, p.merchant_id, status=status, limit=limit),
                "has_more": False,
            }
        )


@api.post("/transit/pass-products", summary="A monthly or term school-bus pass on sale")
def add_pass_product(
    req: service.PassProductIn,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: service.add_pass_product(c, p.merchant_id, req)))


@api.post("/transit/passes", summary="A parent buys a pass for a student's transit QR")
def buy_pass(
    req: service.BuyPassIn,
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    def go() -> dict[str, Any]:
        out = db.run(lambda c: service.buy_pass(c, p.merchant_id, req))
        out["pass"] = db.run(lambda c: service.confirm_pass(c, p.merchant_id, out["pass"]["id"]))
        return out

    return run_idempotent(request, p, body, go)


@api.get("/transit/passes/{pass_id}", summary="A pass (brought to its payment's outcome)")
def get_pass(
    pass_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.confirm_pass(c, p.merchant_id, pass_id)))


@api.post("/transit/passes/{pass_id}/refund", summary="Refund a pass's unused days pro rata")
def refund_pass(
    pass_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.refund_pass(c, p.merchant_id, pass_id)))


@api.get(
    "/transit/figures", summary="Bus, school-bus and scenic payments by kind, channel and town (operator)"
)
def figures(
    start: str | None = None,
    end: str | None = None,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    today = service.local_day(clock.now())
    lo = _date(start, "start") if start else today.replace(day=1)
    hi = _date(end, "end") if end else today
    if hi < lo:
        raise InvalidRequest("end 早于 start / end is before start", param="end")
    with db.read() as c:
        return json_response(
            {"object": "transit_figures", "start": lo, "end": hi, **service.kpi_transit_usage(c, lo, hi)}
        )


# ---------------------------------------------------------------- JSON API: scenic


@api.post("/scenic/ticket-types", summary="A ticket type of the caller's scenic area", tags=["scenic"])
def add_type(
    req: scenic.TicketTypeIn,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: scenic.add_ticket_type(c, p.merchant_id, req)))


@api.post(
    "/scenic/slots",
    summary="Open a day's time slots with capacity as a share of the maximum",
    tags=["scenic"],
)
def add_slots(
    req: scenic.SlotsIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(
        {
            "object": "list",
            "data": db.run(lambda c: scenic.add_slots(c, p.merchant_id, req)),
            "has_more": False,
        }
    )


@api.get("/scenic/slots", summary="A day's slots with places held, sold and left", tags=["scenic"])
def slots(
    day: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": scenic.list_slots(c, p.merchant_id, _date(day)), "has_more": False}
        )


def _reserve_and_confirm(db: Database, mid: str, req: scenic.ReserveIn) -> dict[str, Any]:
    o = db.run(lambda c: scenic.reserve(c, mid, req))
    return db.run(lambda c: scenic.confirm(c, mid, o["id"]))


@api.post(
    "/scenic/orders", summary="Reserve places in a slot and pay for them (held while paying)", tags=["scenic"]
)
def reserve(
    req: scenic.ReserveIn,
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: _reserve_and_confirm(db, p.merchant_id, req))


@api.get(
    "/scenic/orders/{order_id}",
    summary="An order and its e-tickets (brought to its payment's outcome)",
    tags=["scenic"],
)
def get_order(
    order_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: scenic.confirm(c, p.merchant_id, order_id)))


@api.post(
    "/scenic/orders/{order_id}/refund", summary="Refund an unused order before the deadline", tags=["scenic"]
)
def refund_order(
    order_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: scenic.refund_order(c, p.merchant_id, order_id)))


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=300)
    gate: str = Field(default="gate", max_length=40)


@api.post(
    "/scenic/scans", summary="A gate scan: accepted once, else refused with the reason", tags=["scenic"]
)
def scan(
    req: ScanIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: scenic.scan(c, p.merchant_id, req.code, gate=req.gate)))


# ---------------------------------------------------------------- console: the operator's staff


def _own(user: User) -> str:
    if not user.merchant_id:
        raise PermissionDenied("no merchant on this account", code="forbidden")
    return user.merchant_id


def _staff_page(request: Request, user: User, **extra: Any) -> Response:
    db: Database = request.app.state.db
    mid = _own(user)
    now = clock.now()
    today = service.local_day(now)
    ctx: dict[str, Any] = {"error": None, "param": None, "today": today, **extra}
    with db.read() as c:
        op = service.operator_of(c, mid)
        ctx["op"] = op
        if op is None:
            return console.page(request, "transit/none.html", ctx, active="/console/merchant/transit")
        if op["kind"] == "scenic":
            day = extra.get("day") or today
            ctx.update(
                day=day,
                slots=scenic.list_slots(c, mid, day),
                types=scenic.list_ticket_types(c, mid),
                sales=scenic.sales(c, mid, day),
                orders=scenic.list_orders(c, mid, day=day, limit=20),
            )
            template = "transit/scenic.html"
        else:
            ctx.update(
                lines=service.list_lines(c, mid),
                validators=service.validator_health(c, mid, at=now),
                revenue=service.daily_revenue(c, mid, at=now),
                totals=service.charge_totals(c, mid),
                parked=service.list_taps(c, mid, status="parked", limit=20),
                denied=service.deny_entries(c, mid),
                charges=service.list_charges(c, mid, limit=20),
                passes=service.list_passes(c, mid, limit=20),
                products=service.list_pass_products(c, mid),
            )
            template = "transit/operator.html"
    return console.page(
        request, template, ctx, status=400 if ctx["error"] else 200, active="/console/merchant/transit"
    )


def _failed(request: Request, user: User, exc: ZhifuError | ValidationError, **extra: Any) -> Response:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "form"
        return _staff_page(request, user, error=f"{field}：{err['msg']}", param=field, **extra)
    return _staff_page(request, user, error=exc.message, param=exc.param, **extra)


@pages.get("/console/merchant/transit")
def staff_home(request: Request, day: str = "", user: User = Depends(_merchant_user)) -> Response:
    try:
        d = _date(day) if day else None
    except InvalidRequest as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, **({"day": d} if d else {}))


@pages.post("/console/merchant/transit/caps")
def staff_caps(
    request: Request, daily: str = Form(""), monthly: str = Form(""), user: User = Depends(_merchant_user)
) -> Response:
    db: Database = request.app.state.db
    try:
        req = service.CapsIn(
            daily_cap_fen=parse_yuan(daily, param="daily_cap") if daily else None,
            monthly_cap_fen=parse_yuan(monthly, param="monthly_cap") if monthly else None,
        )
        db.run(lambda c: service.set_caps(c, _own(user), req))
    except (ZhifuError, ValidationError) as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, done="封顶已更新 / caps updated")


@pages.post("/console/merchant/transit/lines")
def staff_line(
    request: Request,
    line_id: str = Form(""),
    name: str = Form(""),
    fare: str = Form(""),
    user: User = Depends(_merchant_user),
) -> Response:
    db: Database = request.app.state.db
    try:
        req = service.LineIn(
            id=line_id, name=name, flat_fare_fen=parse_yuan(fare, param="fare") if fare else 0
        )
        db.run(lambda c: service.add_line(c, _own(user), req))
    except (ZhifuError, ValidationError) as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, done=f"线路 {line_id} 已添加 / line added")


@pages.post("/console/merchant/transit/validators")
def staff_validator(
    request: Request,
    validator_id: str = Form(""),
    line_id: str = Form(""),
    label: str = Form(""),
    user: User = Depends(_merchant_user),
) -> Response:
    db: Database = request.app.state.db
    try:
        db.run(lambda c: service.add_validator(c, _own(user), validator_id, line_id or None, label))
    except ZhifuError as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, done=f"验票机 {validator_id} 已登记 / validator registered")


@pages.post("/console/merchant/transit/charges")
def staff_charge(request: Request, user: User = Depends(_merchant_user)) -> Response:
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            service.operator_row(c, _own(user), kind="transit")
        stats = service.charge_due(db, merchant_id=_own(user))
    except ZhifuError as exc:
        return _failed(request, user, exc)
    return _staff_page(
        request,
        user,
        done=f"扣费 {stats['charges']} 笔：成功 {stats['succeeded']}，失败 {stats['failed']} / "
        f"{stats['charges']} charges, {stats['failed']} declined",
    )


@pages.post("/console/merchant/transit/taps/{tap_id}/release")
def staff_release(request: Request, tap_id: str, user: User = Depends(_merchant_user)) -> Response:
    db: Database = request.app.state.db
    try:
        db.run(lambda c: service.release_parked(c, _own(user), tap_id))
    except ZhifuError as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, done=f"已计入 {tap_id} / tap counted")


@pages.post("/console/merchant/scenic/slots")
def staff_slots(
    request: Request,
    day: str = Form(""),
    windows: str = Form(""),
    max_capacity: str = Form(""),
    capacity_pct: str = Form("75"),
    user: User = Depends(_merchant_user),
) -> Response:
    db: Database = request.app.state.db
    try:
        if not max_capacity.isdigit() or not capacity_pct.isdigit():
            raise InvalidRequest(
                "最大承载量与比例须为整数 / max_capacity and capacity_pct are whole numbers",
                param="max_capacity" if not max_capacity.isdigit() else "capacity_pct",
            )
        req = scenic.SlotsIn(
            day=_date(day),
            windows=[w.strip() for w in windows.replace("，", ",").split(",") if w.strip()],
            max_capacity=int(max_capacity),
            capacity_ppm=int(capacity_pct) * 10_000,
        )
        db.run(lambda c: scenic.add_slots(c, _own(user), req))
    except (ZhifuError, ValidationError) as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, day=req.day, done=f"已开放 {len(req.windows)} 个时段 / slots opened")


@pages.post("/console/merchant/scenic/sell")
def staff_sell(
    request: Request,
    slot_id: str = Form(""),
    type_id: str = Form(""),
    quantity: str = Form("1"),
    auth_code: str = Form(""),
    user: User = Depends(_merchant_user),
) -> Response:
    """The ticket window: the visitor's pay code is scanned, the tickets are printed (or shown) at once."""
    db: Database = request.app.state.db
    try:
        if not quantity.isdigit():
            raise InvalidRequest("张数须为整数 / quantity is a whole number", param="quantity")
        req = scenic.ReserveIn(
            slot_id=slot_id, type_id=type_id, quantity=int(quantity), auth_code=auth_code.strip()
        )
        order = _reserve_and_confirm(db, _own(user), req)
    except (ZhifuError, ValidationError) as exc:
        return _failed(request, user, exc)
    from zhifu.bills.receipts import qr_svg

    qrs = {t["id"]: qr_svg(t["code"]) for t in order.get("tickets", [])}
    return _staff_page(request, user, sold=order, qrs=qrs)


@pages.post("/console/merchant/scenic/scan")
def staff_scan(
    request: Request, code: str = Form(""), gate: str = Form("gate"), user: User = Depends(_merchant_user)
) -> Response:
    db: Database = request.app.state.db
    try:
        if not code.strip():
            raise InvalidRequest("请扫描或输入票码 / scan or type the ticket code", param="code")
        result = db.run(lambda c: scenic.scan(c, _own(user), code, gate=gate))
    except ZhifuError as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, scanned=result)


@pages.post("/console/merchant/scenic/orders/{order_id}/refund")
def staff_refund(request: Request, order_id: str, user: User = Depends(_merchant_user)) -> Response:
    db: Database = request.app.state.db
    try:
        db.run(lambda c: scenic.refund_order(c, _own(user), order_id))
    except ZhifuError as exc:
        return _failed(request, user, exc)
    return _staff_page(request, user, done=f"订单 {order_id} 已退款 / order refunded")


# ---------------------------------------------------------------- console: the bank operator and the regulator


def _bank_page(request: Request, **extra: Any) -> Response:
    db: Database = request.app.state.db
    today = service.local_day(clock.now())
    with db.read() as c:
        ops = service.list_operators(c)
        figs = service.kpi_transit_usage(c, today.replace(day=1), today)
        health = {
            o["id"]: service.validator_health(c, o["merchant_id"]) for o in ops if o["kind"] != "scenic"
        }
    ctx = {"ops": ops, "f": figs, "health": health, "error": None, "param": None, **extra}
    return console.page(
        request,
        "transit/bank.html",
        ctx,
        status=400 if ctx["error"] else 200,
        active="/console/operator/transit",
    )


@pages.get("/console/operator/transit")
def bank_home(request: Request, user: User = Depends(_operator_user)) -> Response:
    return _bank_page(request)


@pages.post("/console/operator/transit/operators")
def bank_register(
    request: Request,
    op_id: str = Form(""),
    name: str = Form(""),
    kind: str = Form("bus"),
    merchant_id: str = Form(""),
    daily: str = Form(""),
    monthly: str = Form(""),
    user: User = Depends(_operator_user),
) -> Response:
    db: Database = request.app.state.db
    try:
        req = service.OperatorIn(
            id=op_id,
            name=name,
            kind=kind,
            merchant_id=merchant_id,  # type: ignore[arg-type]
            daily_cap_fen=parse_yuan(daily, param="daily_cap") if daily else None,
            monthly_cap_fen=parse_yuan(monthly, param="monthly_cap") if monthly else None,
            concessions={"student": 500_000, "elderly": 1_000_000, "free": 1_000_000},
        )

        def go(c: Any) -> dict[str, Any]:
            if (
                merchants.merchant_row(c, merchant_id).acquirer_id != user.institution_id
            ):  # another acquirer's
                raise NotFound(f"没有商户 {merchant_id} / no merchant {merchant_id}", param="merchant_id")
            return service.register_operator(c, req)

        db.run(go)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "form"
        return _bank_page(request, error=f"{field}：{err['msg']}", param=field)
    except ZhifuError as exc:
        return _bank_page(request, error=exc.message, param=exc.param)
    return _bank_page(request, done=f"已开通 {name} / operator enabled")


@pages.get("/console/regulator/transit")
def regulator_home(
    request: Request, start: str = "", end: str = "", user: User = Depends(_regulator_user)
) -> Response:
    db: Database = request.app.state.db
    today = service.local_day(clock.now())
    error = None
    try:
        lo = _date(start, "start") if start else today.replace(day=1)
        hi = _date(end, "end") if end else today
    except InvalidRequest as exc:
        lo, hi, error = today.replace(day=1), today, exc.message
    from zhifu.merchants import county

    towns = {t.code: t.name for t in county().towns}
    with db.read() as c:
        figs = service.kpi_transit_usage(c, lo, hi)
        ops = service.list_operators(c)
    return console.page(
        request,
        "transit/regulator.html",
        {"f": figs, "start": lo, "end": hi, "towns": towns, "ops": ops, "error": error},
        status=400 if error else 200,
        active="/console/regulator/transit",
    )


router.include_router(api)
router.include_router(pages)
