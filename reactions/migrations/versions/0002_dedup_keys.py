"""dedup keys: MinHash LSH band keys of original posts, for incremental near-duplicate linking

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dedup_keys',
    sa.Column('story', sa.String(length=100), nullable=False),
    sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['story'], ['stories.slug'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('story', 'key')
    )
    with op.batch_alter_table('dedup_keys', schema=None) as batch_op:
        batch_op.create_index('ix_dedup_keys_post', ['post_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dedup_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_dedup_keys_post')
    op.drop_table('dedup_keys')
