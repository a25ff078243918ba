"""Hacker News, through the public Algolia search API (no credentials).

`search_by_date` returns hits newest first. A run pages back from now to the high-water
mark of the previous run; the cursor records both ends, so a run killed between pages
continues where it stopped and the next run starts from the newest post already seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from collectors.base import (
    CursorState,
    MalformedResponse,
    Page,
    Sweep,
    backfill_start,
    parse_items,
    parse_timestamp,
)
from collectors.http import HttpCollector, get_json
from collectors.text import html_to_text
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "hackernews"
BASE_URL = "https://hn.algolia.com/api/v1"
HITS_PER_PAGE = 100


def parse_hit(hit: dict[str, Any]) -> Post:
    """One Algolia hit (story or comment) to a Post; ValueError when it is not usable."""
    object_id = hit.get("objectID")
    if not object_id:
        raise ValueError("hit has no objectID")
    tags = hit.get("_tags") or []
    if "comment" in tags or hit.get("comment_text"):
        text = html_to_text(hit.get("comment_text") or "")
    else:
        title = hit.get("title") or ""
        body = html_to_text(hit.get("story_text") or "")
        text = f"{title}\n{body}".strip() if body else title
    if not text:
        raise ValueError(f"hit {object_id} has no text")
    created = parse_timestamp(hit.get("created_at_i")) or parse_timestamp(hit.get("created_at"))
    parent = hit.get("parent_id")
    return Post(
        platform=NAME,
        native_id=str(object_id),
        text=text,
        author=hit.get("author"),
        created_at=created,
        url=f"https://news.ycombinator.com/item?id={object_id}",
        likes=int(hit.get("points") or 0),
        replies=int(hit.get("num_comments") or 0),
        reply_to=str(parent) if parent else None,
        raw=hit,
    )


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """One search response page to posts; a malformed hit is skipped (and reported), not fatal."""
    if not isinstance(payload, dict) or not isinstance(payload.get("hits"), list):
        raise MalformedResponse("hackernews: response has no `hits` list", source=NAME)
    return parse_items(payload["hits"], parse_hit, source=NAME, skipped=skipped)


class HackerNewsCollector(HttpCollector):
    """Searches stories and comments for each of the story's queries."""

    name = NAME
    default_base_url = BASE_URL

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        for query in options.get("queries") or story.queries or [story.title]:
            q = state.query(query)
            sweep = Sweep(q, token="until", start=int(backfill_start(options).timestamp()))
            while True:
                filters = []
                if q["since"] is not None:
                    filters.append(f"created_at_i>{q['since']}")
                if q["until"] is not None:
                    filters.append(f"created_at_i<{q['until']}")
                params = {"query": query, "tags": "(story,comment)", "hitsPerPage": HITS_PER_PAGE}
                if filters:
                    params["numericFilters"] = ",".join(filters)
                skipped: list[str] = []
                payload = get_json(self.client, f"{base}/search_by_date", params=params,
                                   source=NAME, limiter=self.limiter)
                posts = parse(payload, skipped=skipped)
                stamps = [int(h["created_at_i"]) for h in payload["hits"]
                          if isinstance(h, dict) and isinstance(h.get("created_at_i"), int)]
                sweep.saw(stamps)
                until = None
                if stamps and len(payload["hits"]) >= HITS_PER_PAGE:
                    # `<` filter one past the oldest second, so posts sharing that second
                    # are not lost; if a whole page shares it, step past it to make progress.
                    until = min(stamps) + 1
                    if sweep.token is not None and until >= sweep.token:
                        until = min(stamps)
                # No next page: caught up; the next run starts from the newest post seen.
                more = sweep.turn(until)
                yield Page(posts, state.dump(), skipped)
                if not more:
                    break
