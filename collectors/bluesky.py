"""Bluesky, through `app.bsky.feed.searchPosts` with an app-password session.

Searches newest first (sort=latest) between `since` (the newest post of the previous run)
and now. One query returns at most about 10,000 posts, so once a query's cursor runs out
after a full window, `until` moves back to the oldest post seen and the search goes on.
The session (`com.atproto.server.createSession`) is kept on the collector and refreshed
with `com.atproto.server.refreshSession` when the access token expires.

Credentials: REACTIONS_BLUESKY_HANDLE and REACTIONS_BLUESKY_APP_PASSWORD.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.base import (
    AuthError,
    CursorState,
    MalformedResponse,
    Page,
    Sweep,
    backfill_start,
    iso,
    parse_items,
    parse_timestamp,
    repost_post,
    require_env,
)
from collectors.http import HttpCollector, get_json, request
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "bluesky"
BASE_URL = "https://bsky.social/xrpc"
ENV = ["REACTIONS_BLUESKY_HANDLE", "REACTIONS_BLUESKY_APP_PASSWORD"]
LIMIT = 100
#: Posts one query can page through before the service stops handing out cursors.
WINDOW_CAP = 9_000


# -- errors ------------------------------------------------------------------------------

class SessionExpired(AuthError):
    """The access token expired; the collector refreshes the session and retries once."""


def check(response: httpx.Response) -> None:
    """Map XRPC error bodies ({"error": "ExpiredToken", ...}) before the status mapping."""
    if response.status_code in (400, 401):
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return
        if error in ("ExpiredToken", "InvalidToken"):
            raise SessionExpired(f"{NAME}: session token {error}", source=NAME)
        if error == "AuthenticationRequired" or response.status_code == 401:
            raise AuthError(f"{NAME}: the handle or app password was refused; check "
                            f"{' and '.join(ENV)}", source=NAME)


# -- parsing -----------------------------------------------------------------------------

def post_url(uri: str, handle: str | None) -> str | None:
    """The bsky.app address of an at:// post URI."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3:
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


def sort_at(view: dict[str, Any]) -> datetime | None:
    """The time search sorts and filters by: the earlier of createdAt and indexedAt."""
    stamps = [parse_timestamp(view.get("indexedAt")),
              parse_timestamp((view.get("record") or {}).get("createdAt"))]
    stamps = [s for s in stamps if s is not None]
    return min(stamps) if stamps else None


REPOST = "app.bsky.feed.defs#reasonRepost"
THREAD_POST = "app.bsky.feed.defs#threadViewPost"
#: Thread nodes that stand for a post we may not see: deliberately left out, not errors.
UNSEEN = ("app.bsky.feed.defs#notFoundPost", "app.bsky.feed.defs#blockedPost")


def parse_post(view: dict[str, Any]) -> Post | None:
    """One `app.bsky.feed.defs#postView` to a Post (None for a post we may not see)."""
    if view.get("$type") in UNSEEN or view.get("notFound") or view.get("blocked"):
        return None
    uri = view["uri"]
    record = view.get("record") or {}
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError(f"post {uri} has no record text")
    author = view.get("author") or {}
    handle = author.get("handle")
    reply = (record.get("reply") or {}).get("parent") or {}
    langs = record.get("langs") or []
    return Post(
        platform=NAME,
        native_id=uri,
        text=text.strip(),
        author=handle,
        created_at=parse_timestamp(record.get("createdAt")) or parse_timestamp(view.get("indexedAt")),
        url=post_url(uri, handle),
        language=langs[0] if langs else None,
        likes=int(view.get("likeCount") or 0),
        reposts=int(view.get("repostCount") or 0) + int(view.get("quoteCount") or 0),
        replies=int(view.get("replyCount") or 0),
        reply_to=reply.get("uri"),
        raw=view,
    )


def parse_feed_item(item: dict[str, Any]) -> Post | list[Post] | None:
    """One `app.bsky.feed.defs#feedViewPost` (getTimeline, getFeed, getAuthorFeed, getListFeed).

    A repost (`reason` of type reasonRepost) gives two Posts: the original (its own URI,
    text and counts, stored once however many reposts are read) and the repost (the
    repost record's URI, the reposter, the repost time, the original's text, no counts),
    marked as a repost of the original (`raw["repost_of"]`). Older feeds leave out the
    repost record's URI; one is made from the reposter's DID and the original's URI (an
    account reposts a post at most once).
    """
    original = parse_post(item["post"])
    reason = item.get("reason")
    if original is None or not (isinstance(reason, dict) and reason.get("$type") == REPOST):
        return original
    by = reason.get("by") or {}
    uri = reason.get("uri")
    if not uri and by.get("did"):
        uri = f"at://{by['did']}/app.bsky.feed.repost/?subject={original.native_id}"
    if not uri:
        raise ValueError(f"repost of {original.native_id} names neither its URI nor who "
                         "reposted it")
    repost = repost_post(original, native_id=uri, author=by.get("handle") or by.get("did"),
                         created_at=parse_timestamp(reason.get("indexedAt")),
                         raw={"reason": reason, "post": {"uri": original.native_id}})
    return [original, repost]


def thread_posts(node: Any, *, depth: int = 0) -> list[Any]:
    """The postViews of a `threadViewPost` tree: its parents up to the root, the post, and
    every reply under it (unseen nodes are kept, for parse_post to leave out)."""
    if not isinstance(node, dict):
        return [node]
    if node.get("$type", THREAD_POST) != THREAD_POST or "post" not in node:
        return [node]
    found: list[Any] = []
    parent = node.get("parent")
    while isinstance(parent, dict) and depth == 0:  # walk up only from the thread's anchor
        found.insert(0, parent.get("post", parent))
        parent = parent.get("parent")
    found.append(node["post"])
    for reply in node.get("replies") or []:
        found += thread_posts(reply, depth=depth + 1)
    return found


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """Any feed response a newsroom reads, to posts.

    `{"posts": [postView]}`: searchPosts, getQuotes and getPosts; `{"feed": [feedViewPost]}`:
    getTimeline, getFeed, getAuthorFeed and getListFeed (reposts resolved to the original);
    `{"thread": threadViewPost}`: getPostThread, with its parents and all its replies.
    """
    if isinstance(payload, dict) and isinstance(payload.get("posts"), list):
        return parse_items(payload["posts"], parse_post, source=NAME, skipped=skipped)
    if isinstance(payload, dict) and isinstance(payload.get("feed"), list):
        return parse_items(payload["feed"], parse_feed_item, source=NAME, skipped=skipped)
    if isinstance(payload, dict) and isinstance(payload.get("thread"), dict):
        return parse_items(thread_posts(payload["thread"]), parse_post, source=NAME,
                           skipped=skipped)
    raise MalformedResponse(f"{NAME}: response has no `posts` list, `feed` list or `thread` "
                            "(searchPosts, getQuotes, getTimeline, getFeed, getAuthorFeed or "
                            "getPostThread)", source=NAME)


# -- the collector -----------------------------------------------------------------------

class BlueskyCollector(HttpCollector):
    """Searches each of the story's queries; one session per collector, reused across runs."""

    name = NAME
    default_base_url = BASE_URL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: dict[str, str] | None = None

    # session -------------------------------------------------------------------------

    def _login(self, base: str) -> None:
        handle, password = require_env(NAME, ENV, self.env)
        data = request(self.client, "POST", f"{base}/com.atproto.server.createSession",
                       source=NAME, check=check, decode=True,
                       json={"identifier": handle, "password": password})
        if not isinstance(data, dict) or "accessJwt" not in data:
            raise MalformedResponse(f"{NAME}: createSession answered without a token", source=NAME)
        self._session = {"access": data["accessJwt"], "refresh": data.get("refreshJwt", "")}

    def _refresh(self, base: str) -> None:
        try:
            data = request(self.client, "POST", f"{base}/com.atproto.server.refreshSession",
                           source=NAME, check=check, decode=True,
                           headers={"Authorization": f"Bearer {self._session['refresh']}"})
            self._session = {"access": data["accessJwt"], "refresh": data["refreshJwt"]}
        except (AuthError, KeyError, TypeError):
            log.info("%s: refresh refused, logging in again", NAME)
            self._login(base)

    def _search(self, base: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._login(base)
        for attempt in (1, 2):
            try:
                return get_json(self.client, f"{base}/app.bsky.feed.searchPosts", source=NAME,
                                check=check, limiter=self.limiter, params=params,
                                headers={"Authorization": f"Bearer {self._session['access']}"})
            except SessionExpired:
                if attempt == 2:
                    raise
                log.info("%s: session expired, refreshing", NAME)
                self._refresh(base)

    # pages ---------------------------------------------------------------------------

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        require_env(NAME, ENV, self.env)
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        for query in options.get("queries") or story.queries or [story.title]:
            q = state.query(query, until=None, window=0)
            sweep = Sweep(q, token="cursor", start=iso(backfill_start(options)))
            while True:
                params: dict[str, Any] = {"q": query, "sort": "latest", "limit": LIMIT,
                                          "since": sweep.since}
                if q["until"]:
                    params["until"] = q["until"]
                if sweep.token:
                    params["cursor"] = sweep.token
                if options.get("lang"):
                    params["lang"] = options["lang"]
                payload = self._search(base, params)
                skipped: list[str] = []
                posts = parse(payload, skipped=skipped)
                stamps = [s for s in (sort_at(p.raw) for p in posts) if s is not None]
                sweep.saw([iso(s) for s in stamps])  # RFC 3339 UTC text sorts as time
                q["window"] += len(payload["posts"])
                next_cursor = payload.get("cursor")
                more = True
                if next_cursor and payload["posts"]:
                    sweep.turn(next_cursor)
                elif stamps and q["window"] >= WINDOW_CAP:
                    # The query's window is spent: search again below the oldest post seen
                    # (plus a millisecond, so posts sharing that instant are not lost).
                    q["until"] = iso(min(stamps) + timedelta(milliseconds=1))
                    q["cursor"], q["window"] = None, 0
                else:  # caught up with the previous run
                    more = sweep.turn(None)
                    q["until"], q["window"] = None, 0
                yield Page(posts, state.dump(), skipped)
                if not more:
                    break
