"""Test seams for the collectors: recorded responses replayed through httpx.MockTransport,
and a fake Bluesky search service that pages through a data set like the real one.

A request with no recording fails the test loudly instead of reaching the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from collectors.http import make_client

FIXTURES = Path(__file__).resolve().parent / "fixtures"
Responder = httpx.Response | Callable[[httpx.Request], httpx.Response]


def fixture(platform: str, name: str) -> Any:
    """A recorded response body: decoded JSON for .json files, bytes otherwise."""
    path = FIXTURES / platform / name
    return json.loads(path.read_text("utf-8")) if path.suffix == ".json" else path.read_bytes()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class Replay:
    """Routes (method, path suffix) to queued responses; the last one of a route repeats."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, list[Responder]]] = []
        self.requests: list[httpx.Request] = []

    def add(self, method: str, path: str, *responses: Responder) -> Replay:
        self.routes.append((method, path, list(responses)))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for method, path, queue in self.routes:
            if request.method == method and request.url.path.endswith(path):
                responder = queue.pop(0) if len(queue) > 1 else queue[0]
                return responder(request) if callable(responder) else responder
        raise AssertionError(f"no recorded response for {request.method} {request.url}")

    def client(self) -> httpx.Client:
        return make_client(transport=httpx.MockTransport(self))

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(path)]


# -- a fake Bluesky: searchPosts over a data set, honouring since/until/cursor/limit -------

def make_bluesky_posts(count: int, *, start: datetime | None = None) -> list[dict[str, Any]]:
    """`count` postViews, one a minute back from `start`, with distinct texts."""
    start = start or datetime.now(timezone.utc) - timedelta(minutes=1)
    words = ["maduro", "call", "boats", "strikes", "caracas", "talks", "law", "navy", "oil"]
    posts = []
    for i in range(count):
        created = (start - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        text = " ".join(words[(i * k) % len(words)] for k in range(1, 8)) + f" post number {i} " + \
            " ".join(f"w{(i * 7919 + j) % 100003}" for j in range(6))
        posts.append({
            "uri": f"at://did:plc:fake{i % 17}/app.bsky.feed.post/p{i:06d}", "cid": f"cid{i}",
            "author": {"did": f"did:plc:fake{i % 17}", "handle": f"user{i % 17}.bsky.social"},
            "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": created,
                       "langs": ["en"]},
            "indexedAt": created, "likeCount": i % 5, "repostCount": 0, "replyCount": 0,
        })
    return posts


def bluesky_search(posts: list[dict[str, Any]], *, window_cap: int | None = None) -> Callable:
    """A searchPosts handler: newest first, since inclusive, until exclusive, offset cursor;
    like the real service, a query stops handing out cursors after `window_cap` posts."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        since, until = params.get("since"), params.get("until")
        hits = [p for p in posts if (since is None or p["indexedAt"] >= since)
                and (until is None or p["indexedAt"] < until)]
        hits.sort(key=lambda p: p["indexedAt"], reverse=True)
        offset = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 25)
        page = hits[offset : offset + limit]
        body: dict[str, Any] = {"posts": page}
        end = offset + len(page)
        if end < len(hits) and (window_cap is None or end < window_cap):
            body["cursor"] = str(end)
        return json_response(body)

    return handler


def bluesky_session(request: httpx.Request) -> httpx.Response:
    return json_response({"did": "did:plc:me", "handle": "me.bsky.social",
                          "accessJwt": "access-token", "refreshJwt": "refresh-token"})
