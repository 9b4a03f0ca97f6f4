"""Is there a Zhifu database at a URL? Asked before a command runs, so a wrong path gets one line, not a traceback
(and SQLite does not leave an empty file behind where the user mistyped one)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

# written by `zhifu db upgrade`; the book's accounts table stands for a schema made from the metadata directly
SCHEMA_MARKERS = ("alembic_version", "ledger_accounts")


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL (None for other backends and for in-memory databases)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    path = path.split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


def url_of(value: str) -> str:
    """`--db` takes a URL, or a path to a SQLite file (made absolute)."""
    return value if "://" in value else f"sqlite:///{Path(value).expanduser().resolve()}"


def schema_problem(url: str) -> str | None:
    """None when `url` holds a Zhifu schema; otherwise why not, as one line naming the database."""
    from zhifu.db.engine import normalise_url

    shown = url.split("@")[-1] if "@" in url else url  # never print a password
    hint = "run `zhifu db upgrade` or pass --db"
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return f"no Zhifu database at {path} (no such file); {hint}"
    try:
        engine = create_engine(normalise_url(url))
        try:
            with engine.connect() as conn:
                found = inspect(conn)
                has = any(found.has_table(t) for t in SCHEMA_MARKERS)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        return f"no Zhifu database at {shown} ({type(exc).__name__}: cannot open it); {hint}"
    if not has:
        return f"no Zhifu database at {path or shown} (no schema in it); {hint}"
    return None
