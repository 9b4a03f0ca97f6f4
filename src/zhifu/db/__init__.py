"""Storage: engines for SQLite and PostgreSQL, the shared metadata, and one transaction helper."""

from zhifu.db.engine import Database, make_engine, normalise_url
from zhifu.db.meta import metadata, utcnow_column

__all__ = ["Database", "make_engine", "metadata", "normalise_url", "utcnow_column"]
