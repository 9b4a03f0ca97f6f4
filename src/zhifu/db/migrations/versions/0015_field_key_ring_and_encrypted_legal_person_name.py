"""The field-encryption key ring; legal representatives' names encrypted and masked like ID numbers

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 10:30:00
"""
import base64
import os

import sqlalchemy as sa
from alembic import op

import zhifu.db.meta

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _legacy_key(secret: str) -> bytes:
    """Version 0 of the ring (format s4g1): the key the platform derived from the secret before the ring."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SM3(), length=32, salt=b"zhifu-privacy", info=b"sm4-gcm+sm3-hmac").derive(
        secret.encode())[:16]


def _encrypt(key: bytes, text: str) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    nonce = os.urandom(12)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    ct = enc.update(text.encode()) + enc.finalize()
    return "s4g1:" + base64.b64encode(nonce + ct + enc.tag).decode()


def _mask(name: str) -> str:
    name = name.strip()
    return name if len(name) <= 1 else "*" * (len(name) - 1) + name[-1]


def upgrade() -> None:
    op.create_table('privacy_keys',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('wrapped', sa.Text(), nullable=True),
    sa.Column('created_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('active','retiring','retired')", name=op.f('ck_privacy_keys_status')),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_privacy_keys'))
    )
    with op.batch_alter_table('merchants') as batch:
        batch.add_column(sa.Column('legal_person_name_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('legal_person_name_masked', sa.String(length=50), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, legal_person_name FROM merchants")).all()
    if rows:
        from zhifu.core.config import secret  # the names are encrypted under the secret the data already uses

        key = _legacy_key(secret())
        conn.execute(sa.text("UPDATE merchants SET legal_person_name_enc = :e, legal_person_name_masked = :m "
                             "WHERE id = :i"),
                     [{"e": _encrypt(key, n), "m": _mask(n), "i": i} for i, n in rows])
    with op.batch_alter_table('merchants') as batch:
        batch.alter_column('legal_person_name_enc', existing_type=sa.Text(), nullable=False)
        batch.alter_column('legal_person_name_masked', existing_type=sa.String(length=50), nullable=False)
        batch.drop_column('legal_person_name')


def downgrade() -> None:
    from zhifu.privacy import keyring

    conn = op.get_bind()
    with op.batch_alter_table('merchants') as batch:
        batch.add_column(sa.Column('legal_person_name', sa.String(length=50), nullable=True))
    ring = keyring(conn)
    rows = conn.execute(sa.text("SELECT id, legal_person_name_enc FROM merchants")).all()
    if rows:
        conn.execute(sa.text("UPDATE merchants SET legal_person_name = :n WHERE id = :i"),
                     [{"n": ring.decrypt(e), "i": i} for i, e in rows])
    with op.batch_alter_table('merchants') as batch:
        batch.alter_column('legal_person_name', existing_type=sa.String(length=50), nullable=False)
        batch.drop_column('legal_person_name_masked')
        batch.drop_column('legal_person_name_enc')
    op.drop_table('privacy_keys')
