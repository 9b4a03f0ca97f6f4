"""Sticker as a one-page PDF, and A4 sheets of many stickers with the merchant id under each."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF

from zhifu.assets.fonts import cjk_font_path
from zhifu.core.errors import InvalidRequest
from zhifu.qr.sticker._font import text_width
from zhifu.qr.sticker._layout import STICKER_H_MM, STICKER_W_MM, Box, Code, Label, Shape, sticker_shapes
from zhifu.qr.sticker.info import StickerInfo

SHEET_STICKERS_MAX = 600  # 100 A4 pages of 2 × 3; bigger print runs are split into several files
_FONT = "cjk"
_PT_PER_MM = 72 / 25.4
_A4_W_MM, _A4_H_MM = 210.0, 297.0
_SHEET_MARGIN_MM = 8.0
_CAPTION_MM = 7.0


def _new_pdf(title: str) -> FPDF:
    pdf = FPDF(unit="mm", format=(STICKER_W_MM, STICKER_H_MM))
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    pdf.add_font(_FONT, fname=str(cjk_font_path()))
    pdf.set_title(title)
    pdf.set_creator("Zhifu")
    return pdf


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def draw_shapes(pdf: FPDF, shapes: list[Shape], ox: float, oy: float, scale: float) -> None:
    """Draw layout shapes with their top-left at (ox, oy) mm, scaled by `scale`."""
    for shape in shapes:
        if isinstance(shape, Box):
            pdf.set_fill_color(*_rgb(shape.fill))
            style = "F"
            if shape.stroke:
                pdf.set_draw_color(*_rgb(shape.stroke))
                pdf.set_line_width(0.3 * scale)
                style = "DF"
            x, y, w, h = ox + shape.x * scale, oy + shape.y * scale, shape.w * scale, shape.h * scale
            if shape.radius:
                # fpdf2 drops the rounding when the radius is exactly half a side, so stay just under it.
                radius = min(shape.radius * scale, min(w, h) / 2 * 0.98)
                pdf.rect(x, y, w, h, style=style, round_corners=True, corner_radius=radius)
            else:
                pdf.rect(x, y, w, h, style=style)
        elif isinstance(shape, Label):
            pdf.set_font(_FONT, size=shape.size * scale * _PT_PER_MM)
            pdf.set_text_color(*_rgb(shape.fill))
            pdf.text(ox + shape.x * scale, oy + shape.y * scale, shape.text)
        else:
            _draw_code(pdf, shape, ox, oy, scale)


def _draw_code(pdf: FPDF, code: Code, ox: float, oy: float, scale: float) -> None:
    pdf.set_fill_color(0, 0, 0)
    module = code.size * scale / code.modules
    left, top = ox + code.x * scale, oy + code.y * scale
    for row, col, length in code.runs:
        pdf.rect(left + col * module, top + row * module, length * module, module, style="F")


def render_pdf(info: StickerInfo) -> bytes:
    """The sticker on a page of its own size (100 × 150 mm), font embedded."""
    pdf = _new_pdf(f"{info.short_name} {info.merchant_id}")
    pdf.add_page()
    draw_shapes(pdf, sticker_shapes(info), 0, 0, 1.0)
    return bytes(pdf.output())


def render_sheet_pdf(infos: Sequence[StickerInfo], *, columns: int = 2, rows: int = 3) -> bytes:
    """A4 pages with `columns` × `rows` stickers each, cut lines between cells, merchant id under each."""
    if not infos:
        raise InvalidRequest("a sheet needs at least one sticker", param="merchants")
    if len(infos) > SHEET_STICKERS_MAX:
        raise InvalidRequest(f"at most {SHEET_STICKERS_MAX} stickers per file", param="merchants")
    if not (1 <= columns <= 4 and 1 <= rows <= 5):
        raise InvalidRequest("a sheet has 1–4 columns and 1–5 rows", param="columns")
    pdf = _new_pdf("智付商户收款码")
    cell_w = (_A4_W_MM - 2 * _SHEET_MARGIN_MM) / columns
    cell_h = (_A4_H_MM - 2 * _SHEET_MARGIN_MM) / rows
    scale = min((cell_w - 6) / STICKER_W_MM, (cell_h - 4 - _CAPTION_MM) / STICKER_H_MM)
    per_page = columns * rows
    pages = (len(infos) + per_page - 1) // per_page
    for index, info in enumerate(infos):
        slot = index % per_page
        if slot == 0:
            pdf.add_page(format="A4")
            _cut_lines(pdf, columns, rows, cell_w, cell_h)
            _page_number(pdf, index // per_page + 1, pages)
        cx = _SHEET_MARGIN_MM + (slot % columns) * cell_w
        cy = _SHEET_MARGIN_MM + (slot // columns) * cell_h
        ox = cx + (cell_w - STICKER_W_MM * scale) / 2
        oy = cy + 2
        draw_shapes(pdf, sticker_shapes(info), ox, oy, scale)
        caption = f"商户编号 {info.merchant_id}"
        size_mm = 3.2
        pdf.set_font(_FONT, size=size_mm * _PT_PER_MM)
        pdf.set_text_color(40, 40, 40)
        caption_x = cx + (cell_w - text_width(caption, size_mm)) / 2
        pdf.text(caption_x, oy + STICKER_H_MM * scale + 5, caption)
    return bytes(pdf.output())


def _cut_lines(pdf: FPDF, columns: int, rows: int, cell_w: float, cell_h: float) -> None:
    pdf.set_draw_color(170, 170, 170)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    for c in range(columns + 1):
        x = _SHEET_MARGIN_MM + c * cell_w
        pdf.line(x, _SHEET_MARGIN_MM, x, _A4_H_MM - _SHEET_MARGIN_MM)
    for r in range(rows + 1):
        y = _SHEET_MARGIN_MM + r * cell_h
        pdf.line(_SHEET_MARGIN_MM, y, _A4_W_MM - _SHEET_MARGIN_MM, y)
    pdf.set_dash_pattern()


def _page_number(pdf: FPDF, page: int, pages: int) -> None:
    text = f"第 {page} / {pages} 页"
    size_mm = 2.6
    pdf.set_font(_FONT, size=size_mm * _PT_PER_MM)
    pdf.set_text_color(120, 120, 120)
    pdf.text((_A4_W_MM - text_width(text, size_mm)) / 2, _A4_H_MM - 3, text)
