"""An index serving the history of successes in (succeeded_at, id) order, which the risk monitor reads past its
cursor every pass and replays a month of when it starts (without it: every succeeded payment read and sorted)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 20:45:00
"""
from alembic import op


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_payments_status_succeeded', 'payments', ['status', 'succeeded_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payments_status_succeeded', table_name='payments')
