"""Bad statement files refused whole with line and field, nothing written; the CLI and the API end to end."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from tests.rails_support import produce_statement
from tests.recon.platform_data import D, build_day, table_counts
from typer.testing import CliRunner

from zhifu.channels import get_channel
from zhifu.channels.unionpay.statement import LAYOUT, OFFSETS, RECORD_BYTES
from zhifu.cli import app, console
from zhifu.core.config import get_settings
from zhifu.merchants import create_key
from zhifu.recon import service
from zhifu.recon.formats import StatementFormatError
from zhifu.recon.models import batches
from zhifu.recon.statements import reconcile

CH = "unionpay_qr"


def _record(data: bytes, line_no: int) -> tuple[int, int]:
    start = (line_no - 1) * RECORD_BYTES
    return start, start + RECORD_BYTES - 2  # without CRLF


def _put(data: bytes, line_no: int, field: str, value: bytes) -> bytes:
    start, _ = _record(data, line_no)
    at = start + OFFSETS[field]
    return data[:at] + value + data[at + len(value) :]


def test_bad_files_are_refused_whole_and_write_nothing(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    build_day(db, fixed_clock, mid, paid=5, unpaid=0, refunds=0)
    build_day(db, fixed_clock, mid, channel="wechat", paid=2, unpaid=0, refunds=0)
    zm = produce_statement(CH, D).data
    wx = produce_statement("wechat", D).data
    assert "张记早餐".encode("gbk") in zm  # the merchant's Chinese name travels in GBK
    _, end2 = _record(zm, 2)
    _, end3 = _record(zm, 3)
    cases = [
        ("not GBK", CH, _put(zm, 2, "sub_merchant_name", b"\xff\xfe"), D, 2, "sub_merchant_name"),
        ("UTF-8 bill in GBK", "wechat", wx.decode("utf-8").encode("gbk"), D, None, None),
        ("short line", CH, zm[: end3 - 10] + zm[end3:], D, 3, {f.name for f in LAYOUT}),
        ("long line", CH, zm[:end2] + b"7" + zm[end2:], D, 2, "medium"),
        ("amount not a number", CH, _put(zm, 4, "amount", b"00000000a000"), D, 4, "amount"),
        ("unknown channel", "paypal", zm, D, None, "channel"),
        ("file of another date", CH, zm, D.replace(day=D.day + 1), 1, "trans_time"),
    ]
    before = table_counts(db)
    for name, channel, data, day, line_no, field in cases:
        with pytest.raises(StatementFormatError) as e:
            db.run(lambda c, ch=channel, d=data, dd=day: service.import_statement(c, ch, dd, d))
            pytest.fail(f"{name}: accepted")
        err = e.value
        if line_no is not None:
            assert err.line_no == line_no, name
            assert f"line {line_no}" in err.message, name
        if isinstance(field, set):
            assert err.field in field, name
        elif field is not None:
            assert err.field == field and f"field {field}" in err.message, name
        else:
            assert err.field and err.line_no, name  # the encoding error still says where
        assert table_counts(db) == before, name
    assert db.run(lambda c: service.import_statement(c, CH, D, zm))["imported"]


def _out(result) -> str:  # type: ignore[no-untyped-def]
    return " ".join(result.output.split())  # the console wraps long lines


def _cli(db, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    monkeypatch.setattr(console, "width", 200)  # tables are not cut to a narrow terminal
    get_settings.cache_clear()
    return CliRunner()


def test_cli_end_to_end(platform, fixed_clock, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, _ = platform.merchant()
    build_day(db, fixed_clock, mid, paid=8, unpaid=1, refunds=1)
    runner = _cli(db, monkeypatch)
    try:
        r = runner.invoke(
            app,
            ["sim", "inject", "--channel", CH, "--date", str(D), "--inject", "amount_mismatch=1,duplicate=1"],
        )
        assert r.exit_code == 0 and "amount_mismatch" in _out(r), r.output
        r = runner.invoke(app, ["sim", "inject", "--channel", CH, "--date", str(D), "--inject", "typo=1"])
        assert r.exit_code == 1 and "typo" in _out(r)
        f = tmp_path / "zm.txt"
        f.write_bytes(get_channel(CH).fetch_statement(D))  # the file as the operator downloads it
        bad = tmp_path / "bad.txt"
        bad.write_bytes(_put(f.read_bytes(), 2, "amount", b"0000000x0000"))
        r = runner.invoke(app, ["recon", "import", str(bad), "--channel", CH, "--date", str(D)])
        assert r.exit_code == 1 and "line 2, field amount" in _out(r)
        r = runner.invoke(app, ["recon", "import", str(f), "--channel", "paypal", "--date", str(D)])
        assert r.exit_code == 1 and "unknown channel 'paypal'" in _out(r)
        r = runner.invoke(app, ["recon", "import", str(f), "--channel", CH, "--date", "2022-13-01"])
        assert r.exit_code == 1 and "--date" in _out(r)
        with db.tx() as c:
            assert c.execute(select(batches)).first() is None
        r = runner.invoke(app, ["recon", "fetch", "--channel", CH, "--date", str(D), "--by", "usr_ops"])
        assert r.exit_code == 0 and "imported 10" in _out(r), r.output
        r = runner.invoke(app, ["recon", "import", str(f), "--channel", CH, "--date", str(D)])
        assert r.exit_code == 0 and "not imported again" in _out(r)
        r = runner.invoke(app, ["recon", "run", "--date", str(D)])
        assert r.exit_code == 0 and "amount_mismatch" in _out(r) and "duplicate" in _out(r), r.output
        r = runner.invoke(app, ["recon", "run", "--date", str(D)])
        assert "already reconciled" in _out(r)
        csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
        r = runner.invoke(
            app, ["recon", "report", "--date", str(D), "--csv", str(csv_path), "--xlsx", str(xlsx_path)]
        )
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(io.StringIO(csv_path.read_bytes().decode("utf-8-sig"))))
        rows = [
            {k.split()[-1]: v for k, v in x.items()} for x in rows
        ]  # "业务日期 business_date": by machine name
        got = {(x["side"], x["class"]): x for x in rows}
        assert got[("lines", "matched")]["count"] == "8"  # 7 payments and the refund
        assert got[("items", "amount_mismatch")]["open"] == "1"
        assert got[("lines", "duplicate")]["count"] == "1"
        wb = load_workbook(xlsx_path)
        assert wb.sheetnames == ["对账汇总 Summary", "差错 Cases"]
        kinds = sorted(r[3] for r in wb["差错 Cases"].iter_rows(min_row=2, values_only=True))
        assert kinds == ["amount_mismatch", "duplicate"]
        with db.tx() as c:
            case_ids = [x["id"] for x in service.list_cases(c, status="open")]
        for cid in case_ids:
            r = runner.invoke(
                app, ["recon", "propose", cid, "--action", "write_off_suspense", "--by", "usr_a"]
            )
            assert r.exit_code == 0, r.output
            r = runner.invoke(app, ["recon", "approve", cid, "--by", "usr_a"])
            assert r.exit_code == 1 and "second person" in _out(r)
            r = runner.invoke(app, ["recon", "approve", cid, "--by", "usr_b"])
            assert r.exit_code == 0 and "resolved" in _out(r), r.output
        r = runner.invoke(app, ["ledger", "verify"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["recon", "cases", "--status", "resolved"])
        assert r.exit_code == 0 and all(cid in r.output for cid in case_ids)
    finally:
        get_settings.cache_clear()


def test_api_batches_cases_and_reports(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    db = platform.db
    mid, mh = platform.merchant()
    build_day(db, fixed_clock, mid, paid=6, unpaid=0, refunds=0)
    produced = produce_statement(CH, D, {"missing_ours": 1})
    db.run(lambda c: service.import_statement(c, CH, D, produced.data))
    (run,) = reconcile(db, D)
    cl = platform.client
    assert cl.get("/v1/recon/batches", headers=mh).status_code == 403
    r = cl.get("/v1/recon/batches", params={"date": str(D)}, headers=platform.op)
    assert r.status_code == 200, r.text
    (b,) = r.json()["data"]
    assert (b["id"], b["channel"], b["matched"]["count"]) == (run["id"], CH, 6)
    assert b["discrepancies"]["missing_ours"]["count"] == 1 and b["cases"]["open"] == 1
    assert (
        cl.get("/v1/recon/batches", params={"date": "2022-06-16"}, headers=platform.op).json()["data"] == []
    )
    r = cl.get("/v1/recon/batches", params={"date": "someday"}, headers=platform.op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "date"
    r = cl.get(f"/v1/recon/batches/{b['id']}", params={"expand": "lines"}, headers=platform.op)
    assert [x["recon_class"] for x in r.json()["line_results"]] == ["matched"] * 6 + ["missing_ours"]
    r = cl.get("/v1/recon/batches/rcb_nope", headers=platform.op)
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"

    (case,) = cl.get("/v1/recon/cases", params={"status": "open"}, headers=platform.op).json()["data"]
    assert case["suggested_action"] == "credit_merchant" and case["merchant_id"] == mid
    r = cl.post(
        f"/v1/recon/cases/{case['id']}/propose", json={"action": "credit_merchant"}, headers=platform.op
    )
    assert r.status_code == 200 and r.json()["status"] == "proposed"
    r = cl.post(f"/v1/recon/cases/{case['id']}/approve", headers=platform.op)
    assert r.status_code == 403 and r.json()["error"]["code"] == "maker_is_checker"
    with db.tx() as c:
        _, secret = create_key(c, merchant_id=None, role="operator")
    before = cl.get("/v1/balance", headers=mh).json()["available_fen"]
    r = cl.post(
        f"/v1/recon/cases/{case['id']}/approve",
        json={"note": "slip checked"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
    balance = cl.get("/v1/balance", headers=mh).json()["available_fen"]
    missing = produced.lines[-1]
    assert balance == before + missing.amount_fen - missing.fee_fen  # the rail's record, credited
    r = cl.get("/v1/recon/report.csv", params={"date": str(D)}, headers=platform.op)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    rows = [{k.split()[-1]: v for k, v in x.items()} for x in rows]  # headings "中文 machine_name"
    line = next(x for x in rows if x["side"] == "lines" and x["class"] == "missing_ours")
    assert (line["count"], line["resolved"], line["open"]) == ("1", "1", "0")
    r = cl.get("/v1/recon/report.xlsx", params={"date": str(D)}, headers=platform.op)
    wb = load_workbook(io.BytesIO(r.content))
    assert wb["差错 Cases"]["L2"].value == "resolved"
