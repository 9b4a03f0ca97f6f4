"""The bundled CJK font, so Chinese renders in PDFs and images on a machine with no system fonts."""

from __future__ import annotations

from pathlib import Path

# Source Han Sans SC Regular (Adobe, SIL OFL 1.1; licence in OFL.txt beside it), shipped unmodified:
# the OFL reserves the name "Source", so a trimmed copy would have to be renamed.
CJK_FONT_FILE = "SourceHanSansSC-Regular.otf"


def cjk_font_path() -> Path:
    """Absolute path of the bundled CJK font (OpenType/CFF: all 20,902 unified hanzi, Extension A, Latin)."""
    path = Path(__file__).with_name(CJK_FONT_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"bundled CJK font missing: {path}")
    return path


def cjk_font_licence_path() -> Path:
    """Absolute path of the font's licence text, to ship alongside anything that copies the font."""
    return Path(__file__).with_name("OFL.txt")
