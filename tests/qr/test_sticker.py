"""Stickers render in SVG, PNG and PDF with Chinese text from the bundled font, and the code scans back."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
import segno
from PIL import Image, ImageDraw, ImageFont

from zhifu.assets.fonts import cjk_font_licence_path, cjk_font_path
from zhifu.core.errors import InvalidRequest
from zhifu.qr.sticker import StickerInfo, render_pdf, render_png, render_sheet_pdf, render_svg
from zhifu.qr.sticker._font import has_glyph

URL = "https://pay.example.cn/c/mch_01HZX8K2M3N4P5Q6R7S8T9V0W1"


def _info(name: str = "南麻老张早餐铺", merchant_id: str = "mch_01HZX8K2M3N4P5Q6R7S8T9V0W1") -> StickerInfo:
    return StickerInfo(
        short_name=name,
        merchant_id=merchant_id,
        code_url=URL,
        methods=["云闪付", "银联", "微信", "支付宝", "数字人民币"],
    )


def test_font_is_bundled_small_enough_with_its_licence() -> None:
    path = cjk_font_path()
    assert path.is_file() and path.suffix == ".otf"
    assert path.stat().st_size < 20 * 1024 * 1024
    assert "SIL Open Font License" in cjk_font_licence_path().read_text(encoding="utf-8")


def test_font_covers_the_sticker_text() -> None:
    for text in (
        "沂源县智付普惠工程",
        "一码通付扫码付款支持以下方式商户编号",
        "云闪付银联微信支付宝数字人民币",
        "鲁村镇燕崖镇石桥镇",
    ):
        assert all(has_glyph(ch) for ch in text), text
    assert not has_glyph("\U000f0000")  # a private-use code point: the check can say no


def test_chinese_glyph_is_not_the_missing_glyph_box() -> None:
    font = ImageFont.truetype(str(cjk_font_path()), 64)

    def ink(text: str) -> bytes:
        image = Image.new("L", (80, 80), 0)
        ImageDraw.Draw(image).text((8, 70), text, font=font, fill=255, anchor="ls")
        return image.tobytes()

    missing = ink("\U000f0000")
    assert ink("沂") != missing and ink("付") != missing and ink("沂") != ink("付")


def test_svg_is_well_formed_and_names_the_shop() -> None:
    svg = render_svg(_info())
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag.endswith("svg") and root.attrib["viewBox"] == "0 0 100 150"
    assert "南麻老张早餐铺" in svg and "mch_01HZX8K2M3N4P5Q6R7S8T9V0W1" in svg
    assert "沂源县智付普惠工程" in svg
    glyphs = [
        el for el in root.iter() if el.tag.endswith("path") and "scale(0.0" in el.attrib.get("transform", "")
    ]
    assert len(glyphs) > 40  # text is drawn as outlines, not left to the viewer's fonts


def test_svg_escapes_markup_in_names() -> None:
    svg = render_svg(_info(name="A&B<店>"))
    ET.fromstring(svg.encode("utf-8"))
    assert "A&amp;B&lt;店&gt;" in svg


def test_png_is_valid_and_its_code_matches_the_url() -> None:
    data = render_png(_info(), dpi=300)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (1181, 1772)
    assert 10_000 < len(data) < 2_000_000
    _assert_code_in_image(image.convert("L"), URL)


def _assert_code_in_image(image: Image.Image, data: str) -> None:
    """Sample each module's centre in the QR panel and compare with segno's matrix for `data`."""
    from zhifu.qr.sticker._layout import Code, sticker_shapes

    code = next(s for s in sticker_shapes(_info()) if isinstance(s, Code))
    matrix = segno.make_qr(data, error="m", boost_error=True).matrix
    px = image.size[0] / 100
    module = code.size / code.modules
    wrong = 0
    for row, line in enumerate(matrix):
        for col, dark in enumerate(line):
            x = (code.x + (col + 0.5) * module) * px
            y = (code.y + (row + 0.5) * module) * px
            wrong += (image.getpixel((int(x), int(y))) < 128) != bool(dark)
    assert wrong == 0


def test_png_dpi_is_bounded() -> None:
    with pytest.raises(InvalidRequest):
        render_png(_info(), dpi=5000)
    small = Image.open(io.BytesIO(render_png(_info(), dpi=72)))
    assert small.size == (283, 425)


def test_pdf_starts_right_and_embeds_the_font() -> None:
    pdf = render_pdf(_info())
    assert pdf.startswith(b"%PDF-")
    assert b"SourceHanSansSC" in pdf
    assert b"/FontFile" in pdf  # the glyphs travel inside the file
    assert b"/ToUnicode" in pdf  # and the text stays searchable
    assert _pages(pdf) == 1
    assert b"283.46 425.20" in pdf  # 100 × 150 mm in points
    assert len(pdf) < 500_000  # only the glyphs used are embedded, not the whole font


def _pages(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")


def test_sheet_lays_out_six_per_a4_page() -> None:
    infos = [_info(name=f"商户{n}号店", merchant_id=f"mch_{n:04d}") for n in range(7)]
    pdf = render_sheet_pdf(infos)
    assert pdf.startswith(b"%PDF-")
    assert _pages(pdf) == 2
    assert b"595.28 841.89" in pdf  # A4 in points
    assert _pages(render_sheet_pdf(infos[:6])) == 1
    assert _pages(render_sheet_pdf(infos, columns=1, rows=1)) == 7


def test_sheet_limits() -> None:
    with pytest.raises(InvalidRequest):
        render_sheet_pdf([])
    with pytest.raises(InvalidRequest):
        render_sheet_pdf([_info()], columns=9)


@pytest.mark.parametrize(
    ("field", "value"),
    [("short_name", "名" * 26), ("short_name", "  "), ("merchant_id", ""), ("code_url", "x" * 513)],
)
def test_sticker_info_is_checked(field: str, value: str) -> None:
    values = {"short_name": "老张早餐", "merchant_id": "mch_1", "code_url": URL}
    values[field] = value
    with pytest.raises(InvalidRequest) as info:
        StickerInfo(**values)
    assert info.value.param == field


def test_many_methods_wrap_onto_a_second_row() -> None:
    from zhifu.qr.sticker._layout import Box, sticker_shapes

    methods = ["云闪付", "银联", "微信", "支付宝", "数字人民币", "手机闪付", "社保卡"]
    info = StickerInfo(short_name="老张", merchant_id="mch_1", code_url=URL, methods=methods)
    pills = [s for s in sticker_shapes(info) if isinstance(s, Box) and s.h == 7.0]
    assert len(pills) == len(methods)
    assert len({p.y for p in pills}) == 2
    assert all(6.0 - 1e-9 <= p.x and p.x + p.w <= 94.0 + 1e-9 for p in pills)
