"""Import posts from a JSONL or CSV file (the demo's sample posts, exports from other tools).

Each record needs `text` and an id (`native_id` or `id`); `platform` defaults to "file".
Optional: author, created_at (ISO 8601), url, language, likes, reposts, replies, reply_to.
The cursor is the number of records already read, so a re-run only reads what was appended.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from collectors.base import CollectorError, Page
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "file"
PAGE_SIZE = 500


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch seconds; None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, timezone.utc)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), timezone.utc)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def parse_record(record: dict[str, Any], *, default_platform: str = NAME) -> Post:
    """One record to a Post; raises ValueError saying what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("record is not an object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("record has no text")
    native_id = record.get("native_id", record.get("id"))
    if native_id in (None, ""):
        raise ValueError("record has no id (native_id or id)")
    return Post(
        platform=str(record.get("platform") or default_platform),
        native_id=str(native_id),
        text=text.strip(),
        author=record.get("author") or None,
        created_at=parse_time(record.get("created_at")),
        url=record.get("url") or None,
        language=record.get("language") or None,
        likes=_int(record.get("likes")),
        reposts=_int(record.get("reposts")),
        replies=_int(record.get("replies")),
        reply_to=str(record["reply_to"]) if record.get("reply_to") else None,
        raw=record,
    )


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) for each record; a record that cannot be decoded comes as its error."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, row
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON: {exc.msg}"


def parse(records: list[dict[str, Any]]) -> list[Post]:
    """Records (already decoded) to posts, skipping invalid ones."""
    posts = []
    for record in records:
        try:
            posts.append(parse_record(record))
        except ValueError as exc:
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
            except ValueError as exc:
                skipped.append(f"{path.name}:{number}: {exc}")
            if seen - done >= PAGE_SIZE:
                yield Page(posts, str(seen), skipped)
                posts, skipped, done = [], [], seen
        if posts or skipped or seen > done:
            yield Page(posts, str(seen), skipped)
