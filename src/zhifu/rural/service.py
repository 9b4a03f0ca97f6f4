"""Rural finance's use cases in one place (e-accounts, purchase payouts, harvest cards, village service points,
agri shop fronts) and the figures the programme's dashboard takes from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select

from zhifu.core.clock import SHANGHAI
from zhifu.rural import eaccounts, harvest, payouts, points, shop
from zhifu.rural.models import eaccount_txns
from zhifu.rural.models import eaccounts as eaccount_rows


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(start, dt.time(), SHANGHAI),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SHANGHAI),
    )


def kpi_harvest_cards(conn: Connection, as_of: dt.date) -> int:
    """Harvest cards issued by as_of: the pilot target's figure (≥ 1,000)."""
    return int(harvest.figures(conn, as_of)["issued"])


def kpi_rural(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The dashboard's rural figures for start..end (Beijing dates)."""
    lo, hi = _bounds(start, end)
    opened = {
        c: int(n)
        for c, n in conn.execute(
            select(eaccount_rows.c.account_class, func.count())
            .where(eaccount_rows.c.opened_at < hi)
            .group_by(eaccount_rows.c.account_class)
        )
    }
    spend = conn.execute(
        select(func.count(), func.coalesce(func.sum(eaccount_txns.c.amount_fen), 0)).where(
            eaccount_txns.c.kind == "spend", eaccount_txns.c.created_at >= lo, eaccount_txns.c.created_at < hi
        )
    ).one()
    return {
        "eaccounts": {"class_ii": opened.get("II", 0), "class_iii": opened.get("III", 0)},
        "eaccount_spend": {"count": int(spend[0]), "amount_fen": int(spend[1])},
        "harvest_cards": harvest.figures(conn, end),
        "service_points": points.coverage(conn, lo, hi),
        "payouts": payouts.figures(conn, lo, hi),
        "online": shop.online_share(conn, lo, hi),
    }


__all__ = ["eaccounts", "harvest", "kpi_harvest_cards", "kpi_rural", "payouts", "points", "shop"]
