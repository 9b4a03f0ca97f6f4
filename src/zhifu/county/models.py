"""The county profile: towns, villages, institutions, billers, commerce circles, targets and MCC mix."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from zhifu.reference.mcc import is_known_mcc

AreaType = Literal["urban", "rural"]
Ppm = Annotated[int, Field(ge=0, le=1_000_000)]
Count = Annotated[int, Field(ge=0)]
MccCode = Annotated[str, Field(pattern=r"^[0-9]{4}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Businesses(_Model):
    """Registered businesses: the denominator of acceptance coverage."""

    enterprise: Count
    individual_business: Count
    cooperative: Count = 0

    @property
    def total(self) -> int:
        return self.enterprise + self.individual_business + self.cooperative


class Town(_Model):
    code: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    name: str
    kind: Literal["subdistrict", "town", "township"]
    area_type: AreaType
    population: Count
    urban_share_ppm: Ppm
    businesses: Businesses


class Village(_Model):
    code: Annotated[str, Field(pattern=r"^[0-9]{12}$")]
    name: str
    town: str
    population: Count
    generated: bool = False


class Institution(_Model):
    id: Slug
    name: str
    roles: list[Literal["acquirer", "issuer", "network"]] = Field(min_length=1)
    is_county_rural: bool = False


class Biller(_Model):
    id: Slug
    name: str
    kind: Literal[
        "water",
        "power",
        "gas",
        "heating",
        "school",
        "social_insurance",
        "medical",
        "housing_fund",
        "tax",
        "bus",
        "scenic",
    ]
    town: str
    mcc: MccCode
    settlement_institution: str
    illustrative: bool = False


class CommerceCircle(_Model):
    id: Slug
    name: str
    town: str
    lead_acquirer: str
    pilot: bool = False


class Target(_Model):
    """One programme target: metric ≥ value by the deadline (ppm for shares and growth rates)."""

    id: Slug
    metric: str
    label_zh: str
    label_en: str
    period: Literal["2021", "2022", "pilot", "annual"]
    deadline: dt.date | None = None
    value: Count
    unit: Literal["count", "ppm"]
    scope: Literal["county", "urban", "towns"] = "county"
    institution: str | None = None
    note: str = ""


class ProgrammeUnit(_Model):
    """A member unit of the leadership group (§三.1); one of them hosts the group's office."""

    id: Slug
    name: str
    hosts_office: bool = False


class Milestone(_Model):
    title: str = Field(min_length=1, max_length=200)
    due: dt.date


class WorkItem(_Model):
    """One of the plan's work items with its lead unit (listed first in the plan) and co-responsible units."""

    number: Annotated[int, Field(ge=1, le=99)]  # `no` would read as false in YAML 1.1
    section: str
    title: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=4000)
    lead: Slug
    co: list[Slug] = []
    due: dt.date
    milestones: list[Milestone] = []


class Programme(_Model):
    """The programme's organisation: the document, the leadership group's units and the work items."""

    document: str
    units: list[ProgrammeUnit] = Field(min_length=1)
    work_items: list[WorkItem] = []

    @model_validator(mode="after")
    def _refs(self) -> Programme:
        _unique([u.id for u in self.units], "programme.units.id")
        _unique([str(w.number) for w in self.work_items], "programme.work_items.number")
        if sum(u.hosts_office for u in self.units) != 1:
            raise _fail("programme.units", "exactly one unit hosts the office")
        ids = {u.id for u in self.units}
        for i, w in enumerate(self.work_items):
            for j, unit in enumerate([w.lead, *w.co]):
                if unit not in ids:
                    where = "lead" if j == 0 else f"co.{j - 1}"
                    raise _fail(f"programme.work_items.{i}.{where}", f"unknown unit {unit!r}")
            if w.lead in w.co:
                raise _fail(f"programme.work_items.{i}.co", f"{w.lead!r} is the lead unit already")
        return self


class CountyProfile(_Model):
    id: Slug
    name: str
    name_en: str
    province: str
    prefecture: str
    area_code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    area_km2: Count
    notes: str = ""
    towns: list[Town] = Field(min_length=1)
    villages: list[Village] = []
    pilot_towns: list[str] = []
    institutions: list[Institution] = Field(min_length=1)
    billers: list[Biller] = []
    commerce_circles: list[CommerceCircle] = []
    targets: list[Target] = []
    programme: Programme | None = None
    mcc_mix: dict[AreaType, dict[MccCode, Annotated[int, Field(gt=0)]]]

    @model_validator(mode="after")
    def _references(self) -> CountyProfile:
        _check_references(self)
        return self

    def town(self, code: str) -> Town:
        """The town with this code; KeyError when absent."""
        for t in self.towns:
            if t.code == code:
                return t
        raise KeyError(code)

    @property
    def population(self) -> int:
        return sum(t.population for t in self.towns)

    @property
    def urban_population(self) -> int:
        return sum(t.population * t.urban_share_ppm // 1_000_000 for t in self.towns)

    @property
    def registered_businesses(self) -> int:
        return sum(t.businesses.total for t in self.towns)


def _fail(path: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("profile_reference", "{path}: {detail}", {"path": path, "detail": message})


def _unique(items: list[str], path: str) -> None:
    dupes = sorted(k for k, n in Counter(items).items() if n > 1)
    if dupes:
        raise _fail(path, f"duplicate {', '.join(dupes)}")


def _check_references(p: CountyProfile) -> None:
    """Every cross-reference names something that exists; raise at the first that does not."""
    _unique([t.code for t in p.towns], "towns.code")
    _unique([t.name for t in p.towns], "towns.name")
    _unique([v.code for v in p.villages], "villages.code")
    _unique([i.id for i in p.institutions], "institutions.id")
    _unique([b.id for b in p.billers], "billers.id")
    _unique([c.id for c in p.commerce_circles], "commerce_circles.id")
    _unique([t.id for t in p.targets], "targets.id")
    towns = {t.code: t for t in p.towns}
    insts = {i.id: i for i in p.institutions}
    for i, t in enumerate(p.towns):
        if not t.code.startswith(p.area_code):
            raise _fail(f"towns.{i}.code", f"{t.code} is not inside county {p.area_code}")
    village_pop: Counter[str] = Counter()
    for i, v in enumerate(p.villages):
        if v.town not in towns:
            raise _fail(f"villages.{i}.town", f"unknown town {v.town!r}")
        if not v.code.startswith(v.town):
            raise _fail(f"villages.{i}.code", f"{v.code} is not inside town {v.town}")
        village_pop[v.town] += v.population
    for code, pop in village_pop.items():
        if pop > towns[code].population:
            raise _fail(
                "villages",
                f"villages of {code} hold {pop} people, more than the town's {towns[code].population}",
            )
    for i, code in enumerate(p.pilot_towns):
        if code not in towns:
            raise _fail(f"pilot_towns.{i}", f"unknown town {code!r}")
    for i, b in enumerate(p.billers):
        if b.town not in towns:
            raise _fail(f"billers.{i}.town", f"unknown town {b.town!r}")
        if b.settlement_institution not in insts:
            raise _fail(
                f"billers.{i}.settlement_institution", f"unknown institution {b.settlement_institution!r}"
            )
        if not is_known_mcc(b.mcc):
            raise _fail(f"billers.{i}.mcc", f"unknown MCC {b.mcc!r}")
    for i, c in enumerate(p.commerce_circles):
        if c.town not in towns:
            raise _fail(f"commerce_circles.{i}.town", f"unknown town {c.town!r}")
        if "acquirer" not in getattr(insts.get(c.lead_acquirer), "roles", ()):
            raise _fail(f"commerce_circles.{i}.lead_acquirer", f"{c.lead_acquirer!r} is not an acquirer here")
    for i, t in enumerate(p.targets):
        if t.institution is not None and t.institution not in insts:
            raise _fail(f"targets.{i}.institution", f"unknown institution {t.institution!r}")
    missing = sorted({t.area_type for t in p.towns} - set(p.mcc_mix))
    if missing:
        raise _fail(f"mcc_mix.{missing[0]}", f"towns of type {missing[0]} need an MCC mix")
    for area, mix in p.mcc_mix.items():
        for code in mix:
            if not is_known_mcc(code):
                raise _fail(f"mcc_mix.{area}.{code}", f"unknown MCC {code!r}")


from zhifu.county import tables as _tables  # noqa: E402,F401  (the reference tables join the metadata)
