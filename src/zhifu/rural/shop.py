"""Farm-produce online checkout (田间互联网物流餐桌): a small shop front per agri merchant (product, price, stock)
paid on the phone through the existing payment API (a dynamic code for 云闪付, WeChat or Alipay that opens the
payer's app), with order states paid → shipped → received, refunds through the payment's own refund, and the
share of the agri merchants' sales that came through the shop.

An order takes its stock when it is placed and gives it back if its payment does not succeed or it is refunded.
The payment is committed before the rail is asked (the payment capability's rule), so an order's state follows
its payment when the order is read again (`refresh`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.merchants import active_merchant_row
from zhifu.rural.models import orders, products

ORDER_QTY_MAX = 1_000
ONLINE_CHANNELS = ("unionpay_qr", "wechat", "alipay")
NEXT = {"ship": ("paid", "shipped"), "receive": ("shipped", "received")}


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    name: str = Field(min_length=1, max_length=60)
    unit: str = Field(default="件", min_length=1, max_length=10)
    price_fen: StrictInt
    stock: StrictInt


def put_product(conn: Connection, merchant_id: str, req: ProductIn, *, at: dt.datetime | None = None) -> dict:
    at = at or clock.now()
    active_merchant_row(conn, merchant_id, param=None)
    if req.price_fen <= 0 or req.price_fen > 10_000_000:
        raise InvalidRequest("价格须大于零 / price must be more than zero", param="price_fen")
    if req.stock < 0 or req.stock > 1_000_000:
        raise InvalidRequest("库存须为 0–1,000,000 / stock must be 0–1,000,000", param="stock")
    have = conn.execute(
        select(products.c.id).where(and_(products.c.merchant_id == merchant_id, products.c.id == req.id))
    ).first()
    values = {"name": req.name, "unit": req.unit, "price_fen": req.price_fen, "stock": req.stock}
    if have is None:
        conn.execute(
            insert(products), [{"merchant_id": merchant_id, "id": req.id, **values, "created_at": at}]
        )
    else:
        conn.execute(
            update(products)
            .where(and_(products.c.merchant_id == merchant_id, products.c.id == req.id))
            .values(**values)
        )
    return product(conn, merchant_id, req.id)


def product(conn: Connection, merchant_id: str, product_id: str) -> dict[str, Any]:
    r = conn.execute(
        select(products).where(and_(products.c.merchant_id == merchant_id, products.c.id == product_id))
    ).first()
    if r is None:
        raise NotFound(f"没有商品 {product_id} / no product {product_id}", param="product_id")
    return {
        "id": r.id,
        "merchant_id": r.merchant_id,
        "name": r.name,
        "unit": r.unit,
        "price_fen": r.price_fen,
        "stock": r.stock,
    }


def list_products(conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
    return [
        product(conn, merchant_id, r.id)
        for r in conn.execute(
            select(products.c.id).where(products.c.merchant_id == merchant_id).order_by(products.c.id)
        )
    ]


def shops(conn: Connection) -> list[str]:
    return [
        m for (m,) in conn.execute(select(products.c.merchant_id).distinct().order_by(products.c.merchant_id))
    ]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=32)
    quantity: StrictInt = 1
    channel: Literal["unionpay_qr", "wechat", "alipay"] = "unionpay_qr"
    phone: str = Field(default="", max_length=11)


def place_order(conn: Connection, merchant_id: str, req: OrderIn, *, at: dt.datetime | None = None) -> dict:
    """Take the stock and create the payment (its code opens the payer's app after this commits)."""
    from zhifu.payments import service as payments
    from zhifu.privacy import mask_phone

    at = at or clock.now()
    if not 0 < req.quantity <= ORDER_QTY_MAX:
        raise InvalidRequest(
            f"数量须为 1–{ORDER_QTY_MAX} / quantity must be 1–{ORDER_QTY_MAX}", param="quantity"
        )
    p = product(conn, merchant_id, req.product_id)
    took = conn.execute(
        update(products)
        .where(
            and_(
                products.c.merchant_id == merchant_id,
                products.c.id == req.product_id,
                products.c.stock >= req.quantity,
            )
        )
        .values(stock=products.c.stock - req.quantity)
    )
    if took.rowcount != 1:
        raise ConflictError(
            f"库存不足：{p['name']} 剩 {p['stock']} / not enough stock", param="quantity", code="out_of_stock"
        )
    oid = new_id_fast("ord", int(at.timestamp() * 1000))
    amount = p["price_fen"] * req.quantity
    pay = payments.create_payment(
        conn,
        merchant_id,
        payments.CreatePayment(
            amount_fen=amount,
            merchant_order_no=oid,
            channel=req.channel,
            description=f"{p['name']} ×{req.quantity}",
            metadata={"rural_order": oid},
        ),
        at=at,
    )
    conn.execute(
        insert(orders),
        [
            {
                "merchant_id": merchant_id,
                "id": oid,
                "product_id": req.product_id,
                "quantity": req.quantity,
                "amount_fen": amount,
                "channel": req.channel,
                "payment_id": pay["id"],
                "status": "pending",
                "buyer_phone_masked": mask_phone(req.phone) if req.phone else "",
                "created_at": at,
                "updated_at": at,
                "paid_at": None,
            }
        ],
    )
    return order(conn, merchant_id, oid)


def _row(conn: Connection, merchant_id: str, order_id: str) -> Any:
    r = conn.execute(
        select(orders).where(and_(orders.c.merchant_id == merchant_id, orders.c.id == order_id))
    ).first()
    if r is None:
        raise NotFound(f"没有订单 {order_id} / no order {order_id}", param="order_id")
    return r


def order(conn: Connection, merchant_id: str, order_id: str) -> dict[str, Any]:
    r = _row(conn, merchant_id, order_id)
    return {
        "id": r.id,
        "object": "agri_order",
        "merchant_id": r.merchant_id,
        "product_id": r.product_id,
        "quantity": r.quantity,
        "amount_fen": r.amount_fen,
        "channel": r.channel,
        "payment_id": r.payment_id,
        "status": r.status,
        "buyer_phone": r.buyer_phone_masked,
        "created_at": r.created_at,
        "paid_at": r.paid_at,
    }


def refresh(
    conn: Connection, merchant_id: str, order_id: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Bring a pending order up to its payment: paid when it succeeded, cancelled (stock back) when it ended."""
    from zhifu.payments import service as payments

    at = at or clock.now()
    r = _row(conn, merchant_id, order_id)
    if r.status == "pending":
        p = payments.get_payment(conn, merchant_id, r.payment_id)
        if p["status"] == "succeeded":
            conn.execute(
                update(orders)
                .where(
                    and_(
                        orders.c.merchant_id == merchant_id,
                        orders.c.id == order_id,
                        orders.c.status == "pending",
                    )
                )
                .values(status="paid", paid_at=at, updated_at=at)
            )
        elif p["status"] in ("failed", "closed", "expired"):
            _cancel(conn, r, "cancelled", at)
    return order(conn, merchant_id, order_id)


def _cancel(conn: Connection, r: Any, status: str, at: dt.datetime) -> None:
    done = conn.execute(
        update(orders)
        .where(and_(orders.c.merchant_id == r.merchant_id, orders.c.id == r.id, orders.c.status == r.status))
        .values(status=status, updated_at=at)
    )
    if done.rowcount == 1:
        conn.execute(
            update(products)
            .where(and_(products.c.merchant_id == r.merchant_id, products.c.id == r.product_id))
            .values(stock=products.c.stock + r.quantity)
        )


def advance(
    conn: Connection, merchant_id: str, order_id: str, action: str, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """ship (paid → shipped) or receive (shipped → received)."""
    at = at or clock.now()
    if action not in NEXT:
        raise InvalidRequest(f"未知操作 {action} / unknown action", param="action")
    r = _row(conn, merchant_id, order_id)
    before, after = NEXT[action]
    if r.status != before:
        raise ConflictError(
            f"订单状态为 {r.status}，不能{action} / the order is {r.status}",
            param="action",
            code="order_state",
        )
    conn.execute(
        update(orders)
        .where(and_(orders.c.merchant_id == merchant_id, orders.c.id == order_id))
        .values(status=after, updated_at=at)
    )
    return order(conn, merchant_id, order_id)


def refund(
    conn: Connection, merchant_id: str, order_id: str, *, reason: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Refund a paid, shipped or received order in full through its payment; the stock comes back."""
    from zhifu.payments import service as payments

    at = at or clock.now()
    r = _row(conn, merchant_id, order_id)
    if r.status not in ("paid", "shipped", "received"):
        raise ConflictError(
            f"订单状态为 {r.status}，不能退款 / only a paid order can be refunded", code="order_state"
        )
    payments.create_refund(
        conn, merchant_id, r.payment_id, payments.CreateRefund(reason=reason or "农产品订单退款"), at=at
    )
    _cancel(conn, r, "refunded", at)
    return order(conn, merchant_id, order_id)


def list_orders(conn: Connection, merchant_id: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
    q = select(orders.c.merchant_id, orders.c.id).order_by(orders.c.created_at.desc()).limit(limit)
    if merchant_id:
        q = q.where(orders.c.merchant_id == merchant_id)
    return [order(conn, m, i) for m, i in conn.execute(q)]


def online_share(conn: Connection, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Online agri sales (orders paid, not refunded) ÷ everything the agri shops took in the period."""
    from zhifu.payments.read import payments_view as payment_rows  # the shops' total takings

    online = int(
        conn.execute(
            select(func.coalesce(func.sum(orders.c.amount_fen), 0)).where(
                and_(
                    orders.c.paid_at >= start,
                    orders.c.paid_at < end,
                    orders.c.status.in_(("paid", "shipped", "received")),
                )
            )
        ).scalar_one()
    )
    shop_ids = shops(conn)
    total = 0
    for i in range(0, len(shop_ids), 500):
        total += int(
            conn.execute(
                select(
                    func.coalesce(func.sum(payment_rows.c.amount_fen - payment_rows.c.refunded_fen), 0)
                ).where(
                    and_(
                        payment_rows.c.merchant_id.in_(shop_ids[i : i + 500]),
                        payment_rows.c.status == "succeeded",
                        payment_rows.c.succeeded_at >= start,
                        payment_rows.c.succeeded_at < end,
                    )
                )
            ).scalar_one()
        )
    return {
        "online_fen": online,
        "all_fen": total,
        "shops": len(shop_ids),
        "share_ppm": (online * 1_000_000 + total // 2) // total if total else None,
    }
