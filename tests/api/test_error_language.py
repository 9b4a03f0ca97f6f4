"""错误信息跟随 Accept-Language / an error's message follows Accept-Language: Chinese when asked, English when asked,
both (Chinese first) when the request names no language; the code, type and param never change, and the bad
request changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from zhifu.api.language import localize, split_message
from zhifu.payments.models import payments


def _count(platform: Any) -> int:
    with platform.db.read() as c:
        return int(c.execute(select(func.count()).select_from(payments)).scalar_one())


def test_a_missing_route_speaks_the_asked_language(platform: Any) -> None:
    got = {
        lang: platform.client.get("/v1/nowhere", headers={"Accept-Language": lang} if lang else {})
        for lang in ("zh-CN,zh;q=0.9", "en-US,en;q=0.8", "")
    }
    for r in got.values():
        assert r.status_code == 404 and r.json()["error"]["code"] == "route_missing"
    assert got["zh-CN,zh;q=0.9"].json()["error"]["message"] == "没有这个地址"
    assert got["zh-CN,zh;q=0.9"].headers["content-language"] == "zh-CN"
    assert got["en-US,en;q=0.8"].json()["error"]["message"] == "no route GET /v1/nowhere"
    assert got["en-US,en;q=0.8"].headers["content-language"] == "en"
    assert got[""].json()["error"]["message"] == "没有这个地址 / no route GET /v1/nowhere"
    assert "content-language" not in got[""].headers


def test_a_refused_payment_speaks_the_asked_language_and_changes_nothing(platform: Any) -> None:
    _, auth = platform.merchant()
    body = {"amount_fen": 100, "merchant_order_no": "LANG1", "auth_code": "12345"}
    before = _count(platform)
    answers = {}
    for lang in ("zh", "en", None):
        headers = {**auth, **({"Accept-Language": lang} if lang else {})}
        r = platform.client.post("/v1/payments", json=body, headers=headers)
        assert r.status_code == 400, r.text
        answers[lang] = r.json()["error"]
    assert {e["code"] for e in answers.values()} == {"invalid_auth_code"}  # the code is stable
    assert {e["param"] for e in answers.values()} == {"auth_code"}
    assert answers["zh"]["message"] == "付款码无法识别"
    assert answers["en"]["message"].startswith("auth_code is not a pay code")
    assert answers[None]["message"] == f"{answers['zh']['message']} / {answers['en']['message']}"
    assert _count(platform) == before


def test_the_frameworks_own_refusals_have_their_chinese(platform: Any) -> None:
    _, auth = platform.merchant()
    before = _count(platform)
    zh = platform.client.post(
        "/v1/payments", json={"merchant_order_no": "LANG2"}, headers={**auth, "Accept-Language": "zh-CN"}
    )
    en = platform.client.post(
        "/v1/payments", json={"merchant_order_no": "LANG2"}, headers={**auth, "Accept-Language": "en"}
    )
    assert zh.status_code == en.status_code == 400
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "parameter_missing"
    assert zh.json()["error"]["param"] == en.json()["error"]["param"] == "amount_fen"
    assert zh.json()["error"]["message"] == "缺少参数 amount_fen"
    assert en.json()["error"]["message"] == "missing parameter amount_fen"
    assert _count(platform) == before
    assert (
        localize("channel: Input should be 'wechat' or 'alipay'", "zh")
        == "channel：应为 'wechat'、'alipay' 之一"
    )
    assert localize("amount_fen: Input should be greater than 0", "zh") == "amount_fen：应大于 0"


def test_the_two_halves_of_a_message() -> None:
    assert split_message("towns.0.population: 人口必须为正 / must be positive") == (
        "towns.0.population: 人口必须为正",
        "towns.0.population: must be positive",
    )
    assert split_message("amount_fen must be positive") is None
    assert split_message("金额 / 元") is None  # both halves Chinese: not a bilingual message
    assert (
        localize("amount_fen must be positive", "zh") == "amount_fen must be positive"
    )  # no entry: as it is
    assert localize("Refund", "zh") == "退款"  # an English message the catalogue knows is given in Chinese
