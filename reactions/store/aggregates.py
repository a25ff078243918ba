"""Aggregates for the dashboard, alerts and digests, computed in SQL.

Every function takes the `Store` and a story slug and returns plain rows (dicts, lists of
numbers), so a page with 100,000 posts behind it moves a few hundred rows, not the posts.
Human labels override the model's bucket here exactly as in `Store.bucket_counts`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reactions import schema as t
from reactions.models import BUCKETS, UNCLASSIFIED
from reactions.store.posts import row_to_post

if TYPE_CHECKING:
    from reactions.store import Store


@dataclass(frozen=True)
class Filters:
    """What the story page narrows posts to: a time window, sources (collectors),
    platforms (where each post was made: a `file` source holds posts of many) and languages."""

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)
    languages: tuple[str, ...] = field(default_factory=tuple)
    platforms: tuple[str, ...] = field(default_factory=tuple)


NO_FILTERS = Filters()


def _epoch(store: Store, column: Any) -> Any:
    """Seconds since 1970 of a timestamp column, in this database's dialect."""
    if store.dialect == "sqlite":
        if sqlite3.sqlite_version_info >= (3, 38):  # unixepoch() is about twice as fast
            return sa.func.unixepoch(column)
        return sa.cast(sa.func.strftime("%s", column), sa.Integer)
    # floor, not the cast's rounding, so a post stays in the step it was made in.
    # date_part gives a double where EXTRACT gives a numeric (PostgreSQL 14 on), whose
    # arithmetic is slower over every post of the Story page's time series; a double holds
    # a microsecond timestamp's seconds exactly enough for floor to be right.
    return sa.cast(sa.func.floor(sa.func.date_part("epoch", column)), sa.BigInteger)


def _time_bucket(store: Store, column: Any, step_seconds: int) -> Any:
    # Integer division on both dialects; timestamps are after 1970, so it floors.
    return (_epoch(store, column) // int(step_seconds)) * int(step_seconds)


def _bucket_label() -> Any:
    """The post's bucket: an editor's label wins over the model's."""
    return sa.func.coalesce(t.labels.c.label, t.stances.c.label)


def _joined(story: str, filters: Filters, *, with_stance: bool) -> Any:
    """FROM story_posts JOIN posts [JOIN stances LEFT JOIN human labels], filtered."""
    sp, p = t.story_posts, t.posts
    source = sp.join(p, p.c.id == sp.c.post_id)
    if with_stance:
        source = source.join(
            t.stances, sa.and_(t.stances.c.story == sp.c.story, t.stances.c.post_id == sp.c.post_id)
        ).outerjoin(
            t.labels, sa.and_(t.labels.c.story == sp.c.story, t.labels.c.post_id == sp.c.post_id,
                              t.labels.c.source == "human"),
        )
    conditions = [sp.c.story == story]
    if filters.since is not None:
        conditions.append(p.c.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(p.c.created_at < filters.until)
    if filters.sources:
        conditions.append(sp.c.source.in_(filters.sources))
    if filters.platforms:
        conditions.append(p.c.platform.in_(filters.platforms))
    if filters.languages:
        conditions.append(p.c.language.in_(filters.languages))
    return source, conditions


def bucket_counts(store: Store, story: str, filters: Filters = NO_FILTERS) -> dict[str, int]:
    """Posts per bucket (and unclassified) under the filters."""
    label = _bucket_label()
    source, where = _joined(story, filters, with_stance=True)
    query = sa.select(label, sa.func.count()).select_from(source).where(*where).group_by(label)
    counts = dict.fromkeys((*BUCKETS, UNCLASSIFIED), 0)
    with store.engine.connect() as conn:
        for bucket, n in conn.execute(query):
            counts[bucket] = counts.get(bucket, 0) + n
    return counts


def stance_series(
    store: Store, story: str, filters: Filters = NO_FILTERS, *, step_seconds: int = 3600,
) -> list[dict[str, Any]]:
    """Rows {time, bucket, posts} per time step and bucket (classified posts only)."""
    label = _bucket_label()
    when = _time_bucket(store, t.posts.c.created_at, step_seconds)
    source, where = _joined(story, filters, with_stance=True)
    query = (sa.select(when.label("at"), label.label("bucket"), sa.func.count().label("n"))
             .select_from(source).where(*where, t.posts.c.created_at.is_not(None),
                                        label.in_(BUCKETS))
             .group_by(when, label).order_by(when))
    with store.engine.connect() as conn:
        return [{"time": _from_epoch(r.at), "bucket": r.bucket, "posts": r.n}
                for r in conn.execute(query)]


def volume_series(
    store: Store, story: str, filters: Filters = NO_FILTERS, *, step_seconds: int = 3600,
) -> list[dict[str, Any]]:
    """Rows {time, platform, posts} per time step and platform the posts were made on
    (not the collector: a `file` or `import` source holds posts of several platforms)."""
    when = _time_bucket(store, t.posts.c.created_at, step_seconds)
    platform = t.posts.c.platform
    source, where = _joined(story, filters, with_stance=False)
    query = (sa.select(when.label("at"), platform, sa.func.count().label("n"))
             .select_from(source).where(*where, t.posts.c.created_at.is_not(None))
             .group_by(when, platform).order_by(when))
    with store.engine.connect() as conn:
        return [{"time": _from_epoch(r.at), "platform": r.platform, "posts": r.n}
                for r in conn.execute(query)]


def volume_counts(
    store: Store, story: str, *, end: datetime, intervals: int, step: timedelta,
) -> list[int]:
    """Posts created in each of `intervals` consecutive steps ending at `end`, oldest first."""
    seconds = int(step.total_seconds())
    start = end - step * intervals
    filters = Filters(since=start, until=end)
    # Steps are anchored at `end`, not at the epoch, so shift before dividing.
    offset = int(end.timestamp()) % seconds
    when = ((_epoch(store, t.posts.c.created_at) - offset) // seconds) * seconds + offset
    source, where = _joined(story, filters, with_stance=False)
    query = sa.select(when.label("at"), sa.func.count()).select_from(source).where(*where).group_by(when)
    series = [0] * intervals
    first = int(start.timestamp())
    with store.engine.connect() as conn:
        for at, n in conn.execute(query):
            index = (int(at) - first) // seconds
            if 0 <= index < intervals:
                series[index] += n
    return series


def _from_epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


def filter_options(store: Store, story: str) -> dict[str, list[str]]:
    """The sources, platforms and languages the story's posts come in, for the filter widgets."""
    sp, p = t.story_posts, t.posts
    with store.engine.connect() as conn:
        sources = conn.execute(sa.select(sp.c.source).where(sp.c.story == story)
                               .group_by(sp.c.source).order_by(sp.c.source)).scalars().all()
        # Platforms and languages in one pass over the story's posts, not one each.
        pairs = conn.execute(
            sa.select(p.c.platform, p.c.language).join(sp, sp.c.post_id == p.c.id)
            .where(sp.c.story == story).group_by(p.c.platform, p.c.language)).all()
    platforms = sorted({platform for platform, _ in pairs})
    languages = sorted({language for _, language in pairs if language is not None})
    return {"sources": list(sources), "platforms": platforms, "languages": languages}


def _post_dict(row: Any) -> dict[str, Any]:
    post = row_to_post(row)
    m = row._mapping
    return {
        "id": post.id, "bucket": m["bucket"], "model_bucket": m["model_bucket"],
        "corrected": m["human_label"] is not None, "source": m["source"],
        "platform": post.platform, "author": post.author or "", "text": post.text,
        "language": post.language or "", "created_at": post.created_at,
        "likes": post.likes, "reposts": post.reposts, "url": post.url or "",
        "duplicate": post.duplicate_of is not None,
    }


def _posts_query(story: str, filters: Filters) -> Any:
    source, where = _joined(story, filters, with_stance=True)
    query = sa.select(
        t.posts, t.story_posts.c.source, _bucket_label().label("bucket"),
        t.stances.c.label.label("model_bucket"), t.labels.c.label.label("human_label"),
    ).select_from(source).where(*where)
    return query


def _engagement() -> Any:
    # The 2 is written into the SQL, not bound, so that the expression is the one indexed
    # by ix_posts_engagement (migration 0006) and the planner reads the top in index order.
    return t.posts.c.likes + sa.literal_column("2") * t.posts.c.reposts + t.posts.c.replies


def top_posts(
    store: Store, story: str, bucket: str, filters: Filters = NO_FILTERS, *, limit: int = 3,
) -> list[dict[str, Any]]:
    """The bucket's most engaged-with original posts (reposts and near-duplicates left out)."""
    query = (_posts_query(story, filters)
             .where(_bucket_label() == bucket, t.posts.c.duplicate_of.is_(None))
             .order_by(_engagement().desc(), t.posts.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [_post_dict(r) for r in conn.execute(query)]


def top_posts_by_bucket(
    store: Store, story: str, filters: Filters = NO_FILTERS, *, limit: int = 3,
    candidates: int = 300,
) -> dict[str, list[dict[str, Any]]]:
    """`top_posts` for every bucket, usually in one query instead of one per bucket.

    The most engaged-with `candidates` posts of the story are fetched once; a bucket with
    at least `limit` posts among them has its exact top there (any better post of that
    bucket would be among the candidates too). Only a bucket short of posts there is
    queried on its own.
    """
    query = (_posts_query(story, filters).where(t.posts.c.duplicate_of.is_(None))
             .order_by(_engagement().desc(), t.posts.c.id.desc()).limit(candidates))
    out: dict[str, list[dict[str, Any]]] = {b: [] for b in BUCKETS}
    with store.engine.connect() as conn:
        rows = [_post_dict(r) for r in conn.execute(query)]
    for row in rows:
        if row["bucket"] in out and len(out[row["bucket"]]) < limit:
            out[row["bucket"]].append(row)
    if len(rows) == candidates:
        for bucket, found in out.items():
            if len(found) < limit:
                out[bucket] = top_posts(store, story, bucket, filters, limit=limit)
    return out


def breakdown(
    store: Store, story: str, filters: Filters = NO_FILTERS, *, step_seconds: int = 3600,
) -> dict[str, Any]:
    """Bucket counts, the stance series and the volume series from one pass over the posts.

    Same results as `bucket_counts`, `stance_series` and `volume_series` (the Story page
    needs all three; one GROUP BY over time, platform and bucket reads the posts once).
    """
    sp, p = t.story_posts, t.posts
    source = sp.join(p, p.c.id == sp.c.post_id).outerjoin(
        t.stances, sa.and_(t.stances.c.story == sp.c.story, t.stances.c.post_id == sp.c.post_id)
    ).outerjoin(
        t.labels, sa.and_(t.labels.c.story == sp.c.story, t.labels.c.post_id == sp.c.post_id,
                          t.labels.c.source == "human"))
    _, where = _joined(story, filters, with_stance=False)
    # A post counts in a bucket only once the model has seen it, as in Store.bucket_counts.
    label = sa.case((t.stances.c.label.is_(None), None), else_=_bucket_label())
    when = _time_bucket(store, p.c.created_at, step_seconds)
    query = (sa.select(when.label("at"), p.c.platform, label.label("bucket"),
                       sa.func.count().label("n"))
             .select_from(source).where(*where).group_by(when, p.c.platform, label))
    counts = dict.fromkeys((*BUCKETS, UNCLASSIFIED), 0)
    stance: dict[tuple[int, str], int] = {}
    volume: dict[tuple[int, str], int] = {}
    with store.engine.connect() as conn:
        for at, src, bucket, n in conn.execute(query):
            if bucket is not None:
                counts[bucket] = counts.get(bucket, 0) + n
            if at is None:
                continue
            volume[(int(at), src)] = volume.get((int(at), src), 0) + n
            if bucket in BUCKETS:
                stance[(int(at), bucket)] = stance.get((int(at), bucket), 0) + n
    return {
        "counts": counts,
        "stance": [{"time": _from_epoch(at), "bucket": b, "posts": n}
                   for (at, b), n in sorted(stance.items())],
        "volume": [{"time": _from_epoch(at), "platform": platform, "posts": n}
                   for (at, platform), n in sorted(volume.items())],
    }


def post_rows(
    store: Store, story: str, filters: Filters = NO_FILTERS, *, search: str = "",
    buckets: Sequence[str] = (), limit: int = 200,
) -> list[dict[str, Any]]:
    """The newest posts matching the filters, a text search and buckets, as table rows."""
    query = _posts_query(story, filters)
    if search.strip():
        pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        query = query.where(sa.or_(sa.func.lower(t.posts.c.text).like(pattern, escape="\\"),
                                   sa.func.lower(t.posts.c.author).like(pattern, escape="\\")))
    if buckets:
        query = query.where(_bucket_label().in_(list(buckets)))
    query = query.order_by(t.posts.c.created_at.desc(), t.posts.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [_post_dict(r) for r in conn.execute(query)]


def last_collected(store: Store) -> dict[str, datetime | None]:
    """When each story's newest collection run finished."""
    query = sa.select(t.runs.c.story, sa.func.max(t.runs.c.finished_at)).group_by(t.runs.c.story)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    # max() over a TypeDecorator column comes back raw on SQLite; normalise it.
    return {story: _as_utc(value) for story, value in rows}


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)




def newest_post_at(store: Store, story: str) -> datetime | None:
    """When the story's newest post was made (None when it has no dated post)."""
    query = (sa.select(t.posts.c.created_at).join(t.story_posts,
                                                  t.story_posts.c.post_id == t.posts.c.id)
             .where(t.story_posts.c.story == story, t.posts.c.created_at.is_not(None))
             .order_by(t.posts.c.created_at.desc()).limit(1))
    with store.engine.connect() as conn:
        return conn.execute(query).scalar()
