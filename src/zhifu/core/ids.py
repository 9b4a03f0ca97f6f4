"""Prefixed, time-sortable ids: `pay_01H…` (a ULID in Crockford base32 after the prefix)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence

from ulid import ULID

from zhifu.core.errors import InvalidRequest

PREFIXES = frozenset(
    {
        "pay",
        "re",
        "mch",
        "sto",
        "trm",
        "key",
        "evt",
        "whe",
        "je",
        "acc",
        "hold",
        "idem",
        "set",
        "po",
        "code",
        "usr",
        "cmp",
        "rcb",
        "rcl",
        "case",
        "sub",
        "fee",
        "bill",
        "alrt",
        "cmpl",
        "sess",
    }
)


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A new id; `at_ms` lets the simulator stamp ids with simulated time so they sort by it."""
    assert prefix in PREFIXES, prefix
    ms = at_ms if at_ms is not None else time.time_ns() // 1_000_000
    return f"{prefix}_{ULID.from_timestamp(ms / 1000) if at_ms is not None else ULID()}"


# Ids need to be unique and time-ordered, not secret (keys and tokens use `secrets`): a generator seeded once
# from the system's entropy saves a system call per id when the simulator makes millions.
_random_bits = random.Random(os.urandom(32)).getrandbits


def new_id_fast(prefix: str, ms: int) -> str:
    """The same shape as new_id, built without the ULID object, for bulk generation."""
    return f"{prefix}_{_encode((ms << 80) | _random_bits(80))}"


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # ten bits at a time: 13 look-ups for 130 bits


def _encode(value: int) -> str:
    """128 bits as 26 Crockford base-32 characters, most significant first (the ULID text form)."""
    out = []
    for _ in range(13):
        out.append(_PAIRS[value & 1023])
        value >>= 10
    return "".join(reversed(out))


# Each random byte picks one of the 32 digits by its low five bits (256 = 8 × 32, so every digit is equally
# likely): 16 such digits carry the 80 random bits of an id.
_RANDOM_DIGIT = bytes(ord(_ALPHABET[b & 31]) for b in range(256))


def new_ids_fast(prefix: str, ms_each: Sequence[int]) -> list[str]:
    """new_id_fast for many times at once (the batch path makes thousands): the 48-bit time as the first ten
    digits, ten bits a look-up, and the random digits of all the ids drawn in one call."""
    assert prefix in PREFIXES, prefix
    tails = os.urandom(16 * len(ms_each)).translate(_RANDOM_DIGIT).decode("ascii")
    pairs, head = _PAIRS, prefix + "_"
    out = []
    for k, ms in enumerate(ms_each):
        assert 0 <= ms < 1 << 48, ms
        out.append(
            head
            + pairs[ms >> 40]
            + pairs[(ms >> 30) & 1023]
            + pairs[(ms >> 20) & 1023]
            + pairs[(ms >> 10) & 1023]
            + pairs[ms & 1023]
            + tails[16 * k : 16 * k + 16]
        )
    return out


def parse_id(text: str, prefix: str, *, param: str = "id") -> str:
    """Check that `text` is an id with the given prefix, or raise InvalidRequest naming the param."""
    head, _, body = text.partition("_")
    if head != prefix or len(body) != 26 or any(c not in _ALPHABET for c in body):
        raise InvalidRequest(f"{param} must be an id starting with {prefix}_", param=param, code="invalid_id")
    return text
