"""Dates typed by people: one reading for the API and forms (the error object names the field, in Chinese first)
and one for the commands (the option and the value, exit 1)."""

from __future__ import annotations

import datetime as dt

import pytest
import typer

from zhifu.cli import date_option
from zhifu.core.dates import date_or_none, parse_date
from zhifu.core.errors import InvalidRequest


def test_a_date_is_read_with_blanks_around_it() -> None:
    assert parse_date(" 2022-06-15 ", "due_date") == dt.date(2022, 6, 15)
    assert date_or_none("2022-02-30") is None


@pytest.mark.parametrize("text", ["2022-02-30", "15/06/2022", "", "tomorrow"])
def test_a_bad_date_names_its_field_chinese_first(text: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_date(text, "due_date")
    assert e.value.param == "due_date"
    msg = str(e.value)
    assert msg.index("须为") < msg.index("must be") and "due_date" in msg


def test_a_bad_date_option_names_the_option_and_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert date_option("2024-05-20") == dt.date(2024, 5, 20)
    with pytest.raises(typer.Exit) as e:
        date_option("2024-13-01", "--from")
    assert e.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "--from" in err and "'2024-13-01'" in err and "不是日期" in err and "is not a date" in err
