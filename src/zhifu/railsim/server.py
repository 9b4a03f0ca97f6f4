"""The fake rails' server: every family's wire routes on one app, the simulator's control routes under `/_sim/`,
the keys written at first start, and the notifier that posts what the rails owe to our notify URLs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from zhifu.channels.registry import FACTS
from zhifu.railsim.store import Behaviour, RailStore, Txn

log = logging.getLogger("zhifu.railsim")
RAILS_FILE = "rails.json"  # what our connectors read: base URLs, ids, key files (written at every start)
SERVER_FILE = "server.json"  # the fake rails' own secrets (written once)
NOTIFY_TIMEOUT_S = 5.0
NOTIFY_POLL_S = 0.05


def _families() -> list[ModuleType]:
    from zhifu.railsim import alipay, unionpay, wechat

    return [wechat, alipay, unionpay]


class FakeRails:
    """The fake rails behind one base URL, with their store in `folder`."""

    def __init__(
        self,
        folder: Path | str,
        base_url: str,
        *,
        behaviour: Behaviour | None = None,
        deliver: httpx.Client | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")
        self.store = RailStore(self.folder / "rails.db", behaviour)
        self.deliver = deliver or httpx.Client(timeout=NOTIFY_TIMEOUT_S)
        self.families = _families()
        server_path = self.folder / SERVER_FILE
        server: dict[str, Any] = json.loads(server_path.read_text()) if server_path.exists() else {}
        client: dict[str, Any] = {"simulator_url": self.base_url}
        for fam in self.families:
            if fam.FAMILY not in server:
                server[fam.FAMILY] = fam.make_server_keys(self.folder)
            client[fam.FAMILY] = fam.client_config(self.folder, self.base_url, server[fam.FAMILY])
            client[fam.FAMILY].pop("notify_url_base", None)  # the platform's own public URL decides
        server_path.write_text(json.dumps(server, indent=1))
        server_path.chmod(0o600)
        (self.folder / RAILS_FILE).write_text(json.dumps(client, indent=1, ensure_ascii=False))
        self.server_keys = server
        self.client_config = client
        self.app = FastAPI(
            title="Zhifu fake rails 模拟支付通道", docs_url=None, redoc_url=None, openapi_url=None
        )
        for fam in self.families:
            self.app.include_router(fam.router(self))
        self.app.include_router(_control(self))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> dt.datetime:
        """The rails' clock: the wall clock, or a test's clock (store.clock) so their days are the platform's."""
        return self.store.clock()

    @property
    def rails_file(self) -> Path:
        return self.folder / RAILS_FILE

    # -- statements
    def statement_lines(self, rail: str, business_date: dt.date) -> list[Any]:
        """The rail's succeeded transactions of a business date as statement lines, with the rail's fee (its
        published cost for the card type) and any discrepancies the simulator planted for that date."""
        from zhifu.railsim.statements import rail_statement_lines

        return rail_statement_lines(self.store, FACTS[rail], business_date)

    # -- notifications
    def deliver_due(self, at: dt.datetime | None = None) -> int:
        """Post every notification whose time has come; returns how many the receiver accepted."""
        at = at or self.now()
        ok_count = 0
        claimed = self.store.due_notifications(at)
        try:
            while claimed:
                oid, url, body, headers = claimed[0]
                try:
                    r = self.deliver.post(url, content=body, headers=headers)
                    ok = 200 <= r.status_code < 300
                except httpx.HTTPError as exc:
                    log.info("notification %s to %s failed: %s", oid, url, type(exc).__name__)
                    ok = False
                self.store.notification_sent(oid, ok=ok, at=self.now())
                claimed.pop(0)
                ok_count += ok
        finally:  # what this call claimed and did not send is owed again
            self.store.release_notifications([c[0] for c in claimed])
        return ok_count

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(NOTIFY_POLL_S):
                try:
                    self.deliver_due()
                except Exception:  # the notifier must outlive one bad delivery
                    log.exception("notifier")

        self._thread = threading.Thread(target=loop, name="fake-rails-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self.store.close()


class PayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rail: str
    out_trade_no: str = Field(max_length=64)
    outcome: str | None = None
    payer_ref: str | None = Field(default=None, max_length=64)
    card_issuer: str | None = Field(default=None, max_length=40)
    card_type: str | None = Field(default=None, max_length=10)


class InjectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, int]
    seed: int = 1


def txn_json(t: Txn) -> dict[str, Any]:
    doc = dataclasses.asdict(t)
    for k in ("created_at", "finished_at", "expires_at"):
        doc[k] = doc[k].isoformat() if doc[k] else None
    return doc


def _control(sim: FakeRails) -> APIRouter:
    """The simulator's own routes: the payer pays, misbehaviour is set, statements get discrepancies."""
    r = APIRouter(prefix="/_sim")

    @r.post("/pay")
    def pay(req: PayBody) -> dict[str, Any]:
        facts = FACTS.get(req.rail)
        if facts is None:
            raise HTTPException(404, f"unknown rail {req.rail}")
        if req.card_type is not None and req.card_type not in facts.card_types:
            raise HTTPException(400, f"{req.rail} takes card types {', '.join(facts.card_types)}")
        try:
            t = sim.store.pay(
                req.rail,
                req.out_trade_no,
                outcome=req.outcome,
                payer_ref=req.payer_ref,
                card_issuer=req.card_issuer,
                card_type=req.card_type or facts.card_types[0],
                at=sim.now(),
            )
        except KeyError:
            raise HTTPException(404, f"{req.rail} knows no order {req.out_trade_no}") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        if sim.store.behaviour.notify_delay_ms == 0:
            sim.deliver_due()
        return txn_json(t)

    @r.post("/behaviour")
    def behaviour(req: dict[str, Any]) -> dict[str, Any]:
        b = sim.store.behaviour
        for k, v in req.items():
            if not hasattr(b, k):
                raise HTTPException(400, f"unknown behaviour {k}")
            setattr(b, k, type(getattr(b, k))(v))
        return dataclasses.asdict(b)

    @r.post("/statements/{rail}/{business_date}/inject")
    def inject(rail: str, business_date: dt.date, req: InjectBody) -> dict[str, Any]:
        from zhifu.railsim.statements import plant

        facts = FACTS.get(rail)
        if facts is None:
            raise HTTPException(404, f"unknown rail {rail}")
        try:
            got = plant(sim.store, facts, business_date, req.spec, seed=req.seed)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {
            "rail": rail,
            "business_date": business_date.isoformat(),
            "lines": len(got.lines),
            "truth": got.truth,
        }

    @r.post("/notifications/deliver")
    def deliver() -> dict[str, int]:
        return {"delivered": sim.deliver_due()}

    @r.get("/orders/{rail}/{out_trade_no}")
    def order(rail: str, out_trade_no: str) -> dict[str, Any]:
        t = sim.store.order(rail, out_trade_no)
        if t is None:
            raise HTTPException(404, "no such order")
        return txn_json(t)

    return r


def serve(
    folder: Path | str,
    host: str,
    port: int,
    *,
    behaviour: Behaviour | None = None,
    ready: Callable[[FakeRails], None] | None = None,
) -> None:
    """Run the fake rails until interrupted (`zhifu sim rails`)."""
    import uvicorn

    sim = FakeRails(folder, f"http://{host}:{port}", behaviour=behaviour)
    sim.start()
    if ready:
        ready(sim)
    try:
        uvicorn.run(sim.app, host=host, port=port, log_level="warning")
    finally:
        sim.stop()
