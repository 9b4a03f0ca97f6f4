"""Rural finance over HTTP: the JSON API (`/v1/rural/…`: e-accounts for the bank's phone app, purchases and payout
batches for buyers, harvest cards and service points for the bank, agri orders for shop fronts) and the console
pages of the bank operator (open and verify e-accounts, register harvest cards, enable buyers and village
service points) and of the merchant (a buyer's scale and payouts, an agent's withdrawals and cash, a shop's
products and orders)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from zhifu.api.deps import get_db, json_response, merchant_principal, operator_principal
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.errors import InvalidRequest, PermissionDenied, ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal, Principal
from zhifu.rural import eaccounts as ea
from zhifu.rural import harvest, payouts, points, shop
from zhifu.rural.models import buyers as buyer_rows
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1/rural", tags=["rural"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_merchant_user = console.role("merchant")
_operator_user = console.role("operator")
console.add_nav("merchant", (("/console/merchant/rural", N_("农村金融 / Rural")),), after=5)
console.add_nav("operator", (("/console/operator/rural", N_("农村金融 / Rural")),), after=4)


class Movement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: StrictInt
    reference: str = Field(min_length=1, max_length=64)
    card_no: str | None = Field(default=None, max_length=19)
    merchant_id: str | None = Field(default=None, max_length=32)


# ---------------------------------------------------------------- JSON API


@api.post("/eaccounts", summary="Open a Class II or III e-account against the person's bound Class I card")
def open_eaccount(
    req: ea.OpenEAccount, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: ea.open_eaccount(c, req)), 201)


@api.get("/eaccounts/{account_id}", summary="An e-account, its balance, its limits used and its statement")
def get_eaccount(
    account_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {
                **ea.get_eaccount(c, account_id),
                "usage": ea.usage(c, account_id),
                "statement": ea.statement(c, account_id, limit=20),
            }
        )


@api.post("/eaccounts/{account_id}/topups", summary="Top up from the bound card")
def top_up(
    account_id: str, req: Movement, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    if not req.card_no:
        raise InvalidRequest("须提供绑定卡号 / card_no is required", param="card_no")
    return json_response(
        db.run(lambda c: ea.top_up(c, account_id, req.card_no or "", req.amount_fen, req.reference)), 201
    )


@api.post("/eaccounts/{account_id}/payments", summary="Pay a merchant on-us from the e-account")
def pay(
    account_id: str, req: Movement, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    if not req.merchant_id:
        raise InvalidRequest("须提供商户号 / merchant_id is required", param="merchant_id")
    return json_response(
        db.run(
            lambda c: ea.pay_merchant(c, account_id, req.merchant_id or "", req.amount_fen, req.reference)
        ),
        201,
    )


@api.post("/eaccounts/{account_id}/transfers", summary="Transfer out to the bound card")
def transfer(
    account_id: str, req: Movement, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: ea.transfer_out(c, account_id, req.amount_fen, req.reference)), 201)


@api.post("/harvest_cards", summary="Register a harvest card issued to a farmer")
def register_card(
    req: harvest.HarvestCardIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: harvest.register_card(c, req)), 201)


@api.post("/service_points", summary="Enable a village service point on an agent's merchant")
def register_point(
    req: points.PointIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: points.register_point(c, req)), 201)


@api.post("/service_points/{point_id}/txns", summary="A withdrawal or bill at the caller's service point")
def point_txn(
    point_id: str,
    req: points.PointTxnIn,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: points.transact(c, p.merchant_id, point_id, req)), 201)


@api.post("/buyers", summary="Enable farm-produce purchasing on a merchant (operator)")
def register_buyer(
    req: payouts.BuyerIn, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: payouts.register_buyer(c, req)), 201)


@api.post("/farmers", summary="Register a farmer with a card or an e-account to be paid to")
def register_farmer(
    req: payouts.FarmerIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: payouts.register_farmer(c, req)), 201)


@api.post("/purchases", summary="Record a purchase at the scale")
def purchase(
    req: payouts.PurchaseIn,
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(db.run(lambda c: payouts.record_purchase(c, p.merchant_id, req)), 201)


@api.post(
    "/payout_batches", summary="Pay every unpaid purchase, one line per farmer; refused whole without funds"
)
def pay_batch(p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)) -> Response:
    return json_response(db.run(lambda c: payouts.pay_batch(c, p.merchant_id)), 201)


@api.get("/payout_batches/{batch_id}/statement", summary="The buyer's statement of a batch (CSV)")
def batch_statement(
    batch_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        payouts.batch(c, p.merchant_id, batch_id)
        return PlainTextResponse(
            payouts.buyer_statement_csv(c, p.merchant_id, batch_id), media_type="text/csv"
        )


@api.post("/orders", summary="Place an agri order at the caller's shop front (its payment's code follows)")
def place_order(
    req: shop.OrderIn, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    o = db.run(lambda c: shop.place_order(c, p.merchant_id, req))
    from zhifu.payments import service as payments

    with db.read() as c:  # the rail answered after the order's commit: its code to scan is on the payment now
        pay_doc = payments.get_payment(c, p.merchant_id, o["payment_id"])
    return json_response({**o, "code_url": pay_doc["code_url"]}, 201)


# ---------------------------------------------------------------- console: the bank operator


def _form_error(exc: ZhifuError | ValidationError) -> tuple[str, str]:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "form"
        return f"{field}：{err['msg']}", field
    return exc.message, exc.param or ""


def _bank_page(request: Request, **extra: Any) -> Response:
    db: Database = request.app.state.db
    today = clock.now().astimezone(clock.SHANGHAI).date()
    from zhifu.rural.service import kpi_rural

    with db.read() as c:
        ctx = {
            "accounts": ea.list_eaccounts(c, limit=30),
            "cards": harvest.list_cards(c, limit=30),
            "points": points.list_points(c),
            "buyers": payouts.list_buyers(c),
            "f": kpi_rural(c, today.replace(day=1), today),
            "error": None,
            "param": None,
            **extra,
        }
    return console.page(
        request, "rural/bank.html", ctx, status=400 if ctx["error"] else 200, active="/console/operator/rural"
    )


def _bank_action(request: Request, fn: Any, done: str) -> Response:
    db: Database = request.app.state.db
    try:
        out = db.run(fn)
    except (ZhifuError, ValidationError) as exc:
        error, param = _form_error(exc)
        return _bank_page(request, error=error, param=param)
    return _bank_page(request, done=done.format(**out) if isinstance(out, dict) else done)


@pages.get("/console/operator/rural")
def bank_home(request: Request, user: User = Depends(_operator_user)) -> Response:
    return _bank_page(request)


@pages.post("/console/operator/rural/eaccounts")
def bank_open(
    request: Request,
    account_class: str = Form("II"),
    name: str = Form(""),
    id_no: str = Form(""),
    phone: str = Form(""),
    card_no: str = Form(""),
    user: User = Depends(_operator_user),
) -> Response:
    try:
        req = ea.OpenEAccount(
            bank_id=user.institution_id or "",
            account_class=account_class,  # type: ignore[arg-type]
            name=name,
            id_no=id_no.strip(),
            phone=phone.strip(),
            card_no=card_no.strip(),
        )
    except ValidationError as exc:
        error, param = _form_error(exc)
        return _bank_page(request, error=error, param=param)
    return _bank_action(
        request,
        lambda c: ea.open_eaccount(c, req),
        "已开立{account_class}类户 {id}，绑定卡 {bound_card} / e-account opened",
    )


@pages.post("/console/operator/rural/harvest_cards")
def bank_card(
    request: Request,
    card_no: str = Form(""),
    holder: str = Form(""),
    town_code: str = Form(""),
    village_code: str = Form(""),
    issued_on: str = Form(""),
    user: User = Depends(_operator_user),
) -> Response:
    try:
        req = harvest.HarvestCardIn(
            issuer_id=user.institution_id or "",
            card_no=card_no.strip(),
            holder=holder,
            town_code=town_code.strip(),
            village_code=village_code.strip() or None,
            issued_on=issued_on,
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        error, param = _form_error(exc)
        return _bank_page(request, error=error, param=param)
    return _bank_action(
        request, lambda c: harvest.register_card(c, req), "丰收卡 {card} 已登记 / harvest card registered"
    )


@pages.post("/console/operator/rural/harvest_cards/import")
async def bank_card_import(
    request: Request, file: UploadFile = File(...), user: User = Depends(_operator_user)
) -> Response:
    data = await file.read()
    return _bank_action(
        request,
        lambda c: {"n": harvest.import_cards(c, user.institution_id or "", data)},
        "已导入 {n} 张丰收卡 / cards imported",
    )


@pages.post("/console/operator/rural/points")
def bank_point(
    request: Request,
    merchant_id: str = Form(""),
    name: str = Form(""),
    village_code: str = Form(""),
    limit: str = Form("1000"),
    commission: str = Form("1.00"),
    user: User = Depends(_operator_user),
) -> Response:
    try:
        req = points.PointIn(
            merchant_id=merchant_id.strip(),
            name=name,
            village_code=village_code.strip(),
            card_daily_limit_fen=parse_yuan(limit, param="limit"),
            commission_fen=parse_yuan(commission, param="commission", max_fen=10**9),
        )
    except (ZhifuError, ValidationError) as exc:
        error, param = _form_error(exc)
        return _bank_page(request, error=error, param=param)
    return _bank_action(
        request, lambda c: points.register_point(c, req), "服务点 {name} 已开通 / service point enabled"
    )


@pages.post("/console/operator/rural/buyers")
def bank_buyer(
    request: Request,
    merchant_id: str = Form(""),
    kind: str = Form("purchase_station"),
    name: str = Form(""),
    user: User = Depends(_operator_user),
) -> Response:
    try:
        req = payouts.BuyerIn(merchant_id=merchant_id.strip(), kind=kind, name=name)  # type: ignore[arg-type]
    except ValidationError as exc:
        error, param = _form_error(exc)
        return _bank_page(request, error=error, param=param)
    return _bank_action(
        request, lambda c: payouts.register_buyer(c, req), "已开通收购 {name} / buyer enabled"
    )


# ---------------------------------------------------------------- console: the merchant


def _own(user: User) -> str:
    if not user.merchant_id:
        raise PermissionDenied("no merchant on this account", code="forbidden")
    return user.merchant_id


def _merchant_page(request: Request, user: User, **extra: Any) -> Response:
    db: Database = request.app.state.db
    mid = _own(user)
    from sqlalchemy import select

    with db.read() as c:
        is_buyer = c.execute(select(buyer_rows.c.merchant_id).where(buyer_rows.c.merchant_id == mid)).first()
        ctx: dict[str, Any] = {
            "error": None,
            "param": None,
            "buyer": None,
            "batches": [],
            "failed": {},
            "purchases": [],
            **extra,
        }
        if is_buyer:
            ctx["buyer"] = payouts.buyer(c, mid)
            ctx["purchases"] = payouts.list_purchases(c, mid, limit=20)
            ctx["batches"] = payouts.list_batches(c, mid, limit=5)
            ctx["failed"] = {b["id"]: payouts.lines(c, mid, b["id"], status="failed") for b in ctx["batches"]}
        ctx["points"] = [
            {**p, "txns": points.txns(c, p["id"], limit=10)} for p in points.list_points(c, merchant_id=mid)
        ]
        ctx["products"] = shop.list_products(c, mid)
        ctx["orders"] = shop.list_orders(c, mid, limit=20)
        ctx["takings"] = ea.merchant_takings(c, mid, limit=10)
    return console.page(
        request,
        "rural/merchant.html",
        ctx,
        status=400 if ctx["error"] else 200,
        active="/console/merchant/rural",
    )


def _merchant_action(request: Request, user: User, fn: Any, done: str) -> Response:
    db: Database = request.app.state.db
    try:
        out = db.run(fn)
    except (ZhifuError, ValidationError) as exc:
        error, param = _form_error(exc)
        return _merchant_page(request, user, error=error, param=param)
    return _merchant_page(request, user, done=done.format(**out) if isinstance(out, dict) else done)


def _int(value: str, param: str) -> int:
    v = value.strip()
    if not v.lstrip("-").isdigit():
        raise InvalidRequest(f"{param} 须为整数 / {param} must be a whole number", param=param)
    return int(v)


@pages.get("/console/merchant/rural")
def merchant_home(request: Request, user: User = Depends(_merchant_user)) -> Response:
    return _merchant_page(request, user)


@pages.post("/console/merchant/rural/purchases")
def merchant_purchase(
    request: Request,
    farmer_id: str = Form(""),
    product: str = Form(""),
    grade: str = Form(""),
    weight_g: str = Form(""),
    price_fen_per_kg: str = Form(""),
    deductions_fen: str = Form("0"),
    user: User = Depends(_merchant_user),
) -> Response:
    def go(c: Any) -> dict[str, Any]:
        req = payouts.PurchaseIn(
            farmer_id=farmer_id.strip(),
            product=product,
            grade=grade,
            weight_g=_int(weight_g, "weight_g"),
            price_fen_per_kg=_int(price_fen_per_kg, "price_fen_per_kg"),
            deductions_fen=_int(deductions_fen or "0", "deductions_fen"),
        )
        p = payouts.record_purchase(c, _own(user), req)
        return {**p, "receipt": payouts.receipt(c, _own(user), p["id"])}

    db: Database = request.app.state.db
    try:
        p = db.run(go)
    except (ZhifuError, ValidationError) as exc:
        error, param = _form_error(exc)
        return _merchant_page(request, user, error=error, param=param)
    return _merchant_page(
        request, user, done=f"收购单 {p['id']} 已记录 / purchase recorded", receipt=p["receipt"]
    )


@pages.post("/console/merchant/rural/purchases/import")
async def merchant_import(
    request: Request, file: UploadFile = File(...), user: User = Depends(_merchant_user)
) -> Response:
    data = await file.read()
    return _merchant_action(
        request,
        user,
        lambda c: {"n": payouts.import_purchases(c, _own(user), data)},
        "已导入 {n} 张收购单 / purchases imported",
    )


@pages.post("/console/merchant/rural/batches")
def merchant_batch(request: Request, user: User = Depends(_merchant_user)) -> Response:
    return _merchant_action(
        request, user, lambda c: payouts.pay_batch(c, _own(user)), "批次 {id}：{lines} 户 / batch paid"
    )


@pages.post("/console/merchant/rural/batches/{batch_id}/lines/{line_no}/{action}")
def merchant_line(
    request: Request, batch_id: str, line_no: int, action: str, user: User = Depends(_merchant_user)
) -> Response:
    fn = {"retry": payouts.retry_line, "return": payouts.return_line}.get(action)
    if fn is None:
        return _merchant_page(request, user, error="未知操作 / unknown action", param="action")
    return _merchant_action(
        request,
        user,
        lambda c: fn(c, _own(user), batch_id, line_no),
        "第 {line_no} 行：{status} / line updated",
    )


@pages.post("/console/merchant/rural/points/{point_id}/txns")
def merchant_point_txn(
    request: Request,
    point_id: str,
    kind: str = Form("withdraw"),
    card_no: str = Form(""),
    amount: str = Form(""),
    user: User = Depends(_merchant_user),
) -> Response:
    def go(c: Any) -> dict[str, Any]:
        req = points.PointTxnIn(
            kind=kind,
            card_no=card_no.strip(),  # type: ignore[arg-type]
            amount_fen=parse_yuan(amount, param="amount_fen"),
        )
        return points.transact(c, _own(user), point_id, req)

    return _merchant_action(request, user, go, "{card} 已办理 / done")


@pages.post("/console/merchant/rural/points/{point_id}/cash")
def merchant_cash(
    request: Request, point_id: str, cash: str = Form(""), user: User = Depends(_merchant_user)
) -> Response:
    return _merchant_action(
        request,
        user,
        lambda c: points.report_cash(
            c, _own(user), point_id, parse_yuan(cash, param="cash_fen", max_fen=10**9)
        ),
        "现金已报告 / cash reported",
    )


@pages.post("/console/merchant/rural/products")
def merchant_product(
    request: Request,
    product_id: str = Form(""),
    name: str = Form(""),
    price: str = Form(""),
    stock: str = Form(""),
    user: User = Depends(_merchant_user),
) -> Response:
    def go(c: Any) -> dict[str, Any]:
        req = shop.ProductIn(
            id=product_id.strip(),
            name=name,
            price_fen=parse_yuan(price, param="price_fen"),
            stock=_int(stock, "stock"),
        )
        return shop.put_product(c, _own(user), req)

    return _merchant_action(request, user, go, "商品 {name} 已上架 / product listed")


@pages.post("/console/merchant/rural/orders/{order_id}/{action}")
def merchant_order(
    request: Request, order_id: str, action: str, user: User = Depends(_merchant_user)
) -> Response:
    def go(c: Any) -> dict[str, Any]:
        if action == "refund":
            return shop.refund(c, _own(user), order_id)
        if action == "refresh":
            return shop.refresh(c, _own(user), order_id)
        return shop.advance(c, _own(user), order_id, action)

    return _merchant_action(request, user, go, "订单 {id}：{status}")


router.include_router(api)
router.include_router(pages)
