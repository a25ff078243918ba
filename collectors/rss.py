"""RSS and Atom: news coverage of the story, through feedparser, with conditional GET.

Feeds come from the `feeds` option; without it, a Google News search feed per query.
Each feed's ETag and Last-Modified are kept in the cursor and sent back
(If-None-Match / If-Modified-Since), so an unchanged feed costs one 304 and no parsing.
Entries of configured feeds are kept when they mention the story (all words of one of
its queries, or one of its hashtags); set `match = false` to keep every entry.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

import feedparser
import httpx

from collectors.base import CursorState, MalformedResponse, Page, parse_items, parse_timestamp
from collectors.http import HttpCollector, request
from collectors.text import html_to_text, strip_boilerplate
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "rss"
GOOGLE_NEWS = "https://news.google.com/rss/search?q={query}&hl=en-US&gl=US&ceid=US:en"
_WORD = re.compile(r"\w+", re.UNICODE)


# -- parsing -----------------------------------------------------------------------------

def _entry_time(entry: Any) -> datetime | None:
    """The entry's time, read from the feed's own text by the collectors' one timestamp
    parser (feedparser drops the PM of "Sat, Dec 16 2023 02:02:33 PM"); feedparser's
    reading only when ours cannot make sense of the text."""
    present = set(entry.keys())  # (.get of a missing "updated" makes feedparser warn)
    for key in ("published", "updated", "created"):
        if key not in present:
            continue
        try:
            moment = parse_timestamp(entry[key])
        except ValueError:
            continue
        if moment is not None:
            return moment
    for key in ("published_parsed", "updated_parsed"):
        value = entry[key] if key in present else None
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), timezone.utc)
    return None


def parse_entry(entry: Any) -> Post:
    """One feedparser entry (RSS item or Atom entry) to a Post."""
    link = entry.get("link")
    native_id = entry.get("id") or link
    if not native_id:
        raise ValueError("entry has neither an id nor a link")
    title = html_to_text(entry.get("title") or "")
    summary = strip_boilerplate(html_to_text(entry.get("summary") or ""))
    text = f"{title}\n{summary}".strip() if summary and summary != title else title
    if not text:
        raise ValueError(f"entry {native_id} has no title or summary")
    source = (entry.get("source") or {}).get("title")
    return Post(
        platform=NAME,
        native_id=str(native_id),
        text=text,
        author=entry.get("author") or source,
        created_at=_entry_time(entry),
        url=link,
        language=(entry.get("language") or None),
        raw={"id": native_id, "link": link, "title": entry.get("title"),
             "summary": entry.get("summary"), "author": entry.get("author"),
             "published": entry.get("published") or entry.get("updated")},
    )


def parse(payload: bytes | str, *, skipped: list[str] | None = None) -> list[Post]:
    """One RSS 2.0 or Atom document to posts."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    feed = feedparser.parse(payload)
    if feed.bozo and not feed.entries:
        raise MalformedResponse(f"{NAME}: not an RSS or Atom feed ({feed.get('bozo_exception')})",
                                source=NAME)
    if not feed.get("version") and not feed.entries:
        raise MalformedResponse(f"{NAME}: not an RSS or Atom feed", source=NAME)
    language = feed.feed.get("language")
    posts = parse_items(feed.entries, parse_entry, source=NAME, skipped=skipped)
    for post in posts:
        post.language = post.language or (language.split("-")[0].lower() if language else None)
    return posts


def mentions_story(post: Post, story: Story) -> bool:
    """Whether the post names the story: every word of one query, or one hashtag."""
    words = set(_WORD.findall(post.text.lower()))
    for query in story.queries:
        needed = set(_WORD.findall(query.lower()))
        if needed and needed <= words:
            return True
    return any(tag.lower() in words for tag in story.hashtags)


# -- the collector -----------------------------------------------------------------------

class RssCollector(HttpCollector):
    """Reads each feed once per run; unchanged feeds answer 304 and cost nothing."""

    name = NAME

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        feeds = [(url, bool(options.get("match", True))) for url in options.get("feeds") or []]
        if not feeds:
            feeds = [(GOOGLE_NEWS.format(query=quote_plus(q)), False)
                     for q in story.queries or [story.title]]
        for url, match in feeds:
            validators = state.query(url)
            headers = {}
            if validators.get("etag"):
                headers["If-None-Match"] = validators["etag"]
            if validators.get("modified"):
                headers["If-Modified-Since"] = validators["modified"]
            response = request(self.client, "GET", url, source=NAME, limiter=self.limiter,
                               headers=headers)
            if response.status_code == 304:
                log.info("%s: %s unchanged", NAME, httpx.URL(url).copy_with(query=None))
                continue
            skipped: list[str] = []
            posts = parse(response.content, skipped=skipped)
            if match:
                posts = [p for p in posts if mentions_story(p, story)]
            validators.update(etag=response.headers.get("ETag"),
                              modified=response.headers.get("Last-Modified"))
            yield Page(posts, state.dump(), skipped)
