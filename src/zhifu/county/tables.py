"""Reference tables of the county a database serves: towns, villages, institutions, billers, circles, targets,
and the register of businesses (the denominator of acceptance coverage)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, Index, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

county_info = Table(
    "county_info",
    metadata,
    Column("id", String(40), primary_key=True),  # the profile id; a database serves one county
    Column("name", String(40), nullable=False),
    Column("name_en", String(80), nullable=False),
    Column("province", String(40), nullable=False),
    Column("prefecture", String(40), nullable=False),
    Column("area_code", String(6), nullable=False),
    Column("area_km2", Integer, nullable=False),
    Column("source", String(300), nullable=False),
    Column("mcc_mix", JSON, nullable=False),
    utcnow_column("loaded_at"),
)

county_towns = Table(
    "county_towns",
    metadata,
    Column("code", String(9), primary_key=True),
    Column("name", String(40), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("area_type", String(6), nullable=False),
    Column("population", BigInteger, nullable=False),
    Column("urban_share_ppm", Integer, nullable=False),
    Column("enterprises", Integer, nullable=False),
    Column("individual_businesses", Integer, nullable=False),
    Column("cooperatives", Integer, nullable=False),
    Column("pilot", Boolean, nullable=False),
)

county_villages = Table(
    "county_villages",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("town_code", String(9), nullable=False, index=True),
    Column("name", String(40), nullable=False),
    Column("population", BigInteger, nullable=False),
    Column("generated", Boolean, nullable=False),
)

county_institutions = Table(
    "county_institutions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("roles", String(40), nullable=False),  # comma-separated: acquirer, issuer, network
    Column("is_county_rural", Boolean, nullable=False),
)

county_billers = Table(
    "county_billers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("mcc", String(4), nullable=False),
    Column("settlement_institution", String(40), nullable=False),
    Column("illustrative", Boolean, nullable=False),
)

county_circles = Table(
    "county_commerce_circles",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("lead_acquirer", String(40), nullable=False),
    Column("pilot", Boolean, nullable=False),
)

county_targets = Table(
    "county_targets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("metric", String(60), nullable=False),
    Column("label_zh", String(60), nullable=False),
    Column("label_en", String(120), nullable=False),
    Column("period", String(8), nullable=False),
    Column("deadline", Date, nullable=True),
    Column("value", BigInteger, nullable=False),
    Column("unit", String(5), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("institution", String(40), nullable=True),
    Column("note", String(200), nullable=False),
)

# One row per registered business (enterprise, individual business, farmers' cooperative). `merchant_id`
# is set when the business accepts smart pay: coverage = businesses with a merchant / businesses.
county_businesses = Table(
    "county_businesses",
    metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("town_code", String(9), nullable=False),
    Column("village_code", String(12), nullable=True),
    Column("kind", String(20), nullable=False),  # enterprise | individual_business | cooperative
    Column("name", String(100), nullable=False),
    Column("mcc", String(4), nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("merchant_id", String(32), nullable=True),
    Column("generated", Boolean, nullable=False),
    Index("ix_county_businesses_town", "town_code", "merchant_id"),
)

REFERENCE_TABLES = (
    county_towns,
    county_villages,
    county_institutions,
    county_billers,
    county_circles,
    county_targets,
)
