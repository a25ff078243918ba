"""A fake Hacker News (Algolia) search API on 127.0.0.1 for process-level tests.

It pages `posts` hits newest first like `search_by_date`, logs every answer it completed,
and can misbehave on chosen requests: `trickle` (headers, then one byte every
`trickle_every` seconds), `silent` (headers, then nothing), `ratelimit` (429 with a long
Retry-After), `backoff` (503 every time), `delay` seconds before every answer, or `hang_page` (the first request for that page
number gets no answer at all, as if the server stalled; later ones are answered).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.conftest import local_http_server

BASE_TIME = 1_700_000_000


class FakeHackerNews:
    def __init__(self, posts: int = 0, *, mode: str | None = None, hang_page: int | None = None,
                 trickle_every: float = 2.0, delay: float = 0.0) -> None:
        self.hits = [{"objectID": str(10_000 + i), "title": f"Policy post number {i}",
                      "author": f"user{i % 7}", "created_at_i": BASE_TIME + i * 10,
                      "points": i % 5, "_tags": ["story"]}
                     for i in range(posts)]
        self.hits.sort(key=lambda h: -h["created_at_i"])
        self.mode = mode
        self.hang_page = hang_page
        self.trickle_every = trickle_every
        self.delay = delay  # seconds before each answer
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests being answered at one moment
        self.requests: list[str] = []  # every request's numericFilters, as it arrived
        self.served: list[str] = []  # the ones answered in full with a page of hits
        self.release = threading.Event()  # ends every stalled answer (at exit)
        self._hung: set[int] = set()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._answer(self)

        self._serving = local_http_server(Handler)

    def __enter__(self):
        self.url = self._serving.__enter__()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self._serving.__exit__(*exc)

    def page_number(self, filters: str) -> int:
        """0 for the first page of a run, 1 for the next, ... (from the `<` filter)."""
        until = next((int(f.split("<")[1]) for f in filters.split(",") if "<" in f), None)
        if until is None:
            return 0
        return (sum(1 for h in self.hits if h["created_at_i"] >= until) + 1) // 100

    def _page(self, filters: str) -> dict:
        hits = self.hits
        for f in filter(None, filters.split(",")):
            if ">" in f:
                hits = [h for h in hits if h["created_at_i"] > int(f.split(">")[1])]
            elif "<" in f:
                hits = [h for h in hits if h["created_at_i"] < int(f.split("<")[1])]
        return {"hits": hits[:100], "nbHits": len(hits)}

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            self._respond(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(handler.path).query)
        filters = query.get("numericFilters", [""])[0]
        with self._lock:
            self.requests.append(filters)
            page = self.page_number(filters)
            hang = self.hang_page == page and page not in self._hung
            if hang:
                self._hung.add(page)
        if self.mode == "ratelimit":
            return self._send(handler, 429, b"{}", {"Retry-After": "200"})
        if self.mode == "backoff":
            return self._send(handler, 503, b"{}")
        if hang:  # no answer at all until the test ends
            self.release.wait(120)
            return
        body = json.dumps(self._page(filters)).encode()
        if self.mode in ("trickle", "silent"):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.flush()
            for byte in body:
                if self.release.wait(self.trickle_every if self.mode == "trickle" else 120):
                    return
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            return
        self._send(handler, 200, body)
        with self._lock:
            self.served.append(filters)

    @staticmethod
    def _send(handler, status: int, body: bytes, headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()


def hn_story_toml(slug: str, url: str, *, interval: int = 30) -> str:
    return f'''slug = "{slug}"
title = "Policy"
claim = "The policy is right."
queries = ["policy"]

[[sources]]
name = "hackernews"
interval_minutes = {interval}
base_url = "{url}"
since = "2000-01-01T00:00:00Z"
'''
