"""Data-subject requests: corrections and deletions under maker-checker

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 15:05:00
"""
from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subject_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('subject_masked', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=True),
    sa.Column('acquirer_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('field', sa.String(length=24), nullable=True),
    sa.Column('value_enc', sa.Text(), nullable=True),
    sa.Column('value_masked', sa.String(length=60), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('filed_by', sa.String(length=64), nullable=False),
    sa.Column('filed_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.CheckConstraint("kind in ('correction', 'deletion')", name=op.f('ck_subject_requests_kind')),
    sa.CheckConstraint("status in ('pending', 'applied', 'rejected')", name=op.f('ck_subject_requests_status')),
    sa.CheckConstraint("subject_type in ('payer','merchant')", name=op.f('ck_subject_requests_subject_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_requests'))
    )
    op.create_index('ix_subject_requests_status', 'subject_requests', ['status', 'filed_at'], unique=False)
    op.create_index('ix_subject_requests_subject', 'subject_requests', ['subject_type', 'subject_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_subject_requests_subject', table_name='subject_requests')
    op.drop_index('ix_subject_requests_status', table_name='subject_requests')
    op.drop_table('subject_requests')
