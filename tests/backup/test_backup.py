"""`zhifu backup` / `zhifu restore` on both backends: an online copy taken while payments are written, restored
and checked with the ledger's verify; a damaged copy is refused and the database it would replace is kept."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from tests.conftest import _pg_admin_url
from tests.settlement.helpers import merchant, pay, sh
from zhifu.backup import backup, restore
from zhifu.core.clock import FixedClock
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts
from zhifu.payments.models import payments


def _world(db: Database, clock: FixedClock, n: int = 5) -> str:
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = merchant(db, 1, at=sh(2022, 6, 1))
    for i in range(n):
        pay(db, clock, mid, 1_000 + i, sh(2022, 6, 14, 9, i))
    return mid


def _count(db: Database) -> int:
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(payments)).scalar_one())


def test_sqlite_backup_online_and_restore_verified(
    db: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    if not db.is_sqlite:
        pytest.skip("the PostgreSQL case is below")
    mid = _world(db, fixed_clock)
    stop, written = threading.Event(), [0]

    def writer() -> None:  # payments keep coming while the copy is taken
        i = 0
        while not stop.is_set() and i < 200:
            i += 1
            pay(db, fixed_clock, mid, 500 + i, sh(2022, 6, 14, 10, i % 60))
            written[0] += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        r = backup(db.url, tmp_path / "b.db")
    finally:
        stop.set()
        t.join()
    assert r.ok and r.counts["payments"] >= 5 and r.counts["ledger_entries"] > 0 and len(r.sha256) == 64
    assert (tmp_path / "b.db").stat().st_mode & 0o077 == 0
    with pytest.raises(ConflictError):
        backup(db.url, tmp_path / "b.db")
    target = tmp_path / "restored.db"
    done = restore(tmp_path / "b.db", f"sqlite:///{target}")
    assert done.ok and done.counts == r.counts
    copy = Database(f"sqlite:///{target}")
    assert _count(copy) == r.counts["payments"] and written[0] > 0
    copy.dispose()


def test_a_damaged_backup_is_refused_and_the_database_kept(
    db: Database, fixed_clock: FixedClock, tmp_path: Path
) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite files only")
    _world(db, fixed_clock, 2)
    backup(db.url, tmp_path / "b.db")
    raw = sqlite3.connect(tmp_path / "b.db")
    raw.execute(
        "UPDATE ledger_accounts SET posted_cr_fen = posted_cr_fen + 1 WHERE code LIKE 'merchant_payable:%'"
    )
    raw.commit()
    raw.close()
    target = tmp_path / "live.db"
    target.write_bytes((tmp_path / "b.db").read_bytes()[:0] or b"")
    with pytest.raises(ConflictError):
        restore(tmp_path / "b.db", f"sqlite:///{target}")
    r = restore(tmp_path / "b.db", f"sqlite:///{target}", force=True)
    assert not r.ok and any("merchant_payable" in v for v in r.violations)
    assert target.read_bytes() == b""  # not replaced


def test_cli_backup_and_restore(
    db: Database, fixed_clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhifu.cli import app

    _world(db, fixed_clock, 3)
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        out = tmp_path / ("b.db" if db.is_sqlite else "b.dump")
        r = runner.invoke(app, ["backup", str(out)])
        assert r.exit_code == 0 and "sha256" in r.output, r.output
        if db.is_sqlite:
            assert "ledger verified on the copy" in r.output
            target = tmp_path / "r.db"
            monkeypatch.setenv("ZHIFU_DATABASE_URL", f"sqlite:///{target}")
        else:
            name = f"zhifu_restore_{uuid.uuid4().hex[:8]}"
            admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            base = db.url.rpartition("/")[0]
            monkeypatch.setenv("ZHIFU_DATABASE_URL", f"{base}/{name}")
        get_settings.cache_clear()
        r = runner.invoke(app, ["restore", str(out)])
        assert r.exit_code == 0 and "ledger verified on the copy" in r.output and "payments 3" in r.output, (
            r.output
        )
        r = runner.invoke(app, ["restore", str(out)])
        assert r.exit_code == 1 and "--force" in r.output
        if not db.is_sqlite:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
    finally:
        get_settings.cache_clear()
