"""Text any database can store: the cleaning every write applies to untrusted post text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from reactions.models import Post


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
    return value if storable_dump(value) is not None else _clean_json(value)


def storable_dump(value: Any, **options: Any) -> str | None:
    """`json.dumps(value, ensure_ascii=False, **options)` when that text can be stored as it
    is: None when it holds a NUL (escaped as \\u0000) or a lone surrogate (it fails to
    encode), or when the value is not JSON."""
    try:
        text = json.dumps(value, ensure_ascii=False, **options)
        if "\\u0000" not in text:
            text.encode("utf-8")
            return text
    except (UnicodeEncodeError, TypeError, ValueError):
        pass
    return None


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

