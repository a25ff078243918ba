"""heartbeats: which schedulers and workers are alive, for the Health page

Revision ID: 0005_heartbeats
Revises: 0004_leases
Create Date: 2026-11-27 20:10:00
"""
from alembic import op
import sqlalchemy as sa

from reactions.schema import UTCDateTime

revision = '0005_heartbeats'
down_revision = '0004_leases'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('heartbeats',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('beat_at', UTCDateTime(), nullable=False),
    sa.Column('stopped_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('heartbeats')
