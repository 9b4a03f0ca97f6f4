"""Imports every capability's tables so the shared metadata is complete (for migrations and tests)."""

import zhifu.ledger.models  # noqa: F401
from zhifu.db.meta import metadata

__all__ = ["metadata"]
