"""The database schema as SQLAlchemy Core tables. Alembic migrations create and change it."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator):
    """Stores UTC instants; always hands back timezone-aware datetimes, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


stories = sa.Table(
    "stories", metadata,
    sa.Column("slug", sa.String(100), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("claim", sa.Text, nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

posts = sa.Table(
    "posts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(40), nullable=False),
    sa.Column("native_id", sa.String(300), nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("language", sa.String(16)),
    sa.Column("created_at", UTCDateTime),
    sa.Column("collected_at", UTCDateTime, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("likes", sa.Integer, nullable=False, default=0),
    sa.Column("reposts", sa.Integer, nullable=False, default=0),
    sa.Column("replies", sa.Integer, nullable=False, default=0),
    sa.Column("reply_to", sa.String(300)),
    sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("posts.id", ondelete="SET NULL")),
    sa.Column("raw", sa.JSON),
    sa.UniqueConstraint("platform", "native_id", name="uq_posts_platform_native_id"),
)

# A post can belong to several stories; stance is always relative to one story's claim.
story_posts = sa.Table(
    "story_posts", metadata,
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Index("ix_story_posts_post", "post_id"),
)

stances = sa.Table(
    "stances", metadata,
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("scores", sa.JSON, nullable=False),
    sa.Column("needs_review", sa.Boolean, nullable=False, default=False),
    sa.Column("reason", sa.String(100)),
    sa.Column("model", sa.String(300), nullable=False),
    sa.Column("classified_at", UTCDateTime, nullable=False),
    sa.Index("ix_stances_story_label", "story", "label"),
)

# Human and teacher labels are kept apart from model predictions, and from each other.
labels = sa.Table(
    "labels", metadata,
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("source", sa.String(20), primary_key=True),  # "human" or "teacher"
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("labeller", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

embeddings = sa.Table(
    "embeddings", metadata,
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.String(300), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32, little-endian
)

summaries = sa.Table(
    "summaries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), nullable=False),
    sa.Column("window_start", UTCDateTime),
    sa.Column("window_end", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("writer", sa.String(100), nullable=False),
    sa.Column("paragraph", sa.Text, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Index("ix_summaries_story_created", "story", "created_at"),
)

cursors = sa.Table(
    "cursors", metadata,
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), primary_key=True),
    sa.Column("source", sa.String(40), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("added", sa.Integer, nullable=False, default=0),
    sa.Column("pages", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("next_run", UTCDateTime),
    sa.Index("ix_runs_story_source_started", "story", "source", "started_at"),
)

subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("period", sa.String(20), nullable=False),  # daily | weekly
    sa.Column("cron", sa.String(100)),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("story", "address", "period", name="uq_subscriptions"),
)

# One row per subscriber and period: the guarantee that a digest goes out once.
digests = sa.Table(
    "digests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("period_key", sa.String(40), nullable=False),
    # pending (claimed, nothing handed to SMTP yet) | sending (the message is being handed
    # over) | sent | failed (refused before the server took it) | unknown (the process died
    # or the connection dropped after the message was handed over: never resent blindly)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("message_id", sa.String(200)),  # stable across attempts (migration 0003)
    sa.Column("claimed_at", UTCDateTime),  # when the latest attempt started
    sa.Column("summary", sa.JSON),  # shares at send time, for "change since the last digest"
    sa.UniqueConstraint("subscription_id", "period_key", name="uq_digests_period"),
)

alert_rules = sa.Table(
    "alert_rules", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE")),  # NULL = all
    sa.Column("kind", sa.String(20), nullable=False),  # volume_spike | stance_shift
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),  # email | webhook | dashboard
    sa.Column("target", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.Integer, sa.ForeignKey("alert_rules.id", ondelete="SET NULL")),
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("fired_at", UTCDateTime, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("delivered", sa.JSON, nullable=False),
    sa.Column("acknowledged", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_alerts_story_fired", "story", "fired_at"),
)

sa.Index("ix_posts_created_at", posts.c.created_at)
# The Story page's two ordered reads, on PostgreSQL only (migration 0006): the most
# engaged-with posts, and the newest first.
sa.Index("ix_posts_engagement",
         (posts.c.likes + sa.literal_column("2") * posts.c.reposts + posts.c.replies).desc(),
         posts.c.id.desc()).ddl_if(dialect="postgresql")
sa.Index("ix_posts_newest", posts.c.created_at.desc().nulls_last(),
         posts.c.id.desc()).ddl_if(dialect="postgresql")

# Near-duplicate lookup: the MinHash LSH band keys (and exact-text key) of each story's
# original posts, so a new post is checked with an indexed lookup (migration 0002). The
# key comes first in the primary key (migration 0003): a lookup of a page's keys is then
# one index probe per key whatever plan PostgreSQL caches, where (story, key) let a generic
# plan use only the story prefix and read every key of the story. The `story` index serves
# the per-story delete (and the foreign key's cascade).
dedup_keys = sa.Table(
    "dedup_keys", metadata,
    sa.Column("story", sa.String(100), sa.ForeignKey("stories.slug", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.BigInteger, nullable=False, autoincrement=False),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    sa.PrimaryKeyConstraint("key", "story", name="pk_dedup_keys"),
    sa.Index("ix_dedup_keys_post", "post_id"),
    sa.Index("ix_dedup_keys_story", "story"),
)

# Who is doing a piece of work that must not run twice at once (paging a source, classifying
# a story), until when: taken atomically by an upsert, renewed while working (migration
# 0004_leases; see reactions.leases).
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# Which `reactions run` schedulers and `reactions worker` processes are alive: each renews
# its row every few seconds and marks it stopped on a clean exit, so the Health page can
# tell a live scheduler or worker from a dead one (migration 0005_heartbeats; see
# reactions.heartbeat).
heartbeats = sa.Table(
    "heartbeats", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),  # scheduler | worker
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("beat_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
)
