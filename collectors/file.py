"""Import posts from a JSONL or CSV file (the demo's sample posts, exports from other tools).

Each record needs `text` and an id (`native_id` or `id`); `platform` defaults to "file".
Optional: author, created_at (ISO 8601, RFC 822 or epoch seconds), url, language, likes,
reposts, replies, reply_to. The cursor is the number of records already read, so a re-run
only reads what was appended.

Bad input costs one record, never the source: a line with a byte that is not UTF-8, a
line that is not JSON or not valid CSV, or a record without text or id is reported with
its line number and skipped, and counted as read, so the next run does not stop there
again. Texts longer than MAX_TEXT_CHARS are cut and flagged (`raw["text_truncated"]`).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collectors.base import CollectorError, Page, cap_post, parse_timestamp
from collectors.text import bad_byte
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "file"
PAGE_SIZE = 500


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def parse_record(record: dict[str, Any], *, default_platform: str = NAME) -> Post:
    """One record to a Post (its text capped at MAX_TEXT_CHARS); raises ValueError saying
    what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("record is not an object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("record has no text")
    native_id = record.get("native_id", record.get("id"))
    if native_id in (None, ""):
        raise ValueError("record has no id (native_id or id)")
    return cap_post(Post(
        platform=str(record.get("platform") or default_platform),
        native_id=str(native_id),
        text=text.strip(),
        author=record.get("author") or None,
        created_at=parse_timestamp(record.get("created_at")),
        url=record.get("url") or None,
        language=record.get("language") or None,
        likes=_int(record.get("likes")),
        reposts=_int(record.get("reposts")),
        replies=_int(record.get("replies")),
        reply_to=str(record["reply_to"]) if record.get("reply_to") else None,
        raw=record,
    ))


#: Records hold whole posts; the csv module's default field limit (128 KiB) would refuse
#: a long one outright, when the text cap can keep its first MAX_TEXT_CHARS instead.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) for each record; a record that cannot be read comes as the
    reason, so that one bad line costs that line and the rest of the file is still read."""
    # surrogateescape: a byte that is not UTF-8 is kept, marked, and reported with its line
    # (strict decoding would fail the whole file at that point, on every run).
    if path.suffix.lower() == ".csv":
        yield from _csv_records(path)
        return
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            problem = bad_byte(line)
            if problem:
                yield number, problem
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON: {exc.msg} at column {exc.colno}"


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CollectorError(f"{NAME}: {path.name}:1: the header is not valid CSV: {exc}",
                                 source=NAME) from None
        if any(bad_byte(h) for h in header):
            raise CollectorError(f"{NAME}: {path.name}:1: the header has a byte that is not "
                                 "UTF-8", source=NAME)
        while True:
            start = reader.line_num + 1  # a quoted field may span lines: report the first
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"not valid CSV: {exc}"
                continue
            if not row:
                continue
            problem = next((f"field {name!r}: {p}" for name, p in
                            zip(header, map(bad_byte, row)) if p), None)
            if problem:
                yield start, problem
            elif len(row) > len(header):
                yield start, f"{len(row)} fields where the header has {len(header)}"
            else:
                yield start, dict(zip(header, row))


def parse(records: list[dict[str, Any]]) -> list[Post]:
    """Records (already decoded) to posts, skipping invalid ones."""
    posts = []
    for record in records:
        try:
            posts.append(parse_record(record))
        except (ValueError, TypeError) as exc:
            log.warning("file: skipped a record: %s", exc)
    return posts


class FileCollector:
    """Reads the file named by the source's `path` option, from the saved record count on."""

    name = NAME

    def __init__(self, client: Any = None, **_: Any) -> None:
        self.client = client  # unused: files need no HTTP

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        if "path" not in options:
            raise CollectorError(f"{NAME}: the story's file source needs a `path`", source=NAME)
        path = Path(options["path"])
        if not path.is_file():
            raise CollectorError(f"{NAME}: {path} does not exist", source=NAME)
        done = int(cursor or 0)
        posts: list[Post] = []
        skipped: list[str] = []
        seen = 0
        for number, record in read_records(path):
            seen += 1
            if seen <= done:
                continue
            try:
                if isinstance(record, str):
                    raise ValueError(record)
                posts.append(parse_record(record, default_platform=options.get("platform", NAME)))
            except (ValueError, TypeError) as exc:
                skipped.append(f"{path.name}:{number}: {exc}")
            if seen - done >= PAGE_SIZE:
                yield Page(posts, str(seen), skipped)
                posts, skipped, done = [], [], seen
        if posts or skipped or seen > done:
            yield Page(posts, str(seen), skipped)
