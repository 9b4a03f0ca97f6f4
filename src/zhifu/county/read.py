"""县域档案的读取 / Reads of the county profile for other capabilities: the dashboard, the programme office and the
simulator read towns, villages, institutions, circles, targets and the register of businesses through these
functions (whole sets in one query each), never the county's tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, Row, Select, Subquery, func, select

from zhifu.county.tables import (
    county_businesses,
    county_circles,
    county_info,
    county_institutions,
    county_targets,
    county_towns,
    county_villages,
)


def county_name(conn: Connection) -> str:
    """The loaded county's name ("" before a profile is loaded)."""
    return conn.execute(select(county_info.c.name)).scalar_one_or_none() or ""


def towns(conn: Connection, *, pilot_only: bool = False) -> Sequence[Row]:
    """Every town (code, name, kind, area_type, population, …, pilot), by code."""
    q = select(county_towns).order_by(county_towns.c.code)
    if pilot_only:
        q = q.where(county_towns.c.pilot.is_(True))
    return conn.execute(q).all()


def town_names(conn: Connection) -> dict[str, str]:
    """Town code → name, by code."""
    return dict(
        conn.execute(select(county_towns.c.code, county_towns.c.name).order_by(county_towns.c.code)).all()
    )


def is_town(conn: Connection, code: str) -> bool:
    return conn.execute(select(county_towns.c.code).where(county_towns.c.code == code)).first() is not None


def village_names(conn: Connection, *, town: str | None = None) -> dict[str, str]:
    """Village code → name, of one town or of the county."""
    q = select(county_villages.c.code, county_villages.c.name)
    if town:
        q = q.where(county_villages.c.town_code == town)
    return dict(conn.execute(q).all())


def institutions(conn: Connection) -> Sequence[Row]:
    """Every institution (id, name, roles, is_county_rural), by id."""
    return conn.execute(select(county_institutions).order_by(county_institutions.c.id)).all()


def institution_names(conn: Connection) -> dict[str, str]:
    """Institution id → name, by id."""
    i = county_institutions.c
    return dict(conn.execute(select(i.id, i.name).order_by(i.id)).all())


def is_institution(conn: Connection, institution_id: str) -> bool:
    i = county_institutions.c
    return conn.execute(select(i.id).where(i.id == institution_id)).first() is not None


def issuer_ids(conn: Connection) -> set[str]:
    """The institutions that issue cards (role `issuer`)."""
    i = county_institutions.c
    return {iid for iid, roles in conn.execute(select(i.id, i.roles)) if "issuer" in roles.split(",")}


def institution_ids(*, rural_only: bool = False) -> Select:
    """The institutions' ids as a subquery to filter by (the county's rural banks only, if asked)."""
    i = county_institutions.c
    q = select(i.id)
    if rural_only:
        q = q.where(i.is_county_rural.is_(True))
    return q


def circles(conn: Connection) -> Sequence[Row]:
    """The commerce circles (id, name, town_code, lead_acquirer, pilot), by id."""
    return conn.execute(select(county_circles).order_by(county_circles.c.id)).all()


def circle_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(county_circles)).scalar_one())


def targets(conn: Connection) -> Sequence[Row]:
    """The programme's targets (id, metric, labels, period, deadline, value, unit, scope, institution, note)."""
    t = county_targets.c
    return conn.execute(select(county_targets).order_by(t.metric, t.period)).all()


def earliest_deadline(conn: Connection, metric: str) -> dt.date | None:
    """The earliest deadline of a metric's targets (None if it has none)."""
    t = county_targets.c
    return conn.execute(select(func.min(t.deadline)).where(t.metric == metric)).scalar()


def businesses() -> Subquery:
    """The register of businesses as a subquery (credit_code, town_code, village_code, kind, name, mcc,
    registered_on, merchant_id), for set queries that join it with merchants."""
    b = county_businesses.c
    return select(
        b.credit_code, b.town_code, b.village_code, b.kind, b.name, b.mcc, b.registered_on, b.merchant_id
    ).subquery("businesses")


def has_businesses(conn: Connection) -> bool:
    """Whether a register of businesses is loaded (a simulated county)."""
    return conn.execute(select(county_businesses.c.credit_code).limit(1)).first() is not None
