"""Console form tokens: a submitted form acts once

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_form_tokens',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('result_url', sa.String(length=300), server_default='', nullable=False),
    sa.Column('created_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_console_form_tokens'))
    )
    with op.batch_alter_table('console_form_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_form_tokens_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_form_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_form_tokens_created_at'))
    op.drop_table('console_form_tokens')
