"""字段分级 / Every stored column classified (JR/T 0171-2020 §4.2): C2 identifies a person or their money
(ID numbers, names, phones, card and account numbers, a payer's identifiers), C1 is personal data for internal
use (a person's transactions, staff sign-ins, operators' notes), N is not personal. C3 (authentication data:
card verification codes, track data, PINs, passwords, biometrics) is never stored — `zhifu.privacy.c3` refuses it
at the API — so no column may be C3.

The registry is `fields.csv` beside this module (table, column, class, treatment, note). A C2 column is stored
encrypted (`*_enc`, SM4-GCM, rotated by `zhifu keys rotate`), masked (`*_masked`), as a blind index (keyed SM3),
or as a pseudonym (the rail's payer identifier); never in plaintext. A test fails when a column is added
without a row here, or a row names a column that is gone.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from pathlib import Path
from typing import Final

CLASSES: Final = ("N", "C1", "C2")  # C3 is never stored
TREATMENTS: Final = {
    "N": ("plain",),
    "C1": ("plain", "digest"),
    "C2": ("encrypted", "masked", "blind_index", "pseudonym"),
}
REGISTRY_PATH: Final = Path(__file__).with_name("fields.csv")


@dataclasses.dataclass(frozen=True)
class Field:
    table: str
    column: str
    klass: str
    treatment: str
    note: str


@functools.cache
def registry() -> dict[tuple[str, str], Field]:
    """(table, column) → its classification, read from fields.csv."""
    with REGISTRY_PATH.open(encoding="utf-8", newline="") as fh:
        rows = [
            Field(r["table"], r["column"], r["class"], r["treatment"], r["note"]) for r in csv.DictReader(fh)
        ]
    return {(f.table, f.column): f for f in rows}


def problems() -> list[str]:
    """Everything wrong between the registry and the tables: unclassified or stale columns, a class or treatment
    the rules do not allow, an encrypted or masked column not named so (the rotation finds `*_enc` by name)."""
    from zhifu.db.schema import metadata

    reg = registry()
    stored = {(t.name, c.name) for t in metadata.tables.values() for c in t.columns}
    out = [
        f"{t}.{c}: not classified in privacy/fields.csv (zhifu privacy fields --missing suggests a row)"
        for t, c in sorted(stored - set(reg))
    ]
    out += [f"{t}.{c}: classified but no such column" for t, c in sorted(set(reg) - stored)]
    for (t, c), f in sorted(reg.items()):
        if f.klass not in CLASSES:
            out.append(f"{t}.{c}: class {f.klass!r} is not one of {', '.join(CLASSES)} (C3 is never stored)")
        elif f.treatment not in TREATMENTS[f.klass]:
            out.append(f"{t}.{c}: a {f.klass} column cannot be stored {f.treatment!r}")
        if c.endswith("_enc") != (f.treatment == "encrypted"):
            out.append(f"{t}.{c}: encrypted columns, and only they, are named *_enc")
        if c.endswith("_masked") and f.treatment != "masked":
            out.append(f"{t}.{c}: a *_masked column is C2 masked")
    return out


_FREE_TEXT: Final = re.compile(
    r"^(text|note|notes|reason|done_note|pending_note|review_note|decision_note|extension_reason|"
    r"escalation_reason|revoke_reason|evidence|body|response_body|latest)$"
)
_SECRET_DIGESTS: Final = (
    "password_hash",
    "secret_hash",
    "code_hash",
    "token_hash",
    "rate_token_hash",
    "request_hash",
)


def suggest(table: str, column: str) -> tuple[str, str, str]:
    """A first classification by the naming rules (`*_enc`, `*_masked`, `*_index`, payer identifiers, free
    text, digests of secrets) for a person to review before it goes into fields.csv."""
    n = column
    if n.endswith("_enc"):
        return "C2", "encrypted", "SM4-GCM under the field key ring (zhifu keys rotate)"
    if n.endswith("_masked"):
        return (
            "C2",
            "masked",
            "masked form only (cards 6+4, phones 3+4, IDs 6+4, names keep the last character)",
        )
    if n.endswith("_index") and any(k in n for k in ("phone", "person", "card")):
        return "C2", "blind_index", "keyed SM3-HMAC of the value: exact lookups without decrypting"
    if n in ("payer_ref", "payer_key", "payer_id") or (
        n == "subject" and (table.startswith("risk_") or table == "campaign_counters")
    ):
        return (
            "C2",
            "pseudonym",
            "the rail's payer identifier (openid, buyer id, card token): names no person by itself",
        )
    if n == "subject_key":
        return "C2", "blind_index", "a payer is the blind index of the phone; a merchant its id"
    if n in _SECRET_DIGESTS:
        return "C1", "digest", "a one-way hash of a secret, never the secret"
    if _FREE_TEXT.match(n) or n == "ip":
        return "C1", "plain", "operator-written text or a network address: shown to operators only"
    return "N", "plain", ""


def missing_rows() -> list[list[str]]:
    """fields.csv rows for the columns the registry lacks, suggested by the naming rules (review them)."""
    from zhifu.db.schema import metadata

    reg = registry()
    return [
        [t.name, c.name, *suggest(t.name, c.name)]
        for t in sorted(metadata.tables.values(), key=lambda t: t.name)
        for c in t.columns
        if (t.name, c.name) not in reg
    ]


def c2_columns(treatment: str | None = None) -> list[Field]:
    return [
        f for f in registry().values() if f.klass == "C2" and (treatment is None or f.treatment == treatment)
    ]


__all__ = ["CLASSES", "TREATMENTS", "Field", "c2_columns", "missing_rows", "problems", "registry", "suggest"]
