"""Job leases: background duties run by one worker process at a time

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('expires_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.Column('runs', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases'))
    )


def downgrade() -> None:
    op.drop_table('job_leases')
