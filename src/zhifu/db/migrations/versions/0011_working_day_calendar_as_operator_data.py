"""The working-day calendar as operator data, seeded from chinesecalendar

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 09:00:00
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa
import zhifu.db.meta


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    years = op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('day_count', sa.Integer(), nullable=False),
    sa.Column('imported_at', zhifu.db.meta.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years'))
    )
    days = op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=60), server_default='', nullable=False),
    sa.CheckConstraint("kind in ('holiday','workday')", name=op.f('ck_calendar_days_kind')),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_index('ix_calendar_days_year', 'calendar_days', ['year'], unique=False)
    # the seed: every year chinesecalendar knows, as the operator would have imported it
    from zhifu.calendar.service import seed_rows

    source, rows = seed_rows()
    counts: dict[int, int] = {}
    for d, _, _ in rows:
        counts[d.year] = counts.get(d.year, 0) + 1
    at = dt.datetime.now(dt.UTC)
    op.bulk_insert(years, [{'year': y, 'source': source, 'day_count': n, 'imported_at': at}
                           for y, n in sorted(counts.items())])
    op.bulk_insert(days, [{'day': d, 'year': d.year, 'kind': k, 'name': n[:60]} for d, k, n in rows])


def downgrade() -> None:
    op.drop_index('ix_calendar_days_year', table_name='calendar_days')
    op.drop_table('calendar_days')
    op.drop_table('calendar_years')
