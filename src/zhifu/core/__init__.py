"""Core: money in fen, ids, the clock, errors and settings — what every capability stands on."""

from zhifu.core.clock import Clock, FixedClock, SystemClock, now, set_clock
from zhifu.core.config import Settings, get_settings
from zhifu.core.errors import (
    ConflictError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ZhifuError,
)
from zhifu.core.ids import new_id, parse_id
from zhifu.core.money import PAYMENT_FEN_MAX, format_fen, parse_yuan

__all__ = [
    "Clock",
    "ConflictError",
    "FixedClock",
    "InvalidRequest",
    "PAYMENT_FEN_MAX",
    "NotFound",
    "PermissionDenied",
    "Settings",
    "SystemClock",
    "ZhifuError",
    "now",
    "format_fen",
    "get_settings",
    "new_id",
    "parse_id",
    "parse_yuan",
    "set_clock",
]
