"""Printable merchant QR stickers (SVG, PNG, PDF) and A4 batch sheets, with Chinese text from the bundled font."""

from zhifu.qr.sticker.info import DEFAULT_METHODS, DEFAULT_PROGRAMME, StickerInfo
from zhifu.qr.sticker.pdf import render_pdf, render_sheet_pdf
from zhifu.qr.sticker.png import render_png
from zhifu.qr.sticker.svg import render_svg

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_PROGRAMME",
    "StickerInfo",
    "render_pdf",
    "render_png",
    "render_sheet_pdf",
    "render_svg",
]
