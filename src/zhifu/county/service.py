"""Store a validated county profile as reference tables, keep the register of businesses, and count coverage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, select, update

from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.county.models import CountyProfile
from zhifu.county.tables import (
    REFERENCE_TABLES,
    county_billers,
    county_businesses,
    county_circles,
    county_info,
    county_institutions,
    county_targets,
    county_towns,
    county_villages,
)

BUSINESS_KINDS = ("enterprise", "individual_business", "cooperative")
BUSINESSES_PER_CALL_MAX = 50_000  # one register import; bounds memory and transaction size


def loaded_county(conn: Connection) -> str | None:
    """The id of the profile this database serves, or None before `zhifu county load`."""
    return conn.execute(select(county_info.c.id)).scalar_one_or_none()


def load_county(
    conn: Connection, profile: CountyProfile, *, source: str, replace: bool = False
) -> dict[str, int]:
    """Write the profile's reference data; loading the same county again refreshes it. A database serves one
    county: loading another needs replace=True, which also clears the register of businesses."""
    current = loaded_county(conn)
    if current is not None and current != profile.id:
        if not replace:
            raise ConflictError(
                f"本库已载入 {current} / this database already serves county {current!r}; "
                f"use --replace to load {profile.id!r} instead",
                param="profile",
                code="county_already_loaded",
            )
        conn.execute(delete(county_businesses))
    for table in (county_info, *REFERENCE_TABLES):
        conn.execute(delete(table))
    conn.execute(
        insert(county_info),
        [
            {
                "id": profile.id,
                "name": profile.name,
                "name_en": profile.name_en,
                "province": profile.province,
                "prefecture": profile.prefecture,
                "area_code": profile.area_code,
                "area_km2": profile.area_km2,
                "source": source[:300],
                "mcc_mix": {k: dict(v) for k, v in profile.mcc_mix.items()},
                "loaded_at": clock.now(),
            }
        ],
    )
    pilots = set(profile.pilot_towns)
    rows: dict[Any, list[dict[str, Any]]] = {
        county_towns: [
            {
                "code": t.code,
                "name": t.name,
                "kind": t.kind,
                "area_type": t.area_type,
                "population": t.population,
                "urban_share_ppm": t.urban_share_ppm,
                "enterprises": t.businesses.enterprise,
                "individual_businesses": t.businesses.individual_business,
                "cooperatives": t.businesses.cooperative,
                "pilot": t.code in pilots,
            }
            for t in profile.towns
        ],
        county_villages: [
            {
                "code": v.code,
                "town_code": v.town,
                "name": v.name,
                "population": v.population,
                "generated": v.generated,
            }
            for v in profile.villages
        ],
        county_institutions: [
            {"id": i.id, "name": i.name, "roles": ",".join(i.roles), "is_county_rural": i.is_county_rural}
            for i in profile.institutions
        ],
        county_billers: [
            {
                "id": b.id,
                "name": b.name,
                "kind": b.kind,
                "town_code": b.town,
                "mcc": b.mcc,
                "settlement_institution": b.settlement_institution,
                "illustrative": b.illustrative,
            }
            for b in profile.billers
        ],
        county_circles: [
            {
                "id": c.id,
                "name": c.name,
                "town_code": c.town,
                "lead_acquirer": c.lead_acquirer,
                "pilot": c.pilot,
            }
            for c in profile.commerce_circles
        ],
        county_targets: [
            {
                "id": t.id,
                "metric": t.metric,
                "label_zh": t.label_zh,
                "label_en": t.label_en,
                "period": t.period,
                "deadline": t.deadline,
                "value": t.value,
                "unit": t.unit,
                "scope": t.scope,
                "institution": t.institution,
                "note": t.note,
            }
            for t in profile.targets
        ],
    }
    for table, batch in rows.items():
        if batch:
            conn.execute(insert(table), batch)
    return {
        "towns": len(profile.towns),
        "villages": len(profile.villages),
        "institutions": len(profile.institutions),
        "billers": len(profile.billers),
        "commerce_circles": len(profile.commerce_circles),
        "targets": len(profile.targets),
        "registered_businesses": profile.registered_businesses,
    }


def register_businesses(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Add businesses to the register (credit_code, town_code, village_code, kind, name, mcc, registered_on)."""
    if len(rows) > BUSINESSES_PER_CALL_MAX:
        raise InvalidRequest(f"at most {BUSINESSES_PER_CALL_MAX} businesses per call", param="businesses")
    if not rows:
        return 0
    towns = set(conn.execute(select(county_towns.c.code)).scalars())
    out = []
    for i, r in enumerate(rows):
        if r["town_code"] not in towns:
            raise InvalidRequest(
                f"businesses.{i}.town_code: unknown town {r['town_code']!r}",
                param=f"businesses.{i}.town_code",
            )
        if r["kind"] not in BUSINESS_KINDS:
            raise InvalidRequest(
                f"businesses.{i}.kind: one of {', '.join(BUSINESS_KINDS)}", param=f"businesses.{i}.kind"
            )
        out.append(
            {
                "credit_code": r["credit_code"],
                "town_code": r["town_code"],
                "village_code": r.get("village_code"),
                "kind": r["kind"],
                "name": r["name"],
                "mcc": r["mcc"],
                "registered_on": r["registered_on"],
                "merchant_id": r.get("merchant_id"),
                "generated": bool(r.get("generated", True)),
            }
        )
    conn.execute(insert(county_businesses), out)
    return len(out)


def link_merchants(conn: Connection, links: Sequence[tuple[str, str]]) -> None:
    """Record that registered businesses (by credit code) now accept smart pay as these merchants."""
    if links:
        conn.execute(
            update(county_businesses)
            .where(county_businesses.c.credit_code == bindparam("cc"))
            .values(merchant_id=bindparam("mid")),
            [{"cc": cc, "mid": mid} for cc, mid in links],
        )


def coverage(conn: Connection, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Registered businesses and those accepting smart pay, per town (the coverage targets' numbers)."""
    covered = func.sum(case((county_businesses.c.merchant_id.is_not(None), 1), else_=0))
    q = select(county_businesses.c.town_code, func.count(), covered).group_by(county_businesses.c.town_code)
    if as_of is not None:
        q = q.where(county_businesses.c.registered_on <= as_of)
    counts = {code: (int(n), int(c or 0)) for code, n, c in conn.execute(q)}
    out = []
    for t in conn.execute(select(county_towns).order_by(county_towns.c.code)):
        n, c = counts.get(t.code, (0, 0))
        out.append(
            {
                "town_code": t.code,
                "name": t.name,
                "area_type": t.area_type,
                "pilot": t.pilot,
                "registered": n,
                "covered": c,
                "coverage_ppm": c * 1_000_000 // n if n else 0,
            }
        )
    return out
