"""特征 / Sliding-window features over succeeded payments, in integer fen and parts per million.

A `FeatureEngine` is fed payments in time order. For every key (merchant, payer, payer at a merchant, MCC) and
every window a rule set names, it keeps the window's payments as buckets of time with running aggregates, so
adding a payment and dropping the expired buckets is amortised O(1), and memory is bounded whatever the traffic.
Features are read as `<name>@<key>/<window>`.

Granularity: a window of span S is cut into buckets of `bucket_s(S)` = S // 120 seconds (at least 1 s; 30 s for
1h, 12 min for 1d, 6 h for 30d), numbered floor(timestamp / width) from the epoch. A window read just after a
payment at time t holds the buckets from the one t − S falls in up to the current one: every payment of the last
S seconds, plus those of up to one bucket before (never fewer than the exact window, at most one bucket more).
Over exactly those payments every feature is exact and an integer: count, sum, max (a falling queue of bucket
maxima), average, the credit, round-sum, night and near-limit counts and shares, distinct payers and merchants
(each remembered with its last bucket), active hours (a bit per hour of the day in each bucket) and the top
amount's share (amounts counted per bucket). A window keeps a bucket per bucket width with payments in it, so at
most S / width + 2 buckets; the distinct payers, merchants and amounts it remembers are bounded by those present
in the window; only what the rule set's features read is kept. A key whose windows are all empty is dropped by a
sweep, at most once per `SWEEP_S` of payment time and per a quarter as many payments as there are keys (so a
sweep costs O(1) per payment). The monitor and the backtest use this engine, so they agree.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import re
from typing import Final

from zhifu.core.clock import SHANGHAI

WINDOW_S_MAX: Final = 30 * 86_400
KEYS: Final = ("merchant", "payer", "payer_merchant", "mcc")
NIGHT_HOURS: Final = frozenset(range(0, 6))  # 00:00–05:59 Beijing time
ROUND_FEN: Final = 10_000  # a whole hundred yuan
NEAR_LIMITS_FEN: Final = (50_000, 100_000, 500_000, 1_000_000, 2_000_000, 5_000_000)
NEAR_BELOW_PPM: Final = 50_000  # within 5 % below a limit
BUCKETS: Final = 120  # a window is cut into this many buckets of time (see the module's note on granularity)
SWEEP_S: Final = 3_600  # keys whose windows are all empty are dropped once per this much payment time

# window features: name → what it reads
WINDOW_FEATURES: Final = frozenset(
    {
        "count",
        "sum_fen",
        "max_fen",
        "avg_fen",
        "distinct_payers",
        "distinct_merchants",
        "credit_share_ppm",
        "round_share_ppm",
        "night_share_ppm",
        "near_limit_count",
        "active_hours",
        "top_amount_share_ppm",
        "baseline_ratio_ppm",
    }
)
# features without a window: of the payment itself, or of its key's life
POINT_FEATURES: Final = frozenset(
    {
        "amount_fen",
        "hour",
        "ticket_vs_mcc_ppm",
        "idle_days",
        "age_days",
        "shared_account_merchants",
        "account_in_other_name",
        "is_micro",
        "is_credit",
        "is_night",
        "near_limit",
    }
)
_FEATURE_RE: Final = re.compile(r"^([a-z_]+)(?:@([a-z_]+)(?:/(\d+)([smhd]))?)?$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


class FeatureError(ValueError):
    """A feature name that does not parse or names an unknown feature, key or window."""


@dataclasses.dataclass(frozen=True, slots=True)
class FeatureRef:
    text: str
    name: str
    key: str | None
    window_s: int | None


def parse_feature(text: str) -> FeatureRef:
    m = _FEATURE_RE.match(text.strip())
    if m is None:
        raise FeatureError(
            f"特征写法不对 / cannot read feature {text!r} (name@key/window, e.g. count@merchant/1d)"
        )
    name, key, n, unit = m.groups()
    if name in POINT_FEATURES:
        if n is not None:
            raise FeatureError(f"特征 {name} 没有时间窗 / feature {name} takes no window")
        return FeatureRef(text, name, key, None)
    if name not in WINDOW_FEATURES:
        raise FeatureError(f"未知特征 / unknown feature {name!r}")
    if key not in KEYS:
        raise FeatureError(f"未知主体 / unknown key {key!r} in {text!r}; known: {', '.join(KEYS)}")
    if n is None:
        raise FeatureError(f"特征 {text!r} 缺少时间窗 / feature {text!r} needs a window such as /1h")
    window_s = int(n) * _UNIT_S[unit]
    if window_s <= 0:
        raise FeatureError(f"时间窗不能为零 / the window of {text!r} is zero")
    if window_s > WINDOW_S_MAX:
        raise FeatureError(f"时间窗最长 30 天 / the window of {text!r} is longer than 30 days")
    if name == "baseline_ratio_ppm" and key != "merchant":
        raise FeatureError("baseline_ratio_ppm is kept for merchants only")
    return FeatureRef(text, name, key, window_s)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One succeeded payment, as the rules see it (labels never appear here)."""

    payment_id: str
    merchant_id: str
    payer: str | None
    amount_fen: int
    card_type: str | None
    at: dt.datetime

    @property
    def hour(self) -> int:
        return self.at.astimezone(SHANGHAI).hour


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantInfo:
    mcc: str
    town_code: str
    type: str
    account_key: str  # bank + masked account + name: merchants paid into one account share it
    account_in_other_name: bool


def bucket_s(span_s: int) -> int:
    """The width in seconds of the buckets a window of `span_s` keeps."""
    return max(1, span_s // BUCKETS)


# what a window keeps beyond its counts and sums, by the feature that reads it
_NEEDS: Final = {
    "max_fen": "max",
    "distinct_payers": "payers",
    "distinct_merchants": "merchants",
    "active_hours": "hours",
    "top_amount_share_ppm": "amounts",
}


def is_round(amount_fen: int) -> bool:
    return amount_fen >= ROUND_FEN and amount_fen % ROUND_FEN == 0


def is_near_limit(amount_fen: int) -> bool:
    return any(lim - lim * NEAR_BELOW_PPM // 1_000_000 <= amount_fen < lim for lim in NEAR_LIMITS_FEN)


class _Bucket:
    """The payments of one key in one bucket of time: counts and sums, the hours they fell in, their amounts."""

    __slots__ = ("amounts", "count", "credit", "hours", "i", "near", "night", "round", "sum")

    def __init__(self, i: int, amounts: bool) -> None:
        self.i = i  # the bucket's number: floor(timestamp / width)
        self.count = self.sum = self.credit = self.round = self.night = self.near = 0
        self.hours = 0  # a bit per hour of the day (Beijing time) some payment fell in
        self.amounts: dict[int, int] | None = {} if amounts else None


class _Window:
    """One key's payments within one window, kept as buckets of `bucket_s(span)` seconds with running aggregates;
    only the structures its features read are kept (`needs`)."""

    __slots__ = (
        "amounts",
        "buckets",
        "count",
        "credit",
        "hours",
        "maxq",
        "merchants",
        "near",
        "night",
        "payers",
        "round",
        "span_s",
        "sum",
        "width",
    )

    def __init__(self, span_s: int, needs: frozenset[str]) -> None:
        self.span_s = span_s
        self.width = bucket_s(span_s)
        self.buckets: list[_Bucket] = []
        self.count = self.sum = self.credit = self.round = self.night = self.near = 0
        self.maxq: list[tuple[int, int]] | None = [] if "max" in needs else None  # (bucket, max), falling
        self.payers: collections.OrderedDict[str, int] | None = (
            collections.OrderedDict() if "payers" in needs else None
        )  # payer → its last bucket, oldest first
        self.merchants: collections.OrderedDict[str, int] | None = (
            collections.OrderedDict() if "merchants" in needs else None
        )
        self.hours: list[int] | None = [0] * 24 if "hours" in needs else None  # hour → buckets with it
        self.amounts: collections.Counter[int] | None = collections.Counter() if "amounts" in needs else None

    def edge(self, now: float) -> int:
        """The oldest bucket still in the window at `now`: the one the window's start falls in."""
        return int((now - self.span_s) // self.width)

    def add(self, ts: float, e: Event, hour: int, credit: bool, rnd: bool, night: bool, near: bool) -> None:
        bs = self.buckets
        i = int(ts // self.width)
        if bs and bs[-1].i >= i:  # the current bucket (a payment out of order joins it too)
            b = bs[-1]
            i = b.i
        else:
            b = _Bucket(i, self.amounts is not None)
            bs.append(b)
        a = e.amount_fen
        b.count += 1
        b.sum += a
        b.credit += credit
        b.round += rnd
        b.night += night
        b.near += near
        self.count += 1
        self.sum += a
        self.credit += credit
        self.round += rnd
        self.night += night
        self.near += near
        bit = 1 << hour
        if not b.hours & bit:
            b.hours |= bit
            if self.hours is not None:
                self.hours[hour] += 1
        if self.amounts is not None:
            assert b.amounts is not None  # made with the window's needs
            b.amounts[a] = b.amounts.get(a, 0) + 1
            self.amounts[a] += 1
        q = self.maxq
        if q is not None:
            while q and q[-1][1] <= a:
                q.pop()
            if not q or q[-1][0] != i:
                q.append((i, a))
        if self.payers is not None and e.payer:
            self.payers[e.payer] = i
            self.payers.move_to_end(e.payer)
        if self.merchants is not None:
            self.merchants[e.merchant_id] = i
            self.merchants.move_to_end(e.merchant_id)

    def expire(self, now: float) -> None:
        edge = self.edge(now)
        bs = self.buckets
        k = 0
        while k < len(bs) and bs[k].i < edge:
            b = bs[k]
            k += 1
            self.count -= b.count
            self.sum -= b.sum
            self.credit -= b.credit
            self.round -= b.round
            self.night -= b.night
            self.near -= b.near
            if self.hours is not None:
                for h in range(24):
                    if b.hours >> h & 1:
                        self.hours[h] -= 1
            if self.amounts is not None and b.amounts:
                for a, n in b.amounts.items():
                    left = self.amounts[a] - n
                    if left:
                        self.amounts[a] = left
                    else:
                        del self.amounts[a]
        if not k:
            return
        del bs[:k]
        q = self.maxq
        if q:
            j = 0
            while j < len(q) and q[j][0] < edge:
                j += 1
            del q[:j]
        for seen in (self.payers, self.merchants):
            while seen and next(iter(seen.values())) < edge:
                seen.popitem(last=False)

    def idle(self, now: float) -> bool:
        """Nothing of this window is left at `now`."""
        return not self.buckets or self.buckets[-1].i < self.edge(now)


def _share(part: int, whole: int) -> int:
    return part * 1_000_000 // whole if whole else 0


class FeatureEngine:
    """Windows for the features a rule set reads; feed payments in time order with `add`."""

    def __init__(self, refs: list[FeatureRef], merchants: dict[str, MerchantInfo] | None = None) -> None:
        needs: dict[str, dict[int, set[str]]] = {k: {} for k in KEYS}
        for r in refs:
            if r.window_s is not None and r.key is not None:
                need = needs[r.key].setdefault(r.window_s, set())
                if r.name in _NEEDS:
                    need.add(_NEEDS[r.name])
                if r.name == "baseline_ratio_ppm":
                    needs["merchant"].setdefault(WINDOW_S_MAX, set())
        needs["mcc"].setdefault(WINDOW_S_MAX, set())  # ticket size against the MCC's norm
        self.needs = {k: {s: frozenset(n) for s, n in sorted(v.items())} for k, v in needs.items() if v}
        self.spans = {k: list(v) for k, v in self.needs.items()}
        self.windows: dict[tuple[str, str], dict[int, _Window]] = {}
        self.swept = 0.0  # the payment time of the last sweep of idle keys
        self.added = 0  # payments added since
        self.merchants = merchants or {}
        self.first_seen: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.prev_seen: dict[str, float] = {}
        self.accounts: collections.Counter[str] = collections.Counter(
            m.account_key for m in self.merchants.values() if m.account_key
        )

    def set_merchants(self, merchants: dict[str, MerchantInfo]) -> None:
        self.merchants = merchants
        self.accounts = collections.Counter(m.account_key for m in merchants.values() if m.account_key)

    def _keys(self, e: Event) -> list[tuple[str, str]]:
        out = [("merchant", e.merchant_id)]
        if e.payer:
            out += [("payer", e.payer), ("payer_merchant", f"{e.payer}|{e.merchant_id}")]
        info = self.merchants.get(e.merchant_id)
        if info is not None:
            out.append(("mcc", info.mcc))
        return out

    def add(self, e: Event) -> None:
        ts = e.at.timestamp()
        hour = e.hour
        a = e.amount_fen
        facts = (e.card_type == "credit", is_round(a), hour in NIGHT_HOURS, is_near_limit(a))
        for kind, value in self._keys(e):
            needs = self.needs.get(kind)
            if not needs:
                continue
            ws = self.windows.get((kind, value))
            if ws is None:
                ws = self.windows[(kind, value)] = {s: _Window(s, n) for s, n in needs.items()}
            for w in ws.values():
                w.expire(ts)
                w.add(ts, e, hour, *facts)
        m = e.merchant_id
        if m not in self.first_seen:
            self.first_seen[m] = ts
        self.prev_seen[m] = self.last_seen.get(m, ts)
        self.last_seen[m] = ts
        self.added += 1
        if ts - self.swept >= SWEEP_S and self.added * 4 >= len(self.windows):  # amortised O(1) per payment
            self.sweep(ts)

    def sweep(self, now: float) -> int:
        """Drop the keys whose windows are all empty at `now`; returns how many were dropped."""
        idle = [k for k, ws in self.windows.items() if all(w.idle(now) for w in ws.values())]
        for k in idle:
            del self.windows[k]
        self.swept = now
        self.added = 0
        return len(idle)

    def stored(self) -> tuple[int, int]:
        """How many keys and buckets the engine holds (what its memory grows with)."""
        return len(self.windows), sum(len(w.buckets) for ws in self.windows.values() for w in ws.values())

    def _window(self, kind: str, e: Event, span_s: int) -> _Window | None:
        value = {
            "merchant": e.merchant_id,
            "payer": e.payer,
            "payer_merchant": f"{e.payer}|{e.merchant_id}" if e.payer else None,
            "mcc": (self.merchants[e.merchant_id].mcc if e.merchant_id in self.merchants else None),
        }[kind]
        if value is None:
            return None
        ws = self.windows.get((kind, value))
        return ws.get(span_s) if ws else None

    def value(self, ref: FeatureRef, e: Event) -> int:
        """The feature's value just after `e` was added."""
        if ref.window_s is None:
            return self._point(ref.name, e)
        w = self._window(ref.key or "merchant", e, ref.window_s)
        if w is None or not w.count:
            return 0
        n = ref.name
        if n == "count":
            return w.count
        if n == "sum_fen":
            return w.sum
        if n == "avg_fen":
            return w.sum // w.count
        if n == "credit_share_ppm":
            return _share(w.credit, w.count)
        if n == "round_share_ppm":
            return _share(w.round, w.count)
        if n == "night_share_ppm":
            return _share(w.night, w.count)
        if n == "near_limit_count":
            return w.near
        if n == "max_fen" and w.maxq is not None:
            return w.maxq[0][1] if w.maxq else 0
        if n == "distinct_payers" and w.payers is not None:
            return len(w.payers)
        if n == "distinct_merchants" and w.merchants is not None:
            return len(w.merchants)
        if n == "active_hours" and w.hours is not None:
            return sum(1 for k in w.hours if k)
        if n == "top_amount_share_ppm" and w.amounts is not None:
            return _share(max(w.amounts.values()), w.count)
        if n == "baseline_ratio_ppm":  # this window's sum against the merchant's daily mean over 30 days
            month = self._window("merchant", e, WINDOW_S_MAX)
            if month is None or month.sum - w.sum <= 0:
                return 0
            days = max(1, (WINDOW_S_MAX - ref.window_s) // 86_400)
            return w.sum * days * 1_000_000 // (month.sum - w.sum)
        raise FeatureError(
            f"特征 {ref.text} 未在此引擎的规则集中 / {ref.text} is not kept by this engine: build it with the "
            "features it is asked for"
        )

    def _point(self, name: str, e: Event) -> int:
        info = self.merchants.get(e.merchant_id)
        if name == "amount_fen":
            return e.amount_fen
        if name == "hour":
            return e.hour
        if name == "is_credit":
            return int(e.card_type == "credit")
        if name == "is_night":
            return int(e.hour in NIGHT_HOURS)
        if name == "near_limit":
            return int(is_near_limit(e.amount_fen))
        if name == "is_micro":
            return int(info is not None and info.type == "micro")
        if name == "ticket_vs_mcc_ppm":
            w = self._window("mcc", e, WINDOW_S_MAX)
            return e.amount_fen * 1_000_000 * w.count // w.sum if w and w.sum else 0
        if name == "idle_days":
            prev = self.prev_seen.get(e.merchant_id)
            return int((e.at.timestamp() - prev) // 86_400) if prev is not None else 0
        if name == "age_days":
            first = self.first_seen.get(e.merchant_id)
            return int((e.at.timestamp() - first) // 86_400) if first is not None else 0
        if name == "shared_account_merchants":
            return self.accounts.get(info.account_key, 0) if info and info.account_key else 0
        if name == "account_in_other_name":
            return int(bool(info and info.account_in_other_name))
        raise FeatureError(name)
