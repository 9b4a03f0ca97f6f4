"""The random instant discount: deterministic per payment, and distributed as configured (fixed seed)."""

from __future__ import annotations

from collections import Counter

from zhifu.incentives.rules import Discount, Tier, draw_discount

N = 20_000


def test_same_payment_same_draw() -> None:
    d = Discount(probability_ppm=500_000, min_fen=1, max_fen=1_000)
    assert [draw_discount(d, "s", f"pay_{i}", 10_000) for i in range(50)] == [
        draw_discount(d, "s", f"pay_{i}", 10_000) for i in range(50)
    ]
    assert [draw_discount(d, "s", f"pay_{i}", 10_000) for i in range(50)] != [
        draw_discount(d, "t", f"pay_{i}", 10_000) for i in range(50)
    ]


def test_uniform_distribution_with_fixed_seed() -> None:
    d = Discount(probability_ppm=300_000, min_fen=100, max_fen=199)
    draws = [draw_discount(d, "fixed", f"pay_{i:06d}", 100_000) for i in range(N)]
    hits = [x for x in draws if x]
    # hit rate 0.3: the binomial standard deviation over N is 0.0032; four of them is 0.013
    assert abs(len(hits) / N - 0.3) < 0.013, len(hits)
    assert min(hits) == 100 and max(hits) == 199
    # chi-square over the 100 equally likely amounts, 99 degrees of freedom: the 0.999 quantile is 148.2
    counts = Counter(hits)
    expected = len(hits) / 100
    chi2 = sum((counts.get(v, 0) - expected) ** 2 / expected for v in range(100, 200))
    assert chi2 < 148.2, chi2
    # the mean of a uniform 100..199 is 149.5; its standard error here is about 0.5
    assert abs(sum(hits) / len(hits) - 149.5) < 2.0


def test_weighted_tiers_with_fixed_seed() -> None:
    d = Discount(
        probability_ppm=1_000_000,
        tiers=[
            Tier(amount_fen=88, weight=70),
            Tier(amount_fen=188, weight=25),
            Tier(amount_fen=888, weight=5),
        ],
    )
    counts = Counter(draw_discount(d, "fixed", f"pay_{i:06d}", 100_000) for i in range(N))
    assert set(counts) == {88, 188, 888}
    expected = {88: 0.70 * N, 188: 0.25 * N, 888: 0.05 * N}
    chi2 = sum((counts[v] - e) ** 2 / e for v, e in expected.items())
    assert chi2 < 13.8, (counts, chi2)  # 2 degrees of freedom, 0.999 quantile


def test_never_more_than_payment_minus_one_fen_and_never_with_zero_probability() -> None:
    d = Discount(probability_ppm=1_000_000, min_fen=500, max_fen=900)
    assert {draw_discount(d, "s", f"p{i}", 300) for i in range(200)} == {299}
    assert draw_discount(d, "s", "p", 1) == 0
    never = Discount(probability_ppm=0, min_fen=1, max_fen=2)
    assert not any(draw_discount(never, "s", f"p{i}", 1_000) for i in range(2_000))
