"""Reddit, through the OAuth API with an app-only (client credentials) token.

`/search` sorted by new, paged back with the `after` fullname until the newest post of the
previous run; site-wide, or within the `subreddits` option. Reddit's `X-Ratelimit-*`
headers are honoured, and the User-Agent has the form Reddit asks for
(`python:reactions:VERSION (by /u/NAME)`, NAME from REACTIONS_REDDIT_USERNAME).

Credentials: REACTIONS_REDDIT_CLIENT_ID and REACTIONS_REDDIT_CLIENT_SECRET.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from collectors.base import (
    AuthError,
    CursorState,
    MalformedResponse,
    Page,
    Sweep,
    backfill_start,
    parse_items,
    parse_timestamp,
    require_env,
)
from collectors.http import HttpCollector, RateLimiter, get_json, request
from collectors.text import unescape
from reactions import __version__
from reactions.models import Post, Story

log = logging.getLogger(__name__)
NAME = "reddit"
API_URL = "https://oauth.reddit.com"
AUTH_URL = "https://www.reddit.com"
ENV = ["REACTIONS_REDDIT_CLIENT_ID", "REACTIONS_REDDIT_CLIENT_SECRET"]
ENV_USERNAME = "REACTIONS_REDDIT_USERNAME"
LIMIT = 100


def user_agent(username: str | None) -> str:
    """The User-Agent Reddit's API rules ask for: platform:app id:version (by /u/name)."""
    return f"python:reactions:{__version__} (by /u/{username or 'reactions-newsroom'})"


# -- parsing -----------------------------------------------------------------------------

def parse_thing(thing: dict[str, Any]) -> Post | None:
    """One `t3` (link) or `t1` (comment) thing to a Post; other kinds are ignored."""
    kind, data = thing["kind"], thing["data"]
    if kind == "t3":
        body = data.get("selftext") or ""
        body = "" if body in ("[removed]", "[deleted]") else unescape(body)
        text = f"{unescape(data['title'])}\n{body}".strip()
        reply_to = None
    elif kind == "t1":
        text = unescape(data.get("body") or "")
        if text in ("[removed]", "[deleted]"):
            return None
        reply_to = data.get("parent_id")
    else:
        return None
    if not text:
        raise ValueError(f"{kind} {data.get('id')} has no text")
    author = data.get("author")
    return Post(
        platform=NAME,
        native_id=data["name"],
        text=text,
        author=None if author in (None, "[deleted]") else author,
        created_at=parse_timestamp(data["created_utc"]),
        url=thing_url(kind, data),
        language=data.get("lang"),
        likes=int(data.get("score") or 0),
        replies=int(data.get("num_comments") or 0),
        reply_to=reply_to,
        raw=data,
    )


def thing_url(kind: str, data: dict[str, Any]) -> str | None:
    """The reddit.com address of a thing: its permalink, else (comment listings carry none)
    built from the comment's `link_id` and `id`."""
    if data.get("permalink"):
        return f"https://www.reddit.com{data['permalink']}"
    if kind == "t1" and data.get("link_id") and data.get("id"):
        return f"https://www.reddit.com/comments/{str(data['link_id']).removeprefix('t3_')}" \
               f"/comment/{data['id']}/"
    if kind == "t3" and data.get("id"):
        return f"https://www.reddit.com/comments/{data['id']}/"
    return None


def _is_listing(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("kind") == "Listing"
            and isinstance((value.get("data") or {}).get("children"), list))


def things_of(listing: dict[str, Any]) -> list[Any]:
    """The things of a Listing, each comment followed by its replies (a nested Listing, or
    "" on a leaf). "more" stubs (comments not loaded) are left out."""
    found: list[Any] = []
    for child in listing["data"]["children"]:
        if isinstance(child, dict) and child.get("kind") == "more":
            continue
        found.append(child)
        replies = (child.get("data") or {}).get("replies") if isinstance(child, dict) else None
        if _is_listing(replies):
            found += things_of(replies)
    return found


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """A Listing of t3/t1 things (search, subreddit new, user or subreddit comments), or a
    comment tree (`/comments/ID`: [the post's Listing, the comments' Listing]) to posts."""
    if isinstance(payload, list) and payload and all(_is_listing(p) for p in payload):
        things = [t for listing in payload for t in things_of(listing)]
    elif _is_listing(payload):
        things = things_of(payload)
    else:
        raise MalformedResponse(f"{NAME}: response is neither a Listing nor a comment tree "
                                "([Listing, Listing])", source=NAME)
    return parse_items(things, parse_thing, source=NAME, skipped=skipped)


# -- the collector -----------------------------------------------------------------------

class RedditCollector(HttpCollector):
    """Searches each query site-wide or in each configured subreddit, newest first."""

    name = NAME
    default_base_url = API_URL

    def __init__(self, client: httpx.Client | None = None, base_url: str | None = None,
                 auth_url: str = AUTH_URL, env: Mapping[str, str] | None = None,
                 limiter: RateLimiter | None = None, **kwargs: Any) -> None:
        super().__init__(client, base_url, os.environ if env is None else env, limiter, **kwargs)
        self.client.headers["User-Agent"] = user_agent(self.env.get(ENV_USERNAME))
        self.auth_url = auth_url.rstrip("/")
        self._token: tuple[str, float] | None = None

    def _access_token(self, auth_url: str) -> str:
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        client_id, secret = require_env(NAME, ENV, self.env)
        try:
            data = request(self.client, "POST", f"{auth_url}/api/v1/access_token", source=NAME,
                           decode=True, auth=(client_id, secret),
                           data={"grant_type": "client_credentials"})
        except AuthError:
            raise AuthError(f"{NAME}: the app credentials were refused; check {' and '.join(ENV)}",
                            source=NAME) from None
        if not isinstance(data, dict) or "access_token" not in data:
            raise AuthError(f"{NAME}: no access token in the answer ({(data or {}).get('error')}); "
                            f"check {' and '.join(ENV)}", source=NAME)
        self._token = (data["access_token"], time.time() + float(data.get("expires_in", 3600)))
        return self._token[0]

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        require_env(NAME, ENV, self.env)
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        auth_url = str(options.get("base_url") or self.auth_url).rstrip("/")
        subreddits = options.get("subreddits") or [None]
        for sub in subreddits:
            for query in story.queries or [story.title]:
                key = f"r/{sub}:{query}" if sub else query
                sweep = Sweep(state.query(key), token="after",
                              start=backfill_start(options).timestamp())
                url = f"{base}/r/{sub}/search" if sub else f"{base}/search"
                while True:
                    params: dict[str, Any] = {"q": query, "sort": "new", "limit": LIMIT,
                                              "type": "link", "raw_json": 1}
                    if sub:
                        params["restrict_sr"] = 1
                    if sweep.token:
                        params["after"] = sweep.token
                    token = self._access_token(auth_url)
                    payload = get_json(self.client, url, source=NAME, limiter=self.limiter,
                                       params=params, headers={"Authorization": f"bearer {token}"})
                    skipped: list[str] = []
                    posts = parse(payload, skipped=skipped)
                    stamps = [p.created_at.timestamp() for p in posts if p.created_at]
                    sweep.saw(stamps)
                    after = payload["data"].get("after")
                    reached = any(stamp <= sweep.since for stamp in stamps)
                    more = sweep.turn(after if stamps and not reached else None)
                    yield Page(posts, state.dump(), skipped)
                    if not more:
                        break
