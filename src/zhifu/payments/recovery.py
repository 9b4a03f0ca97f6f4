"""恢复点 / recovery points: an API request that holds an Idempotency-Key names, in its work's own transaction, the
object that work created, so a retry after a crash answers with that object instead of doing the work again."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

from sqlalchemy import Connection, and_, or_, update

from zhifu.core.errors import ConflictError
from zhifu.db.engine import after_commit
from zhifu.db.idempotency import idempotency_keys


@dataclasses.dataclass(slots=True)
class Claim:
    """The Idempotency-Key this request holds, the kind of object its work creates, and (once the work has
    committed) that object's id."""

    scope: str
    key: str
    kind: str
    resource_id: str | None = None


_CLAIM: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("zhifu_idempotency_claim", default=None)


@contextlib.contextmanager
def claimed(claim: Claim) -> Iterator[Claim]:
    """Within this block, the work of the request holding `claim` records its recovery point."""
    token = _CLAIM.set(claim)
    try:
        yield claim
    finally:
        _CLAIM.reset(token)


def recovery_point(conn: Connection, kind: str, resource_id: str) -> None:
    """Record, in the caller's transaction, that this request's work made `resource_id` (a no-op without a claimed
    key for this kind of object). The write is a compare-and-set: a second attempt of the same request that gets
    here after the first committed finds the key taken and is refused, rolling its own work back."""
    claim = _CLAIM.get()
    if claim is None or claim.kind != kind:
        return
    c = idempotency_keys.c
    res = conn.execute(
        update(idempotency_keys)
        .where(
            and_(
                c.scope == claim.scope,
                c.key == claim.key,
                c.status == "in_flight",
                or_(c.resource_id.is_(None), c.resource_id == resource_id),
            )
        )
        .values(resource_kind=kind, resource_id=resource_id)
    )
    if res.rowcount != 1:
        raise ConflictError(
            "a request with this Idempotency-Key has already done its work; retry to get its answer",
            param="Idempotency-Key",
            code="idempotency_in_flight",
        )

    def committed(_db: object) -> None:
        claim.resource_id = resource_id

    after_commit(conn, committed)  # known to the request only once the work has committed
