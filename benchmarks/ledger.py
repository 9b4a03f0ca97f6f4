"""Ledger benchmark: two-leg transfers per second, one per transaction and in batches, beside the raw drivers.

    python benchmarks/ledger.py           # about six minutes: larger runs, best of three rounds
    python benchmarks/ledger.py --quick   # well within a minute

A transfer is one balanced entry of two legs between two of 1,000 accounts. Each figure stands beside
its ceiling: the bare driver (stdlib sqlite3, psycopg 3) writing the same rows — the entry, its two
postings and the balance updates — with every value prepared before the clock starts. On PostgreSQL
the closest Python peer, django-hordak, posts the same transfers in a subprocess with its own settings
module and its own temporary database; it is needed here only:

    pip install django==5.2.19 django-hordak==2.0.0

SQLite runs on a fresh file in a temporary folder; PostgreSQL on a temporary database created on the
server named by --pg-url (or ZHIFU_BENCH_PG_URL) and dropped at the end. The last line printed is the
batched SQLite figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from _common import print_peak, timed

ACCOUNTS = 1_000
BATCH = 1_000
SEED = 20_240_601
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
AT = dt.datetime(2024, 6, 1, 8, 0, tzinfo=dt.UTC)  # every row carries this time, ours and raw alike
TARGET_OF_RAW = 0.5
TARGET_OVER_HORDAK = 10.0


@dataclasses.dataclass(frozen=True)
class Sizes:
    batched: int  # transfers timed in batches of BATCH, on SQLite
    single: int  # transfers timed one per transaction, on SQLite
    pg_batched: int
    pg_single: int
    hordak_batched: int
    hordak_single: int
    rounds: int  # best of this many rounds for ours, raw and the SQLAlchemy floor


QUICK = Sizes(
    batched=40_000,
    single=5_000,
    pg_batched=30_000,
    pg_single=1_500,
    hordak_batched=3_000,
    hordak_single=600,
    rounds=1,
)
FULL = Sizes(
    batched=200_000,
    single=30_000,
    pg_batched=100_000,
    pg_single=4_000,
    hordak_batched=20_000,
    hordak_single=3_000,
    rounds=3,
)

Transfer = tuple[str, str, str, int]  # idempotency key, debit account, credit account, amount in fen


def account_codes() -> list[str]:
    return [f"bench:{i:04d}" for i in range(ACCOUNTS)]


def make_transfers(n: int, tag: str, seed: int) -> list[Transfer]:
    """`n` transfers between distinct random accounts, reproducible from the seed; keys carry the tag."""
    rng = random.Random(seed)
    codes = account_codes()
    out: list[Transfer] = []
    for i in range(n):
        a, b = rng.sample(range(ACCOUNTS), 2)
        out.append((f"{tag}:{i}", codes[a], codes[b], rng.randint(1, 500_000)))
    return out


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- ours


def _open_bench_accounts(db: Any) -> None:
    from zhifu.ledger import AccountType, open_accounts

    with db.tx() as conn:
        open_accounts(conn, [(code, AccountType.LIABILITY, "CNY", False) for code in account_codes()])


def ours_batched(db: Any, transfers: Sequence[Transfer]) -> float:
    """Seconds to post the transfers through post_entries, BATCH entries per transaction."""
    from zhifu.ledger import EntryRequest, Leg, post_entries

    requests = [EntryRequest(k, (Leg(d, "D", a), Leg(c, "C", a))) for k, d, c, a in transfers]

    def run() -> None:
        for chunk in batches(requests, BATCH):
            with db.tx() as conn:
                post_entries(conn, chunk, at=AT)

    return timed(run)


def ours_single(db: Any, transfers: Sequence[Transfer]) -> float:
    """Seconds to post the transfers through transfer(), each in its own transaction."""
    from zhifu.ledger import transfer

    def run() -> None:
        for k, d, c, a in transfers:
            with db.tx() as conn:
                transfer(conn, k, d, c, a, at=AT)

    return timed(run)


def check_book(db: Any, expected_entries: int) -> None:
    """The run left a sound book: every stored balance matches its postings, and nothing is missing."""
    from sqlalchemy import func, select

    from zhifu.ledger import verify
    from zhifu.ledger.models import entries, postings

    with db.tx() as conn:
        problems = verify(conn)
        n_entries = conn.execute(select(func.count()).select_from(entries)).scalar_one()
        n_postings = conn.execute(select(func.count()).select_from(postings)).scalar_one()
    if problems or n_entries != expected_entries or n_postings != 2 * expected_entries:
        raise SystemExit(
            f"book check failed: {n_entries} entries, {n_postings} postings, "
            f"violations {[str(p) for p in problems[:5]]}"
        )


# ---------------------------------------------------------------- raw driver rows, prepared before timing


@dataclasses.dataclass
class RawBatch:
    entries: list[tuple[Any, ...]]
    postings: list[tuple[Any, ...]]
    deltas: list[tuple[int, int, int, int, str]]  # posted dr, posted cr, pending dr, pending cr, code


def _content_hash(debit: str, credit: str, amount: int) -> str:
    canon = "|".join(sorted((f"{debit}:D:{amount}:CNY", f"{credit}:C:{amount}:CNY")))
    return hashlib.sha256(canon.encode()).hexdigest()


def raw_rows(transfers: Sequence[Transfer], created_at: Any, per: int) -> list[RawBatch]:
    """The rows the ledger writes for these transfers, grouped `per` transfers to a transaction."""
    rng = random.Random(f"{SEED}:{transfers[0][0] if transfers else ''}")  # distinct ids per transfer set
    out = []
    for chunk in batches(transfers, per):
        entry_rows, posting_rows, deltas = [], [], {}
        for k, d, c, a in chunk:
            eid = f"je_{rng.getrandbits(104):026X}"
            entry_rows.append((eid, k, _content_hash(d, c, a), "", None, created_at))
            posting_rows.append((eid, d, "D", a, "CNY", created_at))
            posting_rows.append((eid, c, "C", a, "CNY", created_at))
            deltas.setdefault(d, [0, 0])[0] += a
            deltas.setdefault(c, [0, 0])[1] += a
        out.append(
            RawBatch(
                entry_rows, posting_rows, [(dr, cr, 0, 0, code) for code, (dr, cr) in sorted(deltas.items())]
            )
        )
    return out


ENTRY_COLUMNS = "id, idempotency_key, content_hash, description, hold_id, created_at"
POSTING_COLUMNS = "entry_id, account_code, side, amount_fen, currency, created_at"
BALANCE_SET = (
    "posted_dr_fen = posted_dr_fen + {p}, posted_cr_fen = posted_cr_fen + {p}, "
    "pending_dr_fen = pending_dr_fen + {p}, pending_cr_fen = pending_cr_fen + {p}"
)


def _raw_sql(mark: str) -> tuple[str, str, str]:
    return (
        f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) VALUES ({', '.join([mark] * 6)})",
        f"INSERT INTO ledger_postings ({POSTING_COLUMNS}) VALUES ({', '.join([mark] * 6)})",
        f"UPDATE ledger_accounts SET {BALANCE_SET.format(p=mark)} WHERE code = {mark}",
    )


def raw_sqlite(path: Path, work: list[RawBatch]) -> float:
    """Seconds for stdlib sqlite3 to write the rows, one transaction per RawBatch, as the engine sets it up."""
    ins_entry, ins_posting, upd = _raw_sql("?")
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")

    def run() -> None:
        for b in work:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(ins_entry, b.entries)
            conn.executemany(ins_posting, b.postings)
            conn.executemany(upd, b.deltas)
            conn.execute("COMMIT")

    try:
        return timed(run)
    finally:
        conn.close()


def raw_postgres(url: str, work: list[RawBatch]) -> float:
    """Seconds for psycopg 3 to write the rows, one transaction per RawBatch."""
    import psycopg

    ins_entry, ins_posting, upd = _raw_sql("%s")
    with psycopg.connect(url) as conn:

        def run() -> None:
            with conn.cursor() as cur:
                for b in work:
                    if len(b.entries) == 1:
                        cur.execute(ins_entry, b.entries[0])
                    else:
                        cur.executemany(ins_entry, b.entries)
                    cur.executemany(ins_posting, b.postings)
                    cur.executemany(upd, b.deltas)
                    conn.commit()

        return timed(run)


def sqlalchemy_floor(db: Any, work: list[RawBatch]) -> float:
    """Seconds for the ledger's own statements with prepared values, through Database.tx and exec_driver_sql.

    Per transaction: the idempotency look-up, the account read (locked on PostgreSQL), the two inserts and
    the balance updates: what posting costs through SQLAlchemy before any of the ledger's own Python runs.
    """
    pg = db.dialect == "postgresql"
    mark = "%s" if pg else "?"
    ins_entry, ins_posting, upd = _raw_sql(mark)

    def marks(n: int) -> str:
        return ", ".join([mark] * n)

    def run() -> None:
        for b in work:
            keys = tuple(e[1] for e in b.entries)
            codes = tuple(d[4] for d in b.deltas)
            with db.tx() as conn:
                conn.exec_driver_sql(
                    "SELECT idempotency_key, id, content_hash FROM ledger_entries "
                    f"WHERE idempotency_key IN ({marks(len(keys))})",
                    keys,
                ).all()
                conn.exec_driver_sql(
                    "SELECT code, type, currency, no_overdraft, status, posted_dr_fen, "
                    "posted_cr_fen, pending_dr_fen, pending_cr_fen FROM ledger_accounts "
                    f"WHERE code IN ({marks(len(codes))}) ORDER BY code" + (" FOR UPDATE" if pg else ""),
                    codes,
                ).all()
                conn.exec_driver_sql(ins_entry, b.entries)
                conn.exec_driver_sql(ins_posting, b.postings)
                conn.exec_driver_sql(upd, b.deltas)

    return timed(run)


# ---------------------------------------------------------------- the two stores


def _sqlite_timestamp(at: dt.datetime) -> str:
    """How the engine stores a UTC time in SQLite, so raw rows match ours."""
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class SqliteStore:
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    @contextmanager
    def fresh(self) -> Iterator[tuple[Any, Path]]:
        """A new database file with the schema and the accounts; yields (Database, path)."""
        from zhifu.db import Database
        from zhifu.db.schema import metadata

        self.count += 1
        path = self.folder / f"ledger-{self.count}.db"
        db = Database(f"sqlite:///{path}")
        metadata.create_all(db.engine)
        _open_bench_accounts(db)
        try:
            yield db, path
        finally:
            db.dispose()

    def raw(self, where: Path, work: list[RawBatch]) -> float:
        return raw_sqlite(where, work)

    def created_at(self) -> Any:
        return _sqlite_timestamp(AT)


class PostgresStore:
    name = "pg"

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def fresh(self) -> Iterator[tuple[Any, str]]:
        """Empty ledger tables with the accounts, checkpointed and analysed; yields (Database, url)."""
        import psycopg

        from zhifu.db import Database

        db = Database(self.url)
        with db.tx() as conn:
            conn.exec_driver_sql(
                "TRUNCATE ledger_postings, ledger_entries, ledger_holds, ledger_accounts "
                "RESTART IDENTITY CASCADE"
            )
        _open_bench_accounts(db)
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute("VACUUM ANALYZE")
            admin.execute("CHECKPOINT")
        try:
            yield db, self.url
        finally:
            db.dispose()

    def raw(self, where: str, work: list[RawBatch]) -> float:
        return raw_postgres(where, work)

    def created_at(self) -> Any:
        return AT


@contextmanager
def temporary_pg_database(admin_url: str, label: str) -> Iterator[str]:
    """Create an empty database beside `admin_url`'s and drop it afterwards; yields its URL."""
    import psycopg

    name = f"zhifu_bench_{label}_{secrets.token_hex(4)}"
    base, _, _ = admin_url.rpartition("/")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- measuring one store


@dataclasses.dataclass
class Figures:
    ours: float
    raw: float
    floor: float  # the same statements through SQLAlchemy, values prepared (sqlalchemy_floor)


def measure(store: SqliteStore | PostgresStore, mode: str, n: int, rounds: int) -> Figures:
    """Best-of-rounds rates for ours and the raw driver, each round on fresh tables, after a warm-up."""
    per = BATCH if mode == "batched" else 1
    warm = BATCH if mode == "batched" else 200
    post: Callable[[Any, Sequence[Transfer]], float] = ours_batched if mode == "batched" else ours_single
    ours: list[float] = []
    raw: list[float] = []
    floor: list[float] = []
    for r in range(max(1, rounds)):
        seed = SEED + r
        warm_up = make_transfers(warm, f"warm-{mode}-{r}", seed + 1000)
        timed_part = make_transfers(n, f"{mode}-{r}", seed)
        with store.fresh() as (db, _):
            post(db, warm_up)
            ours.append(n / post(db, timed_part))
            check_book(db, warm + n)
        work_warm = raw_rows(warm_up, store.created_at(), per)
        work = raw_rows(timed_part, store.created_at(), per)
        with store.fresh() as (db, where):
            store.raw(where, work_warm)
            raw.append(n / store.raw(where, work))
            check_book(db, warm + n)
        with store.fresh() as (db, _):
            sqlalchemy_floor(db, work_warm)
            floor.append(n / sqlalchemy_floor(db, work))
            check_book(db, warm + n)
    return Figures(max(ours), max(raw), max(floor))


# ---------------------------------------------------------------- django-hordak, in its own process


HORDAK_SETTINGS = """\
SECRET_KEY = "benchmark-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "mptt", "djmoney", "hordak"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": {name!r}, "USER": {user!r},
                         "HOST": {host!r}, "PORT": {port!r}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_CURRENCY = "CNY"
HORDAK_INTERNAL_CURRENCY = "CNY"
CURRENCIES = ["CNY"]
"""


def hordak_versions() -> tuple[str, str] | str:
    """(django, django-hordak) versions, or why they cannot be used."""
    try:
        return importlib_metadata.version("django"), importlib_metadata.version("django-hordak")
    except importlib_metadata.PackageNotFoundError as exc:
        return f"{exc.name} is not installed (pip install django==5.2.19 django-hordak==2.0.0)"


def run_hordak_child(url: str, sizes: Sizes) -> dict[str, Any]:
    """Runs in the subprocess: set Django up on `url`, migrate, open accounts, time the transfers.

    Linux starts a child's ru_maxrss at its parent's, so the parent runs this before it grows.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    folder = Path(tempfile.mkdtemp(prefix="zhifu-hordak-"))
    (folder / "hordak_bench_settings.py").write_text(
        HORDAK_SETTINGS.format(
            name=parts.path.lstrip("/"),
            user=parts.username or "",
            host=parts.hostname or "",
            port=str(parts.port or 5432),
        )
    )
    sys.path.insert(0, str(folder))
    os.environ["DJANGO_SETTINGS_MODULE"] = "hordak_bench_settings"

    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import transaction
    from hordak.models import Account, Leg, Transaction
    from moneyed import Money

    call_command("migrate", verbosity=0)
    for code in account_codes():
        Account.objects.create(name=code, type="LI", currencies=["CNY"])
    by_name = {a.name: a for a in Account.objects.all()}

    def money(fen: int) -> Money:
        return Money(Decimal(fen).scaleb(-2), "CNY")

    def via_transfer_to(transfers: Sequence[Transfer], per: int) -> float:
        # transfer_to credits self and debits the target: the credited account is self.
        def run() -> None:
            for chunk in batches(transfers, per):
                with transaction.atomic():
                    for k, d, c, a in chunk:
                        by_name[c].transfer_to(by_name[d], money(a), description=k)

        return timed(run)

    def via_bulk_create(transfers: Sequence[Transfer]) -> float:
        def run() -> None:
            for chunk in batches(transfers, BATCH):
                with transaction.atomic():
                    txs = Transaction.objects.bulk_create(
                        [Transaction(description=k) for k, _, _, _ in chunk]
                    )
                    legs = []
                    for tx, (_, d, c, a) in zip(txs, chunk, strict=True):
                        legs.append(Leg(transaction=tx, account=by_name[c], credit=money(a)))
                        legs.append(Leg(transaction=tx, account=by_name[d], debit=money(a)))
                    Leg.objects.bulk_create(legs)

        return timed(run)

    out: dict[str, Any] = {}
    via_transfer_to(make_transfers(200, "hordak-warm", SEED + 7), BATCH)
    n = sizes.hordak_batched
    out["batched_transfer_to"] = n / via_transfer_to(make_transfers(n, "hordak-batched", SEED), BATCH)
    out["batched_bulk_create"] = n / via_bulk_create(make_transfers(n, "hordak-bulk", SEED + 1))
    n = sizes.hordak_single
    out["single_transfer_to"] = n / via_transfer_to(make_transfers(n, "hordak-single", SEED + 2), 1)
    legs = Leg.objects.count()
    expected = 2 * (200 + 2 * sizes.hordak_batched + sizes.hordak_single)
    if legs != expected:
        raise SystemExit(f"hordak wrote {legs} legs, expected {expected}")
    Account.validate_accounting_equation()
    from _common import peak_rss_mb

    out["peak_rss_mb"] = peak_rss_mb()
    return out


def measure_hordak(admin_url: str, quick: bool) -> dict[str, Any] | str:
    """Rates from django-hordak in a subprocess, or the reason there are none."""
    versions = hordak_versions()
    if isinstance(versions, str):
        return versions
    try:
        with temporary_pg_database(admin_url, "hordak") as url:
            cmd = [sys.executable, __file__, "--hordak-child", url] + (["--quick"] if quick else [])
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except Exception as exc:  # the peer is optional: report why it did not run
        return f"could not run: {type(exc).__name__}: {exc}"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the django-hordak run failed: {tail}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------- report


def verdict(ratio: float, target: float) -> str:
    return f"target ≥ {target:g}: {'met' if ratio >= target else 'MISSED'}"


def report_store(label: str, driver: str, figures: dict[str, Figures]) -> None:
    for mode in ("single", "batched"):
        f = figures[mode]
        what = "one transfer per transaction" if mode == "single" else f"batches of {BATCH:,} per transaction"
        ratio = f.ours / f.raw
        print(f"{label}, {what}:")
        print(f"  zhifu                          {f.ours:9,.0f} transfers/s")
        print(f"  raw {driver:26s} {f.raw:9,.0f} transfers/s  (the ceiling: same rows, values prepared)")
        print(
            f"  same SQL through SQLAlchemy    {f.floor:9,.0f} transfers/s  (plus the two reads; values prepared)"
        )
        print(
            f"  zhifu ÷ raw {ratio:4.2f} ({verdict(ratio, TARGET_OF_RAW)}); "
            f"zhifu ÷ SQLAlchemy floor {f.ours / f.floor:4.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, one round, within a minute")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("ZHIFU_BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL database to connect to; the benchmark creates and drops its own beside it",
    )
    parser.add_argument("--hordak-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.hordak_child:
        print(json.dumps(run_hordak_child(args.hordak_child, sizes)))
        return

    import psycopg
    import sqlalchemy

    print(
        f"ledger benchmark ({'quick' if args.quick else 'full'}): {ACCOUNTS:,} accounts, seed {SEED}, "
        f"best of {sizes.rounds} round(s); Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {sqlalchemy.__version__}, psycopg {psycopg.__version__}"
    )
    print(
        f"transfers timed: SQLite {sizes.batched:,} batched, {sizes.single:,} single; "
        f"PostgreSQL {sizes.pg_batched:,} batched, {sizes.pg_single:,} single; django-hordak "
        f"{sizes.hordak_batched:,} batched, {sizes.hordak_single:,} single"
    )

    hordak = measure_hordak(
        args.pg_url, args.quick
    )  # first, while this process is small (see run_hordak_child)
    with tempfile.TemporaryDirectory(prefix="zhifu-ledger-bench-") as tmp:
        store = SqliteStore(Path(tmp))
        sqlite_figures = {
            "single": measure(store, "single", sizes.single, sizes.rounds),
            "batched": measure(store, "batched", sizes.batched, sizes.rounds),
        }

    pg_figures: dict[str, Figures] | str
    server = "?"
    try:
        with temporary_pg_database(args.pg_url, "ledger") as url:
            from zhifu.db import Database
            from zhifu.db.schema import metadata

            setup = Database(url)
            metadata.create_all(setup.engine)
            with setup.tx() as conn:
                server = str(conn.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
            setup.dispose()
            pg = PostgresStore(url)
            pg_figures = {
                "single": measure(pg, "single", sizes.pg_single, sizes.rounds),
                "batched": measure(pg, "batched", sizes.pg_batched, sizes.rounds),
            }
    except psycopg.OperationalError as exc:
        pg_figures = f"PostgreSQL unavailable at {args.pg_url}: {str(exc).strip().splitlines()[0]}"

    print()
    report_store("sqlite", "sqlite3", sqlite_figures)
    if isinstance(pg_figures, str):
        print(f"pg: no figures — {pg_figures}")
    else:
        report_store(f"pg {server}", "psycopg", pg_figures)
    if isinstance(hordak, str):
        print(f"django-hordak: no figures — {hordak}")
    elif not isinstance(pg_figures, str):
        django_v, hordak_v = hordak_versions()  # type: ignore[misc]
        print(
            f"django-hordak {hordak_v} (Django {django_v}) on pg {server}, in its own process and temporary "
            f"database (peak {hordak['peak_rss_mb']:.0f} MB):"
        )
        print(
            f"  batches of {BATCH:,} per transaction, Account.transfer_to "
            f"{hordak['batched_transfer_to']:9,.0f} transfers/s"
        )
        print(
            f"  batches of {BATCH:,} per transaction, bulk_create     "
            f"{hordak['batched_bulk_create']:9,.0f} transfers/s  (Transaction + Leg rows without Leg.save)"
        )
        print(
            f"  one transfer per transaction, Account.transfer_to "
            f"{hordak['single_transfer_to']:9,.0f} transfers/s"
        )
        over_b = pg_figures["batched"].ours / hordak["batched_transfer_to"]
        over_bulk = pg_figures["batched"].ours / hordak["batched_bulk_create"]
        over_s = pg_figures["single"].ours / hordak["single_transfer_to"]
        print(
            f"  pg batched zhifu ÷ hordak transfer_to {over_b:5.1f}x ({verdict(over_b, TARGET_OVER_HORDAK)}); "
            f"÷ hordak bulk_create {over_bulk:4.1f}x"
        )
        print(f"  pg single  zhifu ÷ hordak transfer_to {over_s:5.1f}x")
    print_peak("this process")
    print(f"sqlite batched: {sqlite_figures['batched'].ours:.0f} transfers/s")


if __name__ == "__main__":
    main()
