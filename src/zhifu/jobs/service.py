"""Background jobs run under leases, so any number of `zhifu worker` (and `zhifu serve`) processes may run the
same duties and never run one at the same time twice: a pass starts only after a compare-and-set on the job's
lease row commits; the lease ends with the pass, or at its expiry if the holder died.

Work items inside a pass are claimed by the duty itself where it matters (webhook deliveries with
`FOR UPDATE SKIP LOCKED` and a lease on each delivery); the job lease keeps whole passes apart."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from zhifu.core import clock
from zhifu.db import Database
from zhifu.jobs.models import job_leases

T = TypeVar("T")
LEASE_TTL_S = 300  # a pass longer than this may be started again by another worker (every duty is idempotent)
NAME_LEN_MAX = 40
HOLDER = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"  # this process


def _try_claim(conn: Connection, name: str, holder: str, at: dt.datetime, ttl_s: float) -> bool:
    until = at + dt.timedelta(seconds=ttl_s)
    free = or_(job_leases.c.expires_at <= at, job_leases.c.holder == holder)
    got = conn.execute(
        update(job_leases)
        .where(and_(job_leases.c.name == name, free))
        .values(holder=holder, expires_at=until, runs=job_leases.c.runs + 1)
    ).rowcount
    if got == 1:
        return True
    if conn.execute(select(job_leases.c.name).where(job_leases.c.name == name)).first() is not None:
        return False  # held by another worker
    try:
        with conn.begin_nested():  # the first pass ever of this job: a concurrent first insert loses cleanly
            conn.execute(
                insert(job_leases), [{"name": name, "holder": holder, "expires_at": until, "runs": 1}]
            )
    except IntegrityError:
        return False
    return True


def claim(
    db: Database,
    name: str,
    *,
    holder: str = HOLDER,
    ttl_s: float = LEASE_TTL_S,
    at: dt.datetime | None = None,
) -> bool:
    """Take the lease on job `name` for ttl_s, unless another holder has it (committed before returning)."""
    if not 0 < len(name) <= NAME_LEN_MAX:
        raise ValueError(f"job name of 1–{NAME_LEN_MAX} characters: {name!r}")
    return db.run(lambda c: _try_claim(c, name, holder, at or clock.now(), ttl_s))


def release(db: Database, name: str, *, holder: str = HOLDER) -> None:
    """End our lease on job `name` (another worker may start the next pass at once)."""
    db.run(
        lambda c: c.execute(
            update(job_leases)
            .where(and_(job_leases.c.name == name, job_leases.c.holder == holder))
            .values(expires_at=clock.now())
        )
    )


def run_leased(
    db: Database, name: str, fn: Callable[[], T], *, holder: str = HOLDER, ttl_s: float = LEASE_TTL_S
) -> tuple[bool, T | None]:
    """Run one pass of job `name` if no other worker is running it: (ran, what fn returned)."""
    if not claim(db, name, holder=holder, ttl_s=ttl_s):
        return False, None
    try:
        return True, fn()
    finally:
        release(db, name, holder=holder)


def leases(conn: Connection) -> list[dict[str, object]]:
    """Every job's lease: who holds it (or last held it), until when, and how many passes ran."""
    return [dict(r._mapping) for r in conn.execute(select(job_leases).order_by(job_leases.c.name))]
