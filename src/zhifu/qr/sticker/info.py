"""What a printed sticker shows about one merchant."""

from __future__ import annotations

from dataclasses import dataclass, field

from zhifu.core.errors import InvalidRequest

SHORT_NAME_CHARS_MAX = 25
MERCHANT_ID_CHARS_MAX = 64
CODE_URL_CHARS_MAX = 512  # an EMV payload is at most 512 characters; URLs are far shorter
METHODS_MAX = 12  # two rows of pills fit; more would run off the sticker
METHOD_CHARS_MAX = 10
DEFAULT_PROGRAMME = "沂源县智付普惠工程"
DEFAULT_METHODS = ("云闪付", "银联", "微信", "支付宝", "数字人民币")


@dataclass(slots=True)
class StickerInfo:
    """The merchant's short (Chinese) name, id, the URL or payload the code carries, accepted methods."""

    short_name: str
    merchant_id: str
    code_url: str
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    programme: str = DEFAULT_PROGRAMME

    def __post_init__(self) -> None:
        _check("short_name", self.short_name, SHORT_NAME_CHARS_MAX)
        _check("merchant_id", self.merchant_id, MERCHANT_ID_CHARS_MAX)
        _check("code_url", self.code_url, CODE_URL_CHARS_MAX)
        _check("programme", self.programme, 40)
        if len(self.methods) > METHODS_MAX:
            raise InvalidRequest(f"at most {METHODS_MAX} payment methods fit on a sticker", param="methods")
        for method in self.methods:
            _check("methods", method, METHOD_CHARS_MAX)


def _check(param: str, value: str, chars_max: int) -> None:
    if not isinstance(value, str) or value.strip() == "":
        raise InvalidRequest(f"{param} must be non-empty text", param=param)
    if len(value) > chars_max:
        raise InvalidRequest(f"{param} has {len(value)} characters, more than {chars_max}", param=param)
    if any(ord(ch) < 32 for ch in value):
        raise InvalidRequest(f"{param} contains a control character", param=param)
