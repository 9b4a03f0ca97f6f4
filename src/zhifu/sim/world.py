"""The simulated county: registered businesses and micro vendors with the day each joins the programme,
and consumers with a home town, a preferred app and a bank card. Built from the profile, the scale and a seed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

from zhifu.county import CountyProfile, Town
from zhifu.reference import generate_credit_code, generate_resident_id
from zhifu.sim.catalog import business_name, category, person_name

APPS = ("wechat", "alipay", "unionpay", "bank_app")  # what a consumer opens to pay, by index
UNIONPAY = 2
APP_MIX = {"urban": (52, 30, 8, 10), "rural": (60, 18, 10, 12)}  # percent, before any campaign
MOBILE_PAYER_PPM = 620_000  # residents who pay by phone: adults with a smartphone
CREDIT_CARD_PPM = {"urban": 150_000, "rural": 60_000}
MICRO_PER_INDIVIDUAL_PPM = 150_000  # unlicensed stalls and vendors per licensed individual business
NEW_BUSINESSES_PPM_A_YEAR = 60_000
# Joining the programme: the share that ever joins, the mean wait in days, and the share already on day 0.
ADOPTION = {"pilot": (0.97, 75.0, 0.06), "urban": (0.98, 190.0, 0.05), "rural": (0.9, 260.0, 0.03)}


@dataclasses.dataclass(slots=True)
class Business:
    """A shop that may become a merchant: registered (credit_code set) or a micro vendor (credit_code None)."""

    key: int
    town: int  # index into the profile's towns
    village: str | None
    kind: str  # enterprise | individual_business | cooperative | micro
    credit_code: str | None
    name: str
    short_name: str
    owner: str
    owner_id: str
    mcc: str
    acquirer: str
    registered_day: int  # day index of registration (negative: before the run)
    join_day: int  # day index it becomes a merchant; beyond the run: never within it
    size: float
    merchant_id: str | None = None


@dataclasses.dataclass(slots=True)
class Consumers:
    """Parallel arrays, one slot per consumer; consumers of a town are contiguous."""

    town_start: list[int]
    town_end: list[int]
    app: bytearray
    issuer: bytearray  # index into `issuers`
    credit: bytearray  # 1 when the card is a credit card
    issuers: list[str]

    def __len__(self) -> int:
        return len(self.app)


@dataclasses.dataclass(slots=True)
class World:
    profile: CountyProfile
    start: dt.date
    days: int
    businesses: list[Business]
    consumers: Consumers
    pilot: list[bool]  # per town


def _scaled(n: int, scale: float) -> int:
    return int(math.floor(n * scale + 0.5))


def _weighted(rng: random.Random, items: list[str], weights: list[float]) -> str:
    return rng.choices(items, weights=weights, k=1)[0]


def _acquirer_weights(profile: CountyProfile) -> tuple[list[str], list[float]]:
    acquirers = [i for i in profile.institutions if "acquirer" in i.roles]
    return [i.id for i in acquirers], [5.0 if i.is_county_rural else 1.0 for i in acquirers]


def _join_day(rng: random.Random, adoption: tuple[float, float, float], registered: int, days: int) -> int:
    ever, mean_wait, at_start = adoption
    if rng.random() >= ever:
        return days + 10_000
    first = max(registered, 0)
    if registered <= 0 and rng.random() < at_start:
        return 0
    return first + int(rng.expovariate(1.0 / mean_wait))


def build(profile: CountyProfile, *, start: dt.date, days: int, scale: float, rng: random.Random) -> World:
    """Everyone in the county at this scale; the same seed builds the same county."""
    pilots = set(profile.pilot_towns)
    villages: dict[str, list[str]] = {}
    for v in profile.villages:
        villages.setdefault(v.town, []).append(v.code)
    acq_ids, acq_w = _acquirer_weights(profile)
    circles = {c.town: c.lead_acquirer for c in profile.commerce_circles}
    businesses: list[Business] = []
    taken: set[str] = set()  # credit codes are unique: eight random digits collide among tens of thousands
    for ti, town in enumerate(profile.towns):
        area = town.area_type
        mix = profile.mcc_mix[area]
        mccs, mcc_w = list(mix), [float(w) for w in mix.values()]
        adoption = ADOPTION["pilot" if town.code in pilots else area]
        counts = _town_counts(town, scale)
        for kind, n in counts:
            for _ in range(n):
                businesses.append(
                    _business(
                        rng,
                        profile,
                        ti,
                        town,
                        kind,
                        mccs,
                        mcc_w,
                        acq_ids,
                        acq_w,
                        circles.get(town.code),
                        villages.get(town.code, []),
                        adoption,
                        start,
                        days,
                        len(businesses),
                        taken,
                    )
                )
    consumers = _consumers(profile, scale, rng)
    return World(profile, start, days, businesses, consumers, [t.code in pilots for t in profile.towns])


def _town_counts(town: Town, scale: float) -> list[tuple[str, int]]:
    b = town.businesses
    return [
        ("enterprise", _scaled(b.enterprise, scale)),
        ("individual_business", _scaled(b.individual_business, scale)),
        ("cooperative", _scaled(b.cooperative, scale)),
        ("micro", _scaled(b.individual_business * MICRO_PER_INDIVIDUAL_PPM // 1_000_000, scale)),
    ]


def _business(
    rng: random.Random,
    profile: CountyProfile,
    ti: int,
    town: Town,
    kind: str,
    mccs: list[str],
    mcc_w: list[float],
    acq_ids: list[str],
    acq_w: list[float],
    circle_acquirer: str | None,
    village_codes: list[str],
    adoption: tuple[float, float, float],
    start: dt.date,
    days: int,
    key: int,
    taken: set[str],
) -> Business:
    mcc = "0763" if kind == "cooperative" else _weighted(rng, mccs, mcc_w)
    owner = person_name(rng)
    village = rng.choice(village_codes) if village_codes and rng.random() < 0.7 else None
    place = town.name
    credit = None
    if kind != "micro":
        org_type = {"enterprise": "1", "individual_business": "2", "cooperative": "3"}[kind]
        credit = generate_credit_code(rng, area_code=profile.area_code, org_type=org_type)
        while credit in taken:
            credit = generate_credit_code(rng, area_code=profile.area_code, org_type=org_type)
        taken.add(credit)
    name, short = business_name(rng, kind, profile.name, place, mcc, owner)
    if rng.random() < NEW_BUSINESSES_PPM_A_YEAR / 1_000_000 * days / 365:
        registered = rng.randrange(days)  # registers during the run
    else:
        registered = -rng.randrange(30, 3_650)
    acquirer = circle_acquirer if circle_acquirer and rng.random() < 0.4 else _weighted(rng, acq_ids, acq_w)
    size = rng.lognormvariate(0.0, 0.6) * (1.6 if kind == "enterprise" else 1.0) * category(mcc).daily
    born_to = min(dt.date(2004, 12, 31), start - dt.timedelta(days=18 * 366))
    owner_id = generate_resident_id(
        rng, area_code=profile.area_code, born_from=dt.date(1950, 1, 1), born_to=born_to
    )
    return Business(
        key,
        ti,
        village,
        kind,
        credit,
        name[:100],
        short,
        owner,
        owner_id,
        mcc,
        acquirer,
        registered,
        _join_day(rng, adoption, registered, days),
        size,
    )


def _consumers(profile: CountyProfile, scale: float, rng: random.Random) -> Consumers:
    issuers = [i for i in profile.institutions if "issuer" in i.roles]
    ids = [i.id for i in issuers]
    starts, ends = [], []
    app, issuer, credit = bytearray(), bytearray(), bytearray()
    for town in profile.towns:
        n = _scaled(town.population * MOBILE_PAYER_PPM // 1_000_000, scale)
        starts.append(len(app))
        mix = APP_MIX[town.area_type]
        rural_w = 4.0 if town.area_type == "rural" else 2.0
        weights = [rural_w if i.is_county_rural else 1.0 for i in issuers]
        app.extend(rng.choices(range(len(APPS)), weights=mix, k=n))
        issuer.extend(rng.choices(range(len(ids)), weights=weights, k=n))
        cut = CREDIT_CARD_PPM[town.area_type] / 1_000_000
        credit.extend(1 if rng.random() < cut else 0 for _ in range(n))
        ends.append(len(app))
    return Consumers(starts, ends, app, issuer, credit, ids)


PAYERS_DEFAULT = (
    1_000  # the consumers a demo flow draws its payers from when it is not told the county's count
)
PAYCODE_HEAD = {"unionpay_qr": ("62", 4), "wechat": ("13", 3), "alipay": ("28", 3)}  # prefix, free digits


def payer_ref(index: int) -> str:
    """A consumer's payer id, the same on every rail (in the form of an Alipay user id, 2088 and 12 digits,
    which the fake Alipay rail reports as it is): the platform's active users then count the county's people,
    never more than its consumers."""
    return f"2088{index:012d}"


def county_payer(rng: random.Random, consumers: int | None) -> str:
    """One of the county's consumers, drawn at random: every simulated payer is one of its people."""
    return payer_ref(rng.randrange(max(1, consumers or PAYERS_DEFAULT)))


def pay_code(channel: str, index: int, *, last: str = "1", serial: int = 0) -> str:
    """The pay code a consumer shows at a counter (19 digits for 云闪付, 18 for WeChat and Alipay; `serial` varies
    the digits after the prefix, as each code shown differs): the fake rails read its payer from the 12 digits
    before the last one (which sets the outcome: 7 PIN, 8 declined, 9 timeout), so the payer is this consumer."""
    prefix, free = PAYCODE_HEAD[channel]
    return f"{prefix}{serial % 10**free:0{free}d}{index:012d}{last}"


__all__ = [
    "APPS",
    "Business",
    "Consumers",
    "UNIONPAY",
    "World",
    "build",
    "county_payer",
    "pay_code",
    "payer_ref",
]
