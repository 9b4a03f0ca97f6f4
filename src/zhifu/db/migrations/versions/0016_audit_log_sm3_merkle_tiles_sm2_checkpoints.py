"""Audit log: queue, sequenced entries, SM3 Merkle tiles, SM2-signed checkpoints, signing keys

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=True),
    sa.Column('at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_queue'))
    )
    op.create_table('audit_log',
    sa.Column('leaf_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=True),
    sa.Column('at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_object', 'audit_log', ['object_type', 'object_id'], unique=False)
    op.create_index('ix_audit_log_merchant', 'audit_log', ['merchant_id', 'leaf_index'], unique=False)
    op.create_index('ix_audit_log_action', 'audit_log', ['action', 'leaf_index'], unique=False)
    op.create_table('audit_tiles',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hashes', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_tiles'))
    )
    op.create_table('audit_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('latest', sa.Text(), nullable=True),
    sa.Column('updated_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_size', sa.BigInteger(), nullable=True),
    sa.Column('verified_ok', sa.String(length=1), nullable=True),
    sa.Column('verified_problem', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_state'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_keys',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('public_key', sa.String(length=128), nullable=False),
    sa.Column('created_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_audit_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_audit_keys_key_id'))
    )


def downgrade() -> None:
    op.drop_table('audit_keys')
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_state')
    op.drop_table('audit_tiles')
    op.drop_index('ix_audit_log_action', table_name='audit_log')
    op.drop_index('ix_audit_log_merchant', table_name='audit_log')
    op.drop_index('ix_audit_log_object', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('audit_queue')
