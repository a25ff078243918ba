"""The export query: a story's posts with their stance, streamed in batches.

One query serves `reactions export` and the dashboard's posts table and download button
(`reactions.export` turns its rows into table rows and files), so a file holds exactly
the rows the table shows. Rows are streamed from the database, never all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reactions import schema as t
from reactions.store.aggregates import Filters, _joined

if TYPE_CHECKING:
    from reactions.store import Store

#: A post the model has not classified yet (no stance row), as a bucket filter value.
PENDING = "not classified yet"


@dataclass(frozen=True)
class PostQuery:
    """Which posts of a story: the page's filters, a text search and buckets."""

    story: str
    filters: Filters = field(default_factory=Filters)
    search: str = ""
    buckets: tuple[str, ...] = ()
    needs_review: bool = False  # only posts the model flagged and no editor has labelled


def _select(q: PostQuery) -> Any:
    source, where = _joined(q.story, q.filters, with_stance=False)
    stances = t.stances
    human = t.labels.alias("human")
    teacher = t.labels.alias("teacher")
    sp = t.story_posts
    source = (source
              .outerjoin(stances, sa.and_(stances.c.story == sp.c.story,
                                          stances.c.post_id == sp.c.post_id))
              .outerjoin(human, sa.and_(human.c.story == sp.c.story,
                                        human.c.post_id == sp.c.post_id,
                                        human.c.source == "human"))
              .outerjoin(teacher, sa.and_(teacher.c.story == sp.c.story,
                                          teacher.c.post_id == sp.c.post_id,
                                          teacher.c.source == "teacher")))
    bucket = sa.func.coalesce(human.c.label, stances.c.label)
    query = sa.select(
        t.posts.c.id, t.posts.c.platform, sp.c.source, t.posts.c.author, t.posts.c.created_at,
        t.posts.c.text, t.posts.c.url, t.posts.c.language, t.posts.c.likes, t.posts.c.reposts,
        t.posts.c.replies, t.posts.c.duplicate_of, bucket.label("bucket"),
        stances.c.label.label("model_bucket"), stances.c.scores, stances.c.needs_review,
        stances.c.reason, human.c.label.label("human_label"),
        teacher.c.label.label("teacher_label"),
    ).select_from(source).where(*where)
    query = query.where(*_search(q))
    if q.buckets:
        named = [b for b in q.buckets if b != PENDING]
        wanted = [bucket.in_(named)] if named else []
        if PENDING in q.buckets:
            wanted.append(stances.c.label.is_(None))
        query = query.where(sa.or_(*wanted))
    if q.needs_review:
        query = query.where(stances.c.needs_review.is_(True), human.c.label.is_(None))
    return query


def _search(q: PostQuery) -> list[Any]:
    """The text-or-author condition, as a list (empty without a search)."""
    if not q.search.strip():
        return []
    pattern = "%" + q.search.strip().lower().replace("\\", "\\\\").replace(
        "%", "\\%").replace("_", "\\_") + "%"
    return [sa.or_(sa.func.lower(t.posts.c.text).like(pattern, escape="\\"),
                   sa.func.lower(t.posts.c.author).like(pattern, escape="\\"))]


def _newest_first(query: Any) -> Any:
    # NULL times sort last on both dialects; the id breaks ties. Spelt as an index holds it
    # (ix_posts_newest on PostgreSQL, SQLite's created_at index), so a page of the newest
    # posts reads them in index order instead of sorting the whole story.
    return query.order_by(t.posts.c.created_at.desc().nulls_last(), t.posts.c.id.desc())


def count(store: Store, q: PostQuery) -> int:
    """How many posts match (for the table's pager)."""
    if q.buckets or q.needs_review:
        query = sa.select(sa.func.count()).select_from(_select(q).subquery())
    elif _on_posts(q):
        # The stance and label joins match at most one row each: without a filter on them
        # the count is the posts' own, which skips three joins (half the time on 100k posts).
        source, where = _joined(q.story, q.filters, with_stance=False)
        query = sa.select(sa.func.count()).select_from(source).where(*where, *_search(q))
    else:
        # Nothing filters on the posts' own columns: every story_posts row is one post
        # (a foreign key), so the story's index alone counts them, without the join.
        sp = t.story_posts
        query = sa.select(sa.func.count()).select_from(sp).where(sp.c.story == q.story)
        if q.filters.sources:
            query = query.where(sp.c.source.in_(q.filters.sources))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _on_posts(q: PostQuery) -> bool:
    """Whether the query filters on a column of the posts table (time, platform, language,
    text)."""
    f = q.filters
    return bool(f.since is not None or f.until is not None or f.platforms or f.languages
                or q.search.strip())


def page(store: Store, q: PostQuery, *, offset: int = 0, limit: int = 100) -> list[Any]:
    """One page of matching rows, newest first."""
    query = _newest_first(_select(q)).offset(max(0, offset)).limit(limit)
    with store.engine.connect() as conn:
        return conn.execute(query).all()


def stream(store: Store, q: PostQuery, *, batch_size: int = 1000) -> Iterator[Any]:
    """Every matching row, newest first, fetched `batch_size` rows at a time.

    One query, read through a server-side cursor on PostgreSQL (SQLite's cursor is lazy
    already), so memory stays flat whatever the story's size, and the rows are one
    consistent snapshot even while posts arrive.
    """
    query = _newest_first(_select(q))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
        for rows in result.partitions():
            yield from rows
