"""风险类型模拟 / Labelled fraud typologies hidden among honest traffic, as a simulation hook.

Criminal actors (跑分 personal codes, 套现 merchants, 二清 merchant rings sharing one settlement account, payers
splitting purchases, dormant merchants woken up, sudden spikes) and honest look-alikes (night markets, bus fares,
a school canteen, an appliance shop taking large credit payments) are chosen from the county as it grows. Each is
written to `risk_labels` (which only the backtest reads); their payments go through the same batch path as every
other simulated payment. A separate random source keeps the honest traffic of a seed unchanged.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import random
from typing import Any

from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.payments.batch import PaymentSpec
from zhifu.sim.world import APPS, Business, payer_ref

# how many actors of each kind, per 100 merchants active when they start (at least one each)
ACTORS_PER_100: dict[str, float] = {
    "paofen": 0.6,
    "cashout": 0.6,
    "secondary_clearing": 1.0,
    "split": 0.6,
    "dormant": 0.4,
    "spike": 0.4,
    "honest_night_market": 1.0,
    "honest_bus": 0.3,
    "honest_canteen": 0.3,
    "honest_appliance": 0.5,
}
RING_SIZE = 4  # merchants sharing one account in a 二清 ring
PAOFEN_TIERS_FEN = (5_000, 10_000, 20_000)  # gambling top-ups in fixed tiers
MICRO_KINDS = frozenset({"paofen", "honest_night_market", "secondary_clearing_member"})
CASHOUT_AMOUNTS_FEN = (200_000, 300_000, 500_000, 498_000, 499_000, 1_000_000)
# Bursts of card payments: the days after the actor's start they fall on, how many (inclusive range) and the
# amount range in fen. A dormant merchant wakes 60 days after its start; a spike lasts two days.
_BURSTS: dict[str, tuple[tuple[int, ...], tuple[int, int], tuple[int, int]]] = {
    "dormant": ((60,), (10, 16), (80_000, 300_000)),
    "spike": ((0, 1), (25, 40), (100_000, 400_000)),
}


@dataclasses.dataclass
class Actor:
    kind: str
    start: int  # day index
    merchant_id: str | None = None
    payer: int | None = None  # consumer index
    ring: list[int] = dataclasses.field(default_factory=list)  # the cards a cash-out merchant swipes
    mcc: str = ""


def _local(day: dt.date, seconds: float) -> dt.datetime:
    return (dt.datetime.combine(day, dt.time(), SHANGHAI) + dt.timedelta(seconds=seconds)).astimezone(dt.UTC)


class RiskActors:
    """The hook: `extra_payments` adds each actor's payments for the day; `review` silences dormant merchants."""

    def __init__(self, db: Database | None, seed: int, days: int) -> None:
        self.db = db
        self.rng = random.Random(seed * 104_729 + 17)
        self.days = days
        self.actors: list[Actor] = []
        self.planned = False
        self.seq = 0
        from zhifu.core.config import get_settings

        settings = get_settings()
        self.caps = (settings.micro_daily_cap_fen, settings.micro_monthly_cap_fen)
        self.month_used: dict[str, tuple[tuple[int, int], int]] = {}

    # ------------------------------------------------------------ choosing actors

    def _plan(self, day: Any) -> None:
        """Decide when each actor starts; they are bound to merchants and payers on that day."""
        rng = self.rng
        n_merchants = max(50, len(day.world.businesses) // 3)
        for kind, per100 in ACTORS_PER_100.items():
            least = 3 if kind.startswith("honest") else 5
            for _ in range(max(least, round(n_merchants * per100 / 100))):
                lo = 40 if kind not in ("dormant", "spike") else 90
                hi = self.days - (70 if kind == "dormant" else 5)  # a dormant merchant wakes within the run
                start = rng.randrange(lo, hi) if hi > lo else max(0, self.days // 2)
                self.actors.append(Actor(kind, start))
        self.planned = True

    def _bind(self, a: Actor, day: Any) -> bool:
        rng, active = self.rng, day.active
        taken = {x.merchant_id for x in self.actors if x.merchant_id}
        pool: list[Business]
        if a.kind in ("paofen", "honest_night_market"):
            pool = [b for b in active if b.kind == "micro"]
        elif a.kind in ("cashout", "honest_appliance"):
            pool = [b for b in active if b.kind == "individual_business"]
        elif a.kind in ("honest_bus", "honest_canteen"):
            pool = [b for b in active if b.kind == "enterprise"]
        elif a.kind == "split":
            a.payer = rng.randrange(len(day.world.consumers))
            self._label("payer", payer_ref(a.payer), "split")
            return True
        elif a.kind == "secondary_clearing":
            return self._ring(a, day)
        else:  # dormant, spike: an ordinary merchant that has traded for a while
            pool = [b for b in active[: max(1, len(active) * 2 // 3)] if b.kind != "micro"]
        pool = [b for b in pool if b.merchant_id not in taken and b.merchant_id]
        if not pool:
            return False
        b = rng.choice(pool)
        a.merchant_id, a.mcc = b.merchant_id, b.mcc
        c = day.world.consumers
        if a.kind == "cashout":
            credit = [i for i in (rng.randrange(len(c)) for _ in range(400)) if c.credit[i] == 1]
            a.ring = credit[: rng.randint(4, 7)] or [rng.randrange(len(c))]
        kind = "merchant"
        self._label(kind, b.merchant_id or "", a.kind, b.short_name)
        return True

    def _ring(self, a: Actor, day: Any) -> bool:
        """A 二清 ring: new micro merchants all settling into one account in the organiser's name."""
        if self.db is None:
            return False
        from zhifu.merchants import MerchantApplication
        from zhifu.merchants import service as merchants
        from zhifu.reference import generate_resident_id

        rng = self.rng
        town = day.world.profile.towns[rng.randrange(len(day.world.profile.towns))]
        organiser = rng.choice(["赵", "钱", "孙", "李"]) + rng.choice(["建国", "志强", "海燕"])
        organiser_id = generate_resident_id(rng, born_from=dt.date(1960, 1, 1), born_to=dt.date(1995, 1, 1))
        account = "62" + "".join(rng.choice("0123456789") for _ in range(15))
        at = _local(day.date, 10 * 3600)
        ids = []
        with self.db.tx() as conn:
            for i in range(RING_SIZE):  # shops registered in the organiser's name, all paid into one account
                app = MerchantApplication(
                    type="micro",
                    legal_name=organiser,
                    short_name=f"{organiser[0]}记{'甲乙丙丁戊己'[i]}号店",
                    legal_person_name=organiser,
                    legal_person_id=organiser_id,
                    phone="139" + "".join(rng.choice("0123456789") for _ in range(8)),
                    mcc="5499",
                    town_code=town.code,
                    address=f"{town.name}{rng.randrange(1, 300)}号",
                    settle_bank="沂源农商银行",
                    settle_account_no=account,
                    settle_account_name=organiser,
                    acquirer_id=day.active[0].acquirer if day.active else "yiyuan_rcb",
                )
                m = merchants.apply(conn, app, at=at)
                merchants.review(conn, m["id"], "approve", at=at)
                ids.append(m["id"])
        for mid in ids:
            self.actors.append(Actor("secondary_clearing_member", a.start, mid, mcc="5499"))
            self._label("merchant", mid, "secondary_clearing", "二清")
        a.merchant_id = ids[0]
        return True

    def _label(self, kind: str, subject: str, typology: str, note: str = "") -> None:
        if self.db is None:
            return
        from zhifu.risk.backtest import add_label

        with self.db.tx() as conn:
            add_label(conn, kind, subject, typology, note)

    # ------------------------------------------------------------ the hook

    def extra_payments(self, day: Any) -> list[PaymentSpec]:
        if not self.planned:
            self._plan(day)
        out: list[PaymentSpec] = []
        for a in self.actors:
            if day.index < a.start:
                continue
            if a.merchant_id is None and a.payer is None:
                if a.kind == "secondary_clearing_member" or not self._bind(a, day):
                    continue
            out.extend(self._day_of(a, day))
        return out

    def review(self, day: Any, specs: list[PaymentSpec]) -> list[PaymentSpec]:
        """A dormant merchant takes nothing for 60 days before it wakes up; a micro actor stays within its daily
        and monthly caps (the platform would refuse more), honest payments first.

        The batch checks the caps in time order: each payment, a declined one too, must fit under the cap beside
        the successes before it. An actor's payment is kept only if every payment kept that day still fits in
        that order, so one made at night never pushes an honest payment of the afternoon over the cap."""
        silent = {
            a.merchant_id
            for a in self.actors
            if a.kind == "dormant" and a.merchant_id and a.start <= day.index < a.start + 60
        }
        micro = {a.merchant_id for a in self.actors if a.merchant_id and a.kind in MICRO_KINDS}
        # every micro merchant's month counts, from before an actor is bound to it too
        micro |= {b.merchant_id for b in day.active if b.kind == "micro" and b.merchant_id}
        if not silent and not micro:
            return specs
        month = (day.date.year, day.date.month)
        capped: dict[str, list[PaymentSpec]] = {}
        out = []
        for s in sorted(specs, key=lambda x: (x.merchant_order_no.startswith("R"), x.created_at)):
            if s.merchant_id in silent and s.merchant_order_no.startswith("S"):
                continue
            if s.merchant_id in micro:
                capped.setdefault(s.merchant_id, []).append(s)
            else:
                out.append(s)
        for mid, candidates in capped.items():  # honest payments first, each kind in time order
            m_used = self.month_used.get(mid, (month, 0))
            m_total = m_used[1] if m_used[0] == month else 0
            room = min(self.caps[0], self.caps[1] - m_total)
            kept: list[PaymentSpec] = []
            for s in candidates:
                at = bisect.bisect_right(kept, s.created_at, key=lambda k: k.created_at)
                trial = [*kept[:at], s, *kept[at:]]
                if _fits(trial, room):
                    kept = trial
            self.month_used[mid] = (
                month,
                m_total + sum(k.amount_fen for k in kept if k.outcome == "success"),
            )
            out.extend(kept)
        return out

    # ------------------------------------------------------------ each actor's day

    def _spec(
        self,
        a: Actor,
        day: Any,
        idx: int,
        amount: int,
        seconds: float,
        channel: str,
        flow: str,
        card: str | None = None,
    ) -> PaymentSpec:
        c = day.world.consumers
        credit = c.credit[idx] == 1
        card = card or ("credit" if credit else "debit")
        issuer = None if card == "wallet" else c.issuers[c.issuer[idx]]
        self.seq += 1
        created = _local(day.date, seconds)
        return PaymentSpec(
            a.merchant_id or "",
            f"R{day.date:%Y%m%d}{self.seq:07d}",
            amount,
            channel,
            flow,
            created,
            created + dt.timedelta(seconds=5 + self.rng.randrange(30)),
            payer_ref(idx),
            issuer,
            card,
        )

    def _day_of(self, a: Actor, day: Any) -> list[PaymentSpec]:
        rng = self.rng
        n_all = len(day.world.consumers)
        k = a.kind
        out: list[PaymentSpec] = []
        if k == "paofen":  # many payers, fixed round tiers, round the clock, every day
            for _ in range(rng.randint(24, 34)):
                idx = rng.randrange(n_all)
                out.append(
                    self._spec(
                        a,
                        day,
                        idx,
                        rng.choice(PAOFEN_TIERS_FEN),
                        rng.random() * 86_400,
                        rng.choice(["wechat", "alipay"]),
                        "static_code",
                        "wallet",
                    )
                )
        elif k == "cashout":  # a few credit cards, round or just-below-limit amounts, often late at night
            if rng.random() < 0.7:
                for _ in range(rng.randint(4, 8)):
                    idx = rng.choice(a.ring)
                    night = rng.random() < 0.5
                    t = (rng.random() * 4 * 3600) if night else (9 * 3600 + rng.random() * 10 * 3600)
                    out.append(
                        self._spec(
                            a,
                            day,
                            idx,
                            rng.choice(CASHOUT_AMOUNTS_FEN),
                            t,
                            "unionpay_card",
                            "terminal",
                            "credit",
                        )
                    )
        elif k == "secondary_clearing_member":  # a shop's ordinary takings
            for _ in range(rng.randint(8, 16)):
                idx = rng.randrange(n_all)
                out.append(
                    self._spec(
                        a,
                        day,
                        idx,
                        500 + rng.randrange(6_000),
                        8 * 3600 + rng.random() * 12 * 3600,
                        rng.choice(["wechat", "alipay", "unionpay_qr"]),
                        "static_code",
                    )
                )
        elif k == "split":  # now and then, one purchase paid as several payments under 500 yuan
            if rng.random() < 0.08 and day.active:
                shop = rng.choice(day.active)
                if shop.kind == "micro":  # a micro merchant's cap would refuse it: the payer pays elsewhere
                    return out
                t = 10 * 3600 + rng.random() * 8 * 3600
                for i in range(rng.randint(3, 4)):
                    s = self._spec(
                        a,
                        day,
                        a.payer or 0,
                        rng.randrange(40_000, 49_999),
                        t + i * 120,
                        "unionpay_qr",
                        "dynamic_code",
                    )
                    out.append(dataclasses.replace(s, merchant_id=shop.merchant_id or ""))
        elif k in _BURSTS:  # a burst of daytime card payments: a dormant merchant waking, a spike
            days_after_start, count, amount_fen = _BURSTS[k]
            if day.index - a.start in days_after_start:
                for _ in range(rng.randint(*count)):
                    idx = rng.randrange(n_all)
                    out.append(
                        self._spec(
                            a,
                            day,
                            idx,
                            rng.randrange(*amount_fen),
                            9 * 3600 + rng.random() * 10 * 3600,
                            "unionpay_card",
                            "terminal",
                        )
                    )
        elif k == "honest_night_market":  # many payers, small varied amounts, 18:00–01:00
            for _ in range(rng.randint(30, 60)):
                idx = rng.randrange(n_all)
                t = (
                    18 * 3600 + rng.random() * 7 * 3600
                ) % 86_400  # past midnight: the small hours of the day
                out.append(
                    self._spec(
                        a,
                        day,
                        idx,
                        300 + rng.randrange(5_000),
                        t,
                        rng.choice(["wechat", "alipay"]),
                        "static_code",
                        "wallet",
                    )
                )
        elif k == "honest_bus":  # fares of 2 yuan, many riders
            for _ in range(rng.randint(60, 120)):
                idx = rng.randrange(n_all)
                out.append(
                    self._spec(
                        a, day, idx, 200, 6 * 3600 + rng.random() * 13 * 3600, "unionpay_qr", "static_code"
                    )
                )
        elif k == "honest_canteen":  # fixed meal prices, many pupils' parents, school days only
            if day.date.weekday() < 5:
                for _ in range(rng.randint(50, 90)):
                    idx = rng.randrange(n_all)
                    out.append(
                        self._spec(
                            a,
                            day,
                            idx,
                            rng.choice((800, 1_000, 1_200)),
                            11 * 3600 + rng.random() * 2 * 3600,
                            APP_CHANNEL[rng.randrange(4)],
                            "static_code",
                        )
                    )
        elif k == "honest_appliance":  # large round credit payments, daytime, a few a day
            for _ in range(rng.randint(0, 3)):
                idx = rng.randrange(n_all)
                out.append(
                    self._spec(
                        a,
                        day,
                        idx,
                        rng.choice((150_000, 200_000, 300_000, 450_000, 800_000)),
                        9 * 3600 + rng.random() * 10 * 3600,
                        "unionpay_card",
                        "terminal",
                        "credit" if rng.random() < 0.6 else "debit",
                    )
                )
        return out


def _fits(day_specs: list[PaymentSpec], room: int) -> bool:
    """The batch's cap check over one merchant's day in time order: each payment, declined or not, fits in `room`
    beside the successes before it (the platform refuses a payment over the cap whatever the bank would say)."""
    used = 0
    for s in day_specs:
        if used + s.amount_fen > room:
            return False
        if s.outcome == "success":
            used += s.amount_fen
    return True


APP_CHANNEL = tuple("unionpay_qr" if a == "unionpay" else a for a in APPS)


def risk_hook(db: Database | None, seed: int, days: int) -> RiskActors:
    """The one call that gives risk control its life in a simulation: `hooks=[risk_hook(db, seed, days)]`."""
    return RiskActors(db, seed, days)
