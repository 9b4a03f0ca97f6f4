"""Web foundation of the console: templates, static assets and translations (the app mounts these)."""

from zhifu.web.i18n import (
    DEFAULT_LANGUAGE,
    LANG_COOKIE,
    LANGUAGES,
    Lang,
    Translator,
    get_translations,
    negotiate_language,
    normalize_language,
    translator,
)
from zhifu.web.templating import (
    STATIC_DIR,
    STATIC_PREFIX,
    TEMPLATES_DIR,
    create_environment,
    get_templates,
    language_context,
    remember_language,
    render,
    request_language,
    static_url,
)
from zhifu.web.vocabulary import ERROR_TEXTS, N_, NAV_LABELS, STATUS_LABELS

__all__ = [
    "DEFAULT_LANGUAGE",
    "ERROR_TEXTS",
    "LANG_COOKIE",
    "LANGUAGES",
    "N_",
    "NAV_LABELS",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "STATUS_LABELS",
    "TEMPLATES_DIR",
    "Lang",
    "Translator",
    "create_environment",
    "get_templates",
    "get_translations",
    "language_context",
    "negotiate_language",
    "normalize_language",
    "remember_language",
    "render",
    "request_language",
    "static_url",
    "translator",
]
