"""Vendored front-end files match VERSIONS.txt, and nothing in the console loads from a CDN."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from zhifu.web.templating import STATIC_DIR, TEMPLATES_DIR, static_url

VENDOR_DIR = STATIC_DIR / "vendor"
REQUIRED = {
    "htmx.min.js",
    "htmx-ext-sse.min.js",
    "echarts.min.js",
    "LICENSE-htmx",
    "LICENSE-htmx-ext-sse",
    "LICENSE-echarts",
}
# <script src=...>, <link href=...>, CSS url(...) and @import: the places a page pulls in code or style.
_ASSET_REF = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?([^"'\s>]+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?([^"'\s>]+)"""
    r"""|url\(\s*["']?([^"')\s]+)"""
    r"""|@import\s+["']([^"']+)""",
    re.IGNORECASE,
)


def _versions() -> dict[str, tuple[str, str, str]]:
    rows: dict[str, tuple[str, str, str]] = {}
    for line in (VENDOR_DIR / "VERSIONS.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        file, package, version, _path, sha256 = line.split()
        assert file not in rows, f"{file} listed twice"
        rows[file] = (package, version, sha256)
    return rows


def _remote_refs(text: str) -> list[str]:
    refs = [next(group for group in m.groups() if group) for m in _ASSET_REF.finditer(text)]
    return [ref for ref in refs if re.match(r"(?i)(https?:)?//", ref)]


def test_every_vendored_file_is_listed_with_its_sha256() -> None:
    rows = _versions()
    on_disk = {p.name for p in VENDOR_DIR.iterdir() if p.is_file() and p.name != "VERSIONS.txt"}
    assert REQUIRED <= on_disk
    assert set(rows) == on_disk
    for file, (_package, _version, sha256) in rows.items():
        assert hashlib.sha256((VENDOR_DIR / file).read_bytes()).hexdigest() == sha256, file


def test_versions_are_the_supported_majors_and_match_the_files() -> None:
    rows = _versions()
    htmx_version = rows["htmx.min.js"][1]
    echarts_version = rows["echarts.min.js"][1]
    assert rows["htmx.min.js"][0] == "htmx.org" and htmx_version.startswith("2.")
    assert rows["echarts.min.js"][0] == "echarts" and echarts_version.split(".")[0] in {"5", "6"}
    assert rows["htmx-ext-sse.min.js"][0] == "htmx-ext-sse"
    assert f'version:"{htmx_version}"' in (VENDOR_DIR / "htmx.min.js").read_text(encoding="utf-8")
    assert f'version="{echarts_version}"' in (VENDOR_DIR / "echarts.min.js").read_text(encoding="utf-8")
    assert 'defineExtension("sse"' in (VENDOR_DIR / "htmx-ext-sse.min.js").read_text(encoding="utf-8")
    assert "Apache License" in (VENDOR_DIR / "LICENSE-echarts").read_text(encoding="utf-8")


def test_the_cdn_detector_catches_remote_assets() -> None:
    bad = (
        '<script src="https://unpkg.com/htmx.org"></script>'
        "<link rel=stylesheet href=//cdn.example.com/x.css>"
        "<style>@import 'http://fonts.example.com/f.css'; b { background: url(https://e.com/i.png) }</style>"
    )
    assert len(_remote_refs(bad)) == 4
    assert _remote_refs('<script src="/static/zhifu.js"></script><a href="https://pbc.gov.cn">') == []


@pytest.mark.parametrize(
    "path",
    sorted(TEMPLATES_DIR.rglob("*.html")) + [STATIC_DIR / "zhifu.css", STATIC_DIR / "zhifu.js"],
    ids=lambda p: p.name,
)
def test_no_template_or_stylesheet_loads_from_a_cdn(path: Path) -> None:
    assert _remote_refs(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("name", ["zhifu.css", "zhifu.js"])
def test_own_css_and_js_name_no_remote_url_at_all(name: str) -> None:
    assert (
        re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", (STATIC_DIR / name).read_text(encoding="utf-8"))
        is None
    )


def test_static_url_versions_files_and_refuses_paths_outside_static() -> None:
    url = static_url("vendor/htmx.min.js")
    digest = hashlib.sha256((VENDOR_DIR / "htmx.min.js").read_bytes()).hexdigest()
    assert url == f"/static/vendor/htmx.min.js?v={digest[:12]}"
    with pytest.raises(FileNotFoundError):
        static_url("vendor/jquery.min.js")
    for bad in ("../i18n.py", "/etc/passwd", "https://cdn.example.com/x.js"):
        with pytest.raises(ValueError):
            static_url(bad)


def test_zhifu_js_has_its_three_jobs() -> None:
    js = (STATIC_DIR / "zhifu.js").read_text(encoding="utf-8")
    assert 'meta[name="csrf-token"]' in js and "X-CSRF-Token" in js and "htmx:configRequest" in js
    assert "speechSynthesis" in js and 'lang = "zh-CN"' in js
    assert 'type !== "application/json"' in js and "echarts.init" in js


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_zhifu_js_parses() -> None:
    result = subprocess.run(["node", "--check", str(STATIC_DIR / "zhifu.js")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_zhifu_css_braces_balance_and_it_styles_the_console_parts() -> None:
    css = re.sub(r"/\*.*?\*/", "", (STATIC_DIR / "zhifu.css").read_text(encoding="utf-8"), flags=re.S)
    assert css.count("{") == css.count("}")
    for selector in (".topbar", ".card", ".table", ".form", ".btn", ".badge--ok", ".kpi__value", ".progress"):
        assert selector in css
    assert '"PingFang SC"' in css and '"Microsoft YaHei"' in css
