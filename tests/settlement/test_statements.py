"""Settlements and statements through the API and the CLI, on both backends: a merchant sees only its own,
statements hold every movement with Chinese headers and totals, bad months and merchants are clear errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.settlement.helpers import pay, refund, result_file, sh
from zhifu.core.clock import FixedClock
from zhifu.core.config import get_settings
from zhifu.settlement import service

D = dt.date(2022, 6, 14)


def _day(platform, fixed_clock: FixedClock, tmp_path: Path) -> tuple[str, dict, str]:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    other, _ = platform.merchant(legal_name="沂源县南麻另一家店")
    p = pay(platform.db, fixed_clock, mid, 12_345, sh(2022, 6, 14, 9))
    pay(platform.db, fixed_clock, mid, 10_000, sh(2022, 6, 14, 10))
    refund(platform.db, fixed_clock, mid, p, 345, sh(2022, 6, 14, 11))
    pay(platform.db, fixed_clock, other, 50_000, sh(2022, 6, 14, 10))
    fixed_clock.set(sh(2022, 6, 15, 2))
    service.run_settlement(platform.db, D, out_dir=tmp_path)
    return mid, mh, other


def test_settlements_api_scoped_to_the_merchant(platform, fixed_clock: FixedClock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mid, mh, other = _day(platform, fixed_clock, tmp_path)
    r = platform.client.get("/v1/settlements", headers=mh).json()
    assert [s["merchant_id"] for s in r["data"]] == [mid] and r["has_more"] is False
    s = r["data"][0]
    assert (s["sales_fen"], s["refund_fen"], s["fee_fen"], s["fee_returned_fen"]) == (22_345, 345, 85, 1)
    assert s["net_fen"] == s["payout_fen"] == 22_345 - 345 - 85 + 1
    one = platform.client.get(f"/v1/settlements/{s['id']}", headers=mh).json()
    assert one["payout"]["status"] == "in_transit" and one["payout"]["account"].endswith("5678")
    theirs = platform.client.get("/v1/settlements", headers=platform.op, params={"merchant_id": other}).json()
    hidden = platform.client.get(f"/v1/settlements/{theirs['data'][0]['id']}", headers=mh)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "resource_missing"
    everyone = platform.client.get(
        "/v1/settlements", headers=platform.op, params={"business_date": "2022-06-14"}
    )
    assert len(everyone.json()["data"]) == 2
    run = platform.client.get("/v1/settlement_runs/2022-06-14", headers=platform.op).json()
    assert run["payout_count"] == 2 and run["status"] == "filed"
    assert platform.client.get("/v1/settlement_runs/2022-06-14", headers=mh).status_code == 403
    early = platform.client.post(
        "/v1/settlement_runs", json={"business_date": "2022-06-15"}, headers=platform.op
    )
    assert early.status_code == 400 and early.json()["error"]["code"] == "date_not_cut_off"


def test_statements_csv_and_excel(platform, fixed_clock: FixedClock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mid, mh, _ = _day(platform, fixed_clock, tmp_path)
    service.import_result(platform.db, result_file(platform.db, "ZF20220614"), at=sh(2022, 6, 15, 10))
    r = platform.client.get("/v1/statements", params={"month": "2022-06", "format": "csv"}, headers=mh)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["业务日期", "时间", "类型"]
    kinds = [row[2] for row in rows[2:-1]]
    assert kinds == ["支付", "支付", "退款", "结算划款"]
    assert rows[2][7] == "123.45" and rows[2][8] == "0.47"  # yuan, fee 0.38 % half-up
    assert rows[-1][0] == "合计" and rows[-1][9] == "0.00"  # everything earned was paid out
    assert "已到账" in rows[-2][10]

    x = platform.client.get("/v1/statements", params={"month": "2022-06", "format": "xlsx"}, headers=mh)
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["每日结算", "交易明细"]
    days = list(wb["每日结算"].iter_rows(values_only=True))
    assert days[1][4] == "交易金额（元）" and days[2][0] == "2022-06-14"
    assert Decimal(str(days[2][12])) == Decimal("219.16") and days[-1][0] == "合计"
    detail = wb["交易明细"]
    assert detail.cell(3, 8).value == pytest.approx(123.45) and detail.cell(3, 8).number_format == "#,##0.00"

    day = platform.client.get("/v1/statements", params={"date": "2022-06-14", "format": "csv"}, headers=mh)
    assert day.status_code == 200 and len(list(csv.reader(io.StringIO(day.content.decode("utf-8-sig"))))) == 7
    for params, status, param in (
        ({"month": "2022-13"}, 400, "month"),
        ({"month": "2030-01"}, 400, "month"),
        ({"month": "2022-06", "format": "pdf"}, 400, "format"),
        ({}, 400, "month"),
    ):
        bad = platform.client.get("/v1/statements", params=params, headers=mh)
        assert bad.status_code == status and bad.json()["error"]["param"] == param, params
    nobody = platform.client.get(
        "/v1/statements", params={"month": "2022-06", "merchant_id": "mch_nobody"}, headers=platform.op
    )
    assert nobody.status_code == 404 and "mch_nobody" in nobody.json()["error"]["message"]


def test_cli_settle_import_and_statement(
    platform,
    fixed_clock: FixedClock,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from zhifu.cli import app

    mid, _ = platform.merchant()
    pay(platform.db, fixed_clock, mid, 10_000, sh(2022, 6, 14, 9))
    fixed_clock.set(sh(2022, 6, 15, 2))
    monkeypatch.setenv("ZHIFU_DATABASE_URL", platform.db.url)
    monkeypatch.setenv("ZHIFU_SETTLEMENT_DIR", str(tmp_path / "out"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["settle", "--date", "2022-06-14"])
        assert r.exit_code == 0, r.output
        assert "ZF20220614" in r.output and (tmp_path / "out" / "2022-06-14" / "ZF20220614.gbk.txt").exists()
        r = runner.invoke(app, ["settle", "run", "--date", "2022-06-14"])
        assert r.exit_code == 0 and "already settled" in r.output
        bad = runner.invoke(app, ["settle", "--date", "2022-06-15"])
        assert bad.exit_code == 1 and "not cut off" in bad.output
        result = tmp_path / "result.csv"
        result.write_bytes(result_file(platform.db, "ZF20220614"))
        r = runner.invoke(app, ["settle", "import-result", str(result)])
        assert r.exit_code == 0 and "1 paid" in r.output, r.output
        r = runner.invoke(app, ["settle", "import-result", str(result)])
        assert "already imported" in r.output
        broken = tmp_path / "broken.csv"
        broken.write_bytes(result.read_bytes().replace(b"TOTAL,1,", b"TOTAL,2,"))
        r = runner.invoke(app, ["settle", "import-result", str(broken)])
        assert r.exit_code == 1 and "line 3" in r.output
        out = tmp_path / "st.xlsx"
        r = runner.invoke(app, ["statement", mid, "--month", "2022-06", "--out", str(out)])
        assert r.exit_code == 0 and out.exists(), r.output
        r = runner.invoke(app, ["statement", "mch_nobody", "--month", "2022-06"])
        assert r.exit_code == 1 and "mch_nobody" in r.output
    finally:
        get_settings.cache_clear()
