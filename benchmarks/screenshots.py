"""`make screenshots`: every main page of every console login at 1366 px, the API reference, and the cashier at phone
size, as PNGs in screenshots/ — taken from a real `zhifu demo` (a short history) in Debian's chromium.

    .venv/bin/python benchmarks/screenshots.py [--out screenshots] [--days 30] [--port 8090]

Each login's menu is read from its own page, so a page added to a menu is photographed without changing this file.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import urlopen

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
LOGIN_LINE = re.compile(r"^\s+(.+?) login:\s*(\S+) / (\S+)\s*$")
START_TIMEOUT_S = 600  # a loaded machine builds the history slowly
FONT_SWAP_MS = (
    700  # after the font is loaded, the time Chromium takes to lay every text run out again with it
)


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


def _start_demo(
    root: Path, out: Path, days: int, port: int
) -> tuple[subprocess.Popen[str], list[tuple[str, str, str]]]:
    db = out / "demo.db"
    cmd = [
        str(root / ".venv/bin/zhifu"),
        "demo",
        "--days",
        str(days),
        "--port",
        str(port),
        "--db-file",
        str(db),
    ]
    proc = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    logins: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    assert proc.stdout is not None
    for line in proc.stdout:
        found = LOGIN_LINE.match(line)
        if found:
            logins.append(found.groups())  # type: ignore[arg-type]
        if "live traffic:" in line or time.monotonic() > deadline:
            break
    threading.Thread(
        target=lambda: [None for _ in proc.stdout], daemon=True
    ).start()  # never let the pipe fill
    while time.monotonic() < deadline:
        try:
            with urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                if r.status == 200:
                    return proc, logins
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the demo did not answer in time")


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_load_state("networkidle")
    # the bundled CJK font, when the system has none: load it, let every text run swap to it, then shoot
    page.evaluate(
        "document.fonts.load('1em \"Zhifu CJK\"', '智付').then(() => document.fonts.ready).then(() => true)"
    )
    page.wait_for_timeout(FONT_SWAP_MS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="screenshots")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--port", type=int, default=8090)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(__file__).resolve().parents[1]
    out = (root / args.out).resolve()
    out.mkdir(exist_ok=True)
    proc, logins = _start_demo(root, out, args.days, args.port)
    base = f"http://127.0.0.1:{args.port}"
    shots: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport=DESK, locale="zh-CN")
            page = ctx.new_page()
            for path in ("/login", "/docs", "/redoc"):
                page.goto(base + path)
                _settle(page)
                page.wait_for_timeout(1500 if path != "/login" else 0)
                page.screenshot(path=str(out / f"public-{_slug(path)}.png"), full_page=path == "/login")
                shots.append(f"public-{_slug(path)}.png")
            ctx.close()
            for role, username, password in logins:
                ctx = browser.new_context(viewport=DESK, locale="zh-CN")
                page = ctx.new_page()
                page.goto(base + "/login")
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", password)
                page.click("main button[type=submit]")
                page.wait_for_load_state("networkidle")
                hrefs = [
                    h
                    for h in page.eval_on_selector_all(
                        "nav.topnav a", "els => els.map(e => e.getAttribute('href'))"
                    )
                    if h and h.startswith("/")
                ]
                for href in dict.fromkeys(hrefs):
                    page.goto(base + href)
                    _settle(page)
                    name = f"{_slug(username)}-{_slug(href)}.png"
                    page.screenshot(path=str(out / name), full_page=True)
                    shots.append(name)
                ctx.close()
                print(f"{role}: {len(hrefs)} pages", flush=True)
            con = sqlite3.connect(out / "demo.db")
            code = con.execute(
                "select id from payment_codes where kind='static' and status='active' limit 1"
            ).fetchone()
            con.close()
            if code:
                ctx = browser.new_context(
                    viewport=PHONE,
                    locale="zh-CN",
                    is_mobile=True,
                    user_agent=(
                        "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile "
                        "Safari/537.36 MicroMessenger/8.0.40"
                    ),
                )
                page = ctx.new_page()
                page.goto(f"{base}/c/{code[0]}")
                _settle(page)
                page.screenshot(path=str(out / "cashier-phone.png"), full_page=True)
                shots.append("cashier-phone.png")
                ctx.close()
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print(f"{len(shots)} screenshots in {out}")
    if not shots:
        sys.exit(1)


if __name__ == "__main__":
    main()
