"""Sticker as a self-contained SVG: text is drawn as glyph outlines, so no font is needed to view it."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from zhifu.qr.sticker._font import glyph_name, glyph_path, text_width, units_per_em
from zhifu.qr.sticker._layout import STICKER_H_MM, STICKER_W_MM, Box, Code, Label, Shape, sticker_shapes
from zhifu.qr.sticker.info import StickerInfo

_STROKE_MM = 0.3


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _box(box: Box) -> str:
    stroke = f' stroke="{box.stroke}" stroke-width="{_n(_STROKE_MM)}"' if box.stroke else ""
    radius = f' rx="{_n(box.radius)}"' if box.radius else ""
    return (
        f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" height="{_n(box.h)}"{radius}'
        f' fill="{box.fill}"{stroke}/>'
    )


def _label(label: Label) -> str:
    k = label.size / units_per_em()
    glyphs: list[str] = []
    x = label.x
    for ch in label.text:
        data = glyph_path(glyph_name(ch))
        if data:
            glyphs.append(
                f'<path transform="translate({_n(x)} {_n(label.y)}) scale({k:.6f} {-k:.6f})" d="{data}"/>'
            )
        x += text_width(ch, label.size)
    return f'<g fill="{label.fill}" role="img" aria-label={quoteattr(label.text)}>{"".join(glyphs)}</g>'


def _code(code: Code) -> str:
    runs = "".join(f"M{col} {row}h{length}v1h-{length}z" for row, col, length in code.runs)
    k = code.size / code.modules
    return (
        f'<path transform="translate({_n(code.x)} {_n(code.y)}) scale({k:.6f})" fill="#000000"'
        f' shape-rendering="crispEdges" d="{runs}"/>'
    )


def shapes_svg(shapes: list[Shape]) -> str:
    parts: list[str] = []
    for shape in shapes:
        if isinstance(shape, Box):
            parts.append(_box(shape))
        elif isinstance(shape, Label):
            parts.append(_label(shape))
        else:
            parts.append(_code(shape))
    return "\n".join(parts)


def render_svg(info: StickerInfo) -> str:
    """The sticker as an SVG document, 100 × 150 mm."""
    title = escape(f"{info.short_name} · {info.merchant_id}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(STICKER_W_MM)}mm" height="{_n(STICKER_H_MM)}mm"'
        f' viewBox="0 0 {_n(STICKER_W_MM)} {_n(STICKER_H_MM)}">\n'
        f"<title>{title}</title>\n{shapes_svg(sticker_shapes(info))}\n</svg>\n"
    )
