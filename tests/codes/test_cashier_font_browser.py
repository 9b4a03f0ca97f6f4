"""收银台的中文字形 / the cashier's Chinese glyphs: in a Chromium with no Chinese system font, every piece of Chinese
text on the cashier (the shop's name, labels, the bold pay button) is drawn with the bundled Source Han Sans SC
once the page has loaded it, never with a Latin face that draws boxes; the phone-size screenshot is kept."""

from __future__ import annotations

from typing import Any

from tests.codes.test_cashier_browser import ARTIFACTS, UAS, browser, live, phone, shop  # noqa: F401

CJK_FACES = {
    "Source Han Sans SC",
    "Noto Sans CJK SC",
    "PingFang SC",
    "Microsoft YaHei",
    "WenQuanYi Micro Hei",
}
CHINESE = (
    ".cashier__payto",
    "[data-merchant]",
    ".cashier__label",
    "[data-app]",
    "[data-pay]",
    ".brand__mark",
)


def test_chinese_on_the_cashier_is_drawn_with_a_cjk_face(live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    _, code = shop
    page = phone(UAS["wechat"])
    page.goto(f"{live.base}/c/{code}")
    loaded = page.evaluate(
        "document.fonts.load('1em \"Zhifu CJK\"', '付款').then(() => document.fonts.ready)"
        ".then(() => [...document.fonts].filter(f => f.family.includes('Zhifu CJK')).map(f => f.status))"
    )
    assert loaded and set(loaded) == {"loaded"}, loaded
    page.wait_for_timeout(300)  # the text runs laid out again with the face just loaded
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    drawn: dict[str, set[str]] = {}
    for sel in CHINESE:
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": sel})["nodeId"]
        assert node, sel
        text: Any = page.locator(sel).first.inner_text()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), (sel, text)
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        drawn[sel] = {f["familyName"] for f in fonts}
    # Latin faces may draw the Latin letters and digits beside, but each element's Chinese needs a CJK face
    assert all(faces & CJK_FACES for faces in drawn.values()), drawn
    assert "Liberation Sans" not in drawn["[data-merchant]"] | drawn["[data-pay]"], drawn  # bold Chinese
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cashier-phone-cjk.png"), full_page=True)
