"""The store: posts, stances, labels, summaries and collection state, through SQLAlchemy Core.

SQLite (WAL) is the embedded default; any SQLAlchemy URL works, PostgreSQL is tested.
The schema lives in `reactions.schema` and is created and upgraded by Alembic migrations,
so a schema change never asks a user to delete their database.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reactions import schema as t
from reactions.models import (
    BUCKETS,
    UNCLASSIFIED,
    Post,
    SourceConfig,
    StancePrediction,
    Story,
    Summary,
    utcnow,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Rows per INSERT statement in bulk upserts (keeps under SQLite's variable limit).
CHUNK = 500
#: PostgreSQL's planner statistics of a table are refreshed (ANALYZE) once this process has
#: written this share of the rows the table had at its last refresh, and at least
#: ANALYZE_MIN_ROWS rows: a geometric schedule, so a story growing to 100,000 posts costs
#: about twenty cheap (sampled) ANALYZEs per table, whatever the autovacuum setting.
ANALYZE_GROWTH = 0.25
ANALYZE_MIN_ROWS = 1000
#: Tables whose statistics the ingest and dashboard plans depend on.
ANALYZED_TABLES = ("posts", "story_posts", "dedup_keys", "stances", "labels")


class StoreError(Exception):
    """Base of the store's errors."""


class UnknownStory(StoreError, LookupError):
    """No story with that slug; the message lists the ones that exist."""


def storable_text(text: str | None) -> str | None:
    """Text any database can store: NUL characters dropped, lone surrogates replaced by U+FFFD.

    PostgreSQL rejects both (and with them the whole page's INSERT); Python's sqlite3 cannot
    encode a lone surrogate, and SQLite's text functions stop at a NUL. Valid surrogate
    pairs are joined into the character they spell. Text that needs nothing (nearly all of
    it) is returned as is.
    """
    if text is None or text.isascii() and "\x00" not in text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def storable_json(value: Any) -> Any:
    """A JSON-able value with every string (keys too) made storable by `storable_text`.

    Checked first in one C call (a NUL is escaped as \\u0000 by `json.dumps`, a lone
    surrogate fails to encode), so the walk is paid only by the rare value that needs it.
    """
    if not value:
        return value
    try:
        dumped = json.dumps(value, ensure_ascii=False)
        if "\\u0000" not in dumped:
            dumped.encode("utf-8")
            return value
    except (UnicodeEncodeError, TypeError, ValueError):
        pass
    return _clean_json(value)


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(k) if isinstance(k, str) else k: _clean_json(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


def make_storable(posts: Iterable[Post]) -> None:
    """Clean each post's text fields in place (see `storable_text`), before any text work:
    language detection and hashing fail on lone surrogates too, and the dedup keys must be
    those of the text that is stored. (`raw` is cleaned on its way into the database.)"""
    for post in posts:
        post.text = storable_text(post.text) or ""
        post.author = storable_text(post.author)
        post.url = storable_text(post.url)
        post.reply_to = storable_text(post.reply_to)
        post.language = storable_text(post.language)


def describe_error(error: BaseException | str | None) -> str | None:
    """One line saying what went wrong, without the SQL statement or its parameters.

    SQLAlchemy's errors carry the full INSERT with every post's text; that belongs in a
    debug log, not in the `runs` table, `reactions status` or the Health page.
    """
    if error is None:
        return None
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        orig = error.orig
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return storable_text(f"database error ({type(orig).__name__}): {first}"[:500])
    text = str(error)
    for marker in ("\n[SQL:", "[SQL:", "\n[parameters:", "\n(Background on this error"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return storable_text(" ".join(text.split())[:2000])


def _post_key(post: Post) -> tuple[str, str]:
    """(platform, native id) as stored: the posts table's unique key."""
    return post.platform, storable_text(str(post.native_id))


def _post_row(post: Post, *, clean_raw: bool = True) -> dict[str, Any]:
    """The post as a posts row. With `clean_raw=False` the raw JSON is left as it is, for a
    caller that sends the page through `_page_json`, which cleans it for the whole page."""
    return {
        "platform": post.platform,
        "native_id": storable_text(str(post.native_id)),
        "author": storable_text(post.author),
        "text": storable_text(post.text),
        "language": storable_text(post.language),
        "created_at": post.created_at,
        "collected_at": post.collected_at,
        "url": storable_text(post.url),
        "likes": int(post.likes or 0),
        "reposts": int(post.reposts or 0),
        "replies": int(post.replies or 0),
        "reply_to": storable_text(post.reply_to),
        "raw": storable_json(post.raw) if clean_raw else post.raw,
    }


def _page_json(page: list[dict[str, Any]]) -> str:
    """Rows as one JSON text for the server to unpack, every `raw` value made storable.

    The whole page is checked the way `storable_json` checks one value (a NUL is escaped as
    \\u0000, a lone surrogate fails to encode), and only a page that fails has its raw
    values cleaned, one by one. So a page is encoded once, where checking each post's raw
    JSON first encoded every post twice. The other columns were cleaned by `_post_row`.
    """
    text = json.dumps(page, ensure_ascii=False)
    if "\\u0000" not in text:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    return json.dumps([{**row, "raw": storable_json(row["raw"])} for row in page],
                      ensure_ascii=False)


def row_to_post(row: Any) -> Post:
    """Build a `Post` from a row of the posts table (extra columns are ignored)."""
    m = row._mapping
    return Post(
        id=m["id"], platform=m["platform"], native_id=m["native_id"], text=m["text"],
        author=m["author"], created_at=m["created_at"], url=m["url"], language=m["language"],
        likes=m["likes"], reposts=m["reposts"], replies=m["replies"], reply_to=m["reply_to"],
        collected_at=m["collected_at"], raw=m["raw"] or {}, duplicate_of=m["duplicate_of"],
    )


def story_to_definition(story: Story) -> dict[str, Any]:
    return dataclasses.asdict(story)


def definition_to_story(data: dict[str, Any]) -> Story:
    data = dict(data)
    data["sources"] = [SourceConfig(**s) for s in data.get("sources", [])]
    return Story(**data)


class Store:
    """All reads and writes of the application's data. Thread-safe; one per process is enough."""

    def __init__(self, url: str | Engine, *, migrate: bool = True) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        self._stats_lock = threading.Lock()
        self._written: dict[str, int] = {}  # rows written per table since its last ANALYZE
        self._analyzed_rows: dict[str, float] = {}  # rows the table had at its last ANALYZE
        if migrate:
            self.migrate()

    @classmethod
    def from_settings(cls, settings: Any = None, *, migrate: bool = True) -> Store:
        """The store the settings point at (REACTIONS_DATABASE_URL, else SQLite in the data dir)."""
        from reactions.config import get_settings

        settings = settings or get_settings()
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.sqlalchemy_url, migrate=migrate)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema up to the newest migration (a no-op when it is current)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        with self.engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            after = MigrationContext.configure(conn).get_current_revision()
        if after != before:  # new or rebuilt tables start without planner statistics
            self.refresh_statistics(force=True)

    @contextmanager
    def begin(self, *, flush: bool = True) -> Iterator[Connection]:
        """A transaction; everything done through the connection commits or rolls back together.

        `flush=False` lets PostgreSQL acknowledge the commit before its WAL reaches the disk
        (`synchronous_commit = off` for this transaction only): a server crash can then lose
        the last few such commits, never corrupt or half-apply one. Collection pages use
        it, as a page and the cursor past it are lost together and simply fetched again;
        it saves a disk flush per page. After a commit that wrote many rows, the planner
        statistics are refreshed (see `refresh_statistics`), outside the transaction.
        """
        with self.engine.begin() as conn:
            if not flush and self.dialect == "postgresql":
                conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            yield conn
        if self._written:
            self.refresh_statistics()

    # -- planner statistics ------------------------------------------------------------

    def _wrote(self, table: str, rows: int) -> None:
        with self._stats_lock:
            self._written[table] = self._written.get(table, 0) + rows

    @staticmethod
    def _table_rows(conn: Connection, table: str) -> float:
        """The row count PostgreSQL last recorded for the table (0 when never analyzed)."""
        rows = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                    "to_regclass(:name)"), {"name": table}).scalar()
        return max(float(rows or 0), 0.0)

    def refresh_statistics(self, tables: Sequence[str] | None = None, *,
                           force: bool = False) -> list[str]:
        """ANALYZE the tables this process has grown by a quarter since their last ANALYZE
        (all of `tables`, default the ingest and dashboard tables, with `force`); returns
        the tables analyzed.

        PostgreSQL plans from these statistics, and nothing else keeps them fresh when
        autovacuum is off (or slow to notice a bulk load); ANALYZE samples a fixed number
        of rows, so each refresh costs tens of milliseconds at any size. SQLite is left
        to its built-in heuristics: with sampled `sqlite_stat1` statistics the Story page
        at 100,000 posts measured slower (1.2-1.3 s cold against 0.6-0.9 s, same database
        file, alternating runs). A refresh that fails is logged and never fails the write
        that triggered it.
        """
        if self.dialect != "postgresql":
            self._written.clear()
            return []
        names = list(tables or ANALYZED_TABLES)
        with self._stats_lock:
            if not force:  # decided in memory where it can be: no round trip per page
                names = [n for n in names if self._written.get(n, 0) >= ANALYZE_MIN_ROWS and (
                    n not in self._analyzed_rows
                    or self._written[n] >= ANALYZE_GROWTH * self._analyzed_rows[n])]
            if not names:
                return []
            done = []
            try:
                with self.engine.begin() as conn:
                    for name in names:
                        if name not in self._analyzed_rows:
                            self._analyzed_rows[name] = self._table_rows(conn, name)
                        grown = self._written.get(name, 0)
                        if force or grown >= ANALYZE_GROWTH * self._analyzed_rows[name]:
                            done.append(name)
                    if done:
                        conn.execute(sa.text("ANALYZE " + ", ".join(done)))
                    for name in done:
                        self._analyzed_rows[name] = self._table_rows(conn, name)
                        self._written.pop(name, None)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not refresh planner statistics of %s: %s", ", ".join(names),
                            describe_error(exc))
                return []
        if done:
            log.debug("refreshed planner statistics of %s", ", ".join(done))
        return done

    def close(self) -> None:
        self.engine.dispose()

    # -- stories -----------------------------------------------------------------------

    def save_story(self, story: Story) -> None:
        """Insert or replace a story's definition (keeping its posts)."""
        now = utcnow()
        values = {
            "title": story.title, "claim": story.claim, "active": story.active,
            "definition": story_to_definition(story), "updated_at": now,
        }
        with self.begin() as conn:
            updated = conn.execute(
                sa.update(t.stories).where(t.stories.c.slug == story.slug).values(**values)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(t.stories).values(slug=story.slug, created_at=now, **values))

    def get_story(self, slug: str) -> Story:
        """The story with this slug, or UnknownStory naming the ones that exist."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.stories).where(t.stories.c.slug == slug)).first()
        if row is None:
            known = ", ".join(s.slug for s in self.list_stories()) or "none yet"
            raise UnknownStory(
                f"unknown story {slug!r} (stories: {known}); add one with `reactions story add FILE`"
            )
        story = definition_to_story(row.definition)
        story.active = row.active
        return story

    def list_stories(self, *, active_only: bool = False) -> list[Story]:
        query = sa.select(t.stories).order_by(t.stories.c.created_at, t.stories.c.slug)
        if active_only:
            query = query.where(t.stories.c.active.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        result = []
        for row in rows:
            story = definition_to_story(row.definition)
            story.active = row.active
            result.append(story)
        return result

    def set_story_active(self, slug: str, active: bool) -> None:
        self.get_story(slug)
        with self.begin() as conn:
            conn.execute(
                sa.update(t.stories).where(t.stories.c.slug == slug)
                .values(active=active, updated_at=utcnow())
            )

    def delete_story(self, slug: str) -> dict[str, int]:
        """Delete a story and everything filed under it, in one transaction.

        Its stances, labels, summaries, cursors, runs, subscriptions (with their digests),
        alert rules and alerts go; posts go too unless another story also holds them.
        Returns how many posts were in the story and how many were deleted with it.
        """
        self.get_story(slug)
        in_story = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story == slug)
        elsewhere = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story != slug)
        with self.begin() as conn:
            post_ids = set(conn.execute(in_story).scalars())
            shared = set(conn.execute(elsewhere.where(t.story_posts.c.post_id.in_(in_story)))
                         .scalars())
            orphans = sorted(post_ids - shared)
            subscriptions = sa.select(t.subscriptions.c.id).where(t.subscriptions.c.story == slug)
            conn.execute(sa.delete(t.digests).where(t.digests.c.subscription_id.in_(subscriptions)))
            for table in (t.subscriptions, t.alerts, t.alert_rules, t.dedup_keys, t.runs,
                          t.cursors, t.summaries, t.labels, t.stances, t.story_posts):
                conn.execute(sa.delete(table).where(table.c.story == slug))
            for start in range(0, len(orphans), CHUNK):
                chunk = orphans[start : start + CHUNK]
                conn.execute(sa.update(t.posts).where(t.posts.c.duplicate_of.in_(chunk))
                             .values(duplicate_of=None))
                conn.execute(sa.delete(t.dedup_keys).where(t.dedup_keys.c.post_id.in_(chunk)))
                conn.execute(sa.delete(t.embeddings).where(t.embeddings.c.post_id.in_(chunk)))
                conn.execute(sa.delete(t.posts).where(t.posts.c.id.in_(chunk)))
            # Tables added later that reference the story are cleared by ON DELETE CASCADE.
            conn.execute(sa.delete(t.stories).where(t.stories.c.slug == slug))
        return {"posts": len(post_ids), "posts_deleted": len(orphans)}

    # -- posts -------------------------------------------------------------------------

    def _insert(self, table: sa.Table):
        """An INSERT that can carry ON CONFLICT clauses on this dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - other databases are untested
            raise StoreError(f"bulk upsert is not implemented for {self.dialect}")
        return insert(table)

    def upsert_posts(
        self, story: str, posts: Sequence[Post], *, source: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Store posts for a story; returns how many are new to the story.

        Posts are unique on (platform, native id): a post seen again only refreshes its
        engagement counts, so ingesting the same page twice adds nothing. Each stored
        post's `id` is filled in.
        """
        if conn is None:
            with self.begin() as conn:
                return self.upsert_posts(story, posts, source=source, conn=conn)
        if not posts:
            return 0
        # The last occurrence of a key in one batch wins, as it would across batches.
        unique: dict[tuple[str, str], Post] = {}
        for post in posts:
            unique[_post_key(post)] = post
        # Both dialects' statements take the page through _page_json, which cleans raw JSON.
        raw_cleaned_later = self.dialect in ("postgresql", "sqlite")
        rows = [_post_row(p, clean_raw=not raw_cleaned_later) for p in unique.values()]
        now = utcnow()
        if self.dialect == "postgresql":
            ids = _pg_upsert_posts_or_skip(conn, rows)
            for post in posts:  # a post the database refused keeps id None (and is skipped)
                post.id = ids.get(_post_key(post))
            added = _pg_link_posts(conn, story, source or "unknown", list(ids.values()), now)
            self._wrote("posts", len(rows))
            self._wrote("story_posts", added)
            return added
        if self.dialect == "sqlite":
            ids = _sqlite_upsert_posts(conn, rows)
            for post in posts:
                post.id = ids[_post_key(post)]
            added = _sqlite_link_posts(conn, story, source or "unknown", list(ids.values()), now)
            self._wrote("posts", len(rows))
            self._wrote("story_posts", added)
            return added
        ids: dict[tuple[str, str], int] = {}
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            stmt = self._insert(t.posts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["platform", "native_id"],
                set_={"likes": stmt.excluded.likes, "reposts": stmt.excluded.reposts,
                      "replies": stmt.excluded.replies},
            ).returning(t.posts.c.id, t.posts.c.platform, t.posts.c.native_id)
            # executemany: compiled once and cached (a multi-row VALUES is recompiled per
            # batch size, which dominated ingest time); batched by insertmanyvalues.
            for row in conn.execute(stmt, chunk):
                ids[(row.platform, row.native_id)] = row.id
        for post in posts:  # duplicates within the batch share the id
            post.id = ids[_post_key(post)]
        links = [{"story": story, "post_id": i, "source": source or "unknown", "added_at": now}
                 for i in ids.values()]
        added = 0
        for start in range(0, len(links), CHUNK):
            stmt = (self._insert(t.story_posts).on_conflict_do_nothing()
                    .returning(t.story_posts.c.post_id))
            # rowcount is unreliable for multi-row inserts on PostgreSQL; count what came back.
            added += len(conn.execute(stmt, links[start : start + CHUNK]).all())
        self._wrote("posts", len(rows))
        self._wrote("story_posts", added)
        return added

    def _story_posts_query(self, story: str, since: datetime | None, until: datetime | None):
        query = (
            sa.select(t.posts)
            .join(t.story_posts, t.story_posts.c.post_id == t.posts.c.id)
            .where(t.story_posts.c.story == story)
        )
        if since is not None:
            query = query.where(t.posts.c.created_at >= since)
        if until is not None:
            query = query.where(t.posts.c.created_at < until)
        return query

    def posts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Post]:
        """The story's posts, newest first."""
        query = self._story_posts_query(story, since, until).order_by(
            t.posts.c.created_at.desc(), t.posts.c.id.desc()
        ).limit(limit)
        with self.engine.connect() as conn:
            return [row_to_post(r) for r in conn.execute(query)]

    def count_posts(self, story: str | None = None) -> int:
        with self.engine.connect() as conn:
            if story is None:
                return conn.execute(sa.select(sa.func.count()).select_from(t.posts)).scalar_one()
            return conn.execute(
                sa.select(sa.func.count()).select_from(t.story_posts)
                .where(t.story_posts.c.story == story)
            ).scalar_one()

    def set_duplicates(self, links: dict[int, int | None]) -> None:
        """Record which post each post repeats (post id -> original id, or None)."""
        if not links:
            return
        with self.begin() as conn:
            conn.execute(
                sa.update(t.posts).where(t.posts.c.id == sa.bindparam("pid"))
                .values(duplicate_of=sa.bindparam("orig")),
                [{"pid": k, "orig": v} for k, v in links.items()],
            )

    # -- stances -----------------------------------------------------------------------

    def posts_without_stance(self, story: str) -> list[Post]:
        """The story's posts that have no stance yet, oldest first."""
        query = (
            self._story_posts_query(story, None, None)
            .outerjoin(t.stances, sa.and_(t.stances.c.post_id == t.posts.c.id,
                                          t.stances.c.story == story))
            .where(t.stances.c.post_id.is_(None))
            .order_by(t.posts.c.id)
        )
        with self.engine.connect() as conn:
            return [row_to_post(r) for r in conn.execute(query)]

    def save_stances(
        self, story: str, results: Iterable[tuple[int, StancePrediction]], model: str
    ) -> int:
        """Store (or replace) predictions for posts of a story."""
        now = utcnow()
        rows = [
            {"story": story, "post_id": pid, "label": p.label, "scores": p.scores,
             "needs_review": p.needs_review, "reason": p.reason, "model": model,
             "classified_at": now}
            for pid, p in results
        ]
        with self.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                stmt = self._insert(t.stances)
                stmt = stmt.values(rows[start : start + CHUNK]).on_conflict_do_update(
                    index_elements=["story", "post_id"],
                    set_={c: stmt.excluded[c] for c in
                          ("label", "scores", "needs_review", "reason", "model", "classified_at")},
                )
                conn.execute(stmt)
        self._wrote("stances", len(rows))
        return len(rows)

    def clear_stances(self, story: str) -> None:
        """Forget a story's predictions, so the next classification redoes them all."""
        with self.begin() as conn:
            conn.execute(sa.delete(t.stances).where(t.stances.c.story == story))

    def classified_posts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
    ) -> list[tuple[Post, StancePrediction]]:
        """The story's posts with their stance (human label first, else the model's), newest first."""
        human = (
            sa.select(t.labels.c.post_id, t.labels.c.label)
            .where(t.labels.c.story == story, t.labels.c.source == "human")
            .subquery()
        )
        query = (
            self._story_posts_query(story, since, until)
            .add_columns(t.stances.c.label.label("stance_label"), t.stances.c.scores,
                         t.stances.c.needs_review, t.stances.c.reason,
                         human.c.label.label("human_label"))
            .join(t.stances, sa.and_(t.stances.c.post_id == t.posts.c.id, t.stances.c.story == story))
            .outerjoin(human, human.c.post_id == t.posts.c.id)
            .order_by(t.posts.c.created_at.desc(), t.posts.c.id.desc())
        )
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.human_label:
                    pred = StancePrediction(row.human_label, row.scores or {}, False, "human")
                else:
                    pred = StancePrediction(row.stance_label, row.scores or {}, row.needs_review,
                                            row.reason)
                out.append((row_to_post(row), pred))
        return out

    def bucket_counts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
    ) -> dict[str, int]:
        """Posts per bucket (human labels override the model), aggregated in SQL."""
        human = (
            sa.select(t.labels.c.post_id, t.labels.c.label)
            .where(t.labels.c.story == story, t.labels.c.source == "human").subquery()
        )
        label = sa.func.coalesce(human.c.label, t.stances.c.label)
        query = (
            sa.select(label.label("bucket"), sa.func.count())
            .select_from(t.stances)
            .join(t.posts, t.posts.c.id == t.stances.c.post_id)
            .outerjoin(human, human.c.post_id == t.stances.c.post_id)
            .where(t.stances.c.story == story)
            .group_by(label)
        )
        if since is not None:
            query = query.where(t.posts.c.created_at >= since)
        if until is not None:
            query = query.where(t.posts.c.created_at < until)
        counts = dict.fromkeys((*BUCKETS, UNCLASSIFIED), 0)
        with self.engine.connect() as conn:
            for bucket, n in conn.execute(query):
                counts[bucket] = counts.get(bucket, 0) + n
        return counts

    # -- embeddings --------------------------------------------------------------------

    def save_embeddings(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        rows = [{"post_id": pid, "model": model, "vector": np.asarray(v, "<f4").tobytes()}
                for pid, v in vectors.items()]
        with self.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                stmt = self._insert(t.embeddings).values(rows[start : start + CHUNK])
                conn.execute(stmt.on_conflict_do_nothing())

    def embeddings(self, model: str, post_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored embeddings of these posts for this model (missing ones are absent)."""
        out: dict[int, np.ndarray] = {}
        ids = list(post_ids)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = sa.select(t.embeddings.c.post_id, t.embeddings.c.vector).where(
                    t.embeddings.c.model == model,
                    t.embeddings.c.post_id.in_(ids[start : start + CHUNK]),
                )
                for pid, blob in conn.execute(query):
                    out[pid] = np.frombuffer(blob, dtype="<f4")
        return out

    # -- labels ------------------------------------------------------------------------

    def add_label(
        self, story: str, post_id: int, label: str, *, source: str = "human",
        labeller: str | None = None,
    ) -> None:
        """Record an editor's (or a teacher model's) bucket for a post; replaces an earlier one."""
        if label not in BUCKETS:
            raise ValueError(f"label must be one of {', '.join(BUCKETS)}, not {label!r}")
        if source not in ("human", "teacher"):
            raise ValueError(f"label source must be 'human' or 'teacher', not {source!r}")
        row = {"story": story, "post_id": post_id, "source": source, "label": label,
               "labeller": labeller, "created_at": utcnow()}
        with self.begin() as conn:
            stmt = self._insert(t.labels).values(row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["story", "post_id", "source"],
                set_={"label": stmt.excluded.label, "labeller": stmt.excluded.labeller,
                      "created_at": stmt.excluded.created_at},
            ))
        self._wrote("labels", 1)

    def labels(self, story: str, *, source: str | None = None) -> list[tuple[int, str, str, str]]:
        """(post_id, text, label, source) for the story's labelled posts."""
        query = (
            sa.select(t.labels.c.post_id, t.posts.c.text, t.labels.c.label, t.labels.c.source)
            .join(t.posts, t.posts.c.id == t.labels.c.post_id)
            .where(t.labels.c.story == story)
            .order_by(t.labels.c.created_at)
        )
        if source is not None:
            query = query.where(t.labels.c.source == source)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def label_counts(self, story: str) -> dict[str, int]:
        """How many of the story's posts carry a label, by source (human, teacher)."""
        query = (sa.select(t.labels.c.source, sa.func.count()).where(t.labels.c.story == story)
                 .group_by(t.labels.c.source))
        counts = {"human": 0, "teacher": 0}
        with self.engine.connect() as conn:
            counts.update({source: int(n) for source, n in conn.execute(query)})
        return counts

    # -- summaries ---------------------------------------------------------------------

    def save_summary(self, summary: Summary) -> int:
        with self.begin() as conn:
            result = conn.execute(sa.insert(t.summaries).values(
                story=summary.story, window_start=summary.window_start,
                window_end=summary.window_end, created_at=summary.created_at,
                writer=summary.writer, paragraph=summary.paragraph, counts=summary.counts,
                payload=summary.payload,
            ))
            summary.id = result.inserted_primary_key[0]
        return summary.id

    def latest_summary(self, story: str) -> Summary | None:
        """The newest stored summary of the story, if any."""
        query = (sa.select(t.summaries).where(t.summaries.c.story == story)
                 .order_by(t.summaries.c.created_at.desc(), t.summaries.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Summary(
            id=row.id, story=row.story, paragraph=row.paragraph, counts=row.counts,
            writer=row.writer, created_at=row.created_at, window_start=row.window_start,
            window_end=row.window_end, payload=row.payload,
        )

    # -- collection state --------------------------------------------------------------

    def get_cursor(self, story: str, source: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.cursors.c.cursor).where(
                    t.cursors.c.story == story, t.cursors.c.source == source)
            ).scalar_one_or_none()

    def save_cursor(self, story: str, source: str, cursor: str | None, *, conn: Connection) -> None:
        stmt = self._insert(t.cursors).values(
            story=story, source=source, cursor=cursor, updated_at=utcnow())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["story", "source"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
        ))

    def commit_page(self, story: str, source: str, posts: Sequence[Post], cursor: str | None) -> int:
        """Store a page's posts and move the cursor past them, in one transaction."""
        with self.begin(flush=False) as conn:  # lost only with its cursor: fetched again
            added = self.upsert_posts(story, posts, source=source, conn=conn)
            self.save_cursor(story, source, cursor, conn=conn)
        return added

    def start_run(self, story: str, source: str) -> int:
        with self.begin() as conn:
            return conn.execute(sa.insert(t.runs).values(
                story=story, source=source, started_at=utcnow(), added=0, pages=0,
            )).inserted_primary_key[0]

    def finish_run(
        self, run_id: int, *, added: int, pages: int, error: str | BaseException | None = None,
        next_run: datetime | None = None,
    ) -> None:
        """Close a run; the error is stored as one line without SQL (see `describe_error`)."""
        with self.begin() as conn:
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(
                finished_at=utcnow(), added=added, pages=pages, error=describe_error(error),
                next_run=next_run,
            ))

    def last_runs(self) -> list[dict[str, Any]]:
        """The latest run per (story, source), for `reactions status` and the Health page."""
        latest = (sa.select(sa.func.max(t.runs.c.id)).group_by(t.runs.c.story, t.runs.c.source)
                  .scalar_subquery())
        query = (sa.select(t.runs).where(t.runs.c.id.in_(latest))
                 .order_by(t.runs.c.story, t.runs.c.source))
        with self.engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(query)]
        for run in runs:  # rows written before errors were stored without their SQL
            run["error"] = describe_error(run["error"])
        return runs

    # -- near-duplicate keys (collectors, #3) ------------------------------------------

    def dedup_owners(self, story: str, keys: Sequence[int], *, conn: Connection) -> dict[int, int]:
        """key -> id of the original post filed under it, for the keys the story knows."""
        owners: dict[int, int] = {}
        unique = list(dict.fromkeys(keys))
        if self.dialect == "postgresql":
            # One typed array parameter: one round trip and one plan, where an IN list of
            # 500 parameters per chunk cost PostgreSQL ~40% of ingest time.
            from sqlalchemy.dialects.postgresql import ARRAY

            keys_param = sa.bindparam("keys", unique, type_=ARRAY(sa.BigInteger))
            query = sa.select(t.dedup_keys.c.key, t.dedup_keys.c.post_id).where(
                t.dedup_keys.c.story == story, t.dedup_keys.c.key == sa.any_(keys_param))
            return dict(conn.execute(query).all())
        if self.dialect == "sqlite":  # one fixed statement, the keys as one JSON parameter
            return dict(conn.exec_driver_sql(
                "SELECT key, post_id FROM dedup_keys WHERE key IN "
                "(SELECT value FROM json_each(?)) AND story = ?",
                (json.dumps(unique), story)).all())
        for start in range(0, len(unique), CHUNK):  # pragma: no cover - untested databases
            query = sa.select(t.dedup_keys.c.key, t.dedup_keys.c.post_id).where(
                t.dedup_keys.c.story == story, t.dedup_keys.c.key.in_(unique[start : start + CHUNK]))
            owners.update((key, pid) for key, pid in conn.execute(query))
        return owners

    def file_duplicates(
        self, story: str, keys: Sequence[tuple[int, int]], links: dict[int, int], *,
        conn: Connection,
    ) -> None:
        """File (key, post id) rows of new originals and set `duplicate_of` of repeats."""
        if keys and self.dialect == "postgresql":
            # Two array parameters unnested server-side: one statement and one round trip
            # for the page's thousands of keys, where executemany sent one row group each.
            conn.execute(_PG_FILE_KEYS, {"story": story, "keys": [k for k, _ in keys],
                                         "post_ids": [pid for _, pid in keys]})
        elif keys and self.dialect == "sqlite":
            # Straight to sqlite3's executemany: SQLAlchemy's per-row parameter handling
            # cost more than the inserts themselves (about ten keys per post).
            conn.exec_driver_sql(
                "INSERT INTO dedup_keys (story, key, post_id) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING", [(story, k, pid) for k, pid in keys])
        elif keys:  # pragma: no cover - other databases are untested
            rows = [{"story": story, "key": k, "post_id": pid} for k, pid in keys]
            for start in range(0, len(rows), CHUNK):
                conn.execute(self._insert(t.dedup_keys).on_conflict_do_nothing(),
                             rows[start : start + CHUNK])
        self._wrote("dedup_keys", len(keys))
        if links:
            conn.execute(
                sa.update(t.posts).where(t.posts.c.id == sa.bindparam("pid"))
                .values(duplicate_of=sa.bindparam("orig")),
                [{"pid": k, "orig": v} for k, v in links.items()],
            )

    def post_ids(
        self, keys: Iterable[tuple[str, str]], *, conn: Connection,
    ) -> dict[tuple[str, str], int]:
        """(platform, native id) -> store id, for those of these posts that are stored."""
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], int] = {}
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            query = sa.select(t.posts.c.id, t.posts.c.platform, t.posts.c.native_id).where(
                sa.tuple_(t.posts.c.platform, t.posts.c.native_id).in_(chunk))
            found.update(((r.platform, r.native_id), r.id) for r in conn.execute(query))
        return found

    def clear_duplicates(self, story: str, *, conn: Connection) -> None:
        """Forget the story's dedup keys and links (before re-linking every post)."""
        conn.execute(sa.delete(t.dedup_keys).where(t.dedup_keys.c.story == story))
        ids = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story == story)
        conn.execute(sa.update(t.posts).where(t.posts.c.id.in_(ids)).values(duplicate_of=None))

    # -- summaries per window ------------------------------------------------------------

    def summary_for_window(
        self, story: str, window: timedelta | None, *, newer_than: datetime | None = None,
        scan: int = 50,
    ) -> Summary | None:
        """The newest stored summary of the story written for a window of this length
        (None = all time), optionally only one written after `newer_than`."""
        query = (sa.select(t.summaries).where(t.summaries.c.story == story)
                 .order_by(t.summaries.c.created_at.desc(), t.summaries.c.id.desc()).limit(scan))
        if newer_than is not None:
            query = query.where(t.summaries.c.created_at > newer_than)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                start, end = row.window_start, row.window_end
                length = None if start is None else (end - start if end else None)
                if length == window:
                    return Summary(
                        id=row.id, story=row.story, paragraph=row.paragraph, counts=row.counts,
                        writer=row.writer, created_at=row.created_at, window_start=start,
                        window_end=end, payload=row.payload,
                    )
        return None

    def last_changed_at(self, story: str) -> datetime | None:
        """When the story's buckets last changed: a post classified, or labelled by an editor
        or a teacher (a summary written before then is stale)."""
        with self.engine.connect() as conn:
            classified = conn.execute(sa.select(sa.func.max(t.stances.c.classified_at))
                                      .where(t.stances.c.story == story)).scalar_one_or_none()
            labelled = conn.execute(sa.select(sa.func.max(t.labels.c.created_at))
                                    .where(t.labels.c.story == story)).scalar_one_or_none()
        times = [x for x in (classified, labelled) if x is not None]
        return max(times) if times else None


_POST_COLUMNS = {
    "platform": "varchar", "native_id": "varchar", "author": "text", "text": "text",
    "language": "varchar", "created_at": "timestamptz", "collected_at": "timestamptz",
    "url": "text", "likes": "integer", "reposts": "integer", "replies": "integer",
    "reply_to": "varchar", "raw": "json",
}


def _pg_upsert_posts_statement() -> sa.TextClause:
    names = ", ".join(_POST_COLUMNS)
    record = ", ".join(f"{c} {kind}" for c, kind in _POST_COLUMNS.items())
    sql = (f"INSERT INTO posts ({names}) SELECT {names} "
           f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
           "ON CONFLICT (platform, native_id) DO UPDATE SET likes = excluded.likes, "
           "reposts = excluded.reposts, replies = excluded.replies "
           "RETURNING id, platform, native_id")
    return sa.text(sql)


_PG_UPSERT_POSTS = _pg_upsert_posts_statement()
_PG_LINK_POSTS = sa.text(
    "INSERT INTO story_posts (story, post_id, source, added_at) "
    "SELECT :story, p.id, :source, :added_at FROM unnest(CAST(:ids AS integer[])) AS p(id) "
    "ON CONFLICT DO NOTHING RETURNING post_id"
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _pg_upsert_posts(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Upsert rows in one statement whose one parameter is the page as a JSON array, which
    the server unpacks (`json_to_recordset`). The statement text never changes, so psycopg
    prepares it once per connection, where an executemany's multi-row VALUES (13
    placeholders per post) was parsed again on every page, and `json.dumps` (C) encodes
    the page faster than psycopg quotes a text array element by element;
    (platform, native id) -> id."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else _utc(value).isoformat()

    page = [{**row, "created_at": iso(row["created_at"]), "collected_at": iso(row["collected_at"])}
            for row in rows]
    return {(r.platform, r.native_id): r.id
            for r in conn.execute(_PG_UPSERT_POSTS, {"rows": _page_json(page)})}


def _pg_upsert_posts_or_skip(conn: Connection, rows: list[dict[str, Any]]
                             ) -> dict[tuple[str, str], int]:
    """`_pg_upsert_posts` in a savepoint; when PostgreSQL refuses the page's data (a value
    too long for its column, a number out of range), the rows are tried one by one, each in
    its own savepoint, so one bad row costs that row and not the page. The refused rows are
    logged with the reason (never their text)."""
    try:
        with conn.begin_nested():
            return _pg_upsert_posts(conn, rows)
    except sa.exc.DataError:
        pass
    ids: dict[tuple[str, str], int] = {}
    for row in rows:
        try:
            with conn.begin_nested():
                ids.update(_pg_upsert_posts(conn, [row]))
        except sa.exc.DataError as exc:
            log.warning("skipped post %s/%.80s: %s", row["platform"], row["native_id"],
                        describe_error(exc))
    return ids


def _pg_link_posts(conn: Connection, story: str, source: str, ids: list[int],
                   now: datetime) -> int:
    """File posts under a story in one statement; how many were new to it."""
    result = conn.execute(_PG_LINK_POSTS, {"story": story, "source": source,
                                           "added_at": _utc(now), "ids": ids})
    return len(result.all())


# SQLite: the same one-parameter shape through json_each (JSON1 is built into SQLite). The
# `WHERE true` settles the parser's ambiguity between SELECT ... ON and an upsert clause.
_SQLITE_UPSERT_POSTS = (
    f"INSERT INTO posts ({', '.join(_POST_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$.{c}')" for c in _POST_COLUMNS)
    + " FROM json_each(?) WHERE true ON CONFLICT (platform, native_id) DO UPDATE SET "
    "likes = excluded.likes, reposts = excluded.reposts, replies = excluded.replies "
    "RETURNING id, platform, native_id"
)
_SQLITE_LINK_POSTS = (
    "INSERT INTO story_posts (story, post_id, source, added_at) SELECT ?, value, ?, ? "
    "FROM json_each(?) WHERE true ON CONFLICT DO NOTHING RETURNING post_id"
)


def _sqlite_time(value: datetime | None) -> str | None:
    """A datetime as the posts table stores it on SQLite (naive UTC, SQLAlchemy's format)."""
    if value is None:
        return None
    return _utc(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_upsert_posts(conn: Connection, rows: list[dict[str, Any]]
                         ) -> dict[tuple[str, str], int]:
    """Upsert rows in one statement with the page as one JSON parameter: SQLAlchemy's
    per-row parameter processing of an executemany cost more than SQLite's inserts."""
    page = [{**row, "created_at": _sqlite_time(row["created_at"]),
             "collected_at": _sqlite_time(row["collected_at"])} for row in rows]
    ids: dict[tuple[str, str], int] = {}
    for start in range(0, len(page), 5000):  # one statement per page in practice
        result = conn.exec_driver_sql(_SQLITE_UPSERT_POSTS, (_page_json(page[start:start + 5000]),))
        ids.update(((platform, native_id), pid) for pid, platform, native_id in result)
    return ids


def _sqlite_link_posts(conn: Connection, story: str, source: str, ids: list[int],
                       now: datetime) -> int:
    result = conn.exec_driver_sql(_SQLITE_LINK_POSTS,
                                  (story, source, _sqlite_time(now), json.dumps(ids)))
    return len(result.all())


def _pg_file_keys() -> sa.TextClause:
    from sqlalchemy.dialects.postgresql import ARRAY

    return sa.text(
        "INSERT INTO dedup_keys (story, key, post_id) "
        "SELECT :story, k.key, k.post_id FROM unnest(:keys, :post_ids) AS k(key, post_id) "
        "ON CONFLICT DO NOTHING"
    ).bindparams(sa.bindparam("keys", type_=ARRAY(sa.BigInteger)),
                 sa.bindparam("post_ids", type_=ARRAY(sa.Integer)))


_PG_FILE_KEYS = _pg_file_keys()


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if not url.endswith(":memory:") and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the WAL every ~40 MB instead of every 4 MB: random dedup keys dirty
            # pages all over the indexes, and frequent checkpoints rewrote them page by page
            # (commit time per page tripled between 10k and 100k posts without this).
            cur.execute("PRAGMA wal_autocheckpoint=10000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)
