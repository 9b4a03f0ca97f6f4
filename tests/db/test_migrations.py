"""The migrations build exactly the schema the code declares, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from zhifu.db.migrate import upgrade
from zhifu.db.schema import metadata


def test_sqlite_migrations_match_metadata(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        mode = conn.execute(text("PRAGMA journal_mode")).scalar()
    engine.dispose()
    assert diff == []
    assert mode == "wal"


def test_pg_migrations_match_metadata(pg_url: str) -> None:
    from sqlalchemy import text as _t

    from zhifu.db.engine import normalise_url

    engine = create_engine(normalise_url(pg_url))
    with engine.begin() as conn:
        conn.execute(_t("DROP SCHEMA IF EXISTS mig CASCADE"))
        conn.execute(_t("CREATE SCHEMA mig"))
    engine.dispose()
    url = normalise_url(pg_url) + "?options=-csearch_path%3Dmig"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    with engine.begin() as conn:
        conn.execute(_t("DROP SCHEMA mig CASCADE"))
    engine.dispose()
    assert diff == []
