"""Leases on background jobs: one row per job name, held by one worker process at a time."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(40), primary_key=True),  # a background duty: sweeper, webhooks, kpi, …
    Column("holder", String(64), nullable=False),  # the worker holding it: host, pid and a random suffix
    utcnow_column("expires_at"),  # past this the lease is free (its holder died or hangs)
    Column(
        "runs", Integer, nullable=False, server_default="0"
    ),  # passes run under this lease row, all holders
)
