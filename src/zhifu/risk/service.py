"""风险控制 / Risk control: limits and rules at authorisation, the monitor that evaluates every success, alerts,
cases with maker-checker decisions (a freeze holds the merchant's payable in the ledger), lists, and the figures
the regulator's dashboard reads.

The payment path calls two functions: `authorise` inside the create transaction (limits, deny lists, pre-auth
rules; a decline raises a 4xx naming the limit or rule) and `release` when a payment fails, closes or expires.
Everything after a success runs in the monitor (`scan`), which reads the history of the `PaymentSucceeded` event
past its cursor (`zhifu.core.events`; payments publishes it), so the payment path never waits for window features
and risk never imports payments.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import threading
import time
from typing import Any, Final

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from zhifu import audit, ledger
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied, UnprocessableError
from zhifu.core.events import PaymentSucceeded, Position, find, history
from zhifu.core.ids import new_id_fast
from zhifu.core.paging import cursor_page
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.merchants import payable_account, set_frozen
from zhifu.merchants import review as merchant_review
from zhifu.merchants.read import legal_person_names
from zhifu.merchants.read import merchants_view as merchants_table
from zhifu.risk import limits as _limits
from zhifu.risk.features import Event, FeatureEngine, MerchantInfo
from zhifu.risk.models import (
    risk_alerts,
    risk_case_events,
    risk_cases,
    risk_cursor,
    risk_list_entries,
    risk_rulesets,
)
from zhifu.risk.rules import Rule, RuleSet, RuleSetError, default_source, parse_ruleset

RULESET_CHECK_S: Final = 2.0  # a rule set loaded by another process is picked up within this long
SCAN_BATCH_MAX: Final = 5_000
WARM_DAYS: Final = 31  # the monitor replays this much history before its cursor when it starts
FROZEN_ACCOUNT: Final = ledger.accounts.RISK_FROZEN
FREEZE_TIMEOUT_S: Final = 30 * 86_400  # the ledger's longest hold: a frozen case is decided within a month
AUTO_BLOCK_S: Final = 86_400  # a success-stage `block` puts its subject on the auto-block list for a day
NOTE_CHARS_MAX: Final = 500
DECISIONS: Final = ("dismiss", "monitor", "freeze", "unfreeze", "suspend", "terminate", "report")
MAKER_CHECKER: Final = frozenset({"freeze", "terminate", "report"})


class RiskBlocked(UnprocessableError):
    """A pre-authorisation rule blocked the payment: 422 with the rule's id in the message."""


# ---------------------------------------------------------------- rule sets (loaded, validated, hot-reloaded)


_rs_lock = threading.Lock()
_rs_cache: dict[str, Any] = {"checked": 0.0, "rs": None}


def active_ruleset(conn: Connection) -> RuleSet:
    """The newest loaded rule set (the packaged pack until one is loaded), re-read when a newer version appears."""
    now = time.monotonic()
    rs: RuleSet | None = _rs_cache["rs"]
    if rs is not None and now - _rs_cache["checked"] < RULESET_CHECK_S:
        return rs
    latest = conn.execute(select(func.max(risk_rulesets.c.version))).scalar() or 0
    if rs is None or rs.version != latest:
        if latest:
            src = conn.execute(
                select(risk_rulesets.c.source).where(risk_rulesets.c.version == latest)
            ).scalar_one()
            rs = parse_ruleset(src, version=latest)
        else:
            rs = parse_ruleset(default_source(), version=0)
    with _rs_lock:
        _rs_cache["rs"], _rs_cache["checked"] = rs, now
    return rs


def forget_ruleset() -> None:
    with _rs_lock:
        _rs_cache["rs"] = None


def load_rules(conn: Connection, source: str, *, by: str, at: dt.datetime) -> dict[str, Any]:
    """Validate a rule set and make it the active one; a bad file raises naming its line and changes nothing."""
    try:
        rs = parse_ruleset(source)
    except RuleSetError as exc:
        raise InvalidRequest(
            str(exc), param=f"line {exc.line}" if exc.line else "rules", code="invalid_ruleset"
        ) from None
    version = (conn.execute(select(func.max(risk_rulesets.c.version))).scalar() or 0) + 1
    conn.execute(
        insert(risk_rulesets),
        [{"version": version, "sha256": rs.sha256, "source": source, "loaded_by": by[:64], "loaded_at": at}],
    )
    forget_ruleset()
    audit.record(
        conn,
        by[:64],
        "risk_rules.load",
        "risk_ruleset",
        str(version),
        {"sha256": rs.sha256},
        role="operator",
        at=at,
    )
    return {"version": version, "sha256": rs.sha256, "rules": len(rs.rules), "loaded_by": by, "loaded_at": at}


def ruleset_history(conn: Connection) -> list[dict[str, Any]]:
    return [
        {"version": r.version, "sha256": r.sha256, "loaded_by": r.loaded_by, "loaded_at": r.loaded_at}
        for r in conn.execute(
            select(
                risk_rulesets.c.version,
                risk_rulesets.c.sha256,
                risk_rulesets.c.loaded_by,
                risk_rulesets.c.loaded_at,
            ).order_by(risk_rulesets.c.version.desc())
        )
    ]


def describe_rules(rs: RuleSet) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "typology": r.typology,
            "stage": r.stage,
            "subject": r.subject,
            "outcome": r.outcome,
            "score": r.score,
            "shadow": r.shadow,
            "reason": r.reason,
            "in_list": r.in_list,
            "conditions": [c.text for c in r.conditions],
        }
        for r in rs.rules
    ]


# ---------------------------------------------------------------- lists


def add_to_list(
    conn: Connection,
    list_name: str,
    value: str,
    *,
    by: str,
    reason: str = "",
    expires_at: dt.datetime | None = None,
    at: dt.datetime,
) -> dict[str, Any]:
    rs = active_ruleset(conn)
    if list_name not in rs.lists:
        raise InvalidRequest(
            f"未定义的名单 / unknown list {list_name!r}; known: {', '.join(rs.lists)}", param="list"
        )
    if not value or len(value) > 64:
        raise InvalidRequest("名单值为 1–64 个字符 / a list value is 1–64 characters", param="value")
    if expires_at is not None and expires_at <= at:
        raise InvalidRequest("到期时间已过 / expires_at is in the past", param="expires_at")
    conn.execute(
        risk_list_entries.delete().where(
            and_(risk_list_entries.c.list_name == list_name, risk_list_entries.c.value == value)
        )
    )
    conn.execute(
        insert(risk_list_entries),
        [
            {
                "list_name": list_name,
                "value": value,
                "reason": reason[:200],
                "created_by": by[:64],
                "created_at": at,
                "expires_at": expires_at,
            }
        ],
    )
    forget_lists()
    return {"list": list_name, "value": value, "expires_at": expires_at, "reason": reason}


def remove_from_list(conn: Connection, list_name: str, value: str) -> bool:
    res = conn.execute(
        risk_list_entries.delete().where(
            and_(risk_list_entries.c.list_name == list_name, risk_list_entries.c.value == value)
        )
    )
    forget_lists()
    return res.rowcount > 0


def list_entries(conn: Connection, at: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "list": r.list_name,
            "value": r.value,
            "reason": r.reason,
            "created_by": r.created_by,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
        }
        for r in conn.execute(
            select(risk_list_entries)
            .where(or_(risk_list_entries.c.expires_at.is_(None), risk_list_entries.c.expires_at > at))
            .order_by(risk_list_entries.c.list_name, risk_list_entries.c.value)
        )
    ]


LIST_CACHE_S: Final = 2.0  # a list change made in another process is enforced within this long
_list_cache: dict[str, Any] = {"at": 0.0, "entries": None}


def _list_entries(conn: Connection) -> dict[tuple[str, str], dt.datetime | None]:
    now = time.monotonic()
    entries = _list_cache["entries"]
    if entries is None or now - _list_cache["at"] >= LIST_CACHE_S:
        entries = {
            (r.list_name, r.value): r.expires_at
            for r in conn.execute(
                select(
                    risk_list_entries.c.list_name, risk_list_entries.c.value, risk_list_entries.c.expires_at
                )
            )
        }
        _list_cache["entries"], _list_cache["at"] = entries, now
    return entries


def forget_lists() -> None:
    _list_cache["entries"] = None


def _listed(conn: Connection, rs: RuleSet, list_name: str, value: str, at: dt.datetime) -> bool:
    entries = _list_entries(conn)
    if not entries:
        return False
    for name in rs.expand(list_name):
        if (name, value) in entries:
            exp = entries[(name, value)]
            if exp is None or exp > at:
                return True
    return False


# ---------------------------------------------------------------- the payment path


def authorise(conn: Connection, m: Any, req: Any, flow: str, at: dt.datetime) -> None:
    """Inside the payment's create transaction, before the rail is called: take the limits the payment is under
    and run the pre-authorisation rules. Raises a 422 naming the limit or the rule; records nothing then."""
    payer = req.payer.id if req.payer is not None else None
    scene = (req.metadata or {}).get("scene")
    _limits.authorise_limits(conn, m, req.amount_fen, flow, payer, scene, req.merchant_order_no, at)
    rs = active_ruleset(conn)
    for r in rs.stage("pre_auth"):
        subject = m.id if r.subject == "merchant" else payer
        if subject is None or r.shadow:
            continue  # pre-auth shadow rules are evaluated by the backtest, not on the hot path
        if r.in_list is not None and not _listed(conn, rs, r.in_list, subject, at):
            continue
        if r.conditions and not all(
            c.holds(_pre_auth_value(c.feature.name, m, req, at)) for c in r.conditions
        ):
            continue
        if r.outcome == "block":
            raise RiskBlocked(
                f"交易被风控规则拦截 / declined by risk rule {r.id}: {r.reason}",
                param="payment",
                code="risk_blocked",
            )


def _pre_auth_value(name: str, m: Any, req: Any, at: dt.datetime) -> int:
    from zhifu.risk.features import NIGHT_HOURS, is_near_limit

    hour = at.astimezone(SHANGHAI).hour
    return {
        "amount_fen": req.amount_fen,
        "hour": hour,
        "is_micro": int(m.type == "micro"),
        "is_night": int(hour in NIGHT_HOURS),
        "near_limit": int(is_near_limit(req.amount_fen)),
    }[name]


def release(conn: Connection, p: Any, at: dt.datetime) -> None:
    """A payment failed, was closed or expired: give back what it took from its limits (once)."""
    _limits.release_limits(conn, p.merchant_id, p.merchant_order_no)


# ---------------------------------------------------------------- the monitor


def merchant_infos(conn: Connection, ids: list[str] | None = None) -> dict[str, MerchantInfo]:
    q = select(
        merchants_table.c.id,
        merchants_table.c.mcc,
        merchants_table.c.town_code,
        merchants_table.c.type,
        merchants_table.c.settle_bank,
        merchants_table.c.settle_account_masked,
        merchants_table.c.settle_account_name,
        merchants_table.c.legal_name,
    )
    if ids is not None:
        q = q.where(merchants_table.c.id.in_(ids))
    rows = conn.execute(q).all()
    legal_persons = legal_person_names(conn, [r.id for r in rows])  # personal data, stored encrypted
    return {
        r.id: MerchantInfo(
            r.mcc,
            r.town_code,
            r.type,
            f"{r.settle_bank}|{r.settle_account_masked}|{r.settle_account_name}",
            r.settle_account_name not in (r.legal_name, legal_persons[r.id]),
        )
        for r in rows
    }


@dataclasses.dataclass
class Hit:
    rule: Rule
    subject: str
    event: Event
    evidence: dict[str, Any]


def evaluate(engine: FeatureEngine, rs: RuleSet, e: Event) -> list[Hit]:
    """Add a success to the windows and return every success-stage rule it makes hold (shadow ones too)."""
    engine.add(e)
    hits = []
    for r in rs.rules:
        if r.stage != "success" or not r.conditions:
            continue
        subject = e.merchant_id if r.subject == "merchant" else e.payer
        if subject is None:
            continue
        values = {}
        for c in r.conditions:
            v = engine.value(c.feature, e)
            if not c.holds(v):
                break
            values[c.feature.text] = v
        else:
            hits.append(
                Hit(r, subject, e, {"features": values, "conditions": [c.text for c in r.conditions]})
            )
    return hits


def _events(conn: Connection, after: Position | None, until: dt.datetime | None, limit: int) -> list[Event]:
    """The successes past `after` (up to `until`), in order: the history of the `PaymentSucceeded` event."""
    return [
        Event(e.id, e.merchant_id, e.payer_ref, e.amount_fen, e.card_type, e.at)
        for e in history(PaymentSucceeded, conn, after, until, limit)
    ]


class Monitor:
    """Evaluates every success once, in order, past a stored cursor; warmed with the month before it."""

    def __init__(self, name: str = "monitor") -> None:
        self.name = name
        self.engine: FeatureEngine | None = None
        self.version: int | None = None
        self.lock = threading.Lock()

    def _cursor(self, conn: Connection) -> tuple[dt.datetime, str] | None:
        r = conn.execute(select(risk_cursor).where(risk_cursor.c.name == self.name)).first()
        return (r.last_at, r.last_id) if r else None

    def _warm(self, conn: Connection, rs: RuleSet, cursor: tuple[dt.datetime, str] | None) -> None:
        self.engine = FeatureEngine(rs.features(), merchant_infos(conn))
        self.version = rs.version
        if cursor is None:
            return
        start = (cursor[0] - dt.timedelta(days=WARM_DAYS), "")
        while True:
            batch = _events(conn, start, cursor[0], SCAN_BATCH_MAX)
            for e in batch:
                self.engine.add(e)
            if len(batch) < SCAN_BATCH_MAX:
                return
            start = (batch[-1].at, batch[-1].payment_id)

    def scan(self, db: Database, *, limit: int = SCAN_BATCH_MAX) -> int:
        """Evaluate the successes committed since the last scan; returns how many were evaluated."""
        with self.lock:
            with db.read() as conn:
                rs = active_ruleset(conn)
                cursor = self._cursor(conn)
                if self.engine is None or self.version != rs.version:
                    self._warm(conn, rs, cursor)
                engine = self.engine
                assert engine is not None  # warmed just above when there was none
                batch = _events(conn, cursor, None, limit)
                unknown = {e.merchant_id for e in batch} - set(engine.merchants)
                if unknown:
                    engine.set_merchants({**engine.merchants, **merchant_infos(conn, sorted(unknown))})
            if not batch:
                return 0
            hits = [h for e in batch for h in evaluate(engine, rs, e)]
            last = batch[-1]

            def record(conn: Connection) -> None:
                for h in hits:
                    record_hit(conn, h, rs.version)
                _save_cursor(conn, self.name, last.at, last.payment_id)

            db.run(record)
            return len(batch)


def _save_cursor(conn: Connection, name: str, at: dt.datetime, pid: str) -> None:
    res = conn.execute(update(risk_cursor).where(risk_cursor.c.name == name).values(last_at=at, last_id=pid))
    if res.rowcount == 0:
        conn.execute(insert(risk_cursor), [{"name": name, "last_at": at, "last_id": pid}])


_monitor = Monitor()


def scan(db: Database, *, limit: int = SCAN_BATCH_MAX) -> int:
    """One pass of the process's monitor (the worker calls this)."""
    return _monitor.scan(db, limit=limit)


def scan_all(db: Database) -> int:
    total = 0
    while n := scan(db):
        total += n
    return total


def reset_monitor() -> None:
    global _monitor
    _monitor = Monitor()


# ---------------------------------------------------------------- alerts and cases


def _day(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).date().isoformat()


def record_hit(conn: Connection, h: Hit, version: int) -> str:
    """Record an alert (one per rule, subject and day); a live (non-shadow) alert joins its subject's case."""
    e, r = h.event, h.rule
    day = _day(e.at)
    key = and_(
        risk_alerts.c.merchant_id == e.merchant_id,
        risk_alerts.c.rule_id == r.id,
        risk_alerts.c.subject_kind == r.subject,
        risk_alerts.c.subject == h.subject,
        risk_alerts.c.day == day,
    )
    found = conn.execute(select(risk_alerts.c.id, risk_alerts.c.case_id).where(key)).first()
    if found is not None:
        conn.execute(update(risk_alerts).where(key).values(hits=risk_alerts.c.hits + 1, updated_at=e.at))
        return found.id
    town = (
        conn.execute(
            select(merchants_table.c.town_code).where(merchants_table.c.id == e.merchant_id)
        ).scalar()
        or ""
    )
    aid = new_id_fast("ra", int(e.at.timestamp() * 1000))
    case_id = (
        None
        if r.shadow
        else _case_for(conn, e.merchant_id, r.subject, h.subject, r.typology, town, r.score, e.at)
    )
    conn.execute(
        insert(risk_alerts),
        [
            {
                "merchant_id": e.merchant_id,
                "id": aid,
                "rule_id": r.id,
                "typology": r.typology,
                "subject_kind": r.subject,
                "subject": h.subject,
                "day": day,
                "outcome": r.outcome,
                "score": r.score,
                "shadow": "Y" if r.shadow else "N",
                "hits": 1,
                "payment_id": e.payment_id,
                "evidence": {**h.evidence, "reason": r.reason},
                "ruleset_version": version,
                "town_code": town,
                "case_id": case_id,
                "created_at": e.at,
                "updated_at": e.at,
            }
        ],
    )
    if r.outcome == "block" and not r.shadow:
        list_name = "auto_block_merchants" if r.subject == "merchant" else "auto_block_payers"
        rs = active_ruleset(conn)
        if list_name in rs.lists:
            add_to_list(
                conn,
                list_name,
                h.subject,
                by="rule:" + r.id,
                reason=r.reason,
                expires_at=e.at + dt.timedelta(seconds=AUTO_BLOCK_S),
                at=e.at,
            )
    return aid


def _case_for(
    conn: Connection,
    merchant_id: str,
    kind: str,
    subject: str,
    typology: str,
    town: str,
    score: int,
    at: dt.datetime,
) -> str:
    open_case = conn.execute(
        select(risk_cases.c.merchant_id, risk_cases.c.id)
        .where(
            and_(
                risk_cases.c.subject_kind == kind,
                risk_cases.c.subject == subject,
                risk_cases.c.status != "closed",
            )
        )
        .limit(1)
    ).first()
    if open_case is not None:
        conn.execute(
            update(risk_cases)
            .where(and_(risk_cases.c.merchant_id == open_case.merchant_id, risk_cases.c.id == open_case.id))
            .values(
                alerts=risk_cases.c.alerts + 1,
                max_score=func.max(risk_cases.c.max_score, score)
                if conn.dialect.name == "sqlite"
                else func.greatest(risk_cases.c.max_score, score),
                updated_at=at,
            )
        )
        return open_case.id
    cid = new_id_fast("rc", int(at.timestamp() * 1000))
    conn.execute(
        insert(risk_cases),
        [
            {
                "merchant_id": merchant_id,
                "id": cid,
                "subject_kind": kind,
                "subject": subject,
                "typology": typology,
                "town_code": town,
                "status": "open",
                "alerts": 1,
                "max_score": score,
                "frozen_fen": 0,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    _event(conn, merchant_id, cid, "monitor", "opened", f"{typology}", at)
    return cid


def _event(
    conn: Connection,
    merchant_id: str,
    case_id: str,
    actor: str,
    action: str,
    note: str,
    at: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    seq = conn.execute(
        select(func.coalesce(func.max(risk_case_events.c.seq), 0)).where(
            and_(risk_case_events.c.merchant_id == merchant_id, risk_case_events.c.case_id == case_id)
        )
    ).scalar_one()
    conn.execute(
        insert(risk_case_events),
        [
            {
                "merchant_id": merchant_id,
                "case_id": case_id,
                "seq": int(seq) + 1,
                "actor": actor[:64],
                "action": action,
                "note": note[:NOTE_CHARS_MAX],
                "detail": detail,
                "at": at,
            }
        ],
    )
    if actor != "monitor":  # people's steps on a case go to the tamper-evident audit log too
        audit.record(
            conn,
            actor[:64],
            f"risk_case.{action}",
            "risk_case",
            case_id,
            {"note": note[:NOTE_CHARS_MAX], **(detail or {})},
            role="operator",
            merchant_id=merchant_id,
            at=at,
        )


def _alert_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "merchant_id": r.merchant_id,
        "rule_id": r.rule_id,
        "typology": r.typology,
        "subject_kind": r.subject_kind,
        "subject": r.subject,
        "day": r.day,
        "outcome": r.outcome,
        "score": r.score,
        "shadow": r.shadow == "Y",
        "hits": r.hits,
        "payment_id": r.payment_id,
        "evidence": r.evidence,
        "ruleset_version": r.ruleset_version,
        "town_code": r.town_code,
        "case_id": r.case_id,
        "created_at": r.created_at,
    }


def list_alerts(
    conn: Connection,
    *,
    town: str | None = None,
    typology: str | None = None,
    shadow: bool | None = None,
    case_id: str | None = None,
    limit: int = 50,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    a = risk_alerts.c
    where = []
    if town:
        where.append(a.town_code == town)
    if typology:
        where.append(a.typology == typology)
    if shadow is not None:
        where.append(a.shadow == ("Y" if shadow else "N"))
    if case_id:
        where.append(a.case_id == case_id)
    return cursor_page(
        conn, risk_alerts, where, limit=limit, starting_after=starting_after, public=_alert_public
    )


def _case_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "merchant_id": r.merchant_id,
        "subject_kind": r.subject_kind,
        "subject": r.subject,
        "typology": r.typology,
        "town_code": r.town_code,
        "status": r.status,
        "assignee": r.assignee,
        "outcome": r.outcome,
        "pending_action": r.pending_action,
        "pending_by": r.pending_by,
        "pending_note": r.pending_note,
        "hold_id": r.hold_id,
        "frozen_fen": r.frozen_fen,
        "alerts": r.alerts,
        "max_score": r.max_score,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def list_cases(
    conn: Connection,
    *,
    status: str | None = None,
    town: str | None = None,
    typology: str | None = None,
    limit: int = 50,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    where = []
    if status == "active":
        where.append(risk_cases.c.status != "closed")
    elif status:
        where.append(risk_cases.c.status == status)
    if town:
        where.append(risk_cases.c.town_code == town)
    if typology:
        where.append(risk_cases.c.typology == typology)
    return cursor_page(
        conn, risk_cases, where, limit=limit, starting_after=starting_after, public=_case_public
    )


def _case_row(conn: Connection, case_id: str, *, lock: bool = False) -> Any:
    q = select(risk_cases).where(risk_cases.c.id == case_id)
    r = first_row(conn, q, lock=lock)
    if r is None:
        raise NotFound(f"没有案件 / no case {case_id}", param="case")
    return r


def get_case(conn: Connection, case_id: str) -> dict[str, Any]:
    """A case with its alerts (features at the time), the payments they name, and who did what."""
    r = _case_row(conn, case_id)
    doc = _case_public(r)
    alerts = [
        _alert_public(a)
        for a in conn.execute(
            select(risk_alerts)
            .where(and_(risk_alerts.c.merchant_id == r.merchant_id, risk_alerts.c.case_id == case_id))
            .order_by(risk_alerts.c.id)
        )
    ]
    doc["alerts_list"] = alerts
    pids = sorted({a["payment_id"] for a in alerts})
    doc["payments"] = (
        [
            {
                "id": p.id,
                "merchant_id": p.merchant_id,
                "amount_fen": p.amount_fen,
                "channel": p.channel,
                "card_type": p.card_type,
                "payer_ref": p.payer_ref,
                "status": "succeeded",  # an alert names a success, and a success is final
                "succeeded_at": p.at,
            }
            for p in find(PaymentSucceeded, conn, pids)
        ]
        if pids
        else []
    )
    doc["events"] = [
        {"seq": e.seq, "actor": e.actor, "action": e.action, "note": e.note, "detail": e.detail, "at": e.at}
        for e in conn.execute(
            select(risk_case_events)
            .where(
                and_(risk_case_events.c.merchant_id == r.merchant_id, risk_case_events.c.case_id == case_id)
            )
            .order_by(risk_case_events.c.seq)
        )
    ]
    return doc


def assign_case(conn: Connection, case_id: str, assignee: str, *, by: str, at: dt.datetime) -> dict[str, Any]:
    if not assignee or len(assignee) > 64:
        raise InvalidRequest("请填写处理人 / assignee is 1–64 characters", param="assignee")
    r = _case_row(conn, case_id, lock=True)
    conn.execute(
        update(risk_cases)
        .where(and_(risk_cases.c.merchant_id == r.merchant_id, risk_cases.c.id == case_id))
        .values(assignee=assignee, updated_at=at)
    )
    _event(conn, r.merchant_id, case_id, by, "assigned", assignee, at)
    return get_case(conn, case_id)


def note_case(conn: Connection, case_id: str, note: str, *, by: str, at: dt.datetime) -> dict[str, Any]:
    if not note.strip() or len(note) > NOTE_CHARS_MAX:
        raise InvalidRequest(
            f"备注为 1–{NOTE_CHARS_MAX} 个字 / a note is 1–{NOTE_CHARS_MAX} characters", param="note"
        )
    r = _case_row(conn, case_id)
    _event(conn, r.merchant_id, case_id, by, "note", note.strip(), at)
    return get_case(conn, case_id)


def decide(
    conn: Connection, case_id: str, action: str, *, by: str, note: str = "", at: dt.datetime
) -> dict[str, Any]:
    """Decide a case. Freeze, terminate and report are proposed by one user and carried out when another
    approves (`approve`); dismiss, monitor, unfreeze and suspend take effect at once."""
    if action not in DECISIONS:
        raise InvalidRequest(f"决定应为 / action must be one of {', '.join(DECISIONS)}", param="action")
    if len(note) > NOTE_CHARS_MAX:
        raise InvalidRequest(
            f"备注最多 {NOTE_CHARS_MAX} 字 / note is at most {NOTE_CHARS_MAX} characters", param="note"
        )
    r = _case_row(conn, case_id, lock=True)
    if r.status == "closed":
        raise ConflictError(f"案件已结案 / case {case_id} is closed", code="case_closed")
    if action in MAKER_CHECKER:
        if r.pending_action:
            raise ConflictError(
                f"已有待复核的决定 {r.pending_action} / {r.pending_action} awaits approval",
                code="decision_pending",
            )
        if action in ("freeze", "terminate") and r.subject_kind != "merchant":
            raise InvalidRequest(
                "只能冻结或终止商户 / only a merchant can be frozen or terminated", param="action"
            )
        conn.execute(
            update(risk_cases)
            .where(and_(risk_cases.c.merchant_id == r.merchant_id, risk_cases.c.id == case_id))
            .values(
                pending_action=action, pending_by=by[:64], pending_note=note[:NOTE_CHARS_MAX], updated_at=at
            )
        )
        _event(conn, r.merchant_id, case_id, by, "proposed", note, at, {"action": action})
        return get_case(conn, case_id)
    _carry_out(conn, r, action, by, note, at)
    return get_case(conn, case_id)


def approve(
    conn: Connection, case_id: str, *, by: str, approve_it: bool = True, note: str = "", at: dt.datetime
) -> dict[str, Any]:
    """The checker approves (or rejects) the pending decision; the maker cannot check their own."""
    r = _case_row(conn, case_id, lock=True)
    if not r.pending_action:
        raise ConflictError("没有待复核的决定 / nothing awaits approval", code="nothing_pending")
    if r.pending_by == by:
        raise PermissionDenied(
            "提出人不能复核自己的决定 / the maker cannot approve their own decision",
            param="user",
            code="maker_checker",
        )
    action = r.pending_action
    conn.execute(
        update(risk_cases)
        .where(and_(risk_cases.c.merchant_id == r.merchant_id, risk_cases.c.id == case_id))
        .values(pending_action=None, pending_by=None, pending_note=None, updated_at=at)
    )
    if not approve_it:
        _event(conn, r.merchant_id, case_id, by, "rejected", note, at, {"action": action})
        return get_case(conn, case_id)
    _event(conn, r.merchant_id, case_id, by, "approved", note, at, {"action": action, "maker": r.pending_by})
    _carry_out(conn, _case_row(conn, case_id, lock=True), action, by, note or (r.pending_note or ""), at)
    return get_case(conn, case_id)


def _carry_out(conn: Connection, r: Any, action: str, by: str, note: str, at: dt.datetime) -> None:
    where = and_(risk_cases.c.merchant_id == r.merchant_id, risk_cases.c.id == r.id)
    values: dict[str, Any] = {"outcome": action, "updated_at": at}
    detail: dict[str, Any] = {}
    if action == "freeze":
        if r.hold_id:
            raise ConflictError("结算已冻结 / settlement is already frozen", code="already_frozen")
        ledger.open_accounts(conn, [(FROZEN_ACCOUNT, "liability", "CNY", False)])
        available = ledger.get_balance(conn, payable_account(r.merchant_id)).available_fen
        if available > 0:
            debit, credit = ledger.movements.risk_freeze(merchant_id=r.merchant_id, amount_fen=available)
            h = ledger.hold(
                conn,
                ledger.keys.risk_freeze(r.id),
                debit.account,
                credit.account,
                available,
                timeout_s=FREEZE_TIMEOUT_S,
                description=f"risk case {r.id}",
                at=at,
            )
            values["hold_id"] = h.id
        values.update(frozen_fen=max(available, 0), status="frozen")
        set_frozen(conn, r.merchant_id, True)  # what arrives after the freeze is held too, until released
        detail = {"held_fen": max(available, 0)}
    elif action == "unfreeze":
        if r.status != "frozen":
            raise ConflictError("结算未冻结 / settlement is not frozen", code="not_frozen")
        if r.hold_id and ledger.get_hold(conn, r.hold_id).status == "pending":
            ledger.void_hold(conn, r.hold_id, at=at)
        set_frozen(conn, r.merchant_id, False)
        values.update(hold_id=None, frozen_fen=0, status="monitoring")
        detail = {"released_fen": r.frozen_fen}
    elif action in ("suspend", "terminate"):
        if r.subject_kind != "merchant":
            raise InvalidRequest(
                "只能暂停或终止商户 / only a merchant can be suspended or terminated", param="action"
            )
        merchant_review(conn, r.merchant_id, action, reason=note or f"risk case {r.id}", at=at)
        values["status"] = "frozen" if r.status == "frozen" else "closed"
    elif action == "monitor":
        values["status"] = "frozen" if r.status == "frozen" else "monitoring"
    elif action == "dismiss":
        if r.status == "frozen":
            raise ConflictError("请先解冻结算 / unfreeze settlement before dismissing", code="still_frozen")
        values["status"] = "closed"
    elif action == "report":
        detail = {"report": "suspicious_transaction_report"}
        values["status"] = "frozen" if r.status == "frozen" else "monitoring"
    conn.execute(update(risk_cases).where(where).values(**values))
    _event(conn, r.merchant_id, r.id, by, action, note, at, detail or None)


def str_report(conn: Connection, case_id: str) -> str:
    """A suspicious-transaction report (可疑交易报告) of a case as CSV: the case, then its payments."""
    doc = get_case(conn, case_id)
    if not any(e["action"] == "report" for e in doc["events"]):
        raise ConflictError("案件尚未批准上报 / the report has not been approved", code="report_not_approved")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "案件 case",
            "主体 subject",
            "类型 typology",
            "镇 town",
            "状态 status",
            "预警 alerts",
            "最高分 score",
        ]
    )
    w.writerow(
        [
            doc["id"],
            f"{doc['subject_kind']}:{doc['subject']}",
            doc["typology"],
            doc["town_code"],
            doc["status"],
            doc["alerts"],
            doc["max_score"],
        ]
    )
    w.writerow([])
    w.writerow(
        [
            "交易 payment",
            "商户 merchant",
            "金额(分) amount_fen",
            "通道 channel",
            "卡类 card",
            "付款人 payer",
            "成功时间 succeeded_at",
        ]
    )
    for p in doc["payments"]:
        w.writerow(
            [
                p["id"],
                p["merchant_id"],
                p["amount_fen"],
                p["channel"],
                p["card_type"] or "",
                p["payer_ref"] or "",
                p["succeeded_at"].isoformat() if p["succeeded_at"] else "",
            ]
        )
    w.writerow([])
    w.writerow(["规则 rule", "日期 day", "证据 evidence"])
    for a in doc["alerts_list"]:
        w.writerow(
            [a["rule_id"], a["day"], "; ".join(f"{k}={v}" for k, v in a["evidence"]["features"].items())]
        )
    return out.getvalue()


# ---------------------------------------------------------------- the regulator's figures


def summary(conn: Connection, start: dt.date | None = None, end: dt.date | None = None) -> dict[str, Any]:
    """Live alerts and cases by town and typology (shadow alerts counted apart)."""
    q = select(risk_alerts.c.town_code, risk_alerts.c.typology, risk_alerts.c.shadow, func.count())
    if start is not None:
        q = q.where(risk_alerts.c.day >= start.isoformat())
    if end is not None:
        q = q.where(risk_alerts.c.day <= end.isoformat())
    by: dict[tuple[str, str], dict[str, int]] = {}
    live = shadow = 0
    for town, typ, sh, n in conn.execute(
        q.group_by(risk_alerts.c.town_code, risk_alerts.c.typology, risk_alerts.c.shadow)
    ):
        cell = by.setdefault((town, typ), {"alerts": 0, "shadow": 0, "cases": 0})
        if sh == "Y":
            cell["shadow"] += int(n)
            shadow += int(n)
        else:
            cell["alerts"] += int(n)
            live += int(n)
    for town, typ, n in conn.execute(
        select(risk_cases.c.town_code, risk_cases.c.typology, func.count())
        .where(risk_cases.c.status != "closed")
        .group_by(risk_cases.c.town_code, risk_cases.c.typology)
    ):
        by.setdefault((town, typ), {"alerts": 0, "shadow": 0, "cases": 0})["cases"] += int(n)
    open_cases = conn.execute(
        select(func.count()).select_from(risk_cases).where(risk_cases.c.status != "closed")
    ).scalar_one()
    frozen = conn.execute(
        select(func.coalesce(func.sum(risk_cases.c.frozen_fen), 0)).where(risk_cases.c.status == "frozen")
    ).scalar_one()
    return {
        "alerts": live,
        "shadow_alerts": shadow,
        "open_cases": int(open_cases),
        "frozen_fen": int(frozen),
        "cells": [{"town_code": t, "typology": y, **v} for (t, y), v in sorted(by.items())],
    }


def kpi_risk_alerts(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """What the regulator's dashboard shows for risk: live alerts raised start..end and cases still open."""
    s = summary(conn, start, end)
    return {"alerts": s["alerts"], "open_cases": s["open_cases"], "frozen_fen": s["frozen_fen"]}
