"""分页 / Pages of lists: one bound on the rows a list call answers, and the clamp every list applies."""

from __future__ import annotations

PAGE_MAX = 100  # rows one list call answers at most (as Stripe's lists): more is the next page, never one huge answer


def page_limit(limit: int, page_max: int = PAGE_MAX) -> int:
    """The rows a list call answers: `limit` kept within 1..page_max."""
    return max(1, min(limit, page_max))
