"""The audit log's tables: a queue appends land in, the sequenced log, the Merkle tiles, the signed checkpoints.

The log is the platform's own record, one per cell, so it is keyed by leaf index, not by merchant; rows name
the merchant they concern (`merchant_id`) so a merchant's view is a filter, not a scan.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from zhifu.db.meta import metadata, utcnow_column

# Appends from any transaction land here, cheaply (one insert, no hashing); the integrator moves them into
# audit_log in id order, assigning leaf indexes, and deletes them here in the same transaction.
audit_queue = Table(
    "audit_queue",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("body", Text, nullable=False),  # the entry's canonical JSON, exactly the bytes that are hashed
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("merchant_id", String(32), nullable=True),
    utcnow_column("at"),
)

# The sequenced, append-only log: leaf i of the SM3 Merkle tree is SM3(0x00 || body of row i).
audit_log = Table(
    "audit_log",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("merchant_id", String(32), nullable=True),
    utcnow_column("at"),
    Index("ix_audit_log_object", "object_type", "object_id"),
    Index("ix_audit_log_merchant", "merchant_id", "leaf_index"),
    Index("ix_audit_log_action", "action", "leaf_index"),
)

# Tiles of 256 hashes (Trillian Tessera's layout): level 0 holds leaf hashes, level l+1 the roots of level l's
# full tiles. The right-most tile of a level is partial and is rewritten as it fills.
audit_tiles = Table(
    "audit_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),  # 32 bytes per entry, at most 256 entries
)

# One row: the tree's size and the latest signed checkpoint (refreshed on every integration that grows it).
audit_state = Table(
    "audit_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("latest", Text, nullable=True),  # the latest checkpoint's text
    utcnow_column("updated_at"),
    utcnow_column("verified_at", nullable=True),  # the last `zhifu audit verify`, for the dashboard
    Column("verified_size", BigInteger, nullable=True),
    Column("verified_ok", String(1), nullable=True),
    Column("verified_problem", Text, nullable=True),
)

# Checkpoints kept for good (about one a minute while the log grows); anyone may hold copies of them.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("key_id", String(8), nullable=False),
    utcnow_column("at"),
)

# The public keys that have signed checkpoints (private keys are derived from the secret key by version).
audit_keys = Table(
    "audit_keys",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("key_id", String(8), nullable=False, unique=True),
    Column("public_key", String(128), nullable=False),
    utcnow_column("created_at"),
    utcnow_column("retired_at", nullable=True),
)
