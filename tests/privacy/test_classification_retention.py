"""Every stored column is classified C1/C2 or not personal (none C3), every table has a retention class, C2
values are stored as ciphertext or masks, and `zhifu privacy purge` deletes planted old rows past their class —
audited, holding back a day settlement has not paid — on both backends; --dry-run changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from tests.factories import application
from tests.settlement.helpers import merchant, pay, sh
from zhifu import audit
from zhifu.db.meta import metadata
from zhifu.privacy import classification, retention
from zhifu.settlement import service as settlement

CIPHERTEXT = re.compile(r"^(k\d+|s4g1):[A-Za-z0-9+/=]+$")


def test_every_column_is_classified_and_none_is_c3() -> None:
    assert classification.problems() == []
    reg = classification.registry()
    assert len(reg) == sum(len(t.columns) for t in metadata.tables.values())
    assert {f.klass for f in reg.values()} <= {"N", "C1", "C2"}
    assert reg[("merchants", "legal_person_id_enc")].treatment == "encrypted"
    assert reg[("merchants", "phone_masked")].klass == "C2"


def test_a_new_column_without_a_row_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import Column, String

    table = metadata.tables["consents"]
    col = Column("payer_mobile", String(20))
    table.append_column(col)
    try:
        (problem,) = classification.problems()
        assert problem.startswith("consents.payer_mobile: not classified in privacy/fields.csv")
        assert classification.missing_rows() == [["consents", "payer_mobile", "N", "plain", ""]]
    finally:
        table._columns.remove(col)  # type: ignore[attr-defined]
    assert classification.problems() == []


def test_every_table_has_a_retention_class() -> None:
    missing = sorted(t for t in metadata.tables if retention.class_of(t) is None)
    assert missing == []
    assert {retention.class_of(t) for t in metadata.tables} <= set(retention.CLASSES)
    assert retention.class_of("payments") == "transaction" and retention.class_of("audit_log") == "audit"


def test_c2_values_are_stored_encrypted_or_masked(platform) -> None:  # type: ignore[no-untyped-def]
    r = platform.client.post(
        "/v1/merchants",
        json=application(phone="13953301234", settle_account_no="6231000077123456"),
        headers=platform.op,
    )
    assert r.status_code == 200, r.text
    seen = 0
    with platform.db.read() as c:
        for f in classification.c2_columns():
            col = metadata.tables[f.table].c[f.column]
            for value in c.execute(select(col).where(col.is_not(None)).limit(50)).scalars():
                seen += 1
                if f.treatment == "encrypted":
                    assert CIPHERTEXT.match(value), f"{f.table}.{f.column} holds plaintext"
                elif f.treatment == "masked":
                    assert "*" in value, f"{f.table}.{f.column} is not masked"
    assert seen >= 8  # the merchant's four encrypted and four masked values at least


def _count(db, table: str) -> int:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return c.execute(select(func.count()).select_from(metadata.tables[table])).scalar_one()


def test_purge_deletes_old_rows_holds_unsettled_ones_and_is_audited(
    platform, fixed_clock, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid = merchant(db, 1, at=sh(2020, 12, 1))
    settled = pay(db, fixed_clock, mid, 1_000, sh(2021, 1, 4, 10))
    unsettled = pay(db, fixed_clock, mid, 2_000, sh(2021, 1, 6, 10))
    recent = pay(db, fixed_clock, mid, 3_000, sh(2026, 6, 1, 10))
    fixed_clock.set(sh(2021, 1, 5, 2))
    settlement.run_settlement(db, dt.date(2021, 1, 4), out_dir=tmp_path)
    as_of = sh(2026, 6, 30)
    old_fail = as_of - dt.timedelta(days=40)
    with db.tx() as c:
        c.execute(
            insert(metadata.tables["console_login_failures"]),
            [
                {"username": "someone", "ip": "10.0.0.1", "at": old_fail},
                {"username": "x", "ip": "10.0.0.2", "at": as_of},
            ],
        )
    with db.read() as c:
        needed = settlement.last_settled_date(c) + dt.timedelta(days=1)
        lines = {x.table: x for x in retention.plan(c, as_of=as_of, needed_from=needed)}
    assert (lines["payments"].due, lines["payments"].held) == (2, 1)
    assert {t for t, x in lines.items() if x.klass == "transaction"} >= {
        "refunds",
        "cashier_payments",
        "transit_taps",
    }
    assert lines["console_login_failures"].due == 1
    assert _count(db, "payments") == 3  # the plan changes nothing

    with audit.acting("ops-retention", "operator"):
        out = {x.table: x for x in retention.purge(db, as_of=as_of, needed_from=needed)}
    assert out["payments"].purged == 1 and out["console_login_failures"].purged == 1
    with db.read() as c:
        left = set(c.execute(select(metadata.tables["payments"].c.id)).scalars())
        fails = list(c.execute(select(metadata.tables["console_login_failures"].c.username)).scalars())
    assert left == {unsettled, recent} and settled not in left
    assert fails == ["x"]
    with db.tx() as c:
        audit.integrate(c)
    with db.read() as c:
        entries = {e["object_id"]: e for e in audit.list_entries(c, action="privacy.purged")["data"]}
    assert entries["payments"]["details"]["rows"] == 1 and entries["payments"]["details"]["held"] == 1
    assert entries["payments"]["actor"] == "ops-retention" and entries["payments"]["role"] == "operator"
    assert entries["console_login_failures"]["details"]["class"] == "session"
    # a second run finds nothing new to delete and leaves the held day alone
    again = {x.table: x for x in retention.purge(db, as_of=as_of, needed_from=needed)}
    assert again["payments"].purged == 0 and again["payments"].held == 1


def test_purge_command_dry_run_and_apply(platform, fixed_clock, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    db = platform.db
    mid = merchant(db, 2, at=sh(2020, 12, 1))
    pay(db, fixed_clock, mid, 1_000, sh(2021, 1, 4, 10))  # never settled: held back
    with db.tx() as c:
        c.execute(
            insert(metadata.tables["console_login_failures"]),
            [{"username": "someone", "ip": "10.0.0.1", "at": sh(2021, 1, 4)}],
        )
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    with db.tx() as c:
        marked = c.dialect.has_table(c, "alembic_version")
        if not marked:
            c.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
    try:
        runner = CliRunner()
        dry = runner.invoke(app, ["privacy", "purge", "--as-of", "2027-01-10"])
        assert dry.exit_code == 0, dry.output
        assert "dry run" in dry.output and "held back" in dry.output
        assert _count(db, "payments") == 1 and _count(db, "console_login_failures") == 1
        bad = runner.invoke(app, ["privacy", "purge", "--as-of", "2027-13-01"])
        assert bad.exit_code == 1 and "--as-of" in bad.output
        done = runner.invoke(app, ["privacy", "purge", "--apply", "--as-of", "2027-01-10"])
        assert done.exit_code == 0, done.output
        assert "purged 1 row(s)" in done.output
        assert _count(db, "payments") == 1 and _count(db, "console_login_failures") == 0
    finally:
        get_settings.cache_clear()
        if not marked:
            with db.tx() as c:
                c.execute(text("DROP TABLE alembic_version"))
