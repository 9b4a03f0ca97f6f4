"""The field-encryption key ring: one row per key version, its key wrapped by the secret key."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, String, Table, Text

from zhifu.db.meta import metadata, utcnow_column

# status: active (new ciphertexts use it; one at a time), retiring (being re-encrypted away from), retired (no
# ciphertext uses it; its key is erased). Version 0 is the key derived from the secret key itself (format s4g1).
privacy_keys = Table(
    "privacy_keys",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("status", String(8), nullable=False),
    Column(
        "wrapped", Text, nullable=True
    ),  # SM4-GCM under a key derived from ZHIFU_SECRET_KEY; NULL once retired
    utcnow_column("created_at"),
    utcnow_column("retired_at", nullable=True),
    CheckConstraint("status in ('active','retiring','retired')", name="status"),
)
