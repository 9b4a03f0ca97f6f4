"""Sticker layout as a list of shapes in millimetres; the SVG, PNG and PDF writers only draw them."""

from __future__ import annotations

from dataclasses import dataclass

import segno

from zhifu.qr.sticker._font import fit_size, text_width
from zhifu.qr.sticker.info import StickerInfo

STICKER_W_MM = 100.0
STICKER_H_MM = 150.0
_MARGIN_MM = 6.0
_HEADER_H_MM = 24.0
_QR_PANEL_MM = 70.0  # the white square holding the code and its quiet zone
_QUIET_MODULES = 4  # ISO/IEC 18004 asks for a margin of four modules around the symbol
_QR_TOP_MM = 44.0
_PILL_H_MM = 7.0
_PILL_GAP_MM = 2.0
_PILL_TEXT_MM = 3.6
BRAND_RED = "#B8141E"
INK = "#1F1F1F"
GREY = "#6B6B6B"
WHITE = "#FFFFFF"
_METHOD_COLOURS = {
    "云闪付": "#E60012",
    "银联": "#D7000F",
    "手机闪付": "#E60012",
    "微信": "#07C160",
    "支付宝": "#1677FF",
    "数字人民币": "#C8102E",
}
_OTHER_METHOD_COLOUR = "#4A5A6A"


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    radius: float = 0.0
    stroke: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """Text whose left end of the baseline is at (x, y); `size` is the em size in mm."""

    x: float
    y: float
    size: float
    text: str
    fill: str


@dataclass(frozen=True, slots=True)
class Code:
    """A QR matrix drawn as dark modules in a `size` × `size` square at (x, y); runs are (row, col, length)."""

    x: float
    y: float
    size: float
    modules: int
    runs: tuple[tuple[int, int, int], ...]


Shape = Box | Label | Code


def qr_runs(data: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """Module count and horizontal runs of dark modules of a QR code (never a Micro QR) for `data`."""
    matrix = segno.make_qr(data, error="m", boost_error=True).matrix
    runs: list[tuple[int, int, int]] = []
    for row, line in enumerate(matrix):
        col = 0
        while col < len(line):
            if line[col]:
                start = col
                while col < len(line) and line[col]:
                    col += 1
                runs.append((row, start, col - start))
            else:
                col += 1
    return len(matrix), tuple(runs)


def centred(text: str, size: float, y: float, fill: str, *, width: float = STICKER_W_MM) -> Label:
    return Label((width - text_width(text, size)) / 2, y, size, text, fill)


def sticker_shapes(info: StickerInfo) -> list[Shape]:
    """Everything on one sticker, top to bottom: programme band, shop name, QR, methods, merchant id."""
    inner_w = STICKER_W_MM - 2 * _MARGIN_MM
    shapes: list[Shape] = [
        Box(0, 0, STICKER_W_MM, STICKER_H_MM, WHITE, radius=4, stroke="#D0D0D0"),
        Box(0, 0, STICKER_W_MM, _HEADER_H_MM, BRAND_RED, radius=4),
        Box(0, _HEADER_H_MM - 4, STICKER_W_MM, 4, BRAND_RED),  # square off the band's lower corners
    ]
    shapes.append(centred(info.programme, fit_size(info.programme, 6.0, inner_w, 3.0), 11.5, WHITE))
    tagline = "一码通付 · 扫码付款"
    shapes.append(centred(tagline, 3.6, 19.0, WHITE))
    shapes.append(centred(info.short_name, fit_size(info.short_name, 8.0, inner_w, 3.2), 38.0, INK))
    modules, runs = qr_runs(info.code_url)
    panel_x = (STICKER_W_MM - _QR_PANEL_MM) / 2
    shapes.append(Box(panel_x, _QR_TOP_MM, _QR_PANEL_MM, _QR_PANEL_MM, WHITE, radius=2, stroke="#E0E0E0"))
    module = _QR_PANEL_MM / (modules + 2 * _QUIET_MODULES)
    inset = _QUIET_MODULES * module
    shapes.append(Code(panel_x + inset, _QR_TOP_MM + inset, module * modules, modules, runs))
    y = _QR_TOP_MM + _QR_PANEL_MM + 7
    shapes.append(centred("支持以下方式付款", 3.6, y, GREY))
    shapes.extend(_pills(info.methods, y + 3, inner_w))
    shapes.append(centred(f"商户编号 {info.merchant_id}", 3.0, STICKER_H_MM - 5, GREY))
    return shapes


def _pills(methods: list[str], top: float, width_max: float) -> list[Shape]:
    """Methods as coloured pills, wrapped into centred rows."""
    rows: list[list[tuple[str, float]]] = [[]]
    used = 0.0
    for method in methods:
        w = text_width(method, _PILL_TEXT_MM) + 4
        if rows[-1] and used + _PILL_GAP_MM + w > width_max:
            rows.append([])
            used = 0.0
        used += (_PILL_GAP_MM if rows[-1] else 0) + w
        rows[-1].append((method, w))
    shapes: list[Shape] = []
    for index, row in enumerate(rows):
        total = sum(w for _, w in row) + _PILL_GAP_MM * (len(row) - 1)
        x = (STICKER_W_MM - total) / 2
        y = top + index * (_PILL_H_MM + _PILL_GAP_MM)
        for method, w in row:
            colour = _METHOD_COLOURS.get(method, _OTHER_METHOD_COLOUR)
            shapes.append(Box(x, y, w, _PILL_H_MM, colour, radius=_PILL_H_MM / 2))
            shapes.append(
                Label(x + 2, y + _PILL_H_MM / 2 + _PILL_TEXT_MM * 0.36, _PILL_TEXT_MM, method, WHITE)
            )
            x += w + _PILL_GAP_MM
    return shapes
