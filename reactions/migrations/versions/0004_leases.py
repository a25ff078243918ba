"""leases: one owner at a time for a source's collection or a story's classification

Revision ID: 0004_leases
Revises: 0003_key_first
Create Date: 2026-11-27 19:30:00
"""
from alembic import op
import sqlalchemy as sa

from reactions.schema import UTCDateTime

revision = '0004_leases'
down_revision = '0003_key_first'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('leases')
