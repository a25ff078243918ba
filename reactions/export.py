"""A story's posts with their stance, as rows for the dashboard's table and for exports.

One query serves both: `reactions export` (CSV, JSON Lines or Parquet) and the
dashboard's posts table and download button, so a file holds exactly the rows the table
shows. Rows are streamed from the database in batches, never all at once, so exporting a
story of any size keeps memory flat.

Each row: the post (id, platform, source, author, time, text, URL, language, engagement),
its bucket (an editor's label wins over the model's), the model's bucket and its
probabilities, confidence, needs-review, the label source and any teacher label.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa

from reactions import schema as t
from reactions.aggregates import Filters, _joined
from reactions.models import BUCKETS, UNCLASSIFIED
from reactions.render import safe_url
from reactions.store import Store

FORMATS = ("csv", "jsonl", "parquet")
#: A post the model has not classified yet (no stance row), as a bucket filter value.
PENDING = "not classified yet"
#: Columns of an export, in order.
COLUMNS = (
    "id", "platform", "source", "author", "created_at", "text", "url", "language",
    "likes", "reposts", "replies", "bucket", "label_source", "model_bucket",
    *(f"p_{b}" for b in BUCKETS), "confidence", "needs_review", "reason", "teacher_label",
    "duplicate_of",
)


class ExportError(ValueError):
    """An export cannot be written as asked (unknown format, Parquet without pyarrow)."""


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


def _row(r: Any) -> dict[str, Any]:
    scores = r.scores if isinstance(r.scores, dict) else {}
    probabilities = {f"p_{b}": (round(float(scores[b]), 4) if isinstance(scores.get(b), int | float)
                                else None) for b in BUCKETS}
    known = [p for p in probabilities.values() if p is not None]
    if r.human_label:
        label_source = "human"
    elif r.model_bucket is not None:
        label_source = "model"
    else:
        label_source = ""
    return {
        "id": r.id, "platform": r.platform, "source": r.source, "author": r.author or "",
        "created_at": r.created_at, "text": r.text, "url": safe_url(r.url) or "",
        "language": r.language or "", "likes": r.likes, "reposts": r.reposts,
        "replies": r.replies, "bucket": r.bucket or PENDING, "label_source": label_source,
        "model_bucket": r.model_bucket or "", **probabilities,
        "confidence": max(known) if known and r.model_bucket != UNCLASSIFIED else None,
        # An editor's label settles the post: it no longer needs review.
        "needs_review": bool(r.needs_review) and not r.human_label,
        "reason": r.reason or "", "teacher_label": r.teacher_label or "",
        "duplicate_of": r.duplicate_of,
    }


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


def page(store: Store, q: PostQuery, *, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """One page of matching posts, newest first."""
    query = _newest_first(_select(q)).offset(max(0, offset)).limit(limit)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def iter_rows(store: Store, q: PostQuery, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching post, newest first, fetched `batch_size` rows at a time.

    One query, read through a server-side cursor on PostgreSQL (SQLite's cursor is lazy
    already), so memory stays flat whatever the story's size, and the rows are one
    consistent snapshot even while posts arrive.
    """
    query = _newest_first(_select(q))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
        for rows in result.partitions():
            for r in rows:
                yield _row(r)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow({k: ("" if v is None else _plain(v)) for k, v in row.items()})
        n += 1
    return n


def write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps({k: _plain(row[k]) for k in COLUMNS}, ensure_ascii=False) + "\n")
        n += 1
    return n


def _parquet_schema():
    import pyarrow as pa

    types = {"id": pa.int64(), "likes": pa.int64(), "reposts": pa.int64(), "replies": pa.int64(),
             "duplicate_of": pa.int64(), "created_at": pa.timestamp("us", tz="UTC"),
             "confidence": pa.float64(), "needs_review": pa.bool_(),
             **{f"p_{b}": pa.float64() for b in BUCKETS}}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def write_parquet(rows: Iterator[dict[str, Any]], out: Any, *, batch_size: int = 1000) -> int:
    """Parquet, written one row group per batch (pyarrow is needed)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet needs pyarrow: pip install pyarrow (or export as csv or "
                          "jsonl)") from None
    schema = _parquet_schema()
    n = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            n += len(batch)
    return n


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ExportError("Parquet needs pyarrow: pip install pyarrow (or export as csv or "
                              "jsonl)") from None
    return fmt


def export(store: Store, q: PostQuery, fmt: str, out: Any) -> int:
    """Write every post matching `q` to `out` in `fmt`; returns how many rows.

    `out` is a text stream for csv and jsonl, a binary stream or path for parquet.
    """
    check_format(fmt)
    rows = iter_rows(store, q)
    if fmt == "csv":
        return write_csv(rows, out)
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    return write_parquet(rows, out)


def export_bytes(store: Store, q: PostQuery, fmt: str) -> bytes:
    """The export as bytes (the dashboard's download button)."""
    check_format(fmt)
    if fmt == "parquet":
        buffer = io.BytesIO()
        export(store, q, fmt, buffer)
        return buffer.getvalue()
    text = io.StringIO(newline="")
    export(store, q, fmt, text)
    return text.getvalue().encode("utf-8")


MIME = {"csv": "text/csv", "jsonl": "application/x-ndjson",
        "parquet": "application/vnd.apache.parquet"}
