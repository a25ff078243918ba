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
from datetime import datetime
from typing import IO, Any

from reactions.models import BUCKETS, UNCLASSIFIED
from reactions.render import safe_url
from reactions.store import Store
from reactions.store import export as export_query
from reactions.store.export import PENDING, PostQuery

__all__ = ["COLUMNS", "FORMATS", "MIME", "PENDING", "ExportError", "PostQuery", "count",
           "export", "export_bytes", "iter_rows", "page"]

FORMATS = ("csv", "jsonl", "parquet")
#: Columns of an export, in order.
COLUMNS = (
    "id", "platform", "source", "author", "created_at", "text", "url", "language",
    "likes", "reposts", "replies", "bucket", "label_source", "model_bucket",
    *(f"p_{b}" for b in BUCKETS), "confidence", "needs_review", "reason", "teacher_label",
    "duplicate_of",
)


class ExportError(ValueError):
    """An export cannot be written as asked (unknown format, Parquet without pyarrow)."""


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


def count(store: Store, q: PostQuery) -> int:
    """How many posts match (for the table's pager)."""
    return export_query.count(store, q)


def page(store: Store, q: PostQuery, *, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """One page of matching posts, newest first."""
    return [_row(r) for r in export_query.page(store, q, offset=offset, limit=limit)]


def iter_rows(store: Store, q: PostQuery, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching post, newest first, streamed from the store in batches."""
    return (_row(r) for r in export_query.stream(store, q, batch_size=batch_size))


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
