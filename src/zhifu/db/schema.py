"""Imports every capability's tables so the shared metadata is complete (for migrations and tests)."""

import zhifu.channels.sim  # noqa: F401
import zhifu.ledger.models  # noqa: F401
import zhifu.merchants.models  # noqa: F401
import zhifu.payments.models  # noqa: F401
import zhifu.webhooks.models  # noqa: F401
from zhifu.db.meta import metadata

__all__ = ["metadata"]
