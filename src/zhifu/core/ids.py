"""Prefixed, time-sortable ids: `pay_01H…` (a ULID in Crockford base32 after the prefix)."""

from __future__ import annotations

import os
import time

from ulid import ULID

from zhifu.core.errors import InvalidRequest

PREFIXES = frozenset(
    {"pay", "re", "mch", "sto", "trm", "key", "evt", "whe", "je", "acc", "hold", "idem", "set", "po",
     "code", "usr", "cmp", "rcb", "rcl", "case", "sub", "fee", "bill", "alrt", "cmpl", "sess"}
)


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A new id; `at_ms` lets the simulator stamp ids with simulated time so they sort by it."""
    assert prefix in PREFIXES, prefix
    ms = at_ms if at_ms is not None else time.time_ns() // 1_000_000
    return f"{prefix}_{ULID.from_timestamp(ms / 1000) if at_ms is not None else ULID()}"


def new_id_fast(prefix: str, ms: int) -> str:
    """The same shape as new_id, built without the ULID object, for bulk generation."""
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(value)}"


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int) -> str:
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def parse_id(text: str, prefix: str, *, param: str = "id") -> str:
    """Check that `text` is an id with the given prefix, or raise InvalidRequest naming the param."""
    head, _, body = text.partition("_")
    if head != prefix or len(body) != 26 or any(c not in _ALPHABET for c in body):
        raise InvalidRequest(f"{param} must be an id starting with {prefix}_", param=param, code="invalid_id")
    return text
