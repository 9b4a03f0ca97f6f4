"""The feature engine's bucketed windows: every window feature equals a recount from scratch over the payments of
the window's buckets (never fewer than the exact window, at most one bucket more), and its memory stays bounded
per key and window whatever the traffic, with idle keys dropped."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhifu.risk.features import (
    BUCKETS,
    NIGHT_HOURS,
    SWEEP_S,
    WINDOW_FEATURES,
    WINDOW_S_MAX,
    Event,
    FeatureEngine,
    FeatureError,
    MerchantInfo,
    bucket_s,
    is_near_limit,
    is_round,
    parse_feature,
)

T0 = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
WINDOWS = ("1m", "1h", "1d")
MERCHANTS = {
    "a": MerchantInfo("5411", "530102", "micro", "bank|1234|张三", False),
    "b": MerchantInfo("5411", "530102", "company", "bank|5678|李四", False),
}
# amounts that make the flags and the top amount come up: round hundreds, just below a limit, repeats
AMOUNTS = st.one_of(
    st.sampled_from([10_000, 20_000, 48_000, 49_999, 95_000, 100_000, 1]), st.integers(1, 60_000)
)
# gaps that land payments on bucket and window edges often, and jumps past whole windows
GAPS = st.one_of(
    st.sampled_from([0, 1, 29, 30, 31, 59, 60, 61, 719, 720, 3_599, 3_600, 3_601, 86_399, 86_400, 86_401]),
    st.integers(0, 5_000),
    st.integers(0, 200_000),
)


def _refs() -> list:  # type: ignore[type-arg]
    names = sorted(WINDOW_FEATURES - {"baseline_ratio_ppm"})
    texts = [
        f"{n}@{k}/{w}" for n in names for k in ("merchant", "payer", "payer_merchant", "mcc") for w in WINDOWS
    ]
    texts += [f"baseline_ratio_ppm@merchant/{w}" for w in WINDOWS]
    return [parse_feature(t) for t in texts]


def _key(kind: str, e: Event) -> str | None:
    return {
        "merchant": e.merchant_id,
        "payer": e.payer,
        "payer_merchant": f"{e.payer}|{e.merchant_id}" if e.payer else None,
        "mcc": MERCHANTS[e.merchant_id].mcc,
    }[kind]


def _in_buckets(seen: list[Event], kind: str, now: Event, span_s: int) -> list[Event]:
    """The payments of `now`'s key in the window's buckets: from the bucket t − span falls in to the current one."""
    width = bucket_s(span_s)
    t = now.at.timestamp()
    edge = int((t - span_s) // width)
    k = _key(kind, now)
    return [x for x in seen if _key(kind, x) == k and int(x.at.timestamp() // width) >= edge]


def _exact(seen: list[Event], kind: str, now: Event, span_s: int) -> list[Event]:
    t = now.at.timestamp()
    k = _key(kind, now)
    return [x for x in seen if _key(kind, x) == k and x.at.timestamp() > t - span_s]


def _share(part: int, whole: int) -> int:
    return part * 1_000_000 // whole if whole else 0


def _recount(name: str, xs: list[Event], month: list[Event], span_s: int) -> int:
    if not xs:
        return 0
    n, total = len(xs), sum(x.amount_fen for x in xs)
    if name == "count":
        return n
    if name == "sum_fen":
        return total
    if name == "max_fen":
        return max(x.amount_fen for x in xs)
    if name == "avg_fen":
        return total // n
    if name == "distinct_payers":
        return len({x.payer for x in xs if x.payer})
    if name == "distinct_merchants":
        return len({x.merchant_id for x in xs})
    if name == "credit_share_ppm":
        return _share(sum(x.card_type == "credit" for x in xs), n)
    if name == "round_share_ppm":
        return _share(sum(is_round(x.amount_fen) for x in xs), n)
    if name == "night_share_ppm":
        return _share(sum(x.hour in NIGHT_HOURS for x in xs), n)
    if name == "near_limit_count":
        return sum(is_near_limit(x.amount_fen) for x in xs)
    if name == "active_hours":
        return len({x.hour for x in xs})
    if name == "top_amount_share_ppm":
        return _share(max(collections.Counter(x.amount_fen for x in xs).values()), n)
    if name == "baseline_ratio_ppm":
        rest = sum(x.amount_fen for x in month) - total
        return total * max(1, (WINDOW_S_MAX - span_s) // 86_400) * 1_000_000 // rest if rest > 0 else 0
    raise AssertionError(name)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            GAPS,
            st.integers(0, 999_999),  # microseconds, as the database gives them
            AMOUNTS,
            st.sampled_from(["a", "b"]),
            st.sampled_from(["x", "y", "z", None]),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_window_feature_equals_a_recount_over_its_buckets(stream) -> None:  # type: ignore[no-untyped-def]
    refs = _refs()
    eng = FeatureEngine(refs, MERCHANTS)
    seen: list[Event] = []
    at = T0
    for gap, us, amount, merchant, payer, credit in stream:
        at += dt.timedelta(seconds=gap, microseconds=us)
        e = Event(f"p{len(seen)}", merchant, payer, amount, "credit" if credit else "debit", at)
        eng.add(e)
        seen.append(e)
        for ref in refs:
            assert ref.key is not None and ref.window_s is not None
            if _key(ref.key, e) is None:
                assert eng.value(ref, e) == 0
                continue
            xs = _in_buckets(seen, ref.key, e, ref.window_s)
            month = _in_buckets(seen, "merchant", e, WINDOW_S_MAX)
            assert eng.value(ref, e) == _recount(ref.name, xs, month, ref.window_s), ref.text
            if ref.name == "count":  # never fewer than the exact window, at most one bucket more
                exact = _exact(seen, ref.key, e, ref.window_s)
                wider = _exact(seen, ref.key, e, ref.window_s + bucket_s(ref.window_s))
                assert len(exact) <= len(xs) <= len(wider)


def test_the_bucket_widths_named_in_the_docs() -> None:
    assert [bucket_s(s) for s in (60, 3_600, 86_400, 30 * 86_400)] == [1, 30, 720, 6 * 3_600]


@pytest.mark.parametrize("key", ["merchant", "payer"])
def test_a_busy_key_keeps_a_bounded_number_of_buckets(key: str) -> None:
    """200,000 payments over two days to one key: each window holds at most span / width + 2 buckets."""
    refs = [
        parse_feature(f"{f}@{key}/{w}") for f in ("count", "max_fen", "active_hours") for w in ("1h", "1d")
    ]
    eng = FeatureEngine(refs, MERCHANTS)
    n, span = 200_000, 2 * 86_400
    bound = sum(s // bucket_s(s) + 2 for s in (3_600, 86_400))
    most = 0
    for i in range(n):
        e = Event(f"p{i}", "a", "x", 1_000 + i % 997, None, T0 + dt.timedelta(seconds=i * span / n))
        eng.add(e)
        if i % 1_000 == 0:
            most = max(most, eng.stored()[1] - len(eng.windows[("mcc", "5411")][WINDOW_S_MAX].buckets))
    assert most <= bound <= 2 * BUCKETS + 4
    w = eng.windows[(key, "x" if key == "payer" else "a")]
    assert len(w[86_400].buckets) <= 86_400 // bucket_s(86_400) + 2
    assert len(w[3_600].maxq or []) <= 3_600 // bucket_s(3_600) + 2
    last = T0 + dt.timedelta(seconds=span)
    assert eng.value(refs[0], Event("q", "a", "x", 1, None, last)) >= n * 3_600 // span  # the hour's payments


def test_an_idle_key_is_dropped() -> None:
    """A payer seen once is forgotten once its windows are empty; a payer still within its window is kept."""
    refs = [parse_feature("count@payer/1h"), parse_feature("count@payer_merchant/1d")]
    eng = FeatureEngine(refs)  # no merchant infos: no MCC key
    for i in range(1_000):
        eng.add(Event(f"p{i}", "a", f"payer{i}", 100, None, T0 + dt.timedelta(seconds=i)))
    assert len(eng.windows) == 2_000  # a payer and a payer-at-merchant key each
    later = T0 + dt.timedelta(seconds=86_400 + 3_600 + SWEEP_S)
    eng.add(Event("q", "a", "payer0", 100, None, later))
    assert set(eng.windows) == {("payer", "payer0"), ("payer_merchant", "payer0|a")}
    assert eng.stored() == (2, 2)
    assert eng.value(refs[0], Event("q", "a", "payer0", 100, None, later)) == 1  # the old payment is gone


def test_a_feature_the_engine_was_not_built_for_is_refused() -> None:
    eng = FeatureEngine([parse_feature("count@merchant/1d")])
    e = Event("p", "a", "x", 100, None, T0)
    eng.add(e)
    assert eng.value(parse_feature("count@merchant/1d"), e) == 1
    with pytest.raises(FeatureError):
        eng.value(parse_feature("distinct_payers@merchant/1d"), e)
