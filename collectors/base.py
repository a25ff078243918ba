"""The collector seam: the protocol every platform implements, its errors, and the registry.

A collector yields `Page`s. Each page carries the posts of one API response and the cursor
to save once those posts are committed, so a run that is killed between two pages resumes
from the last committed page: at most one page is fetched again, none is skipped.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from collectors.text import bad_byte, cap_text
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
    items: Iterable[Any], parse_item: Callable[[Any], Post | list[Post] | None], *, source: str,
    skipped: list[str] | None = None,
) -> list[Post]:
    """Parse each item of a response page; a malformed item is logged and skipped, not fatal.

    `parse_item` returns a Post, a list of Posts (a repost: the original and the repost),
    None for an item that is deliberately ignored (a deleted post), or raises
    ValueError/TypeError/KeyError saying what is wrong with the item. A post the page
    holds twice (an original reposted by two accounts) is kept once, where it came first.
    """
    posts: list[Post] = []
    seen: set[str] = set()
    for number, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("item is not an object")
            parsed = parse_item(item)
            found = parsed if isinstance(parsed, list) else [] if parsed is None else [parsed]
            for post in found:
                check_text(post)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            reason = f"{source}: item {number}: {type(exc).__name__}: {exc}"
            log.warning("skipped a malformed item: %s", reason)
            if skipped is not None:
                skipped.append(reason)
            continue
        for post in found:
            if post.key not in seen:
                seen.add(post.key)
                posts.append(cap_post(post))
    return posts


#: `raw` key of a repost (retweet, boost): the key (`Post.key`) of the post it repeats.
REPOST_OF = "repost_of"


def repost_post(
    original: Post, *, native_id: str, author: str | None, created_at: datetime | None,
    raw: dict[str, Any], url: str | None = None,
) -> Post:
    """The Post for a repost of `original`: its own id, the reposter as author and the
    repost's time, the original's whole text and language, no counts of its own (they
    are the original's), and `raw["repost_of"]` = the original's key, by which the
    pipeline links it to the original (`duplicate_of`): it counts once in totals, as a
    repost, and never stands as an original."""
    return Post(
        platform=original.platform, native_id=str(native_id), text=original.text, author=author,
        created_at=created_at, url=url or original.url, language=original.language,
        raw={**raw, REPOST_OF: original.key},
    )


def check_text(post: Post) -> None:
    """ValueError when a text field holds a byte that is not UTF-8 (a page decoded with
    surrogateescape): that item is skipped and reported, the rest of the page is kept."""
    for name in ("native_id", "text", "author", "url", "reply_to", "language"):
        value = getattr(post, name)
        problem = bad_byte(value) if isinstance(value, str) else None
        if problem:
            raise ValueError(f"{name}: {problem}")


def cap_post(post: Post) -> Post:
    """Cut the post's text at MAX_TEXT_CHARS; a cut post says so in `raw["text_truncated"]`
    (its original length), so nothing downstream mistakes it for the whole text."""
    post.text, original = cap_text(post.text)
    if original is not None:
        post.raw = {**post.raw, "text_truncated": original}
        log.info("%s: post %s cut from %d to %d characters", post.platform, post.native_id,
                 original, len(post.text))
    return post


def require_env(source: str, names: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The values of these environment variables, or MissingCredentials naming the unset ones."""
    env = os.environ if env is None else env
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise MissingCredentials(source, missing)
    return [env[n] for n in names]


#: Named zones that feeds put after a time (RFC 822 names and the common US ones).
_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
          "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "BST": 1}
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
#: 12-hour clocks and other layouts seen in real feeds, tried when the text has AM/PM or
#: RFC 822 and ISO 8601 both fail (the time zone, if any, is split off first).
_FORMATS = (
    "%a, %b %d %Y %I:%M:%S %p", "%a, %d %b %Y %I:%M:%S %p", "%b %d %Y %I:%M:%S %p",
    "%b %d, %Y %I:%M:%S %p", "%b %d, %Y %I:%M %p", "%a, %b %d, %Y %I:%M %p",
    "%Y-%m-%d %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",
    "%a, %b %d %Y %H:%M:%S", "%b %d, %Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%d %B %Y %H:%M",
    "%Y/%m/%d %H:%M:%S", "%a %b %d %H:%M:%S %Y",
)


def _split_zone(text: str) -> tuple[str, timedelta | None]:
    """The text without a trailing zone ("GMT", "+0100", "-05:00"), and that zone's offset."""
    head, _, last = text.rpartition(" ")
    if not head:
        return text, None
    if last.upper() in _ZONES:
        return head.strip(), timedelta(hours=_ZONES[last.upper()])
    match = _OFFSET.match(last)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return head.strip(), sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return text, None


def _epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds (past the year 5000 in seconds) as some APIs send."""
    try:
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"not a timestamp: {number!r} is out of range") from None


def _aware(moment: datetime, offset: timedelta | None = None) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(offset or timedelta(0)))
    return moment.astimezone(timezone.utc)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from any timestamp the platforms send; None when empty.

    The one timestamp parser of the collectors: epoch seconds (number or digits), ISO 8601
    (any offset, "Z"), RFC 822 as RSS has it ("Sat, 16 Dec 2023 14:02:33 GMT"), and the
    12-hour layouts real feeds use ("Sat, Dec 16 2023 02:02:33 PM"). A time without a zone
    is taken as UTC. Raises ValueError naming the text when it is none of these.
    """
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return _epoch(value)
    text = " ".join(str(value).split())
    if text.replace(".", "", 1).isdigit():
        return _epoch(float(text))
    twelve_hour = re.search(r"\b[AP]\.?M\.?\b", text, re.IGNORECASE) is not None
    if not twelve_hour:
        try:
            return _aware(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
        except ValueError:
            pass
        try:
            return _aware(email.utils.parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            pass
    bare, offset = _split_zone(text.replace("a.m.", "AM").replace("p.m.", "PM"))
    for layout in _FORMATS:
        try:
            return _aware(datetime.strptime(bare, layout), offset)
        except ValueError:
            continue
    raise ValueError(f"not a timestamp we can read: {text[:60]!r}")


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


class CursorState:
    """A source's saved cursor: one state dict per query (or feed, video, channel), as JSON.

    Every HTTP collector reads and writes its cursor through this one helper (each query's
    paging through `Sweep`), and it also carries the time before which the platform asked
    us not to call again (a long `Retry-After`, a rate-limit reset), so that a wait
    survives a restart: see `HttpCollector.pages`.
    """

    #: The key of the resume time in the JSON; query keys never start with "~".
    RESUME_KEY = "~resume_at"

    def __init__(self, cursor: str | None) -> None:
        try:
            data = json.loads(cursor) if cursor else {}
        except json.JSONDecodeError:
            log.warning("ignoring a saved cursor that is not JSON: %.60r", cursor)
            data = {}
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}

    def query(self, key: str, **defaults: Any) -> dict[str, Any]:
        """The state kept for one query, created with `defaults` (missing keys filled in)."""
        state = self.data.setdefault(key, {})
        for name, value in defaults.items():
            state.setdefault(name, value)
        return state

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def setdefault(self, key: str, default: Any) -> Any:
        return self.data.setdefault(key, default)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def dump(self) -> str:
        """The cursor to save with the page just read."""
        return json.dumps(self.data, sort_keys=True)

    # the wait the platform asked for -------------------------------------------------

    def resume_at(self) -> datetime | None:
        """When the platform allows the next call, if it asked us to wait."""
        value = self.data.get(self.RESUME_KEY)
        try:
            return parse_timestamp(value)
        except ValueError:
            return None

    def wait_until(self, moment: datetime | None) -> None:
        """Remember (or, with None, forget) the time before which we must not call."""
        if moment is None:
            self.data.pop(self.RESUME_KEY, None)
        else:
            self.data[self.RESUME_KEY] = iso(moment)


class Sweep:
    """One query's pass over a newest-first listing: from now back to the newest post of
    the previous run, one page at a time, its state kept in the cursor.

    The bookkeeping every paging collector needs, in one place: `since` (where the pass
    stops: the previous run's newest post), `top` (the newest post seen in this pass) and
    the page token (Bluesky's `cursor`, Reddit's `after`, X's `next_token`, YouTube's
    `page_token`, Hacker News' `until`). Key names are the platform's, so saved cursors
    keep working.
    """

    def __init__(self, state: dict[str, Any], *, token: str, since: str = "since",
                 top: str = "top", start: Any = None) -> None:
        self.state, self.token_key, self.since_key, self.top_key = state, token, since, top
        for key in (token, since, top):
            state.setdefault(key, None)
        if state[since] is None and start is not None:
            state[since] = start

    @property
    def token(self) -> Any:
        return self.state[self.token_key]

    @property
    def since(self) -> Any:
        return self.state[self.since_key]

    @property
    def top(self) -> Any:
        return self.state[self.top_key]

    def saw(self, values: Iterable[Any], key: Callable[[Any], Any] = lambda v: v) -> None:
        """Note the newest of these (timestamps or ids, compared with `key`) as seen."""
        values = [v for v in values if v is not None]
        if self.top is not None:
            values.append(self.top)
        if values:
            self.state[self.top_key] = max(values, key=key)

    def turn(self, token: Any) -> bool:
        """After a page: go on to `token` (True), or, with no token, end the pass (False):
        the next run stops at the newest post this one saw."""
        if token:
            self.state[self.token_key] = token
            return True
        self.state[self.since_key] = self.top if self.top is not None else self.since
        self.state[self.token_key] = None
        return False
