"""Sticker as a PNG image, drawn with Pillow using the bundled CJK font."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from zhifu.assets.fonts import cjk_font_path
from zhifu.core.errors import InvalidRequest
from zhifu.qr.sticker._layout import STICKER_H_MM, STICKER_W_MM, Box, Code, Label, sticker_shapes
from zhifu.qr.sticker.info import StickerInfo

DPI_DEFAULT = 300
DPI_MIN = 72
DPI_MAX = 600  # 600 dpi is already 2362 × 3543 pixels
_MM_PER_INCH = 25.4


@lru_cache(maxsize=32)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size_px)


def render_png(info: StickerInfo, *, dpi: int = DPI_DEFAULT) -> bytes:
    """The sticker as PNG bytes at `dpi` (300 gives 1181 × 1772 pixels)."""
    if not DPI_MIN <= dpi <= DPI_MAX:
        raise InvalidRequest(f"dpi must be between {DPI_MIN} and {DPI_MAX}", param="dpi")
    px = dpi / _MM_PER_INCH

    def at(mm: float) -> int:
        return round(mm * px)

    image = Image.new("RGB", (at(STICKER_W_MM), at(STICKER_H_MM)), "#FFFFFF")
    draw = ImageDraw.Draw(image)
    for shape in sticker_shapes(info):
        if isinstance(shape, Box):
            corners = (at(shape.x), at(shape.y), at(shape.x + shape.w) - 1, at(shape.y + shape.h) - 1)
            outline = shape.stroke if shape.stroke else None
            width = max(1, at(0.3)) if outline else 0
            draw.rounded_rectangle(
                corners, radius=at(shape.radius), fill=shape.fill, outline=outline, width=width
            )
        elif isinstance(shape, Label):
            draw.text(
                (shape.x * px, shape.y * px),
                shape.text,
                font=_font(at(shape.size)),
                fill=shape.fill,
                anchor="ls",
            )
        else:
            _draw_code(draw, shape, px)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def _draw_code(draw: ImageDraw.ImageDraw, code: Code, px: float) -> None:
    module = code.size / code.modules

    def edge(origin: float, count: int) -> int:
        # Rounding each edge (not each size) keeps neighbouring modules touching, with no hairline gaps.
        return round((origin + count * module) * px)

    for row, col, length in code.runs:
        x0, x1 = edge(code.x, col), edge(code.x, col + length)
        y0, y1 = edge(code.y, row), edge(code.y, row + 1)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill="#000000")
