"""Chromium: the regulator opens the audit log, filters it, verifies it, and downloads a proof that the
standalone docs/audit_verify.py accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_browser import DESK, Site, Tab
from zhifu import audit

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "audit_verify.py"


def test_regulator_verifies_the_log_and_checks_a_proof(chromium: Any, site: Site, tmp_path: Path) -> None:
    audit.integrate_db(site.db)
    tab = Tab(chromium, site, DESK)
    try:
        page = tab.page
        tab.login("pboc")
        page.wait_for_url("**/console/regulator")
        page.click("nav >> text=审计日志 / Audit log")
        page.wait_for_url("**/console/regulator/audit")
        assert int(page.inner_text("[data-size]")) >= 1
        page.fill("input[name=action]", "merchant.approve")
        page.click("main form.filters button[type=submit]")
        assert page.locator("[data-entry]").count() == 1
        page.click("[data-verify-button]")
        page.wait_for_selector("[data-verify-ok]")
        with page.expect_download() as dl:
            page.click("[data-proof-link]")
        path = tmp_path / "proof.json"
        dl.value.save_as(str(path))
        assert json.loads(path.read_text())["type"] == "inclusion"
        key = (page.text_content("[data-public-key]") or "").strip()
        tab.shot("regulator-audit-zh")
    finally:
        tab.close()
    out = subprocess.run([sys.executable, str(SCRIPT), str(path), key], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("OK"), out.stdout + out.stderr
