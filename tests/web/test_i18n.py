"""Languages, the zh_CN catalogue, the console templates and their filters."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request
from starlette.responses import Response

from zhifu.web import filters
from zhifu.web.i18n import (
    LOCALE_DIR,
    STATUS_LABELS,
    catalogue_path,
    get_translations,
    negotiate_language,
    translator,
)
from zhifu.web.templating import WEB_DIR, create_environment, get_templates, remember_language, render

PO_PATH = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
BABEL_CFG = WEB_DIR.parents[2] / "babel.cfg"
UTC = dt.UTC


def _po():
    with PO_PATH.open("rb") as fp:
        return read_po(fp, locale="zh_CN")


# --- language negotiation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "zh"),
        ("", "", "zh"),
        ("en", None, "en"),
        ("zh", "en-US,en;q=0.9", "zh"),  # the cookie is the user's own choice
        ("EN-gb", None, "en"),
        ("fr", "en-US,en;q=0.9", "en"),  # an unknown cookie is ignored, not obeyed
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "zh-Hant-TW", "zh"),
        (None, "fr-FR, de;q=0.9", "zh"),  # nothing we speak: the default
        (None, "fr-FR, en;q=0.5", "en"),
        (None, "zh;q=0.3, en;q=0.7", "en"),  # quality beats order
        (None, "en;q=0, zh;q=0.1", "zh"),  # q=0 means "not this one"
        (None, "en;q=0", "zh"),
        (None, "en;q=abc, zh;q=0.2", "zh"),
        (None, "*", "zh"),
        (None, ";;;,,,", "zh"),
        (None, "de," * 1000 + "en", "zh"),  # only the first items of a huge header are read
    ],
)
def test_negotiate_language(cookie: str | None, header: str | None, expected: str) -> None:
    assert negotiate_language(cookie, header) == expected


# --- catalogue ------------------------------------------------------------------------------------


def test_committed_mo_is_compiled_from_the_committed_po(tmp_path) -> None:
    buffer = io.BytesIO()
    write_mo(buffer, _po())
    buffer.seek(0)
    fresh = {m.id: m.string for m in read_mo(buffer) if m.id}
    mo_path = catalogue_path("zh")
    assert mo_path is not None
    with mo_path.open("rb") as fp:
        committed = {m.id: m.string for m in read_mo(fp) if m.id}
    assert committed == fresh, "run: pybabel compile -d src/zhifu/web/locale -l zh_CN"


def test_po_has_no_fuzzy_or_untranslated_entries_and_keeps_placeholders() -> None:
    catalog = _po()
    assert not catalog.fuzzy
    for message in catalog:
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, message.id
        assert message.string, f"untranslated: {message.id!r}"
        names = re.findall(r"%\((\w+)\)s", message.id)
        assert sorted(names) == sorted(re.findall(r"%\((\w+)\)s", message.string)), message.id


def test_catalogue_covers_every_string_of_the_web_package() -> None:
    with BABEL_CFG.open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    root = WEB_DIR.parents[2]
    found = {
        msgid if isinstance(msgid, str) else msgid[0]
        for filename, _lineno, msgid, _comments, _context in extract_from_dir(
            str(root),
            method_map,
            options_map,
            directory_filter=lambda d: Path(d) == root or Path(d).is_relative_to(root / "src"),
        )
        if filename.startswith("src/zhifu/web/")
    }
    assert {"Zhifu", "Login", "Refund", "Today's takings", "Succeeded"} <= found
    catalogued = {m.id for m in _po() if m.id}
    assert found - catalogued == set(), "run pybabel extract/update (see babel.cfg) and translate"


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("Login", "登录"),
        ("Logout", "退出"),
        ("Merchants", "商户"),
        ("Payments", "交易"),
        ("Refund", "退款"),
        ("Settlements", "结算"),
        ("Reconciliation", "对账"),
        ("Campaigns", "营销活动"),
        ("Dashboard", "监管看板"),
        ("Today's takings", "今日收款"),
        ("Amount", "金额"),
        ("Status", "状态"),
    ],
)
def test_common_words_in_chinese(english: str, chinese: str) -> None:
    assert get_translations("zh").gettext(english) == chinese
    assert get_translations("en").gettext(english) == english


def test_statuses_and_python_translator() -> None:
    zh, en = translator("zh"), translator("en")
    expected = {
        "succeeded": "成功",
        "failed": "失败",
        "processing": "处理中",
        "closed": "已关闭",
        "expired": "已过期",
        "refunded": "已退款",
    }
    assert {code: zh.status(code) for code in expected} == expected
    assert all(zh.status(code) != label for code, label in STATUS_LABELS.items())
    assert en.status("refunded") == "Refunded"
    assert zh.status("weird_state") == "weird_state"
    assert zh("Received %(amount)s yuan") % {"amount": "12.50"} == "收款12.50元"
    assert zh.nav("reconciliation") == "对账"
    assert zh.error("code_expired") == ("此码已过期", "请让商户重新出示收款码。")
    assert en.error("no_such_code")[0] == "Something went wrong"
    assert translator(None).lang == "zh" and translator("en-US").lang == "en"
    with pytest.raises(ValueError):
        get_translations("fr")


# --- filters --------------------------------------------------------------------------------------


def test_fen_and_yuan() -> None:
    assert filters.fen(12345) == "¥123.45"
    assert filters.fen(1234567) == "¥12,345.67"
    assert filters.fen(5) == "¥0.05"
    assert filters.fen(-250) == "-¥2.50"
    assert filters.fen(None) == ""
    assert filters.yuan(12345) == "123.45"
    assert filters.yuan(1234567) == "12345.67"
    assert filters.yuan(7) == "0.07"
    for bad in (True, 1.5, "100"):
        with pytest.raises(TypeError):
            filters.fen(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("utc", "beijing"),
    [
        (dt.datetime(2026, 11, 24, 7, 4, tzinfo=UTC), "2026-11-24 15:04"),
        (dt.datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC), "2026-11-23 23:59"),
        (dt.datetime(2026, 11, 23, 16, 0, tzinfo=UTC), "2026-11-24 00:00"),  # Beijing midnight
        (dt.datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "2026-11-24 07:30"),
        (dt.datetime(2026, 11, 24, 0, 30, tzinfo=UTC), "2026-11-24 08:30"),  # after UTC midnight
        (dt.datetime(2026, 12, 31, 16, 1, tzinfo=UTC), "2027-01-01 00:01"),  # new year in Beijing first
        (dt.datetime(2026, 11, 24, 9, 4, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-11-24 15:04"),
    ],
)
def test_shanghai(utc: dt.datetime, beijing: str) -> None:
    assert filters.shanghai(utc) == beijing


def test_shanghai_refuses_naive_times_and_takes_a_format() -> None:
    with pytest.raises(ValueError):
        filters.shanghai(dt.datetime(2026, 11, 24, 7, 4))
    with pytest.raises(TypeError):
        filters.shanghai(dt.date(2026, 11, 24))  # type: ignore[arg-type]
    assert filters.shanghai(dt.datetime(2026, 11, 24, 7, 4, tzinfo=UTC), "%H:%M") == "15:04"
    assert filters.shanghai(None) == ""


@pytest.mark.parametrize(
    ("value", "kwargs", "masked"),
    [
        ("13812345678", {}, "138****5678"),
        ("6222020200112233445", {"head": 6, "tail": 4}, "622202*********3445"),
        ("370323199001011234", {"head": 4, "tail": 4}, "3703**********1234"),
        ("张三", {}, "*三"),
        ("王", {}, "*"),
        ("", {}, ""),
        (None, {}, ""),
        (13812345678, {}, "138****5678"),
    ],
)
def test_mask(value: object, kwargs: dict[str, int], masked: str) -> None:
    assert filters.mask(value, **kwargs) == masked


def test_filters_are_installed_in_the_environment() -> None:
    env = create_environment()
    at = dt.datetime(2026, 11, 23, 16, 30, tzinfo=UTC)
    out = env.from_string("{{ a|fen }}|{{ a|yuan }}|{{ t|shanghai }}|{{ p|mask }}|{{ s|status }}").render(
        a=12345, t=at, p="13812345678", s="succeeded", lang="zh"
    )
    assert out == "¥123.45|123.45|2026-11-24 00:30|138****5678|成功"


# --- templates ------------------------------------------------------------------------------------


def _page(lang: str, **extra: object) -> str:
    context: dict[str, object] = {"lang": lang, "csrf_token": "tok-123", "title": "Test"}
    context.update(extra)
    return render("base.html", **context)


def test_base_renders_in_chinese() -> None:
    html = _page(
        "zh", user_name="王老板", nav_items=[{"href": "/payments", "label": "Payments", "active": True}]
    )
    assert '<html lang="zh-CN">' in html
    assert "<title>Test · 智付</title>" in html
    assert '<meta name="csrf-token" content="tok-123">' in html
    assert '<a href="/payments" aria-current="page">交易</a>' in html
    assert 'href="?lang=zh" hreflang="zh-CN" lang="zh-CN" aria-current="true">中文</a>' in html
    assert 'href="?lang=en" hreflang="en" lang="en">English</a>' in html
    assert "王老板" in html and ">退出</button>" in html
    assert "智付" in html and "Zhifu" in html
    assert "/static/vendor/htmx.min.js?v=" in html and "/static/vendor/htmx-ext-sse.min.js?v=" in html
    assert "/static/zhifu.css?v=" in html and "/static/zhifu.js?v=" in html
    assert "echarts" not in html


def test_base_renders_in_english_with_charts() -> None:
    html = _page("en", charts=True)
    assert '<html lang="en">' in html
    assert "<title>Test · Zhifu</title>" in html
    assert 'href="?lang=en" hreflang="en" lang="en" aria-current="true">English</a>' in html
    assert 'href="?lang=zh" hreflang="zh-CN" lang="zh-CN">中文</a>' in html
    assert "/static/vendor/echarts.min.js?v=" in html
    assert "Logout" not in html  # nobody signed in
    assert html.index("htmx.min.js") < html.index("htmx-ext-sse.min.js")


def test_autoescape_and_strict_context() -> None:
    html = _page("zh", title="<script>alert(1)</script>", user_name='"><script>x()</script>')
    assert "<script>alert(1)</script>" not in html and "<script>x()</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    with pytest.raises(jinja2.UndefinedError):
        render("base.html", lang="zh")  # a page without a CSRF token is a bug, not a blank


def test_login_page() -> None:
    html = render("login.html", lang="zh", csrf_token="tok-9", username="<b>op</b>")
    assert '<input type="hidden" name="csrf_token" value="tok-9">' in html
    assert "<title>登录 · 智付</title>" in html and ">用户名<" in html and ">密码<" in html
    assert 'value="&lt;b&gt;op&lt;/b&gt;"' in html
    assert 'role="alert"' not in html
    failed = render(
        "login.html", lang="en", csrf_token="t", error=translator("en")("Wrong username or password.")
    )
    assert '<p class="alert alert--bad" role="alert">Wrong username or password.</p>' in failed


def test_error_page_for_an_expired_code() -> None:
    title, message = translator("zh").error("code_expired")
    html = render("error.html", lang="zh", csrf_token="t", title=title, message=message, code="<x>")
    assert "<title>此码已过期 · 智付</title>" in html
    assert '<h1 class="error__title">此码已过期</h1>' in html
    assert "请让商户重新出示收款码。" in html
    assert "编号：&lt;x&gt;" in html


def test_macros() -> None:
    env = create_environment()
    out = env.from_string(
        '{% import "_macros.html" as ui %}{{ ui.badge("failed") }}{{ ui.progress("M", 7000, 6000) }}'
        '{{ ui.chart("c", {"title": "</script><b>"}) }}'
    ).render(lang="zh")
    assert '<span class="badge badge--bad" data-status="failed">失败</span>' in out
    assert 'class="progress progress--met" value="6000" max="6000"' in out
    assert "</script><b>" not in out and "\\u003c/script\\u003e" in out


# --- requests -------------------------------------------------------------------------------------


def _get(url: str, **headers: str) -> tuple[str, Response]:
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    request = Request(scope)
    response = get_templates().TemplateResponse(request, "login.html", {"csrf_token": "t"})
    remember_language(request, response)
    return bytes(response.body).decode(), response


def test_language_follows_query_then_cookie_then_header() -> None:
    assert '<html lang="zh-CN">' in _get("/login")[0]
    assert '<html lang="en">' in _get("/login", accept_language="en-US,en;q=0.9")[0]
    html, switched = _get("/login?lang=en", cookie="lang=zh")
    assert '<html lang="en">' in html
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert '<html lang="en">' in _get("/login", cookie="lang=en", accept_language="zh-CN")[0]
    html, back = _get("/login?lang=zh", accept_language="en")
    assert '<html lang="zh-CN">' in html and back.headers["set-cookie"].startswith("lang=zh;")
    html, ignored = _get("/login?lang=xx", cookie="lang=en")
    assert '<html lang="en">' in html and "set-cookie" not in ignored.headers
