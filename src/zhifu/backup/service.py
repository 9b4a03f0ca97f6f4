"""`zhifu backup FILE` and `zhifu restore FILE`: online, consistent, and checked on the copy.

SQLite copies page by page through `sqlite3.Connection.backup` (writers go on between steps; the copy is one
consistent snapshot). PostgreSQL uses `pg_dump --format=custom` (one snapshot) and `pg_restore`. A copy is only
called good after `ledger verify` (every entry balances, every stored balance equals its postings) runs on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.db.engine import normalise_url

PAGES_PER_STEP = 1024  # 4 MiB a step at the default page size: writers wait for one step at most
PG_TIMEOUT_S = (
    6 * 3600
)  # a county's database dumps in minutes; a stuck dump must not hang a cron job for ever
COUNTED = ("merchants", "payments", "refunds", "ledger_entries", "settlement_batches")


@dataclass
class BackupResult:
    path: str
    bytes: int
    sha256: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    revision: str | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _sqlite_path(url: str) -> Path:
    u = make_url(normalise_url(url))
    if not u.database or u.database == ":memory:":
        raise InvalidRequest(
            "a backup needs a database file, not an in-memory database", param="database_url"
        )
    return Path(u.database)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pg_env(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for the command-line tools (no +psycopg), with the password passed in the environment."""
    u = make_url(normalise_url(url))
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise InvalidRequest(
            f"{cmd[0]} is not installed (apt-get install postgresql-client)", param="database_url"
        ) from exc
    if done.returncode != 0:
        raise InvalidRequest(f"{cmd[0]} failed: {done.stderr.strip()[-2000:]}", param="database_url")


def verify_copy(url: str) -> tuple[dict[str, int], str | None, list[str]]:
    """Run the ledger's verify on a database and count its main tables: (counts, alembic revision, violations)."""
    from zhifu.ledger import verify

    db = Database(url)
    try:
        with db.read() as conn:
            tables = set(inspect(conn).get_table_names())
            counts = {
                t: int(conn.execute(select(func.count()).select_from(_table(t))).scalar_one())
                for t in COUNTED
                if t in tables
            }
            revision = None
            if "alembic_version" in tables:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            violations = [str(v) for v in verify(conn)]
            if db.is_sqlite:
                check = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if check != "ok":
                    violations.append(f"sqlite integrity_check: {check}")
    finally:
        db.dispose()
    return counts, revision, violations


def _table(name: str) -> Any:
    from zhifu.db.schema import metadata

    return metadata.tables[name]


def backup(url: str, out: str | Path, *, force: bool = False) -> BackupResult:
    """Copy the live database to `out` and verify the copy (SQLite: the copy itself; PostgreSQL: the dump restored
    into a scratch database is left to `restore`; here pg_restore --list checks the archive reads whole)."""
    out = Path(out)
    if out.exists() and not force:
        raise ConflictError(f"{out} exists; choose a new name or pass --force", param="file")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    tmp = out.with_name(out.name + ".part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds everything: owner only
    os.close(fd)
    if normalise_url(url).startswith("sqlite"):
        src = sqlite3.connect(_sqlite_path(url))
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
            src.close()
        os.replace(tmp, out)
        counts, revision, violations = verify_copy(f"sqlite:///{out.resolve()}")
    else:
        libpq, env = _pg_env(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(tmp), libpq], env)
        _run(["pg_restore", "--list", str(tmp)], env)
        os.replace(tmp, out)
        counts, revision, violations = {}, None, []
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return BackupResult(str(out), out.stat().st_size, _sha256(out), seconds, counts, revision, violations)


def _pg_has_tables(url: str) -> bool:
    db = Database(url)
    try:
        with db.read() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        db.dispose()


def restore(backup_file: str | Path, url: str, *, force: bool = False) -> BackupResult:
    """Restore a backup into the database at `url`, then verify the restored copy. An existing database is only
    replaced with `force`; on SQLite the old file is kept beside it as `<file>.before-restore`."""
    src = Path(backup_file)
    if not src.is_file():
        raise InvalidRequest(f"{src}: no such backup file", param="file")
    started = dt.datetime.now(dt.UTC)
    if normalise_url(url).startswith("sqlite"):
        target = _sqlite_path(url)
        with src.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise InvalidRequest(
                    f"{src} is not a SQLite backup (a PostgreSQL dump restores into PostgreSQL)", param="file"
                )
        if target.exists() and not force:
            raise ConflictError(
                f"{target} exists; pass --force to replace it (it is kept as {target.name}.before-restore)",
                param="database_url",
            )
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".restoring")
        os.close(fd)
        tmp = Path(tmp_name)
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o600)
        counts, revision, violations = verify_copy(f"sqlite:///{tmp.resolve()}")  # checked before it replaces
        if violations:
            tmp.unlink()
            return BackupResult(str(target), 0, _sha256(src), 0.0, counts, revision, violations)
        if target.exists():
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            os.replace(target, target.with_name(target.name + ".before-restore"))
        os.replace(tmp, target)  # the file just verified, renamed: nothing changed it in between
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        return BackupResult(
            str(target), src.stat().st_size, _sha256(src), seconds, counts, revision, violations
        )
    else:
        if _pg_has_tables(url) and not force:
            raise ConflictError(
                "the target database has tables; pass --force to replace them", param="database_url"
            )
        libpq, env = _pg_env(url)
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--dbname",
                libpq,
                str(src),
            ],
            env,
        )
    counts, revision, violations = verify_copy(url)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return BackupResult(
        make_url(normalise_url(url)).render_as_string(hide_password=True),
        src.stat().st_size,
        _sha256(src),
        seconds,
        counts,
        revision,
        violations,
    )
