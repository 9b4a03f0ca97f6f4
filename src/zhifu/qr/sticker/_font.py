"""Metrics and outlines of the bundled CJK font, so every renderer lays out text the same way."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fontTools.pens.svgPathPen import SVGPathPen
from fontTools.ttLib import TTFont

from zhifu.assets.fonts import cjk_font_path


@lru_cache(maxsize=1)
def _font() -> TTFont:
    return TTFont(str(cjk_font_path()), lazy=True)


@lru_cache(maxsize=1)
def _cmap() -> dict[int, str]:
    return dict(_font().getBestCmap())


@lru_cache(maxsize=1)
def _glyph_set() -> Any:
    return _font().getGlyphSet()


def units_per_em() -> int:
    return int(_font()["head"].unitsPerEm)


def glyph_name(ch: str) -> str:
    """The font's glyph for `ch`, or .notdef when the font lacks it."""
    return _cmap().get(ord(ch), ".notdef")


def has_glyph(ch: str) -> bool:
    return ord(ch) in _cmap()


def text_width(text: str, size: float) -> float:
    """Advance width of `text` at font size `size` (same unit as `size`), no kerning."""
    metrics = _font()["hmtx"].metrics
    return sum(metrics[glyph_name(ch)][0] for ch in text) * size / units_per_em()


@lru_cache(maxsize=4096)
def glyph_path(name: str) -> str:
    """SVG path data of a glyph in font units (y up)."""
    pen = SVGPathPen(_glyph_set())
    _glyph_set()[name].draw(pen)
    return str(pen.getCommands())


def fit_size(text: str, size: float, width_max: float, size_min: float) -> float:
    """The largest size not above `size` at which `text` fits `width_max`, but never below `size_min`."""
    width = text_width(text, size)
    if width <= width_max or width == 0:
        return size
    return max(size_min, size * width_max / width)
