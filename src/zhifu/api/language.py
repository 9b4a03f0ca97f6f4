"""错误信息的语言 / the language of the API's error messages: an error's `message` follows the request's
Accept-Language — Chinese when Chinese is asked for, English when English is — while its `code`, `type` and `param`
never change. A request that names no language keeps the message as raised: both languages, Chinese first.

Messages are written "中文 / English" (Chinese first); an English-only message is looked up in the console's
translation catalogue for a Chinese reader and left in English when the catalogue has no entry."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from zhifu.web.i18n import get_translations, negotiate_language

_CJK: Final = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_SEPARATOR: Final = " / "
ERROR_BODY_MAX: Final = 64 * 1024  # an error object is small; anything bigger passes through untouched


def split_message(message: str) -> tuple[str, str] | None:
    """("中文", "English") of a bilingual message, keeping a leading field name ("amount_fen: 金额… / …") on both
    halves; None when the message is not written in both languages."""
    first = _CJK.search(message)
    if first is None:
        return None
    cut = message.find(_SEPARATOR, first.start())
    if cut < 0:
        return None
    zh, en = message[:cut].rstrip(), message[cut + len(_SEPARATOR) :].lstrip()
    if not en or _CJK.match(en):
        return None
    head = message[: first.start()]
    prefix = head[: head.rfind(": ") + 2] if ": " in head else ""
    return zh, (en if not prefix or en.startswith(prefix) else prefix + en)


# The framework's own refusals are written in English only: their Chinese, by the shape of the message.
_CHINESE: Final = (
    (re.compile(r"missing parameter (?P<p>\S+)"), "缺少参数 {p}"),
    (re.compile(r"unknown parameter (?P<p>\S+)"), "未知参数 {p}"),
    (re.compile(r"the body is not valid JSON.*"), "请求体不是合法 JSON"),
    (re.compile(r"the body is not valid UTF-8"), "请求体不是 UTF-8"),
    (re.compile(r"request body is over (?P<n>\d+) bytes"), "请求体超过 {n} 字节"),
    (re.compile(r"(?P<m>[A-Z]+) is not allowed on (?P<p>\S+)"), "{p} 不接受 {m} 请求"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Field required"), "{p}：必填"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be a valid integer.*"), "{p}：应为整数"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be a valid string.*"), "{p}：应为文本"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be a valid boolean.*"), "{p}：应为 true 或 false"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be greater than (?P<n>\S+)"), "{p}：应大于 {n}"),
    (
        re.compile(r"(?P<p>[\w.\[\]]+): Input should be greater than or equal to (?P<n>\S+)"),
        "{p}：应不小于 {n}",
    ),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be less than or equal to (?P<n>\S+)"), "{p}：应不大于 {n}"),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be less than (?P<n>\S+)"), "{p}：应小于 {n}"),
    (
        re.compile(r"(?P<p>[\w.\[\]]+): String should have at most (?P<n>\d+) characters?"),
        "{p}：最多 {n} 个字符",
    ),
    (
        re.compile(r"(?P<p>[\w.\[\]]+): String should have at least (?P<n>\d+) characters?"),
        "{p}：至少 {n} 个字符",
    ),
    (re.compile(r"(?P<p>[\w.\[\]]+): Input should be (?P<v>'.*')"), "{p}：应为 {v} 之一"),
)


def chinese(message: str) -> str | None:
    """The Chinese of an English-only message: the framework's refusals by their shape, else the console's
    catalogue; None when neither knows it."""
    for pattern, template in _CHINESE:
        found = pattern.fullmatch(message)
        if found:
            parts = found.groupdict()
            if "v" in parts:  # 'a', 'b' or 'c' → 'a'、'b'、'c'
                parts["v"] = parts["v"].replace("' or '", "'、'").replace("', '", "'、'")
            return template.format(**parts)
    translated = get_translations("zh").gettext(message)
    return translated if translated != message else None


def localize(message: str, lang: str) -> str:
    """The message in one language ("zh" or "en")."""
    parts = split_message(message)
    if parts is not None:
        return parts[0] if lang == "zh" else parts[1]
    if lang == "zh" and not _CJK.search(message):
        return chinese(message) or message
    return message


class ErrorLanguage:
    """ASGI middleware: a JSON error answer (4xx/5xx with an `error` object) to a request with Accept-Language gets
    its message in that language and a Content-Language header; everything else passes through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k.lower() == b"accept-language"), None)
        if not header:
            await self.app(scope, receive, send)
            return
        lang = negotiate_language(None, header.decode("latin-1"))
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send_localized(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ctype = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
                if message["status"] >= 400 and ctype.startswith(b"application/json"):
                    held["start"] = message  # an error object: rewrite it once the body is whole
                    return
                await send(message)
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                if sum(map(len, chunks)) > ERROR_BODY_MAX:  # not an error object: let it through as it is
                    await send(held.pop("start"))
                    await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                return
            body = b"".join(chunks)
            try:
                doc = json.loads(body)
                error = doc["error"]
                error["message"] = localize(str(error["message"]), lang)
                body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
                localized = True
            except (ValueError, KeyError, TypeError):  # not the error object after all: as it was
                localized = False
            start = held.pop("start")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            if localized:
                headers.append((b"content-language", b"zh-CN" if lang == "zh" else b"en"))
            await send({**start, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body, "more_body": message.get("more_body", False)}
            )

        await self.app(scope, receive, send_localized)


__all__ = ["ErrorLanguage", "chinese", "localize", "split_message"]
