"""Browsers get human pages in Chinese for a wrong address, a server error and a typo'd date; API clients keep the
JSON error object."""

from __future__ import annotations


def test_browser_pages_and_api_errors(world) -> None:  # type: ignore[no-untyped-def]
    html = {"Accept": "text/html,application/xhtml+xml"}
    anon = world.anonymous()
    page = anon.get("/no-such-page", headers=html)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "页面不存在" in page.text or "找不到" in page.text or "不存在" in page.text
    api = anon.get("/v1/no-such-thing", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "route_missing"
    plain = anon.get("/no-such-page")
    assert plain.headers["content-type"].startswith("application/json")
    op = world.login("op-rcb")
    typo = op.get("/console/operator/settlement-runs?before=2026-13-45", headers=html)
    assert typo.status_code == 400 and "请检查填写的内容" in typo.text
    assert "业务日期：日期格式应为 YYYY-MM-DD" in typo.text and "系统出错了" not in typo.text
