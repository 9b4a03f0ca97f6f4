"""Imports every capability's tables so the shared metadata is complete (for migrations and tests)."""

from zhifu.db.meta import metadata
from zhifu.plugins import modules

modules("models")

__all__ = ["metadata"]
