"""The `qr` sub-commands driven like a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.qr.samples import EMVCO_CN
from zhifu.core.errors import InvalidRequest
from zhifu.qr import decode
from zhifu.qr.cli import app, write_sticker
from zhifu.qr.sticker import StickerInfo

runner = CliRunner()


def test_decode_prints_tags_as_json() -> None:
    result = runner.invoke(app, ["decode", EMVCO_CN])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["tag"] for t in data["tags"]][:3] == ["00", "01", "29"]
    language = next(t for t in data["tags"] if t["tag"] == "64")
    assert [c["value"] for c in language["children"]] == ["ZH", "最佳运输", "北京"]
    assert data["fields"]["amount_fen"] == 2372
    assert data["fields"]["initiation"] == "dynamic"


def test_decode_error_exits_1_with_tag_and_offset() -> None:
    result = runner.invoke(app, ["decode", EMVCO_CN[:-1] + "B"])
    assert result.exit_code == 1
    assert "tag 63" in result.output and "offset 240" in result.output


def test_encode_prints_a_payload_that_decodes() -> None:
    result = runner.invoke(
        app,
        [
            "encode", "--mcc", "5812", "--name", "LAO ZHANG", "--city", "YIYUAN",
            "--account", "15=6229880012345678",
            "--template", "26=A000000333010101", "--field", "26.01=mch_01ABC",
            "--amount", "12.50", "--dynamic", "--store-label", "南麻店",
            "--language", "ZH", "--alt-name", "老张早餐", "--alt-city", "沂源",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    qr = decode(result.output.strip())
    assert qr.amount_fen == 1250 and qr.is_dynamic
    assert qr.language is not None and qr.language.name == "老张早餐"
    template = qr.account("26")
    assert template is not None and template.gui == "A000000333010101"
    assert qr.additional_data is not None and qr.additional_data.store_label == "南麻店"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--amount", "1.234"], "tag 54"),
        (["--name", "N" * 26], "tag 59"),
        (["--mcc", "58"], "tag 52"),
    ],
)
def test_encode_errors_exit_1(args: list[str], needle: str) -> None:
    base = {"--mcc": "5812", "--name": "LAO ZHANG", "--city": "YIYUAN", "--account": "15=6229"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = runner.invoke(app, ["encode", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 1
    assert needle in result.output


def test_sticker_file_command_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    result = runner.invoke(
        app,
        ["sticker-file", "--short-name", "老张早餐", "--merchant-id", "mch_1", "--url", "https://pay.example.cn/c/1",
         "--format", "png", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF-"), ("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_write_sticker(tmp_path: Path, fmt: str, magic: bytes) -> None:
    info = StickerInfo(short_name="老张早餐", merchant_id="mch_1", code_url="https://pay.example.cn/c/1")
    out = write_sticker(info, fmt, tmp_path / f"s.{fmt}")
    assert out.read_bytes().startswith(magic)


def test_write_sticker_rejects_unknown_format(tmp_path: Path) -> None:
    info = StickerInfo(short_name="老张早餐", merchant_id="mch_1", code_url="https://pay.example.cn/c/1")
    with pytest.raises(InvalidRequest):
        write_sticker(info, "gif", tmp_path / "s.gif")
    assert not (tmp_path / "s.gif").exists()
