"""Consents per data subject, purpose and recipient

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:40:00
"""
from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('recipient', sa.String(length=64), server_default='', nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('data_categories', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('evidence_digest', sa.String(length=64), nullable=True),
    sa.Column('granted_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("subject_type in ('payer','merchant')", name=op.f('ck_consents_subject_type')),
    sa.CheckConstraint("purpose in ('marketing', 'credit_sharing', 'analytics_export')", name=op.f('ck_consents_purpose')),
    sa.CheckConstraint("method in ('app', 'paper', 'console', 'api', 'sms')", name=op.f('ck_consents_method')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    op.create_index('ix_consents_subject', 'consents', ['subject_type', 'subject_key', 'purpose'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_consents_subject', table_name='consents')
    op.drop_table('consents')
