"""Idempotency recovery points and merchant refund numbers

A key row names the object its request's work created (written in the work's own transaction), and each refund
carries the merchant's refund number (商户退款单号), unique per payment; existing refunds take their own id.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys') as batch:
        batch.add_column(sa.Column('resource_kind', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('resource_id', sa.String(length=32), nullable=True))
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('merchant_refund_no', sa.String(length=64), nullable=True))
    op.execute("UPDATE refunds SET merchant_refund_no = id WHERE merchant_refund_no IS NULL")
    with op.batch_alter_table('refunds') as batch:
        batch.alter_column('merchant_refund_no', existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(batch.f('uq_refunds_merchant_id_payment_id_merchant_refund_no'),
                                       ['merchant_id', 'payment_id', 'merchant_refund_no'])


def downgrade() -> None:
    with op.batch_alter_table('refunds') as batch:
        batch.drop_constraint(batch.f('uq_refunds_merchant_id_payment_id_merchant_refund_no'), type_='unique')
        batch.drop_column('merchant_refund_no')
    with op.batch_alter_table('idempotency_keys') as batch:
        batch.drop_column('resource_id')
        batch.drop_column('resource_kind')
