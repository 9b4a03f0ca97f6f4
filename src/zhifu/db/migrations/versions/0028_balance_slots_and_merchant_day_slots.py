"""Balance slots for accounts without an overdraft guard, and slots for the incentive merchant-day rollup

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 17:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_balance_slots',
    sa.Column('account_code', sa.String(length=96), nullable=False),
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('posted_dr_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('posted_cr_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('slot >= 0 and slot < 64', name=op.f('ck_ledger_balance_slots_slot')),
    sa.CheckConstraint('posted_dr_fen >= 0 and posted_cr_fen >= 0', name=op.f('ck_ledger_balance_slots_sums_non_negative')),
    sa.ForeignKeyConstraint(['account_code'], ['ledger_accounts.code'], name=op.f('fk_ledger_balance_slots_account_code_ledger_accounts')),
    sa.PrimaryKeyConstraint('account_code', 'slot', name=op.f('pk_ledger_balance_slots'))
    )
    # the day's existing row becomes its slot 0
    with op.batch_alter_table('incentive_merchant_days') as batch:
        batch.add_column(sa.Column('slot', sa.Integer(), server_default='0', autoincrement=False, nullable=False))
        batch.drop_constraint('pk_incentive_merchant_days', type_='primary')
        batch.create_primary_key('pk_incentive_merchant_days', ['merchant_id', 'day', 'slot'])
        batch.create_check_constraint('slot', 'slot >= 0 and slot < 64')


def downgrade() -> None:
    # fold each day's slots back into one row
    op.create_table('incentive_merchant_days_folded',
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('payments', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO incentive_merchant_days_folded (merchant_id, day, payments, amount_fen) "
        "SELECT merchant_id, day, SUM(payments), SUM(amount_fen) FROM incentive_merchant_days "
        "GROUP BY merchant_id, day"
    )
    op.execute("DELETE FROM incentive_merchant_days")
    with op.batch_alter_table('incentive_merchant_days') as batch:
        batch.drop_constraint('ck_incentive_merchant_days_slot', type_='check')
        batch.drop_constraint('pk_incentive_merchant_days', type_='primary')
        batch.drop_column('slot')
        batch.create_primary_key('pk_incentive_merchant_days', ['merchant_id', 'day'])
    op.execute(
        "INSERT INTO incentive_merchant_days (merchant_id, day, payments, amount_fen) "
        "SELECT merchant_id, day, payments, amount_fen FROM incentive_merchant_days_folded"
    )
    op.drop_table('incentive_merchant_days_folded')
    # a slotted account's balance goes back onto its row
    op.execute(
        "UPDATE ledger_accounts SET "
        "posted_dr_fen = posted_dr_fen + (SELECT COALESCE(SUM(s.posted_dr_fen), 0) FROM ledger_balance_slots s "
        "WHERE s.account_code = ledger_accounts.code), "
        "posted_cr_fen = posted_cr_fen + (SELECT COALESCE(SUM(s.posted_cr_fen), 0) FROM ledger_balance_slots s "
        "WHERE s.account_code = ledger_accounts.code)"
    )
    op.drop_table('ledger_balance_slots')
