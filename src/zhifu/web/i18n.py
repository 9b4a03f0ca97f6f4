"""Console languages: Chinese first, English second; msgids are English, zh_CN is the catalogue.

Python code translates with `_ = translator(lang)`; module-level constants are marked with `vocabulary.N_`.
"""

from __future__ import annotations

import gettext as _gettext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from babel.support import Translations

from zhifu.web.vocabulary import ERROR_TEXTS, NAV_LABELS, STATUS_LABELS

Lang = Literal["zh", "en"]

LANGUAGES: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANGUAGE: Final[Lang] = "zh"
LANG_COOKIE: Final = "lang"
LANG_COOKIE_MAX_AGE_S: Final = 365 * 24 * 3600
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "messages"

# The value of <html lang> and the gettext catalogue behind each console language.
HTML_LANG: Final[dict[Lang, str]] = {"zh": "zh-CN", "en": "en"}
_CATALOGUE: Final[dict[Lang, str | None]] = {"zh": "zh_CN", "en": None}  # en: msgids are the text

# A hostile Accept-Language header must not cost more than this to read.
ACCEPT_LANGUAGE_CHARS_MAX: Final = 512
ACCEPT_LANGUAGE_ITEMS_MAX: Final = 16


def normalize_language(value: str | None) -> Lang | None:
    """Map "zh", "zh-CN", "zh_Hans_CN", "EN-us" to "zh" / "en"; anything else to None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    if primary == "zh":
        return "zh"
    if primary == "en":
        return "en"
    return None


def _accept_language_items(header: str) -> list[tuple[float, int, str]]:
    items: list[tuple[float, int, str]] = []
    for position, part in enumerate(
        header[:ACCEPT_LANGUAGE_CHARS_MAX].split(",")[:ACCEPT_LANGUAGE_ITEMS_MAX]
    ):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = 0.0
        if tag and 0.0 < quality <= 1.0:
            items.append((quality, position, tag.strip()))
    return items


def negotiate_language(cookie_value: str | None, accept_language_header: str | None) -> Lang:
    """The console language: a valid `lang` cookie wins, then the best Accept-Language match, else zh."""
    chosen = normalize_language(cookie_value)
    if chosen is not None:
        return chosen
    if accept_language_header:
        # Highest quality first; among equal qualities the earlier entry wins.
        for _quality, _position, tag in sorted(
            _accept_language_items(accept_language_header), key=lambda item: (-item[0], item[1])
        ):
            chosen = normalize_language(tag)
            if chosen is not None:
                return chosen
    return DEFAULT_LANGUAGE


def catalogue_path(lang: Lang) -> Path | None:
    """The compiled .mo file behind a language, or None when the msgids are the text."""
    locale = _CATALOGUE[lang]
    if locale is None:
        return None
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


@lru_cache(maxsize=len(LANGUAGES))
def get_translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue for a language; a missing .mo is an error, never a silent fallback."""
    code = normalize_language(lang)
    if code is None:
        raise ValueError(f"unsupported console language {lang!r}; expected one of {LANGUAGES}")
    path = catalogue_path(code)
    if path is None:
        return _gettext.NullTranslations()
    with path.open("rb") as fp:
        return Translations(fp, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class Translator:
    """gettext bound to one language: `_ = translator("zh"); _("Refund")` → "退款"."""

    lang: Lang
    translations: _gettext.NullTranslations

    def __call__(self, message: str) -> str:
        return self.translations.gettext(message)

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self.translations.pgettext(context, message)

    def status(self, status: str) -> str:
        """The label of a status code; an unknown code is shown as it is."""
        label = STATUS_LABELS.get(status)
        return self.gettext(label) if label is not None else status

    def nav(self, section: str) -> str:
        """The label of a console section ("payments" → "交易"); an unknown key is shown as it is."""
        label = NAV_LABELS.get(section)
        return self.gettext(label) if label is not None else section

    def error(self, code: str) -> tuple[str, str]:
        """(title, message) of an error page; an unknown code reads as a server error."""
        title, message = ERROR_TEXTS.get(code, ERROR_TEXTS["server_error"])
        return self.gettext(title), self.gettext(message)


def translator(lang: str | None) -> Translator:
    """A Translator for a console language; None or an unknown value gives the default (zh)."""
    code = normalize_language(lang) or DEFAULT_LANGUAGE
    return Translator(code, get_translations(code))
