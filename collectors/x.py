"""X (Twitter), through the API v2 recent search with an app bearer token.

Each query pages back with `next_token` from the newest post to `since_id`, the newest
post of the previous run; authors come from the `author_id` expansion. `x-rate-limit-*`
headers are honoured.

Credentials: REACTIONS_X_BEARER_TOKEN.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors.base import (
    MalformedResponse,
    Page,
    backfill_start,
    parse_items,
    parse_timestamp,
    require_env,
)
from collectors.http import HttpCollector, get_json
from nlp.text import unescape
from reactions.models import Post, Story, utcnow

log = logging.getLogger(__name__)
NAME = "x"
BASE_URL = "https://api.x.com/2"
ENV = ["REACTIONS_X_BEARER_TOKEN"]
MAX_RESULTS = 100
TWEET_FIELDS = "created_at,lang,public_metrics,conversation_id,referenced_tweets,author_id"
#: Recent search reaches back seven days; ask for a little less so the API accepts it.
MAX_BACKFILL_SECONDS = 7 * 24 * 3600 - 120


# -- parsing -----------------------------------------------------------------------------

def parse_tweet(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> Post:
    """One v2 Tweet object (with the expanded users) to a Post."""
    tweet_id = str(tweet["id"])
    text = tweet.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"tweet {tweet_id} has no text")
    user = users.get(str(tweet.get("author_id"))) or {}
    username = user.get("username")
    metrics = tweet.get("public_metrics") or {}
    replied = next((r["id"] for r in tweet.get("referenced_tweets") or []
                    if r.get("type") == "replied_to"), None)
    return Post(
        platform=NAME,
        native_id=tweet_id,
        text=unescape(text).strip(),
        author=username,
        created_at=parse_timestamp(tweet.get("created_at")),
        url=f"https://x.com/{username or 'i/web'}/status/{tweet_id}",
        language=tweet.get("lang") if tweet.get("lang") not in ("und", "qme", "zxx") else None,
        likes=int(metrics.get("like_count") or 0),
        reposts=int(metrics.get("retweet_count") or 0) + int(metrics.get("quote_count") or 0),
        replies=int(metrics.get("reply_count") or 0),
        reply_to=str(replied) if replied else None,
        raw={**tweet, "author": user} if user else tweet,
    )


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """One recent-search response ({"data": [...], "includes": {"users"}, "meta"}) to posts."""
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise MalformedResponse(f"{NAME}: response has no `meta`", source=NAME)
    users = {str(u.get("id")): u for u in (payload.get("includes") or {}).get("users") or []
             if isinstance(u, dict)}
    return parse_items(payload.get("data") or [], lambda t: parse_tweet(t, users), source=NAME,
                       skipped=skipped)


# -- the collector -----------------------------------------------------------------------

class XCollector(HttpCollector):
    """Recent search for each of the story's queries."""

    name = NAME
    default_base_url = BASE_URL

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        (token,) = require_env(NAME, ENV, self.env)
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        state: dict[str, dict[str, Any]] = json.loads(cursor) if cursor else {}
        for query in options.get("queries") or story.queries or [story.title]:
            q = state.setdefault(query, {"since_id": None, "next_token": None, "top": None})
            while True:
                params: dict[str, Any] = {
                    "query": query, "max_results": MAX_RESULTS, "tweet.fields": TWEET_FIELDS,
                    "expansions": "author_id", "user.fields": "username,name",
                }
                if q["since_id"]:
                    params["since_id"] = q["since_id"]
                else:
                    earliest = utcnow() - timedelta(seconds=MAX_BACKFILL_SECONDS)
                    start = max(backfill_start(options), earliest)
                    params["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
                if q["next_token"]:
                    params["next_token"] = q["next_token"]
                payload = get_json(self.client, f"{base}/tweets/search/recent", source=NAME,
                                   limiter=self.limiter, params=params, headers=headers)
                skipped: list[str] = []
                posts = parse(payload, skipped=skipped)
                meta = payload["meta"]
                newest = meta.get("newest_id")
                if newest and (q["top"] is None or int(newest) > int(q["top"])):
                    q["top"] = str(newest)
                more = bool(meta.get("next_token"))
                if more:
                    q["next_token"] = meta["next_token"]
                else:
                    q["since_id"], q["next_token"] = q["top"] or q["since_id"], None
                yield Page(posts, json.dumps(state, sort_keys=True), skipped)
                if not more:
                    break
