"""Mastodon: hashtag timelines on a list of instances (no auth), and status search where a
token is set.

Per instance and hashtag (or search query), the first run pages back from the newest post
with `max_id` (following the `Link: rel="next"` header) until the backfill start; later
runs page forward from the newest post seen with `min_id` (`Link: rel="prev"`), so each
committed page moves the cursor forward and a restart re-fetches at most one page.
Posts are stored under their ActivityPub `uri`, so a status federated to two instances
is one post.

Options: `instances` (default ["mastodon.social"]), `hashtags` (default: the story's),
`search_instance` (where REACTIONS_MASTODON_TOKEN is valid; default the first instance).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx

from collectors.base import (
    MalformedResponse,
    Page,
    backfill_start,
    parse_items,
    parse_timestamp,
)
from collectors.http import HttpCollector, decode_json, request
from nlp.text import html_to_text
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "mastodon"
ENV_TOKEN = "REACTIONS_MASTODON_TOKEN"
DEFAULT_INSTANCES = ["mastodon.social"]
LIMIT = 40


# -- parsing -----------------------------------------------------------------------------

def parse_status(status: dict[str, Any]) -> Post | None:
    """One Mastodon `Status` entity to a Post (a boost carries the boosted status' text)."""
    uri = status["uri"]
    shown = status.get("reblog") or status
    text = html_to_text(shown.get("content") or "")
    warning = (shown.get("spoiler_text") or "").strip()
    if warning:
        text = f"{warning}\n{text}".strip()
    if not text:
        if shown.get("media_attachments"):
            return None  # a picture without words says nothing we can read
        raise ValueError(f"status {uri} has no text")
    account = status.get("account") or {}
    return Post(
        platform=NAME,
        native_id=uri,
        text=text,
        author=account.get("acct"),
        created_at=parse_timestamp(status["created_at"]),
        url=status.get("url") or uri,
        language=shown.get("language"),
        likes=int(shown.get("favourites_count") or 0),
        reposts=int(shown.get("reblogs_count") or 0),
        replies=int(shown.get("replies_count") or 0),
        reply_to=shown.get("in_reply_to_id") if status.get("reblog") is None else
        (status["reblog"].get("uri")),
        raw=status,
    )


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """A timeline page (a list of Status) or a v2 search result ({"statuses": [...]})."""
    if isinstance(payload, dict) and isinstance(payload.get("statuses"), list):
        payload = payload["statuses"]
    if not isinstance(payload, list):
        raise MalformedResponse(f"{NAME}: response is neither a list of statuses nor a search "
                                "result", source=NAME)
    return parse_items(payload, parse_status, source=NAME, skipped=skipped)


def link_param(response: httpx.Response, rel: str, name: str) -> str | None:
    """A query parameter of the `Link` header's URL for `rel` (e.g. next -> max_id)."""
    link = response.links.get(rel)
    if not link or "url" not in link:
        return None
    return httpx.URL(link["url"]).params.get(name)


def _instance_url(instance: str) -> str:
    instance = instance.strip().rstrip("/")
    return instance if "://" in instance else f"https://{instance}"


def _status_ids(statuses: list[Any]) -> list[int]:
    ids = []
    for status in statuses:
        try:
            ids.append(int(status["id"]))
        except (TypeError, KeyError, ValueError):
            continue
    return ids


# -- the collector -----------------------------------------------------------------------

class MastodonCollector(HttpCollector):
    """Hashtag timelines on every configured instance, plus search where a token is set."""

    name = NAME

    def _token(self) -> str | None:
        return (self.env if self.env is not None else os.environ).get(ENV_TOKEN) or None

    def _targets(self, story: Story, options: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(key, url, query) for each timeline and search to read."""
        instances = [_instance_url(i) for i in options.get("instances") or DEFAULT_INSTANCES]
        tags = [t.lstrip("#") for t in options.get("hashtags") or story.hashtags]
        targets = [(f"tag:{i}:{t}", f"{i}/api/v1/timelines/tag/{t}", "") for i in instances
                   for t in tags]
        if self._token():
            where = _instance_url(options.get("search_instance") or instances[0])
            targets += [(f"search:{where}:{q}", f"{where}/api/v2/search", q)
                        for q in story.queries]
        elif not tags:
            log.warning("%s: story has no hashtags and %s is not set: nothing to read", NAME,
                        ENV_TOKEN)
        return targets

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        token = self._token()
        state: dict[str, dict[str, Any]] = json.loads(cursor) if cursor else {}
        start = backfill_start(options)
        for key, url, query in self._targets(story, options):
            s = state.setdefault(key, {"min_id": None, "max_id": None, "top": None})
            headers = {"Authorization": f"Bearer {token}"} if query else {}
            while True:
                params: dict[str, Any] = {"limit": LIMIT}
                if query:
                    params.update(q=query, type="statuses", resolve="false")
                if s["min_id"] is not None:
                    params["min_id"] = s["min_id"]
                elif s["max_id"] is not None:
                    params["max_id"] = s["max_id"]
                response = request(self.client, "GET", url, source=NAME, limiter=self.limiter,
                                   params=params, headers=headers)
                payload = decode_json(response, NAME)
                skipped: list[str] = []
                posts = parse(payload, skipped=skipped)
                statuses = payload["statuses"] if isinstance(payload, dict) else payload
                ids = _status_ids(statuses)
                more = bool(ids)
                if s["min_id"] is not None:  # forward: newer than the newest committed post
                    if ids:
                        s["min_id"] = link_param(response, "prev", "min_id") or str(max(ids))
                else:  # first run: back from the newest post to the backfill start
                    if ids:
                        newest = max(ids)
                        s["top"] = str(max(newest, int(s["top"] or 0)))
                        s["max_id"] = link_param(response, "next", "max_id") or str(min(ids))
                    oldest = min((p.created_at for p in posts if p.created_at), default=None)
                    if not ids or (oldest is not None and oldest < start):
                        s["min_id"], s["max_id"], more = s["top"] or "0", None, False
                        if s["min_id"] == "0":  # nothing there yet: start from now next time
                            s["min_id"] = None
                yield Page(posts, json.dumps(state, sort_keys=True), skipped)
                if not more:
                    break
