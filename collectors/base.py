"""The collector seam: the protocol every platform implements, its errors, and the registry.

A collector yields `Page`s. Each page carries the posts of one API response and the cursor
to save once those posts are committed, so a run that is killed between two pages resumes
from the last committed page: at most one page is fetched again, none is skipped.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from reactions.models import Post, Story, utcnow

log = logging.getLogger(__name__)


class CollectorError(Exception):
    """Base of every error a collector raises; `source` names the collector."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class MissingCredentials(CollectorError):
    """A credential the source needs is not set; the message names the environment variables."""

    def __init__(self, source: str, variables: list[str]) -> None:
        names = ", ".join(variables)
        super().__init__(
            f"{source}: skipped, credentials missing: set {names} in the environment",
            source=source,
        )
        self.variables = variables


class AuthError(CollectorError, PermissionError):
    """The platform refused the credentials (wrong, revoked or expired)."""


class RateLimited(CollectorError):
    """The platform asked us to slow down; `retry_after` is the wait it asked for, in seconds."""

    def __init__(self, message: str, *, source: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, source=source)
        self.retry_after = retry_after


class Interrupted(CollectorError):
    """Asked to stop (SIGTERM, Ctrl-C) while waiting out a rate limit or a retry backoff:
    nothing is lost, the saved cursor keeps our place for the next run."""


class TransientError(CollectorError):
    """A failure worth retrying: a 5xx answer, a timeout, a dropped connection."""


class MalformedResponse(CollectorError, ValueError):
    """The platform answered with something that is not the documented shape."""


class UnknownCollector(CollectorError, KeyError):
    """No collector is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(slots=True)
class Page:
    """The posts of one API response, and where to resume after they are committed."""

    posts: list[Post]
    cursor: str | None
    #: Items of the response that could not be parsed, with the reason (logged, not fatal).
    skipped: list[str] = field(default_factory=list)


class Collector(Protocol):
    """What every platform module provides. `pages` is lazy: one request per page."""

    name: str

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        """Yield pages of new posts for the story, starting from the saved cursor."""
        ...


#: Collector name -> "module:Class". Built-ins register through the same table as any addition.
REGISTRY: dict[str, str] = {
    "file": "collectors.file:FileCollector",
    "hackernews": "collectors.hackernews:HackerNewsCollector",
    "bluesky": "collectors.bluesky:BlueskyCollector",
    "mastodon": "collectors.mastodon:MastodonCollector",
    "reddit": "collectors.reddit:RedditCollector",
    "x": "collectors.x:XCollector",
    "youtube": "collectors.youtube:YouTubeCollector",
    "rss": "collectors.rss:RssCollector",
}


def collector_class(name: str) -> type:
    """The collector class registered under `name` (imported on first use)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownCollector(f"unknown source {name!r}; known sources: {known}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_collector(name: str, **kwargs: Any) -> Collector:
    """Build the collector registered under `name`; kwargs (e.g. `client=`) go to its constructor."""
    return collector_class(name)(**kwargs)


def module_for(name: str):
    """The platform module registered under `name` (it provides `parse(payload)`)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownCollector(f"unknown source {name!r}; known sources: {known}") from None
    return importlib.import_module(target.partition(":")[0])


def parse_items(
    items: Iterable[Any], parse_item: Callable[[Any], Post | None], *, source: str,
    skipped: list[str] | None = None,
) -> list[Post]:
    """Parse each item of a response page; a malformed item is logged and skipped, not fatal.

    `parse_item` returns a Post, None for an item that is deliberately ignored (a deleted
    post), or raises ValueError/TypeError/KeyError saying what is wrong with the item.
    """
    posts = []
    for number, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("item is not an object")
            post = parse_item(item)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            reason = f"{source}: item {number}: {type(exc).__name__}: {exc}"
            log.warning("skipped a malformed item: %s", reason)
            if skipped is not None:
                skipped.append(reason)
            continue
        if post is not None:
            posts.append(post)
    return posts


def require_env(source: str, names: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The values of these environment variables, or MissingCredentials naming the unset ones."""
    env = os.environ if env is None else env
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise MissingCredentials(source, missing)
    return [env[n] for n in names]


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch seconds; None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, timezone.utc)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), timezone.utc)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


#: How far back a source looks on its first run when the story does not say (`since` or
#: `backfill_days` in the source's options).
DEFAULT_BACKFILL_DAYS = 7


def backfill_start(options: Mapping[str, Any]) -> datetime:
    """The oldest post a first run should fetch: the `since` option, else `backfill_days` ago."""
    if options.get("since"):
        return parse_timestamp(options["since"])
    return utcnow() - timedelta(days=float(options.get("backfill_days", DEFAULT_BACKFILL_DAYS)))


def iso(moment: datetime) -> str:
    """RFC 3339 UTC text with milliseconds, as the APIs take it (2025-01-01T00:00:00.000Z)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"
