"""A small simulated county on each backend, built once per module, with its rollups refreshed day by day."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, _pg_admin_url
from zhifu.db import Database
from zhifu.db.schema import metadata
from zhifu.kpi import rollup
from zhifu.sim import SimParams, simulate

SIM_START = dt.date(2022, 1, 10)
SIM_DAYS = 45


class RefreshEachDay:
    """A simulator hook: before each day's payments, the incremental job runs (as the workers would)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.runs = 0

    def extra_payments(self, day):  # type: ignore[no-untyped-def]
        if day.index % 4 == 1:
            self.db.run(rollup.refresh)
            self.runs += 1
        return []

    def review(self, day, specs):  # type: ignore[no-untyped-def]
        return specs


@pytest.fixture(scope="module", params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """demo_small simulated for 45 days; rollups refreshed every fourth day and once at the end."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('kpi')}/county.db"
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL tests need ZHIFU_TEST_PG_URL")
        name = f"zhifu_kpi_{uuid.uuid4().hex[:8]}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{_pg_admin_url().rpartition('/')[0]}/{name}"
    db = Database(url)
    metadata.create_all(db.engine)
    hook = RefreshEachDay(db)
    simulate(db, SimParams("demo_small", SIM_START, SIM_DAYS, seed=11, scale=0.01), hooks=[hook])
    db.run(rollup.refresh)
    assert hook.runs > 5
    try:
        yield db
    finally:
        db.dispose()
        if name:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
