"""key-first dedup keys; digests carry a stable Message-ID and when a send was claimed

The dedup keys' primary key becomes (key, story): a page's lookup is one index probe per
key whatever plan PostgreSQL keeps for the prepared statement (with (story, key) a generic
plan used only the story prefix and read all of the story's keys on every page). A plain
index on story keeps the per-story delete and the foreign key's cascade indexed.

Revision ID: 0003_key_first
Revises: 0002
Create Date: 2026-11-27 19:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_key_first'
down_revision = '0002'
branch_labels = None
depends_on = None


def _rebuild_dedup_keys(primary_key: list[str], index_story: bool) -> None:
    """Copy the table into one with the new primary key (works the same on SQLite and
    PostgreSQL; PostgreSQL has to rewrite the index anyway)."""
    op.create_table('dedup_keys_new',
    sa.Column('story', sa.String(length=100), nullable=False),
    sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['story'], ['stories.slug'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint(*primary_key,
                            name='pk_dedup_keys' if index_story else 'dedup_keys_pkey'),
    )
    op.execute('INSERT INTO dedup_keys_new (story, key, post_id) '
               'SELECT story, key, post_id FROM dedup_keys')
    op.drop_table('dedup_keys')
    op.rename_table('dedup_keys_new', 'dedup_keys')
    op.create_index('ix_dedup_keys_post', 'dedup_keys', ['post_id'], unique=False)
    if index_story:
        op.create_index('ix_dedup_keys_story', 'dedup_keys', ['story'], unique=False)


def upgrade() -> None:
    _rebuild_dedup_keys(['key', 'story'], index_story=True)
    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('message_id')
    _rebuild_dedup_keys(['story', 'key'], index_story=False)
