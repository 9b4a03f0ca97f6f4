"""IN 列表分批 / Long IN (...) lists in chunks: one bound for every capability's bulk reads, well inside every
driver's parameter limit (SQLite 32,766; psycopg 65,535) and small enough for the planner to use an index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

IN_CHUNK = 500  # values per IN (...) list

T = TypeVar("T")


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> list[Sequence[T]]:
    """`values` cut into consecutive slices of at most `size` (none for no values)."""
    return [values[i : i + size] for i in range(0, len(values), size)]
