"""Figures the dashboard takes from other capabilities (incentives, settlement, reconciliation, risk, complaints).

Each capability may offer `kpi_<figure>(conn, start, end)` in its service module, which is used when present.
Until it does, a small read-only query of its tables stands in here — the one place kpi reads another
capability's tables (a debt: those queries belong to their owners as `kpi_<figure>`).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, func, select

from zhifu.core.clock import SHANGHAI
from zhifu.db.meta import metadata


def _offered(cap: str, figure: str) -> Callable[..., Any] | None:
    """The capability's own `kpi_<figure>`, or None where it offers none (its module must import: every
    capability named here exists, so an import error is a real one)."""
    mod = importlib.import_module(f"zhifu.{cap}.service")  # by name: the office imports kpi itself
    return getattr(mod, f"kpi_{figure}", None)


def _table(conn: Connection, name: str) -> Table | None:
    """The table when the code defines it and this database has it (an older schema may not)."""
    t = metadata.tables.get(name)
    return t if t is not None and conn.dialect.has_table(conn, name) else None


def _ratio(part: int, whole: int) -> int | None:
    return (part * 1_000_000 + whole // 2) // whole if whole else None


def subsidy_spend(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """Incentive money awarded for payments on start..end (Shanghai dates): awards posted or held, less what
    refunds clawed back, by kind."""
    fn = _offered("incentives", "subsidy_spend")
    if fn is not None:
        return fn(conn, start, end)
    t = _table(conn, "campaign_awards")
    if t is None:
        return None
    q = (
        select(t.c.kind, func.count(), func.coalesce(func.sum(t.c.amount_fen - t.c.clawed_back_fen), 0))
        .where(t.c.day >= start.isoformat(), t.c.day <= end.isoformat(), t.c.status != "released")
        .group_by(t.c.kind)
    )
    kinds = {k: {"awards": int(n), "amount_fen": int(a)} for k, n, a in conn.execute(q)}
    return {"amount_fen": sum(v["amount_fen"] for v in kinds.values()), "by_kind": kinds}


def settlement_timeliness(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """Payouts due (settle date) in start..end and already due: paid on or before the due date ÷ all."""
    fn = _offered("settlement", "settlement_timeliness")
    if fn is not None:
        return fn(conn, start, end)
    t = _table(conn, "settlement_payouts")
    if t is None:
        return None
    due = on_time = 0
    for settle_date, status, resolved_at in conn.execute(
        select(t.c.settle_date, t.c.status, t.c.resolved_at).where(
            t.c.settle_date >= start, t.c.settle_date <= end
        )
    ):
        due += 1
        if (
            status == "paid"
            and resolved_at is not None
            and resolved_at.astimezone(SHANGHAI).date() <= settle_date
        ):
            on_time += 1
    return {"due": due, "on_time": on_time, "on_time_ppm": _ratio(on_time, due)}


def recon_exceptions(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """Exception cases opened for business dates start..end ÷ our payments and refunds those batches checked."""
    fn = _offered("recon", "recon_exceptions")
    if fn is not None:
        return fn(conn, start, end)
    b, c, i = _table(conn, "recon_batches"), _table(conn, "recon_cases"), _table(conn, "recon_item_results")
    if b is None or c is None or i is None:
        return None
    items = conn.execute(
        select(func.count())
        .select_from(i.join(b, b.c.id == i.c.batch_id))
        .where(b.c.business_date >= start, b.c.business_date <= end)
    ).scalar_one()
    cases = conn.execute(
        select(func.count()).where(c.c.business_date >= start, c.c.business_date <= end).select_from(c)
    ).scalar_one()
    return {"items": int(items), "exceptions": int(cases), "exception_ppm": _ratio(int(cases), int(items))}


def risk_alerts(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    fn = _offered("risk", "risk_alerts")
    return fn(conn, start, end) if fn is not None else None


def complaints_within_sla(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    fn = _offered("complaints", "complaints_within_sla")
    return fn(conn, start, end) if fn is not None else None


def transit_usage(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    fn = _offered("transit", "transit_usage")
    return fn(conn, start, end) if fn is not None else None


def public_services(
    conn: Connection,
    start: dt.date,
    end: dt.date,
    *,
    town: str | None = None,
    institution: str | None = None,
    channel: str | None = None,
) -> dict[str, Any] | None:
    """Public-service payments (water, power, tuition, social insurance...) by category, town and channel,
    under the dashboard's town, institution and channel filters."""
    fn = _offered("bills", "public_services")
    if fn is None:
        return None
    return fn(conn, start, end, town=town, institution=institution, channel=channel)


def circle_merchant_counts(conn: Connection) -> dict[str, int]:
    """Merchants designated to each commerce circle (by incentives), when that capability keeps the list."""
    t = _table(conn, "campaign_circle_merchants")
    if t is None:
        return {}
    return {k: int(n) for k, n in conn.execute(select(t.c.circle_id, func.count()).group_by(t.c.circle_id))}


def programme_office(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """Work-item progress, circles and streets, training beside adoption, credit on payment data (the office)."""
    fn = _offered("office", "programme_office")
    return fn(conn, start, end) if fn is not None else None


def commerce_circles_launched(conn: Connection, as_of: dt.date) -> int | None:
    """Circles launched by as_of, when the office keeps launch dates; None otherwise."""
    fn = _offered("office", "commerce_circles")
    return fn(conn, as_of) if fn is not None else None


def harvest_cards(conn: Connection, as_of: dt.date) -> int | None:
    """Farmers' harvest cards issued by as_of (the rural capability's register)."""
    fn = _offered("rural", "harvest_cards")
    return fn(conn, as_of) if fn is not None else None


def rural(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """E-accounts, harvest cards, village service-point coverage, purchase payouts and online agri sales."""
    fn = _offered("rural", "rural")
    return fn(conn, start, end) if fn is not None else None
