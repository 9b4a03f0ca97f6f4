"""Imports every capability's tables so the shared metadata is complete (for migrations and tests)."""

import zhifu.channels.sim  # noqa: F401  (the simulated rails keep their own tables)
from zhifu.db.meta import metadata
from zhifu.plugins import modules

modules("models")

__all__ = ["metadata"]
