"""日期输入 / Dates typed by people: one reading of YYYY-MM-DD for the API, the forms and the commands, and one
bilingual error naming the field (the API's error object) or the option (the command line)."""

from __future__ import annotations

import datetime as dt

from zhifu.core.errors import InvalidRequest

EXAMPLE = "2022-06-15"


def date_or_none(text: str) -> dt.date | None:
    """The date `text` names (blanks around it allowed), or None when it names none."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_date(text: str, param: str) -> dt.date:
    """The date `text` names, or InvalidRequest naming `param` (a 400 with the field, nothing changed)."""
    day = date_or_none(text)
    if day is None:
        raise InvalidRequest(
            f"{param} 须为 YYYY-MM-DD 格式的日期 / {param} must be a date like {EXAMPLE}", param=param
        )
    return day


def option_error(text: str, option: str) -> str:
    """The command line's message for a bad date option: the option and the value, Chinese first."""
    return f"{option}：{text!r} 不是日期（形如 {EXAMPLE}）/ {option}: {text!r} is not a date like {EXAMPLE}"
