"""特征 / Sliding-window features over succeeded payments, in integer fen and parts per million.

A `FeatureEngine` is fed payments in time order. For every key (merchant, payer, payer at a merchant, MCC) and
every window a rule set names, it keeps the window's payments in a deque with running aggregates (count, sum,
a monotonic deque for the max, counters for distinct payers, hours and amounts, flag counts), so adding a payment
and dropping the expired ones is amortised O(1). Features are read as `<name>@<key>/<window>`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import re
from typing import Any, Final

from zhifu.core.clock import SHANGHAI

WINDOW_S_MAX: Final = 30 * 86_400
KEYS: Final = ("merchant", "payer", "payer_merchant", "mcc")
NIGHT_HOURS: Final = frozenset(range(0, 6))  # 00:00–05:59 Beijing time
ROUND_FEN: Final = 10_000  # a whole hundred yuan
NEAR_LIMITS_FEN: Final = (50_000, 100_000, 500_000, 1_000_000, 2_000_000, 5_000_000)
NEAR_BELOW_PPM: Final = 50_000  # within 5 % below a limit

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


def is_round(amount_fen: int) -> bool:
    return amount_fen >= ROUND_FEN and amount_fen % ROUND_FEN == 0


def is_near_limit(amount_fen: int) -> bool:
    return any(lim - lim * NEAR_BELOW_PPM // 1_000_000 <= amount_fen < lim for lim in NEAR_LIMITS_FEN)


class _Window:
    """One key's payments within one window, with running aggregates."""

    __slots__ = (
        "amounts",
        "count",
        "credit",
        "hours",
        "items",
        "maxq",
        "merchants",
        "near",
        "night",
        "payers",
        "round",
        "span_s",
        "sum",
    )

    def __init__(self, span_s: int) -> None:
        self.span_s = span_s
        self.items: collections.deque[tuple[float, int, str | None, str, bool, int]] = collections.deque()
        self.maxq: collections.deque[tuple[float, int]] = collections.deque()
        self.count = self.sum = self.credit = self.round = self.night = self.near = 0
        self.payers: collections.Counter[str] = collections.Counter()
        self.merchants: collections.Counter[str] = collections.Counter()
        self.hours: collections.Counter[int] = collections.Counter()
        self.amounts: collections.Counter[int] = collections.Counter()

    def add(self, ts: float, e: Event, hour: int) -> None:
        credit = e.card_type == "credit"
        self.items.append((ts, e.amount_fen, e.payer, e.merchant_id, credit, hour))
        self.count += 1
        self.sum += e.amount_fen
        self.credit += credit
        self.round += is_round(e.amount_fen)
        self.night += hour in NIGHT_HOURS
        self.near += is_near_limit(e.amount_fen)
        if e.payer:
            self.payers[e.payer] += 1
        self.merchants[e.merchant_id] += 1
        self.hours[hour] += 1
        self.amounts[e.amount_fen] += 1
        while self.maxq and self.maxq[-1][1] <= e.amount_fen:
            self.maxq.pop()
        self.maxq.append((ts, e.amount_fen))

    def expire(self, now: float) -> None:
        edge = now - self.span_s
        items = self.items
        while items and items[0][0] <= edge:
            _, amount, payer, merchant, credit, hour = items.popleft()
            self.count -= 1
            self.sum -= amount
            self.credit -= credit
            self.round -= is_round(amount)
            self.night -= hour in NIGHT_HOURS
            self.near -= is_near_limit(amount)
            _dec(self.payers, payer)
            _dec(self.merchants, merchant)
            _dec(self.hours, hour)
            _dec(self.amounts, amount)
        while self.maxq and self.maxq[0][0] <= edge:
            self.maxq.popleft()


def _dec(counter: collections.Counter[Any], k: Any) -> None:
    if k is None:
        return
    n = counter[k] - 1
    if n:
        counter[k] = n
    else:
        del counter[k]


def _share(part: int, whole: int) -> int:
    return part * 1_000_000 // whole if whole else 0


class FeatureEngine:
    """Windows for the features a rule set reads; feed payments in time order with `add`."""

    def __init__(self, refs: list[FeatureRef], merchants: dict[str, MerchantInfo] | None = None) -> None:
        spans: dict[str, set[int]] = {k: set() for k in KEYS}
        for r in refs:
            if r.window_s is not None and r.key is not None:
                spans[r.key].add(r.window_s)
                if r.name == "baseline_ratio_ppm":
                    spans["merchant"].add(WINDOW_S_MAX)
        spans["mcc"].add(WINDOW_S_MAX)  # ticket size against the MCC's norm
        self.spans = {k: sorted(v) for k, v in spans.items() if v}
        self.windows: dict[tuple[str, str], dict[int, _Window]] = {}
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
        for kind, value in self._keys(e):
            spans = self.spans.get(kind)
            if not spans:
                continue
            ws = self.windows.get((kind, value))
            if ws is None:
                ws = self.windows[(kind, value)] = {s: _Window(s) for s in spans}
            for w in ws.values():
                w.expire(ts)
                w.add(ts, e, hour)
        m = e.merchant_id
        if m not in self.first_seen:
            self.first_seen[m] = ts
        self.prev_seen[m] = self.last_seen.get(m, ts)
        self.last_seen[m] = ts

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
        if n == "max_fen":
            return w.maxq[0][1] if w.maxq else 0
        if n == "avg_fen":
            return w.sum // w.count
        if n == "distinct_payers":
            return len(w.payers)
        if n == "distinct_merchants":
            return len(w.merchants)
        if n == "credit_share_ppm":
            return _share(w.credit, w.count)
        if n == "round_share_ppm":
            return _share(w.round, w.count)
        if n == "night_share_ppm":
            return _share(w.night, w.count)
        if n == "near_limit_count":
            return w.near
        if n == "active_hours":
            return len(w.hours)
        if n == "top_amount_share_ppm":
            return _share(max(w.amounts.values()), w.count)
        if n == "baseline_ratio_ppm":  # this window's sum against the merchant's daily mean over 30 days
            month = self._window("merchant", e, WINDOW_S_MAX)
            if month is None or month.sum - w.sum <= 0:
                return 0
            days = max(1, (WINDOW_S_MAX - ref.window_s) // 86_400)
            return w.sum * days * 1_000_000 // (month.sum - w.sum)
        raise FeatureError(n)

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
