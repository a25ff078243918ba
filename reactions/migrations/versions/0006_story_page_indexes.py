"""indexes that match the Story page's two ordered reads on PostgreSQL

The Story page's top posts are ordered by engagement (`likes + 2 * reposts + replies`, then
id) and its posts table newest first (`created_at DESC NULLS LAST`, then id). Neither order
had an index, so PostgreSQL read, joined and sorted every post of the story for each; with
these it reads the first rows in index order and stops. SQLite gets neither: without
sampled statistics its planner starts from the story's rows whatever indexes posts has,
so they would only slow its ingest.

Revision ID: 0006_story_page_indexes
Revises: 0005_heartbeats
Create Date: 2026-11-27 22:15:00
"""
from alembic import op

revision = '0006_story_page_indexes'
down_revision = '0005_heartbeats'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    # The expression is spelt as reactions.aggregates._engagement renders it (the 2 written
    # into the SQL, not bound), so the planner matches the ORDER BY to the index.
    op.execute('CREATE INDEX ix_posts_engagement ON posts '
               '((likes + 2 * reposts + replies) DESC, id DESC)')
    op.execute('CREATE INDEX ix_posts_newest ON posts (created_at DESC NULLS LAST, id DESC)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX ix_posts_newest')
    op.execute('DROP INDEX ix_posts_engagement')
