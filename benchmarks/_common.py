"""Helpers shared by the benchmarks: timing, rates and peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    """Seconds that one call of `fn` takes, by the monotonic high-resolution clock."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_peak(label: str) -> None:
    print(f"peak memory ({label}): {peak_rss_mb():.0f} MB")
