"""商户的读取 / Reads of merchants for other capabilities.

The dashboard's rollups, settlement, statements, fees, reconciliation, risk, the console and the codes read
merchants as sets (names, towns, acquirers, settlement accounts of many merchants at once). They read them
through this module — a view of the merchants' public columns (no encrypted personal data), usable in joins
like a table and never written through, and a few bulk reads — and never import the merchants' tables. Both
databases fold the view into the outer query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Subquery, and_, select

from zhifu.db.batching import in_chunks
from zhifu.merchants.models import merchants, stores

merchants_view: Subquery = select(*(c for c in merchants.c if not c.name.endswith("_enc"))).subquery(
    "merchants_v"
)
"""Every merchant's public columns: id, status, type, names, masked personal data, mcc, town and village, address,
settlement bank, masked account and account name, acquirer, settlement cycle, caps, frozen, created and activated
times."""


def active_ids(conn: Connection) -> list[str]:
    """The ids of the active merchants, in id order."""
    m = merchants.c
    return list(conn.execute(select(m.id).where(m.status == "active").order_by(m.id)).scalars())


def has_store(conn: Connection, merchant_id: str, store_id: str) -> bool:
    s = stores.c
    q = select(s.id).where(and_(s.merchant_id == merchant_id, s.id == store_id))
    return conn.execute(q).first() is not None


def _decrypted(conn: Connection, ids: Sequence[str], column: str) -> dict[str, str]:
    from zhifu.privacy import keyring

    ring = keyring(conn)
    out: dict[str, str] = {}
    wanted = list(dict.fromkeys(ids))
    for chunk in in_chunks(wanted):
        q = select(merchants.c.id, merchants.c[column]).where(merchants.c.id.in_(chunk))
        out.update({mid: ring.decrypt(enc) for mid, enc in conn.execute(q)})
    return out


def settle_accounts(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """Merchant id → its settlement account number in clear (for the bank's payout file), in bulk."""
    return _decrypted(conn, ids, "settle_account_enc")


def legal_person_names(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, str]:
    """Merchant id → its legal person's name in clear, for these merchants (all if None), in bulk."""
    if ids is None:
        ids = list(conn.execute(select(merchants.c.id)).scalars())
    return _decrypted(conn, ids, "legal_person_name_enc")
