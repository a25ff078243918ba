"""X (Twitter), through the API v2 recent search with an app bearer token.

Each query pages back with `next_token` from the newest post to `since_id`, the newest
post of the previous run; authors come from the `author_id` expansion. `x-rate-limit-*`
headers are honoured.

Credentials: REACTIONS_X_BEARER_TOKEN.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors.base import (
    CursorState,
    MalformedResponse,
    Page,
    Sweep,
    backfill_start,
    parse_items,
    parse_timestamp,
    repost_post,
    require_env,
)
from collectors.http import HttpCollector, get_json
from collectors.text import unescape
from reactions.models import Post, Story, utcnow

log = logging.getLogger(__name__)
NAME = "x"
BASE_URL = "https://api.x.com/2"
ENV = ["REACTIONS_X_BEARER_TOKEN"]
MAX_RESULTS = 100
TWEET_FIELDS = ("created_at,lang,public_metrics,conversation_id,referenced_tweets,author_id,"
                "note_tweet")
#: Authors, and the originals of retweets and quotes (a retweet's own text is cut at "…").
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id"
#: Recent search reaches back seven days; ask for a little less so the API accepts it.
MAX_BACKFILL_SECONDS = 7 * 24 * 3600 - 120


# -- parsing -----------------------------------------------------------------------------

def parse_tweet(tweet: dict[str, Any], users: dict[str, dict[str, Any]],
                tweets: dict[str, dict[str, Any]] | None = None) -> Post | list[Post]:
    """One v2 Tweet object (with the expanded users and referenced tweets) to a Post.

    A retweet's own `text` is the original cut at "…" and its `public_metrics` copy the
    original's, so it gives two Posts: the original from `includes.tweets` (full text, its
    own counts, stored once however many retweets are read) and the retweet itself (its
    id, the retweeter, its time, the original's full text, no counts), marked as a repost
    of the original (`raw["repost_of"]`). A retweet whose original is not included is
    refused (ValueError), never stored with the cut text.
    """
    tweet_id = str(tweet["id"])
    retweeted = next((str(r["id"]) for r in tweet.get("referenced_tweets") or []
                      if isinstance(r, dict) and r.get("type") == "retweeted"), None)
    if retweeted is not None:
        found = (tweets or {}).get(retweeted)
        if found is None:
            raise ValueError(f"tweet {tweet_id} retweets {retweeted}, which is not in "
                             "includes.tweets (expansion referenced_tweets.id)")
        original = tweet_post(found, users)
        user = users.get(str(tweet.get("author_id"))) or {}
        retweeter = user.get("username")
        repost = repost_post(
            original, native_id=tweet_id, author=retweeter,
            created_at=parse_timestamp(tweet.get("created_at")),
            url=f"https://x.com/{retweeter or 'i/web'}/status/{tweet_id}",
            raw={**tweet, "author": user} if user else tweet)
        return [original, repost]
    return tweet_post(tweet, users)


def tweet_post(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> Post:
    """A tweet that is not a retweet (an original, a reply or a quote) to a Post."""
    tweet_id = str(tweet["id"])
    # Posts longer than 280 characters carry their whole text in `note_tweet`.
    text = (tweet.get("note_tweet") or {}).get("text") or tweet.get("text")
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


def describe_error(error: Any) -> str:
    """One entry of a response's `errors` (a partial error: an object we may not see)."""
    if not isinstance(error, dict):
        return f"{NAME}: API error: {error!r}"[:300]
    what = error.get("title") or error.get("type") or "error"
    detail = error.get("detail") or error.get("message") or ""
    where = error.get("resource_id") or error.get("value")
    return f"{NAME}: API error: {what}" + (f" ({where})" if where else "") + \
        (f": {detail}" if detail else "")


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """One v2 search (or timeline) response to posts: `data` tweets, authors and retweeted
    originals from `includes`; each of the partial `errors` is reported in `skipped`."""
    if not isinstance(payload, dict) or not (isinstance(payload.get("meta"), dict)
                                             or isinstance(payload.get("errors"), list)):
        raise MalformedResponse(f"{NAME}: response has neither `meta` nor `errors`", source=NAME)
    includes = payload.get("includes") or {}
    users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
    tweets = {str(t.get("id")): t for t in includes.get("tweets") or [] if isinstance(t, dict)}
    for error in payload.get("errors") or []:
        reason = describe_error(error)
        log.warning("%s", reason)
        if skipped is not None:
            skipped.append(reason)
    data = payload.get("data") or []
    if isinstance(data, dict):  # a single-tweet lookup
        data = [data]
    return parse_items(data, lambda t: parse_tweet(t, users, tweets), source=NAME,
                       skipped=skipped)


# -- the collector -----------------------------------------------------------------------

class XCollector(HttpCollector):
    """Recent search for each of the story's queries."""

    name = NAME
    default_base_url = BASE_URL

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        (token,) = require_env(NAME, ENV, self.env)
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        for query in options.get("queries") or story.queries or [story.title]:
            sweep = Sweep(state.query(query), token="next_token", since="since_id")
            while True:
                params: dict[str, Any] = {
                    "query": query, "max_results": MAX_RESULTS, "tweet.fields": TWEET_FIELDS,
                    "expansions": EXPANSIONS, "user.fields": "username,name",
                }
                if sweep.since:
                    params["since_id"] = sweep.since
                else:
                    earliest = utcnow() - timedelta(seconds=MAX_BACKFILL_SECONDS)
                    start = max(backfill_start(options), earliest)
                    params["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
                if sweep.token:
                    params["next_token"] = sweep.token
                payload = get_json(self.client, f"{base}/tweets/search/recent", source=NAME,
                                   limiter=self.limiter, params=params, headers=headers)
                skipped: list[str] = []
                posts = parse(payload, skipped=skipped)
                meta = payload.get("meta") or {}
                newest = meta.get("newest_id")
                sweep.saw([str(newest)] if newest else [], key=int)  # ids grow with time
                more = sweep.turn(meta.get("next_token"))
                yield Page(posts, state.dump(), skipped)
                if not more:
                    break
