"""Fixtures shared by the suite: a database on each backend, and a clock tests can move."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

os.environ.setdefault(
    "ZHIFU_SIMULATOR", "1"
)  # the simulated rails and payer, on the simulator's built-in secret

from zhifu.core import clock as clock_mod  # noqa: E402
from zhifu.core.clock import FixedClock  # noqa: E402
from zhifu.db import Database  # noqa: E402
from zhifu.db.engine import normalise_url  # noqa: E402
from zhifu.db.schema import metadata  # noqa: E402

os.environ["ZHIFU_SIMULATOR"] = "1"  # the tests drive the simulated payer and the fake rails
PG_URL = os.environ.get("ZHIFU_TEST_PG_URL")
PG_SKIP_REASON = "PostgreSQL tests need ZHIFU_TEST_PG_URL, e.g. postgresql://postgres@127.0.0.1:5432/test"


def _pg_admin_url() -> str:
    assert PG_URL
    return normalise_url(PG_URL)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, made for this test process and dropped after."""
    if not PG_URL:
        if os.environ.get("ZHIFU_REQUIRE_PG"):
            pytest.fail(
                "ZHIFU_REQUIRE_PG is set but ZHIFU_TEST_PG_URL is not: the PostgreSQL tests must run here"
            )
        pytest.skip(PG_SKIP_REASON)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"zhifu_test_{worker}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = _pg_admin_url().rpartition("/")
    url = f"{base}/{name}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(database: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def fresh_database(backend: str, tmp_dir: str, request: pytest.FixtureRequest) -> Database:
    if backend == "sqlite":
        database = Database(f"sqlite:///{tmp_dir}/zhifu-{uuid.uuid4().hex[:8]}.db")
        metadata.create_all(database.engine)
        return database
    database = Database(request.getfixturevalue("pg_url"))
    truncate_all(database)
    return database


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db(backend: str, tmp_path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh, empty database on SQLite and on PostgreSQL: every database test runs on both."""
    database = fresh_database(backend, str(tmp_path), request)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def fixed_clock() -> Iterator[FixedClock]:
    fc = FixedClock(dt.datetime(2022, 6, 15, 2, 0, tzinfo=dt.UTC))
    old = clock_mod.set_clock(fc)
    try:
        yield fc
    finally:
        clock_mod.set_clock(old)


@pytest.fixture
def platform(db: Database):  # type: ignore[no-untyped-def]
    """The HTTP API on a fresh database (both backends), with an operator key."""
    from tests.factories import Platform

    p = Platform(db)
    try:
        yield p
    finally:
        p.close()


# ---------------------------------------------------------------- the fake rails


from tests import rails_support  # noqa: E402
from tests.rails_support import FORWARD  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def fake_rails(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One fake-rails server for the test process, on a free loopback port; connectors reach it over HTTP."""
    from zhifu import channels
    from zhifu.railsim.server import FakeRails
    from zhifu.railsim.store import Behaviour

    folder = tmp_path_factory.mktemp("rails")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sim = FakeRails(
        folder,
        f"http://127.0.0.1:{port}",
        behaviour=Behaviour(hang_s=1.2),
        deliver=httpx.Client(transport=FORWARD),
    )
    server = uvicorn.Server(uvicorn.Config(sim.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    sim.store.clock = clock_mod.now  # the rails' days are the tests' days (fixed clocks included)
    config = {**sim.client_config}
    for fam in ("wechat", "alipay", "unionpay"):
        config[fam] = {**config[fam], "notify_url_base": "http://testserver", "timeout_s": 1.0}
    channels.configure(config)
    rails_support.SIM = sim
    try:
        yield sim
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        channels.configure(None)
        sim.stop()


@pytest.fixture(autouse=True)
def _fresh_rails(fake_rails: Any) -> None:
    """Each test sees rails with nothing on their books (one fake-rails server serves the whole process)."""
    fake_rails.store.forget()
