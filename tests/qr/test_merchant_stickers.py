"""`zhifu qr sticker MERCHANT_ID`, `zhifu qr sheet` and `zhifu code …` against a database, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.codes.conftest import make_merchant
from zhifu.channels import channel_for_auth_code
from zhifu.cli import app
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.qr import decode

runner = CliRunner()


@pytest.fixture
def cli_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test database as the one the commands use."""
    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def _pages(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")


def test_sticker_of_a_merchant_uses_its_static_code(cli_db: Database, tmp_path: Path) -> None:
    mid = make_merchant(cli_db)
    out = tmp_path / "s.svg"
    r = runner.invoke(app, ["qr", "sticker", mid, "--format", "svg", "--out", str(out)])
    assert r.exit_code == 1 and f"zhifu code issue {mid}" in r.output and not out.exists()
    r = runner.invoke(app, ["code", "issue", mid])
    assert r.exit_code == 0, r.output
    code = json.loads(r.output)
    assert code["kind"] == "static" and code["url"].endswith(f"/c/{code['id']}")
    r = runner.invoke(app, ["qr", "sticker", mid, "--format", "svg", "--out", str(out)])
    assert r.exit_code == 0, r.output
    svg = out.read_text(encoding="utf-8")
    assert "张记早餐" in svg and mid in svg
    for fmt, magic in (("pdf", b"%PDF-"), ("png", b"\x89PNG")):
        path = tmp_path / f"s.{fmt}"
        r = runner.invoke(
            app, ["qr", "sticker", mid, "--format", fmt, "--out", str(path), "--payload", "emv"]
        )
        assert r.exit_code == 0, r.output
        assert path.read_bytes().startswith(magic)
    r = runner.invoke(app, ["qr", "sticker", mid, "--format", "gif", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "pdf, png, svg" in r.output
    r = runner.invoke(app, ["qr", "sticker", "mch_nobody", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "mch_nobody" in r.output
    # the EMV alternative carries the same code
    assert decode(code["emv_payload"]).merchant_name == "张记早餐"


def test_sheet_for_field_staff(cli_db: Database, tmp_path: Path) -> None:
    with_code = [make_merchant(cli_db, phone=f"1390013900{n}") for n in range(3)]
    without = make_merchant(cli_db, phone="13900139009")
    for mid in with_code:
        assert runner.invoke(app, ["code", "issue", mid]).exit_code == 0
    out = tmp_path / "sheet.pdf"
    r = runner.invoke(app, ["qr", "sheet", *with_code, without, "--out", str(out)])
    assert r.exit_code == 1 and without in r.output and not out.exists()
    r = runner.invoke(app, ["qr", "sheet", "--skip-missing", "--out", str(out)])
    assert r.exit_code == 0 and "(3 stickers)" in r.output, r.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and _pages(pdf) == 1
    r = runner.invoke(app, ["qr", "sheet", "--town", "370323999", "--skip-missing", "--out", str(out)])
    assert r.exit_code == 1 and "at least one sticker" in r.output


def test_code_commands(cli_db: Database) -> None:
    mid = make_merchant(cli_db)
    r = runner.invoke(app, ["code", "dynamic", mid, "--amount", "23.72", "--expires-in-s", "600"])
    assert r.exit_code == 0, r.output
    dyn = json.loads(r.output)
    assert (dyn["kind"], dyn["amount_fen"], decode(dyn["emv_payload"]).amount_fen) == ("dynamic", 2372, 2372)
    for bad in ("0", "1.234", "-5"):
        r = runner.invoke(app, ["code", "dynamic", mid, "--amount", bad])
        assert r.exit_code == 1 and "amount" in r.output, bad
    r = runner.invoke(app, ["code", "revoke", dyn["id"], "--reason", "customer left"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "revoked"
    r = runner.invoke(app, ["code", "list", mid])
    assert r.output.split("\t")[:3] == [dyn["id"], "dynamic", "revoked"]


@pytest.mark.parametrize("channel", ["unionpay_qr", "wechat", "alipay"])
def test_paycode_command(channel: str) -> None:
    r = runner.invoke(app, ["code", "paycode", "--channel", channel, "--seed", "7"])
    assert r.exit_code == 0
    code = r.output.strip()
    assert channel_for_auth_code(code) == channel
    assert runner.invoke(app, ["code", "paycode", "--channel", channel, "--seed", "7"]).output.strip() == code
    if channel == "unionpay_qr":
        assert len(code) == 19 and code.startswith("62")


def test_paycode_command_refuses_unknown_channel_and_outcome() -> None:
    r = runner.invoke(app, ["code", "paycode", "--channel", "visa"])
    assert r.exit_code == 1 and "--channel" in r.output
    r = runner.invoke(app, ["code", "paycode", "--outcome", "maybe"])
    assert r.exit_code == 1 and "--outcome" in r.output
