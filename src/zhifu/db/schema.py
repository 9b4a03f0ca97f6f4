"""Imports every capability's tables so the shared metadata is complete (for migrations and tests), and installs
the capabilities' payment events, so a process that has the whole schema has the whole wiring."""

from zhifu.db import idempotency  # noqa: F401 - the API's keys, below the capabilities
from zhifu.db.meta import metadata
from zhifu.plugins import load_events, modules

modules("models")
load_events()

__all__ = ["metadata"]
