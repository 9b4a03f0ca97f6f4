"""The console's Jinja2 environment: autoescaped HTML, per-render language, money/time filters, static URLs."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Final

import jinja2
from fastapi.templating import Jinja2Templates
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import Response

from zhifu.web import filters
from zhifu.web.i18n import (
    DEFAULT_LANGUAGE,
    HTML_LANG,
    LANG_COOKIE,
    LANG_COOKIE_MAX_AGE_S,
    LANGUAGES,
    Lang,
    get_translations,
    negotiate_language,
    normalize_language,
    translator,
)

WEB_DIR: Final = Path(__file__).parent
TEMPLATES_DIR: Final = WEB_DIR / "templates"
STATIC_DIR: Final = WEB_DIR / "static"
STATIC_PREFIX: Final = "/static/"
STATIC_VERSION_CHARS: Final = 12  # enough of the sha256 to bust caches when a file changes


def _context_lang(ctx: Context) -> Lang:
    return normalize_language(ctx.get("lang")) or DEFAULT_LANGUAGE


@jinja2.pass_context
def _gettext(ctx: Context, message: str) -> str:
    return get_translations(_context_lang(ctx)).gettext(message)


@jinja2.pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    return get_translations(_context_lang(ctx)).ngettext(singular, plural, n)


@jinja2.pass_context
def _pgettext(ctx: Context, context: str, message: str) -> str:
    return get_translations(_context_lang(ctx)).pgettext(context, message)


@jinja2.pass_context
def _npgettext(ctx: Context, context: str, singular: str, plural: str, n: int) -> str:
    return get_translations(_context_lang(ctx)).npgettext(context, singular, plural, n)


@jinja2.pass_context
def _status_label(ctx: Context, status: str) -> str:
    return translator(_context_lang(ctx)).status(status)


def _html_lang(lang: str) -> str:
    return HTML_LANG[normalize_language(lang) or DEFAULT_LANGUAGE]


@lru_cache(maxsize=256)
def static_url(path: str) -> str:
    """ "zhifu.css" → "/static/zhifu.css?v=<hash>"; a missing file or a path escaping static/ is an error."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or "://" in path:
        raise ValueError(f"static_url takes a path inside static/, got {path!r}")
    file = STATIC_DIR / relative
    if not file.is_file():
        raise FileNotFoundError(f"no static file {path!r} under {STATIC_DIR}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:STATIC_VERSION_CHARS]
    return f"{STATIC_PREFIX}{relative.as_posix()}?v={digest}"


def create_environment() -> jinja2.Environment:
    """A fresh environment over templates/; undefined variables raise instead of rendering blank."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    env.filters.update(
        fen=filters.fen,
        yuan=filters.yuan,
        shanghai=filters.shanghai,
        mask=filters.mask,
        status=_status_label,
        status_tone=filters.status_tone,
        html_lang=_html_lang,
    )
    env.globals.update(static_url=static_url, LANGUAGES=LANGUAGES)
    return env


def request_language(request: Request) -> Lang:
    """The language of a request: `?lang=` first, then the `lang` cookie, then Accept-Language, else zh."""
    asked = normalize_language(request.query_params.get("lang"))
    if asked is not None:
        return asked
    return negotiate_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def language_context(request: Request) -> dict[str, Any]:
    """Context processor: every TemplateResponse gets `lang` for its request."""
    return {"lang": request_language(request)}


def remember_language(request: Request, response: Response) -> None:
    """When the request carries a valid `?lang=`, keep the choice in the `lang` cookie."""
    asked = normalize_language(request.query_params.get("lang"))
    if asked is not None:
        response.set_cookie(
            LANG_COOKIE, asked, max_age=LANG_COOKIE_MAX_AGE_S, httponly=True, samesite="lax", path="/"
        )


@lru_cache(maxsize=1)
def get_templates() -> Jinja2Templates:
    """The shared Jinja2Templates: `get_templates().TemplateResponse(request, "login.html", {...})`."""
    return Jinja2Templates(env=create_environment(), context_processors=[language_context])


def render(name: str, /, **context: Any) -> str:
    """Render a template to a string outside a request (tests, statements, e-mails)."""
    return get_templates().env.get_template(name).render(context)
