"""分页 / Pages of lists: one bound on the rows a list call answers, the clamp every list applies, and the cursor
page (newest id first, `starting_after`, `has_more`) that Stripe-style list calls answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, Table, select

PAGE_MAX = 100  # rows one list call answers at most (as Stripe's lists): more is the next page, never one huge answer

T = TypeVar("T")


def page_limit(limit: int, page_max: int = PAGE_MAX) -> int:
    """The rows a list call answers: `limit` kept within 1..page_max."""
    return max(1, min(limit, page_max))


def cursor_page(
    conn: Connection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    starting_after: str | None,
    public: Callable[[Any], T],
) -> tuple[list[T], bool]:
    """One page of `table`'s rows matching `where`, newest id first, after the id `starting_after` when given;
    with whether more rows follow (one row past the page is read to know)."""
    return page_of(
        conn,
        select(table).where(*where),
        table.c.id,
        limit=limit,
        starting_after=starting_after,
        public=public,
    )


def page_of(
    conn: Connection,
    query: Select[Any],
    id_column: ColumnElement[Any],
    *,
    limit: int,
    starting_after: Any | None,
    public: Callable[[Any], T],
    page_max: int = PAGE_MAX,
    ending_before: Any | None = None,
) -> tuple[list[T], bool]:
    """One page of any query's rows (a join, chosen columns), newest `id_column` first, after `starting_after`
    when given; with `ending_before`, the rows after that one oldest first (a stream reading on). With whether
    more rows follow."""
    limit = page_limit(limit, page_max)
    if ending_before is not None and ending_before != "":
        q = query.where(id_column > ending_before).order_by(id_column.asc())
    else:
        q = query.order_by(id_column.desc())
        if starting_after is not None and starting_after != "":
            q = q.where(id_column < starting_after)
    rows = conn.execute(q.limit(limit + 1)).all()
    return [public(r) for r in rows[:limit]], len(rows) > limit
