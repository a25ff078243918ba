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

import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx

from collectors.base import (
    CursorState,
    MalformedResponse,
    Page,
    Sweep,
    backfill_start,
    parse_items,
    parse_timestamp,
    repost_post,
)
from collectors.http import HttpCollector, decode_json, request
from collectors.text import html_to_text
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "mastodon"
ENV_TOKEN = "REACTIONS_MASTODON_TOKEN"
DEFAULT_INSTANCES = ["mastodon.social"]
LIMIT = 40


# -- parsing -----------------------------------------------------------------------------

def parse_status(status: dict[str, Any]) -> Post | list[Post] | None:
    """One Mastodon `Status` entity to a Post.

    A boost (`reblog` set) gives two Posts: the boosted status (its URI, text, author and
    counts, stored once however many boosts are read) and the boost itself (its own URI,
    the booster, the boost's time, the boosted text, no counts), marked as a repost of the
    boosted status (`raw["repost_of"]`).
    """
    boosted = status.get("reblog")
    if isinstance(boosted, dict):
        original = parse_status({**boosted, "reblog": None})
        if not isinstance(original, Post):
            return original
        boost = repost_post(
            original, native_id=status["uri"], author=(status.get("account") or {}).get("acct"),
            created_at=parse_timestamp(status.get("created_at")), url=status.get("url"),
            raw={**status, "reblog": {"uri": original.native_id, "id": boosted.get("id")}})
        return [original, boost]
    uri = status["uri"]
    text = html_to_text(status.get("content") or "")
    warning = (status.get("spoiler_text") or "").strip()
    if warning:
        text = f"{warning}\n{text}".strip()
    if not text:
        if status.get("media_attachments"):
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
        language=status.get("language"),
        likes=int(status.get("favourites_count") or 0),
        reposts=int(status.get("reblogs_count") or 0),
        replies=int(status.get("replies_count") or 0),
        reply_to=status.get("in_reply_to_id"),
        raw=status,
    )


def statuses_of(payload: Any) -> list[Any]:
    """The statuses of any response a newsroom reads: a timeline (home, public, hashtag, list,
    account statuses: a list of Status), a v2 search (`statuses`), a single Status, or a
    status' Context (`ancestors` and `descendants`)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if isinstance(payload.get("statuses"), list):
            return payload["statuses"]
        if isinstance(payload.get("ancestors"), list) or isinstance(payload.get("descendants"), list):
            return list(payload.get("ancestors") or []) + list(payload.get("descendants") or [])
        if "id" in payload and ("content" in payload or "reblog" in payload):
            return [payload]
    raise MalformedResponse(f"{NAME}: response is not a list of statuses, a search result, a "
                            "status or a context", source=NAME)


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """A timeline page, a v2 search result, a single Status or a Context, to posts.

    A reply's `reply_to` is the parent's URI when the parent is in the same response (as
    in a context), else the server's local `in_reply_to_id`.
    """
    statuses = statuses_of(payload)
    posts = parse_items(statuses, parse_status, source=NAME, skipped=skipped)
    uris = {str(s.get("id")): s.get("uri") for s in statuses if isinstance(s, dict) and s.get("uri")}
    for post in posts:
        if post.reply_to is not None and str(post.reply_to) in uris:
            post.reply_to = uris[str(post.reply_to)]
    return posts


def link_param(response: httpx.Response, rel: str, name: str) -> str | None:
    """A query parameter of the `Link` header's URL for `rel` (e.g. next -> max_id)."""
    link = response.links.get(rel)
    if not link or "url" not in link:
        return None
    return httpx.URL(link["url"]).params.get(name)


def _instance_url(instance: str) -> str:
    instance = instance.strip().rstrip("/")
    return instance if "://" in instance else f"https://{instance}"


def _created(status: Any):
    try:
        return parse_timestamp(status.get("created_at")) if isinstance(status, dict) else None
    except ValueError:
        return None


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

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        token = self._token()
        start = backfill_start(options)
        for key, url, query in self._targets(story, options):
            # First run: a sweep back from the newest status to the backfill start, with
            # `max_id`; it ends at the newest status seen, from which later runs page
            # forward with `min_id`.
            sweep = Sweep(state.query(key), token="max_id", since="min_id")
            headers = {"Authorization": f"Bearer {token}"} if query else {}
            while True:
                forward = sweep.since is not None
                params: dict[str, Any] = {"limit": LIMIT}
                if query:
                    params.update(q=query, type="statuses", resolve="false")
                if forward:
                    params["min_id"] = sweep.since
                elif sweep.token is not None:
                    params["max_id"] = sweep.token
                response = request(self.client, "GET", url, source=NAME, limiter=self.limiter,
                                   params=params, headers=headers)
                payload = decode_json(response, NAME)
                skipped: list[str] = []
                posts = parse(payload, skipped=skipped)
                statuses = statuses_of(payload)
                ids = _status_ids(statuses)
                more = bool(ids)
                if forward:  # newer than the newest committed status
                    if ids:
                        sweep.state["min_id"] = (link_param(response, "prev", "min_id")
                                                 or str(max(ids)))
                else:
                    sweep.saw([str(i) for i in ids], key=int)
                    # The statuses' own times (a boost's, not the boosted post's).
                    oldest = min((_created(st) for st in statuses if _created(st)), default=None)
                    reached = not ids or (oldest is not None and oldest < start)
                    more = sweep.turn(None if reached else
                                      link_param(response, "next", "max_id") or str(min(ids)))
                yield Page(posts, state.dump(), skipped)
                if not more:
                    break
