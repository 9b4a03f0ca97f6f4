"""The simulation: day by day, businesses register, merchants join through the merchant service, consumers
drift towards 云闪付 where campaigns run, and payments and refunds are recorded through the batch service."""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import gc
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, event

from zhifu import merchants as merchant_service
from zhifu.core import clock as clock_mod
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.county import CountyProfile, load_profile
from zhifu.county.read import has_businesses
from zhifu.county.service import link_merchants, load_county, loaded_county, register_businesses
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts
from zhifu.payments.batch import PaymentSpec, Recorded, RefundSpec, bulk_load, record_payments, record_refunds
from zhifu.sim import rhythm
from zhifu.sim.catalog import Category, category
from zhifu.sim.world import APPS, UNIONPAY, Business, World, build, payer_ref

DAYS_MAX = 3_660  # ten years: longer runs are a different tool
SCALE_MAX = 10.0
BATCH_DEFAULT = 5_000
PAYMENTS_PER_MERCHANT_DAY = 2.6  # an average shop at the start; grows by GROWTH_PPM a year
GROWTH_PPM = 250_000
STATIC_LIMIT_FEN = 50_000  # PBOC 296号: a static code (level D) takes at most 500 yuan per payer per day
DYNAMIC_LIMIT_FEN = 500_000  # two-factor dynamic codes (level B): 5,000 yuan
AMOUNT_FEN_MAX = 5_000_000  # no simulated shop sells more than 50,000 yuan in one payment
DECLINE_PPM = 4_000
LIMIT_DECLINE_PPM = 500
CAMPAIGN = {"pilot": (60, 1_000), "county": (120, 200)}  # (start day, daily switch rate ppm) towards 云闪付
SAME_TOWN_PPM = 850_000


@dataclasses.dataclass(frozen=True, slots=True)
class SimParams:
    profile: str
    start: dt.date
    days: int
    seed: int = 7
    scale: float = 1.0
    batch_size: int = BATCH_DEFAULT


def check_params(params: SimParams) -> CountyProfile:
    """Validate everything before anything is written; returns the loaded profile."""
    if not isinstance(params.days, int) or not 1 <= params.days <= DAYS_MAX:
        raise InvalidRequest(f"--days must be 1–{DAYS_MAX}, got {params.days}", param="days")
    if not (
        isinstance(params.scale, int | float)
        and math.isfinite(params.scale)
        and 0 < params.scale <= SCALE_MAX
    ):
        raise InvalidRequest(f"--scale must be in (0, {SCALE_MAX:g}], got {params.scale}", param="scale")
    if not 100 <= params.batch_size <= 10_000:
        raise InvalidRequest("batch size must be 100–10,000", param="batch_size")
    if params.start.year < 2018 or params.start.year + params.days // 365 > 2030:
        raise InvalidRequest(
            "--from must fall within 2018–2030 (the festival calendar the simulator knows)", param="from"
        )
    return load_profile(params.profile)


@dataclasses.dataclass
class SimResult:
    profile: str
    days: int
    registered_businesses: int = 0
    merchants: int = 0
    consumers: int = 0
    payments: int = 0
    succeeded: int = 0
    failed: int = 0
    amount_fen: int = 0
    fee_fen: int = 0
    refunds: int = 0
    refunded_fen: int = 0
    skipped_over_cap: int = 0
    by_channel: dict[str, int] = dataclasses.field(default_factory=dict)
    elapsed_s: float = 0.0
    payments_s: float = 0.0  # generating and committing payments and refunds

    def totals(self) -> dict[str, Any]:
        """Everything the seed decides (the times aside)."""
        out = dataclasses.asdict(self)
        out.pop("elapsed_s")
        out.pop("payments_s")
        return out


@dataclasses.dataclass
class SimDay:
    """What a hook sees: the day, the county, the merchants active so far, and the run's random source."""

    index: int
    date: dt.date
    world: World
    active: list[Business]
    rng: random.Random


class Hook(Protocol):
    """A seam for what later capabilities add: bill payments, fraud typologies, campaigns."""

    def extra_payments(self, day: SimDay) -> list[PaymentSpec]: ...

    def review(self, day: SimDay, specs: list[PaymentSpec]) -> list[PaymentSpec]: ...


@contextlib.contextmanager
def _county_settings(profile: str) -> Iterator[None]:
    """The merchant service validates towns against the configured county: make it the simulated one."""
    old = os.environ.get("ZHIFU_COUNTY_PROFILE")
    os.environ["ZHIFU_COUNTY_PROFILE"] = profile
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ZHIFU_COUNTY_PROFILE", None)
        else:
            os.environ["ZHIFU_COUNTY_PROFILE"] = old
        get_settings.cache_clear()


@contextlib.contextmanager
def _sim_clock(at: dt.datetime) -> Iterator[FixedClock]:
    fc = FixedClock(at)
    old = clock_mod.set_clock(fc)
    try:
        yield fc
    finally:
        clock_mod.set_clock(old)


def _local(day: dt.date, seconds: float = 0.0) -> dt.datetime:
    return (dt.datetime.combine(day, dt.time(), SHANGHAI) + dt.timedelta(seconds=seconds)).astimezone(dt.UTC)


class Simulation:
    """One run; `run()` drives it. Kept as an object so hooks and tests can look inside."""

    def __init__(
        self,
        db: Database | None,
        params: SimParams,
        profile: CountyProfile,
        hooks: Sequence[Hook] = (),
        *,
        dry_run: bool = False,
    ) -> None:
        """`dry_run` runs the model without a database (db may be None): benchmarks measure the model alone."""
        if db is None and not dry_run:
            raise InvalidRequest("a database is needed unless dry_run", param="db")
        self.db, self.params, self.profile, self.hooks = db, params, profile, list(hooks)
        self.dry_run = dry_run
        self._fake_ids = 0
        self.rng = random.Random(params.seed)
        self.ref_rng = random.Random(params.seed * 7_919 + 1)  # the rails' references: apart from the model
        self.result = SimResult(profile.id, params.days)
        self.active: list[Business] = []
        self.mcc_of: dict[str, str] = {}
        self.cum: list[float] = []
        self.refunds_due: dict[int, list[RefundSpec]] = {}
        self.world: World | None = None
        self._hour_cum: dict[tuple[float, ...], list[float]] = {}
        settings = get_settings()
        self.micro_caps = (settings.micro_daily_cap_fen, settings.micro_monthly_cap_fen)
        self._cap_used: dict[str, list[int]] = {}
        self.rail_store: Any = (
            None  # the fake rails' store: given one, the rails' side of history is written too
        )
        self._sharing = False  # inside the day loop: days share a transaction (see _days_shared)
        self._shared: contextlib.ExitStack | None = None
        self._shared_conn: Connection | None = None
        self._shared_payments = 0
        self._rails_pending: list[dict[str, Any]] = []

    # ------------------------------------------------------------ the run

    def run(self, *, progress: bool = True, console: Console | None = None) -> SimResult:
        started = time.perf_counter()
        p = self.params
        if self.db is not None and not self.dry_run:
            if self.db.is_sqlite:
                _larger_cache(self.db)
            with self.db.tx() as conn:
                _refuse_second_run(conn, self.profile)
        with _county_settings(p.profile), _sim_clock(_local(p.start)) as clock:
            self.clock = clock
            if self.db is not None and not self.dry_run:
                with self.db.tx() as conn:
                    load_county(conn, self.profile, source=p.profile)
                    ensure_platform_accounts(conn)
            self.world = world = build(self.profile, start=p.start, days=p.days, scale=p.scale, rng=self.rng)
            gc.freeze()  # the county's people and shops live all run: the collector need not walk them again
            self.result.consumers = len(world.consumers)
            registering: dict[int, list[Business]] = {}
            joining: dict[int, list[Business]] = {}
            for b in world.businesses:
                if b.credit_code is not None:
                    registering.setdefault(max(b.registered_day, -1), []).append(b)
                if b.join_day < p.days:
                    joining.setdefault(b.join_day, []).append(b)
            self._register(registering.pop(-1, []))
            bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console,
                disable=not progress,
                transient=False,
            )
            with bar, self._bulk(), self._days_shared():
                task = bar.add_task(f"模拟 {self.profile.name} / simulating", total=p.days, status="")
                for d in range(p.days):
                    day = p.start + dt.timedelta(days=d)
                    clock.set(_local(day))
                    self._register(registering.get(d, []))
                    self._drift(d)
                    t0 = time.perf_counter()
                    with _collector_paused():
                        self._record_day(d, day)
                        if self._shared_payments >= p.batch_size:
                            self._close_shared(None)
                    self.result.payments_s += time.perf_counter() - t0
                    self._onboard(d, day, joining.get(d, []))  # joiners take payments from tomorrow
                    r = self.result
                    bar.update(
                        task, advance=1, status=f"{day} · merchants {r.merchants:,} · payments {r.payments:,}"
                    )
                if self.db is not None and not self.dry_run:
                    bar.update(
                        task, status=f"建立索引 / building indexes · payments {self.result.payments:,}"
                    )
        gc.unfreeze()
        self.result.elapsed_s = time.perf_counter() - started
        return self.result

    @contextlib.contextmanager
    def _bulk(self) -> Iterator[None]:
        """Record into the database as a bulk load; building the deferred indexes counts as committing."""
        if self.db is None or self.dry_run:
            yield
            return
        with bulk_load(self.db):
            try:
                yield
            finally:
                built_from = time.perf_counter()
        self.result.payments_s += time.perf_counter() - built_from

    @contextlib.contextmanager
    def _days_shared(self) -> Iterator[None]:
        """Inside, the days' writes (registrations, onboarding, payments and refunds) share one transaction,
        committed once it holds a batch's worth of payments and at the end: a commit per batch, as a bulk loader
        commits, instead of several a day (SQLite has one writer, and this run is it). The last commit counts as
        recording time. A run with hooks commits day by day as before: a hook may read or write the database in
        its own transaction (a rollup refresh, a risk actor's lookups), which must see the days before it and must
        not wait on this run's open write."""
        if self.db is None or self.dry_run or self.hooks:
            yield
            return
        self._sharing = True
        try:
            yield
        except BaseException:
            self._close_shared(sys.exc_info())
            raise
        else:
            t0 = time.perf_counter()
            self._close_shared(None)
            self.result.payments_s += time.perf_counter() - t0
        finally:
            self._sharing = False

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A transaction for the run's writes: the shared one inside the day loop, else one of its own."""
        assert self.db is not None
        if not self._sharing:
            with self.db.tx() as conn:
                yield conn
            return
        if self._shared_conn is None:
            self._shared = contextlib.ExitStack()
            self._shared_conn = self._shared.enter_context(self.db.tx())
        yield self._shared_conn

    def _close_shared(
        self,
        failed: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None]
        | None,
    ) -> None:
        """Commit the shared transaction (or roll it back when `failed` holds an exception), then hand the rails'
        store what the committed days did at the rails."""
        stack, self._shared, self._shared_conn, self._shared_payments = self._shared, None, None, 0
        pending, self._rails_pending = self._rails_pending, []
        if stack is None:
            return
        if failed is not None and failed[0] is not None:
            stack.__exit__(*failed)
            return
        stack.close()
        if self.rail_store is not None and pending:
            self.rail_store.load_history(pending)

    # ------------------------------------------------------------ businesses and merchants

    def _register(self, batch: list[Business]) -> None:
        if not batch:
            return
        towns = self.profile.towns
        rows = [
            {
                "credit_code": b.credit_code,
                "town_code": towns[b.town].code,
                "village_code": b.village,
                "kind": b.kind,
                "name": b.name,
                "mcc": b.mcc,
                "generated": True,
                "registered_on": self.params.start + dt.timedelta(days=b.registered_day),
            }
            for b in batch
        ]
        self.result.registered_businesses += len(rows)
        if self.db is None or self.dry_run:
            return
        with self._tx() as conn:
            for start in range(0, len(rows), 20_000):
                register_businesses(conn, rows[start : start + 20_000])

    def _application(self, b: Business) -> merchant_service.MerchantApplication:
        rng = self.rng
        town = self.profile.towns[b.town]
        mtype = {"cooperative": "enterprise"}.get(b.kind, b.kind)
        if mtype == "enterprise":
            account_name = b.name
        elif mtype == "individual_business" and rng.random() < 0.2:
            account_name = b.name
        else:
            account_name = b.owner
        bank = next(i.name for i in self.profile.institutions if i.id == b.acquirer)
        return merchant_service.MerchantApplication(
            type=mtype,
            legal_name=b.name,
            short_name=b.short_name,
            credit_code=b.credit_code,
            legal_person_name=b.owner,
            legal_person_id=b.owner_id,
            phone="1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9)),
            mcc=b.mcc,
            town_code=town.code,
            village_code=b.village,
            address=f"{town.name}{rng.randrange(1, 300)}号",
            settle_bank=bank,
            settle_account_no="62" + "".join(rng.choice("0123456789") for _ in range(15)),
            settle_account_name=account_name,
            acquirer_id=b.acquirer,
        )

    def _onboard(self, d: int, day: dt.date, joiners: list[Business]) -> None:
        if not joiners:
            return
        links = []
        if self.db is None or self.dry_run:
            for b in joiners:
                self.rng.randrange(8 * 3600)  # the same draws as a real run: the time, then the application
                self._application(b)
                self._fake_ids += 1
                b.merchant_id = f"mch_dry{self._fake_ids:08d}"
                self.mcc_of[b.merchant_id] = b.mcc
        else:
            self._onboard_db(day, joiners, links)
        self.active.extend(joiners)
        total = self.cum[-1] if self.cum else 0.0
        for b in joiners:
            total += b.size
            self.cum.append(total)
        self.result.merchants += len(joiners)

    def _onboard_db(self, day: dt.date, joiners: list[Business], links: list[tuple[str, str]]) -> None:
        with self._tx() as conn:
            for b in joiners:
                at = _local(day, 9 * 3600 + self.rng.randrange(8 * 3600))
                self.clock.set(at)
                m = merchant_service.apply(conn, self._application(b), at=at)
                merchant_service.review(conn, m["id"], "approve", at=at)
                b.merchant_id = m["id"]
                self.mcc_of[m["id"]] = b.mcc
                if b.credit_code is not None:
                    links.append((b.credit_code, m["id"]))
            link_merchants(conn, links)

    # ------------------------------------------------------------ consumers

    def _drift(self, d: int) -> None:
        """Campaigns move app users towards 云闪付: faster in the pilot towns, where they start first."""
        world, rng = self.world, self.rng
        assert world is not None
        c = world.consumers
        for ti, pilot in enumerate(world.pilot):
            start_day, rate_ppm = CAMPAIGN["pilot" if pilot else "county"]
            n = c.town_end[ti] - c.town_start[ti]
            if d < start_day or n == 0:
                continue
            expected = n * rate_ppm / 1_000_000
            k = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
            for _ in range(k):
                c.app[c.town_start[ti] + rng.randrange(n)] = UNIONPAY

    # ------------------------------------------------------------ payments

    def _hours(self, mcc: str) -> list[float]:
        weights = rhythm.hours_for(mcc)
        cum = self._hour_cum.get(weights)
        if cum is None:
            cum = self._hour_cum[weights] = [sum(weights[: h + 1]) for h in range(24)]
        return cum

    def _record_day(self, d: int, day: dt.date) -> None:
        """The day's payments, then the refunds due today; the rails' side of both is handed to the rails' store
        once they are committed, when there is one."""
        specs = self._day_specs(d, day)
        size = self.params.batch_size
        if self.db is None or self.dry_run:
            for start in range(0, len(specs), size):
                chunk = specs[start : start + size]
                self._account(
                    chunk,
                    [
                        Recorded(
                            f"pay_dry{i}",
                            s.merchant_id,
                            s.channel,
                            "succeeded" if s.outcome == "success" else "failed",
                            s.amount_fen,
                            0,
                        )
                        for i, s in enumerate(chunk, start)
                    ],
                )
            self._count_refunds(self.refunds_due.pop(d, []))
            return
        rail_txns: list[dict[str, Any]] | None = [] if self.rail_store is not None else None
        with self._tx() as conn:
            for start in range(0, len(specs), size):
                chunk = specs[start : start + size]
                self._account(chunk, record_payments(conn, chunk, rng=self.ref_rng, rail_txns=rail_txns))
            # the refunds due today, some of today's payments among them, in the order they happen
            due = sorted(self.refunds_due.pop(d, []), key=lambda r: r.at)
            for start in range(0, len(due), size):
                record_refunds(conn, due[start : start + size], rng=self.ref_rng, rail_txns=rail_txns)
        self._count_refunds(due)
        self._shared_payments += len(specs)
        if rail_txns:
            if self._sharing:
                self._rails_pending.extend(rail_txns)  # handed over once the shared transaction commits
            else:
                self.rail_store.load_history(rail_txns)

    def _day_specs(self, d: int, day: dt.date) -> list[PaymentSpec]:
        if not self.active and not self.hooks:
            return []
        rng = self.rng
        specs: list[PaymentSpec] = []
        if self.active:
            expected = (
                self.cum[-1]
                * PAYMENTS_PER_MERCHANT_DAY
                * rhythm.day_factor(day)
                * rhythm.growth(d, GROWTH_PPM)
            )
            n = max(0, int(rng.gauss(expected, math.sqrt(expected)) + 0.5)) if expected > 0 else 0
            picks = rng.choices(self.active, cum_weights=self.cum, k=n)
            specs = self._specs(d, day, picks)
        sd = SimDay(d, day, self.world, self.active, rng)  # type: ignore[arg-type]
        for hook in self.hooks:
            specs.extend(hook.extra_payments(sd))
        for hook in self.hooks:
            specs = hook.review(sd, specs)
        specs.sort(key=lambda s: s.created_at)
        return specs

    def _specs(self, d: int, day: dt.date, picks: list[Business]) -> list[PaymentSpec]:
        """The picked shops' payments of the day. The hot loop of the model: what depends only on a shop's
        category is looked up once per category and day, and every draw is made in the same order as ever, so
        a seed gives the same payments."""
        rng, world = self.rng, self.world
        assert world is not None
        rnd, gauss, exp, bisect_left = rng.random, rng.gauss, math.exp, bisect.bisect_left
        c = world.consumers
        n_all = len(c)
        if n_all == 0:
            return []
        town_start, town_end, credits, issuer_of, issuers, apps = (
            c.town_start,
            c.town_end,
            c.credit,
            c.issuer,
            c.issuers,
            c.app,
        )
        day0 = _local(day)
        basket = rhythm.basket_factor(day)
        static_used: dict[int, int] = {}
        out: list[PaymentSpec] = []
        add = out.append
        towns_pilot = world.pilot
        stamp = day.strftime("%Y%m%d")
        same_town = SAME_TOWN_PPM / 1e6
        declined = DECLINE_PPM / 1e6
        limited = (DECLINE_PPM + LIMIT_DECLINE_PPM) / 1e6
        # mcc -> (hour weights summed, their total, median × basket, spread, terminal share)
        per_mcc: dict[str, tuple[list[float], float, float, float, float]] = {}
        for seq, b in enumerate(picks):
            mcc = b.mcc
            known = per_mcc.get(mcc)
            if known is None:
                cat: Category = category(mcc)
                cum = self._hours(mcc)
                known = per_mcc[mcc] = (
                    cum,
                    cum[-1],
                    cat.median_fen * basket,
                    cat.spread,
                    cat.terminal_ppm / 1e6,
                )
            cum, total, median, spread, terminal = known
            hour = bisect_left(cum, rnd() * total)
            created = day0 + dt.timedelta(seconds=hour * 3600 + rnd() * 3600)
            town = b.town
            lo, hi = town_start[town], town_end[town]
            idx = lo + int(rnd() * (hi - lo)) if hi > lo and rnd() < same_town else int(rnd() * n_all)
            amount = int(median * exp(gauss(0.0, spread)))
            amount = min(AMOUNT_FEN_MAX, _round_price(amount, rnd()))
            credit = credits[idx] == 1
            issuer: str | None = issuers[issuer_of[idx]]
            if rnd() < terminal or amount > DYNAMIC_LIMIT_FEN:
                flow = "terminal"
                r = rnd()
                if mcc == "5912" and r < 0.4:
                    channel, card = "sscard", "debit"
                elif r < 0.6 or amount > 100_000:
                    channel, card = "unionpay_card", "credit" if credit else "debit"
                elif r < 0.95 or not towns_pilot[town]:
                    channel, card = "nfc", "credit" if credit else "debit"
                else:
                    channel, card = "face", "debit"
            else:
                app = APPS[apps[idx]]
                channel = "unionpay_qr" if app == "unionpay" else app
                if channel in ("wechat", "alipay") and rnd() < 0.55:
                    card, issuer = "wallet", None
                else:
                    card = "credit" if credit else "debit"
                used = static_used.get(idx, 0)
                if amount <= STATIC_LIMIT_FEN and used + amount <= STATIC_LIMIT_FEN:
                    flow = "static_code"
                    static_used[idx] = used + amount
                else:
                    flow = "dynamic_code"
            r = rnd()
            outcome = "success"
            if r < declined and card != "credit":
                outcome = "decline_insufficient_funds"
            elif r < limited:
                outcome = "decline_limit_exceeded"
            # the platform refuses to create a payment over a micro merchant's cap, whatever the payer's bank
            # would then say; only successes count towards the cap
            if b.kind == "micro" and not self._within_caps(b, day, amount, counts=outcome == "success"):
                self.result.skipped_over_cap += 1  # the payer pays cash instead
                continue
            paid = created + dt.timedelta(seconds=3 + int(rnd() * 40))
            add(
                PaymentSpec(
                    b.merchant_id or "",
                    f"S{stamp}{seq:07d}",
                    amount,
                    channel,
                    flow,
                    created,
                    paid,
                    payer_ref(idx),
                    issuer,
                    card,
                    outcome,
                )
            )
        return out

    def _within_caps(self, b: Business, day: dt.date, amount: int, *, counts: bool = True) -> bool:
        daily_cap, monthly_cap = self.micro_caps
        used = self._cap_used.get(b.merchant_id or "")
        if used is None or used[0] != day.toordinal():
            month = day.year * 12 + day.month
            used = [day.toordinal(), 0, month, used[3] if used and used[2] == month else 0]
            self._cap_used[b.merchant_id or ""] = used
        if used[1] + amount > daily_cap or used[3] + amount > monthly_cap:
            return False
        if counts:
            used[1] += amount
            used[3] += amount
        return True

    def _account(self, specs: list[PaymentSpec], done: list[Recorded]) -> None:
        r, rng = self.result, self.rng
        start = self.params.start
        for s, p in zip(specs, done, strict=True):
            r.payments += 1
            if p.status != "succeeded":
                r.failed += 1
                continue
            r.succeeded += 1
            r.amount_fen += p.amount_fen
            r.fee_fen += p.fee_fen
            r.by_channel[p.channel] = r.by_channel.get(p.channel, 0) + 1
            cat = category(self.mcc_of.get(s.merchant_id, ""))
            if rng.random() < cat.refund_ppm / 1e6:
                full = rng.random() < 0.7
                amount = (
                    p.amount_fen
                    if full or p.amount_fen < 2
                    else max(1, int(p.amount_fen * rng.uniform(0.1, 0.9)))
                )
                at = s.paid_at + dt.timedelta(seconds=600 + rng.randrange(3 * 86_400))
                due = (at.astimezone(SHANGHAI).date() - start).days
                if due < self.params.days:
                    self.refunds_due.setdefault(due, []).append(RefundSpec(p.merchant_id, p.id, amount, at))

    def _count_refunds(self, done: list[RefundSpec]) -> None:
        self.result.refunds += len(done)
        self.result.refunded_fen += sum(r.amount_fen for r in done)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A day's recording makes hundreds of thousands of short-lived rows and tuples and no cycles worth chasing:
    the cyclic collector would walk them again and again (about a third of the recording time). It is paused
    for the day and runs as usual between days, so whatever cycles a day leaves are still collected."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


SQLITE_CACHE_KIB = 262_144  # bulk inserts into indexed tables stay in memory instead of re-reading pages


def _larger_cache(db: Database) -> None:
    """Give this database's SQLite connections a larger page cache (connections opened from now on)."""
    if getattr(db, "_sim_cache", False):
        return

    @event.listens_for(db.engine, "connect")
    def _cache(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")

    db.engine.dispose()  # pooled connections reopen with the larger cache
    db._sim_cache = True  # type: ignore[attr-defined]


def _round_price(amount_fen: int, r: float) -> int:
    """Shop prices: mostly whole yuan, small ones often to half a yuan."""
    if amount_fen >= 2_000 and r < 0.7:
        return max(100, (amount_fen + 50) // 100 * 100)
    if amount_fen < 2_000 and r < 0.5:
        return max(50, (amount_fen + 25) // 50 * 50)
    return max(1, amount_fen)


def _refuse_second_run(conn: Connection, profile: CountyProfile) -> None:
    current = loaded_county(conn)
    if current is not None and current != profile.id:
        raise ConflictError(
            f"this database serves county {current!r}, not {profile.id!r}",
            param="profile",
            code="county_already_loaded",
        )
    if has_businesses(conn):
        raise ConflictError(
            "this database already holds a simulated county; simulate into a fresh database",
            param="database",
            code="already_simulated",
        )


def simulate(
    db: Database,
    params: SimParams,
    *,
    hooks: Sequence[Hook] = (),
    progress: bool = False,
    console: Console | None = None,
) -> SimResult:
    """Validate, then run; bad input raises before anything is written."""
    profile = check_params(params)
    return Simulation(db, params, profile, hooks).run(progress=progress, console=console)
