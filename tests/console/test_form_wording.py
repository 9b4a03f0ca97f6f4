"""The console's form refusals: operations name the field and the reason as msgids (no language of their own);
the routes that show the form word them in the page's language, Chinese first."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from zhifu.console import operations as ops
from zhifu.core.errors import ConflictError, InvalidRequest, ZhifuError
from zhifu.core.messages import N_
from zhifu.web.i18n import translator


def explain(exc: ZhifuError, lang: str) -> str:
    from zhifu.console import routes  # noqa: F401 - the console's routes load (and mount) the operator's
    from zhifu.console.operator_routes import explain as word

    return word(exc, lang)


def test_operations_do_not_import_the_web_layer() -> None:
    tree = ast.parse(Path(ops.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported if m.startswith("zhifu.web")]


def test_a_refusal_carries_its_field_and_msgid_untranslated() -> None:
    exc = ops.bad("budget", N_("Must be more than zero."))
    assert (exc.field, exc.param, exc.msgid, exc.values) == (
        "budget",
        "budget",
        "Must be more than zero.",
        {},
    )
    assert exc.message == "Must be more than zero."


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_route_words_the_refusal_in_the_page_language(lang: str) -> None:
    _ = translator(lang)
    text = explain(ops.bad("budget", N_("Must be more than zero.")), lang)
    if lang == "zh":
        assert text == f"{_('Budget')}：{_('Must be more than zero.')}"
        assert text.startswith("预算：") and "Must" not in text
    else:
        assert text == "Budget: Must be more than zero."


def test_form_parsers_refuse_naming_the_field() -> None:
    with pytest.raises(ops.FormError) as caught:
        ops.parse_percent("abc", "rate")
    assert caught.value.field == "rate"
    assert explain(caught.value, "zh").startswith("费率：")
    with pytest.raises(ops.FormError) as caught:
        ops.parse_date("2026-13-01", "effective_from")
    assert explain(caught.value, "en") == "Effective from: Write the date as YYYY-MM-DD."


def test_a_validation_error_names_the_aliased_field() -> None:
    class Rule(BaseModel):
        rate_ppm: int = Field(ge=0)

    with pytest.raises(ValidationError) as caught:
        Rule(rate_ppm=-1)
    exc = ops.from_validation(caught.value, {"rate_ppm": "rate"})
    assert (exc.field, exc.msgid) == ("rate", "Must not be negative.")
    assert explain(exc, "en") == "Rate: Must not be negative."


def test_service_errors_keep_their_chinese_half_and_code_messages() -> None:
    bilingual = InvalidRequest("校验位错误 / bad check digit", param="credit_code")
    assert explain(bilingual, "zh").endswith("：校验位错误")
    assert explain(bilingual, "en").endswith(": bad check digit")
    state = ConflictError("campaign is ended", code="campaign_ended")
    assert explain(state, "en") == "The campaign has ended."
    assert explain(state, "zh").endswith("（campaign is ended）")
