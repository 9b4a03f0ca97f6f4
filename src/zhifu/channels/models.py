"""The operator's exception list of the rails: notifications refused, and payments or refunds the rails have not
answered within their maximum age. Nothing here moves money; an operator reads it and acts."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

rail_exceptions = Table(
    "rail_exceptions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("channel", String(20), nullable=False),
    Column(
        "kind", String(40), nullable=False
    ),  # bad_signature, merchant_mismatch, amount_mismatch, stuck_payment, ...
    Column("reason", String(500), nullable=False),
    Column("object_id", String(32), nullable=True),  # the payment or refund concerned, when known
    Column("body_sha256", String(64), nullable=True),
    Column("excerpt", String(500), nullable=True),  # the start of a refused notification, as received
    utcnow_column("created_at"),
    Index("ix_rail_exceptions_created", "created_at"),
    Index("ix_rail_exceptions_object", "object_id", "kind"),
)
