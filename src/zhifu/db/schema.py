"""Imports every capability's tables so the shared metadata is complete (for migrations and tests)."""

from zhifu.db import idempotency  # noqa: F401 - the API's keys, below the capabilities
from zhifu.db.meta import metadata
from zhifu.plugins import modules

modules("models")

__all__ = ["metadata"]
