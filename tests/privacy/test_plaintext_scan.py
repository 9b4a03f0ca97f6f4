"""The planted-value scan, on both backends: known C2 values (ID numbers, phones, settlement account numbers)
are written through the real HTTP paths — a merchant application (and a refused one), a biller, a bill payment
with the payer's phone, a payer's consent, a complaint by phone — with every log record captured at DEBUG; then
every text column of every table, the SQLite database file with its journal, and the captured log are scanned
for the values' plaintext: 0 hits. Controls prove the scan finds a value where one is written in the clear."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from tests.bills.helpers import account, biller_in, month_of_bills
from tests.factories import application
from zhifu import audit
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.privacy.scan import scan_files, scan_tables
from zhifu.reference import generate_credit_code, generate_resident_id

_rng = random.Random(2021)
IDS = [generate_resident_id(_rng) for _ in range(3)]
PHONES = ["13953301234", "15866427719", "18853392046", "13705330987", "17653310258"]
ACCOUNTS = ["6231000077123456", "6217000033987654"]
PLANTED = IDS + PHONES + ACCOUNTS


@pytest.fixture
def captured_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Every log record of the run, rendered as the service would write it, into a file."""
    path = tmp_path / "zhifu.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()


def _plant(platform) -> None:  # type: ignore[no-untyped-def]
    c, op = platform.client, platform.op
    # a merchant application, and one refused for its MCC carrying another person's ID and phone
    doc = application(
        legal_person_id=IDS[0],
        phone=PHONES[0],
        settle_account_no=ACCOUNTS[0],
        credit_code=generate_credit_code(_rng),
    )
    r = c.post("/v1/merchants", json=doc, headers=op)
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert c.post(f"/v1/merchants/{mid}/approve", headers=op).json()["status"] == "active"
    refused = c.post(
        "/v1/merchants", json=application(legal_person_id=IDS[1], phone=PHONES[1], mcc="0000"), headers=op
    )
    assert refused.status_code == 400
    # a biller (its legal person and settlement account), a month of bills, a bill paid with the payer's phone
    body = biller_in(
        "water", legal_person_id=IDS[2], phone=PHONES[2], settle_account_no=ACCOUNTS[1]
    ).model_dump()
    r = c.post("/v1/billers", json=body, headers=op)
    assert r.status_code == 200, r.text
    assert (
        c.post("/v1/billers/water/bills?filename=june.csv", content=month_of_bills(2), headers=op).status_code
        == 200
    )
    r = c.post(
        "/v1/bill_payments",
        json={"biller_id": "water", "account_no": account(1), "channel": "wechat", "payer_phone": PHONES[3]},
        headers=op,
    )
    assert r.status_code == 200, r.text
    assert c.post(f"/sim/payments/{r.json()['payment']['id']}/pay", json={}).json()["status"] == "succeeded"
    # a payer's consent to marketing, and a complaint taken by phone
    r = c.post(
        "/v1/consents",
        headers=op,
        json={
            "subject_type": "payer",
            "phone": PHONES[4],
            "purpose": "marketing",
            "scope": "接收沂源县消费券活动短信",
            "data_categories": ["phone"],
            "method": "sms",
            "evidence": "sms-reply-Y",
        },
    )
    assert r.status_code == 200, r.text
    r = c.post(
        "/v1/complaints?source=phone",
        headers=op,
        json={
            "phone": PHONES[0],
            "category": "refund_not_received",
            "narrative": "退款一周未到账",
            "merchant_id": mid,
        },
    )
    assert r.status_code == 200, r.text
    with platform.db.tx() as conn:
        audit.integrate(conn)  # the audit log's entries are in its tree, as zhifu serve would have them


def test_no_planted_value_is_stored_or_logged_in_plaintext(platform, captured_log: Path, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    _plant(platform)
    logging.getLogger().handlers[-1].flush()
    with db.read() as conn:
        in_tables = scan_tables(conn, PLANTED)
    assert in_tables == []
    files = [captured_log]
    if db.engine.url.get_backend_name() == "sqlite":
        main = Path(str(db.engine.url.database))
        files += [main, Path(f"{main}-wal"), Path(f"{main}-journal")]
        assert (
            sum(f.stat().st_size for f in files[1:] if f.exists()) > 100_000
        )  # the pages and the WAL were read
    assert captured_log.stat().st_size > 0  # the run did log
    # what a person can take away: the complaints export, the biller's payment file, the merchant list
    today = clock.now().astimezone(SHANGHAI).date().isoformat()
    for n, (url, params) in enumerate(
        (
            ("/v1/complaints/export", {"start": "2020-01-01", "end": today}),
            ("/v1/billers/water/payment-file", {"date": today}),
            ("/v1/merchants", {"limit": 100}),
        )
    ):
        r = platform.client.get(url, params=params, headers=platform.op)
        assert r.status_code == 200 and len(r.content) > 50, (url, r.text)
        (captured_log.parent / f"export-{n}").write_bytes(r.content)
        files.append(captured_log.parent / f"export-{n}")
    assert scan_files(files, PLANTED) == []

    # controls: the scan finds a value written in the clear, in a table and in a file
    with db.read() as conn:
        hits = scan_tables(conn, ["沂源县供水公司"])  # a biller's name is not personal and is kept as it is
    assert any(h.where == "billers.name" for h in hits)
    logging.getLogger("zhifu.test").warning("a careless line with %s", PHONES[0])
    logging.getLogger().handlers[-1].flush()
    assert scan_files([captured_log], PLANTED) == []  # the app's log scrubber wrote it masked
    with captured_log.open("a", encoding="utf-8") as fh:  # a line written around the logging system
        fh.write(f"a careless line with {PHONES[0]}\n")
    (hit,) = scan_files([captured_log], PLANTED)
    assert hit.where.startswith(str(captured_log)) and hit.value_masked == "139******34"
    gbk = captured_log.parent / "gbk.txt"
    gbk.write_bytes("付款人 张三 账号".encode("gbk") + ACCOUNTS[1].encode("gbk"))
    assert len(scan_files([gbk], PLANTED)) == 1
    with pytest.raises(ValueError):
        scan_files([gbk], ["1234"])  # too short to mean anything


def test_scan_command(platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.core.config import get_settings

    r = platform.client.post(
        "/v1/merchants", json=application(legal_person_id=IDS[0], phone=PHONES[0]), headers=platform.op
    )
    assert r.status_code == 200, r.text
    log = tmp_path / "serve.log"
    log.write_text(f"2022-06-15 INFO zhifu.api login from {PHONES[1]}\n", encoding="utf-8")
    monkeypatch.setenv("ZHIFU_DATABASE_URL", platform.db.url)
    get_settings.cache_clear()
    from sqlalchemy import text

    with platform.db.tx() as c:  # the schema marker `zhifu db upgrade` leaves, which commands look for
        marked = c.dialect.has_table(c, "alembic_version")
        if not marked:
            c.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
    try:
        runner = CliRunner()
        clean = runner.invoke(app, ["keys", "scan", IDS[0], PHONES[0]])
        assert clean.exit_code == 0 and "0 hits for 2 value(s)" in clean.output, clean.output
        dirty = runner.invoke(app, ["keys", "scan", IDS[0], PHONES[1], "--file", str(log)])
        assert dirty.exit_code == 1 and "serve.log@" in dirty.output and PHONES[1] not in dirty.output
        short = runner.invoke(app, ["keys", "scan", "123"])
        assert short.exit_code == 1 and "values:" in short.output
    finally:
        get_settings.cache_clear()
        if not marked:
            with platform.db.tx() as c:
                c.execute(text("DROP TABLE alembic_version"))
