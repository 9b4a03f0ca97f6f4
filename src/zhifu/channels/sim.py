"""The simulated rails: each channel's simulator keeps its own book of transactions, answers like the rail
(declines, USERPAYING, timeouts), and sends signed notifications after a configurable delay."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import hashlib
import hmac
import itertools
import random
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    String,
    Table,
    and_,
    select,
    update,
)

from zhifu.channels.base import ChannelResult, Notification, PaymentOrder
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.db.meta import metadata, utcnow_column

sim_txns = Table(
    "sim_rail_txns",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("ref", String(40), primary_key=True),
    Column("kind", String(8), nullable=False),  # payment | refund
    Column("payment_id", String(32), nullable=False),
    Column("refund_id", String(32), nullable=True),
    Column("merchant_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # awaiting | paying | succeeded | failed | closed
    Column("trace_no", String(6), nullable=False),
    Column("auth_code", String(24), nullable=True),
    Column("payer_ref", String(64), nullable=True),
    Column("card_issuer", String(40), nullable=True),
    Column("card_type", String(10), nullable=True),
    Column("failure_code", String(40), nullable=True),
    Column("notified", Boolean, nullable=False, server_default="0"),
    Column("lost_notification", Boolean, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("finished_at", nullable=True),
    utcnow_column("notify_due_at", nullable=True),
    Index("ix_sim_rail_txns_payment", "payment_id", "kind"),
    Index("ix_sim_rail_txns_due", "notified", "notify_due_at"),
)

DECLINES = {
    "insufficient_funds": "余额不足 / insufficient funds",
    "limit_exceeded": "超出支付限额 / limit exceeded",
    "card_blocked": "卡片已冻结 / card blocked",
}
OUTCOMES = ("success", "userpaying", "timeout", *(f"decline_{k}" for k in DECLINES))


@dataclasses.dataclass
class SimConfig:
    """How a simulated rail misbehaves when no outcome is forced."""

    notify_delay_ms: int = 0
    decline_rate_ppm: int = 0
    timeout_rate_ppm: int = 0
    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


@dataclasses.dataclass(frozen=True, slots=True)
class Payer:
    ref: str = "payer_sim"
    issuer: str | None = None
    card_type: str | None = None


def _key(channel: str) -> bytes:
    return hashlib.sha256(f"sim-rail:{channel}:{get_settings().secret_key}".encode()).digest()


class SimulatedRail(abc.ABC):
    """Shared mechanics of a simulated rail; a channel module sets its names and its message format."""

    name = ""
    label_zh = ""
    label_en = ""
    bank_standard = True
    mobile = True
    card_types: tuple[str, ...] = ("debit", "credit")
    default_issuer: str | None = None
    ref_digits = 21

    def __init__(self) -> None:
        self.config = SimConfig(notify_delay_ms=get_settings().sim_notify_delay_ms)
        self._seq = itertools.count(random.SystemRandom().randrange(10**7))

    # -- the rail's own formats (overridden per family)
    def new_ref(self, at: dt.datetime, rng: random.Random) -> str:
        """The second it happened, then a sequence number: a rail never repeats a reference (random digits
        alone would, at a hundred payments a second)."""
        head = at.strftime("%Y%m%d%H%M%S")
        width = self.ref_digits - len(head)
        return f"{head}{next(self._seq) % 10**width:0{width}d}"

    def code_url(self, ref: str) -> str:
        return f"https://sim.{self.name}.example/qr/{ref}"

    @abc.abstractmethod
    def encode_notification(self, txn: Any) -> tuple[bytes, dict[str, str]]:
        """The rail's notification of a finished transaction, in its own format."""

    @abc.abstractmethod
    def decode_notification(self, body: bytes) -> Notification:
        """Our terms for a notification in the rail's format (its signature already checked)."""

    # -- signing
    def sign(self, body: bytes) -> str:
        return hmac.new(_key(self.name), body, hashlib.sha256).hexdigest()

    def parse_notification(self, body: bytes, headers: dict[str, str]) -> Notification:
        sig = {k.lower(): v for k, v in headers.items()}.get("x-sim-signature", "")
        if not hmac.compare_digest(sig, self.sign(body)):
            raise InvalidRequest(f"{self.name} notification signature does not verify", param="signature",
                                 code="bad_signature")
        return self.decode_notification(body)

    # -- the protocol
    def create(self, conn: Connection, order: PaymentOrder, *, at: dt.datetime) -> ChannelResult:
        rng = self.config.rng
        ref = self.new_ref(at, rng)
        row: dict[str, Any] = {"channel": self.name, "ref": ref, "kind": "payment", "payment_id": order.payment_id,
                               "refund_id": None, "merchant_id": order.merchant_id, "amount_fen": order.amount_fen,
                               "status": "awaiting", "trace_no": f"{rng.randrange(1_000_000):06d}",
                               "auth_code": order.auth_code, "payer_ref": None, "card_issuer": None,
                               "card_type": None, "failure_code": None, "notified": False,
                               "lost_notification": False, "created_at": at, "finished_at": None,
                               "notify_due_at": None}
        if order.auth_code is None:
            conn.execute(sim_txns.insert(), [row])
            return ChannelResult("awaiting", ref, code_url=self.code_url(ref))
        outcome = paycode_outcome(order.auth_code)
        payer = Payer(ref=f"paycode:{order.auth_code[-6:]}", issuer=self.default_issuer,
                      card_type=self.card_types[0])
        row.update(payer_ref=payer.ref, card_issuer=payer.issuer, card_type=payer.card_type)
        if outcome == "userpaying":
            row["status"] = "paying"
            conn.execute(sim_txns.insert(), [row])
            return ChannelResult("processing", ref, failure_code="USERPAYING",
                                 failure_message="等待用户输入密码 / waiting for the payer's PIN")
        if outcome.startswith("decline_"):
            code = outcome[len("decline_"):]
            row.update(status="failed", failure_code=code, finished_at=at, notified=True)
            conn.execute(sim_txns.insert(), [row])
            return ChannelResult("failed", ref, failure_code=code, failure_message=DECLINES[code])
        row.update(status="succeeded", finished_at=at, notified=True)
        if outcome == "timeout":  # the rail took the money but our call timed out: only a query will tell
            conn.execute(sim_txns.insert(), [row])
            return ChannelResult("processing", ref, failure_code="TIMEOUT", failure_message="渠道超时 / channel timed out")
        conn.execute(sim_txns.insert(), [row])
        return ChannelResult("succeeded", ref, payer_ref=payer.ref, card_issuer=payer.issuer,
                             card_type=payer.card_type)

    def _txn(self, conn: Connection, payment_id: str, *, lock: bool = False) -> Any:
        q = select(sim_txns).where(and_(sim_txns.c.channel == self.name, sim_txns.c.payment_id == payment_id,
                                        sim_txns.c.kind == "payment"))
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"{self.name} knows no payment {payment_id}", param="payment")
        return row

    def query(self, conn: Connection, payment_id: str, *, at: dt.datetime) -> ChannelResult:
        t = self._txn(conn, payment_id)
        status = {"awaiting": "awaiting", "paying": "processing", "succeeded": "succeeded", "failed": "failed",
                  "closed": "failed"}[t.status]
        return ChannelResult(status, t.ref, failure_code=t.failure_code, payer_ref=t.payer_ref,
                             card_issuer=t.card_issuer, card_type=t.card_type)

    def close(self, conn: Connection, payment_id: str, *, at: dt.datetime) -> bool:
        """Close an unpaid order at the rail; False if the payer already paid."""
        t = self._txn(conn, payment_id, lock=True)
        if t.status == "succeeded":
            return False
        if t.status in ("awaiting", "paying"):
            conn.execute(update(sim_txns).where(and_(sim_txns.c.channel == self.name, sim_txns.c.ref == t.ref))
                         .values(status="closed", finished_at=at))
        return True

    def refund(self, conn: Connection, payment_id: str, refund_id: str, amount_fen: int, *,
               at: dt.datetime) -> ChannelResult:
        t = self._txn(conn, payment_id)
        if t.status != "succeeded":
            return ChannelResult("failed", None, failure_code="payment_not_paid")
        ref = self.new_ref(at, self.config.rng)
        conn.execute(sim_txns.insert(), [{
            "channel": self.name, "ref": ref, "kind": "refund", "payment_id": payment_id, "refund_id": refund_id,
            "merchant_id": t.merchant_id, "amount_fen": amount_fen, "status": "succeeded",
            "trace_no": f"{self.config.rng.randrange(1_000_000):06d}", "auth_code": None, "payer_ref": t.payer_ref,
            "card_issuer": t.card_issuer, "card_type": t.card_type, "failure_code": None, "notified": False,
            "lost_notification": False, "created_at": at, "finished_at": at,
            "notify_due_at": at + dt.timedelta(milliseconds=self.config.notify_delay_ms)}])
        return ChannelResult("processing", ref)

    # -- the payer's side
    def pay(self, conn: Connection, payment_id: str, *, outcome: str | None, payer: Payer, at: dt.datetime) -> Any:
        """The payer completes (or fails) a payment at the rail; a notification becomes due."""
        t = self._txn(conn, payment_id, lock=True)
        if t.status in ("succeeded", "failed", "closed"):
            raise ConflictError(f"the {self.name} order is already {t.status}", code="rail_order_final")
        outcome = outcome or self._random_outcome()
        if outcome not in OUTCOMES or outcome == "userpaying":
            raise InvalidRequest(f"outcome must be one of success, timeout, "
                                 f"{', '.join('decline_' + k for k in DECLINES)}", param="outcome")
        card_type = payer.card_type or self.card_types[0]
        if card_type not in self.card_types:
            raise InvalidRequest(f"{self.name} takes card types {', '.join(self.card_types)}", param="payer.card_type")
        values: dict[str, Any] = {"payer_ref": payer.ref, "card_issuer": payer.issuer or self.default_issuer,
                                  "card_type": card_type, "finished_at": at,
                                  "notify_due_at": at + dt.timedelta(milliseconds=self.config.notify_delay_ms)}
        if outcome.startswith("decline_"):
            values.update(status="failed", failure_code=outcome[len("decline_"):])
        else:
            values.update(status="succeeded", lost_notification=outcome == "timeout")
        conn.execute(update(sim_txns).where(and_(sim_txns.c.channel == self.name, sim_txns.c.ref == t.ref))
                     .values(**values))
        return self._txn(conn, payment_id)

    def _random_outcome(self) -> str:
        r = self.config.rng.randrange(1_000_000)
        if r < self.config.decline_rate_ppm:
            return "decline_insufficient_funds"
        if r < self.config.decline_rate_ppm + self.config.timeout_rate_ppm:
            return "timeout"
        return "success"

    def due_notifications(self, conn: Connection, at: dt.datetime, limit: int = 500, *,
                          payment_id: str | None = None) -> list[tuple[bytes, dict]]:
        """Notifications whose delay has passed (of one payment, if given); marks them sent."""
        q = select(sim_txns).where(and_(
            sim_txns.c.channel == self.name, sim_txns.c.notified.is_(False), sim_txns.c.notify_due_at <= at,
            sim_txns.c.status.in_(("succeeded", "failed"))))
        if payment_id is not None:
            q = q.where(sim_txns.c.payment_id == payment_id)
        rows = conn.execute(q.limit(limit)).all()
        out = []
        for t in rows:
            conn.execute(update(sim_txns).where(and_(sim_txns.c.channel == self.name, sim_txns.c.ref == t.ref))
                         .values(notified=True))
            if t.lost_notification:
                continue
            body, headers = self.encode_notification(t)
            headers["X-Sim-Signature"] = self.sign(body)
            out.append((body, headers))
        return out

    def notification_for(self, conn: Connection, payment_id: str) -> tuple[bytes, dict[str, str]]:
        """The notification of a finished payment, again (tests replay it late, twice or out of order)."""
        t = self._txn(conn, payment_id)
        body, headers = self.encode_notification(t)
        headers["X-Sim-Signature"] = self.sign(body)
        return body, headers

    def statement_rows(self, conn: Connection, business_date: dt.date) -> list[dict[str, object]]:
        """The rail's own record of its finished transactions, for its statement file."""
        rows = conn.execute(select(sim_txns).where(and_(sim_txns.c.channel == self.name,
                                                        sim_txns.c.status == "succeeded"))).all()
        return [dict(r._mapping) for r in rows]


def paycode_outcome(auth_code: str) -> str:
    """The simulator reads the last digit of a pay code: 7 asks for the PIN, 8 is declined, 9 times out."""
    return {"7": "userpaying", "8": "decline_insufficient_funds", "9": "timeout"}.get(auth_code[-1], "success")
