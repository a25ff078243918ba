"""`reactions run` end to end: the scheduler against a fake API server on 127.0.0.1 that
serves several pages and a rate limit, stopped by SIGTERM, checked through the store."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from reactions.models import SourceConfig, Story
from reactions.schedule import Runner, build_scheduler, run_forever
from tests.conftest import local_http_server
from tests.replay import bluesky_search, make_bluesky_posts

POSTS = 250


class FakeBluesky:
    """A Bluesky PDS on 127.0.0.1: sessions, searchPosts over a data set, one 429."""

    def __init__(self) -> None:
        self.data = make_bluesky_posts(POSTS)
        self.search = bluesky_search(self.data)
        self.log: list[tuple[str, int]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status, body, headers=None):
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/com.atproto.server.createSession"):
                    fake.log.append(("session", 200))
                    return self._send(200, {"did": "did:plc:me", "handle": "me.bsky.social",
                                            "accessJwt": "jwt-a", "refreshJwt": "jwt-r"})
                self._send(404, {"error": "NotFound"})

            def do_GET(self):
                url = urlparse(self.path)
                if not url.path.endswith("/app.bsky.feed.searchPosts"):
                    return self._send(404, {"error": "NotFound"})
                if self.headers.get("Authorization") != "Bearer jwt-a":
                    return self._send(401, {"error": "AuthenticationRequired"})
                searches = sum(1 for kind, _ in fake.log if kind == "search")
                if searches == 1:  # the second search is rate limited once
                    fake.log.append(("search", 429))
                    return self._send(429, {"error": "RateLimitExceeded"}, {"Retry-After": "0.2"})
                fake.log.append(("search", 200))
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                request = httpx.Request("GET", "http://fake/xrpc/app.bsky.feed.searchPosts",
                                        params=query)
                response = fake.search(request)
                self._send(200, response.json())

        self._serving = local_http_server(Handler)

    def __enter__(self):
        self.url = self._serving.__enter__() + "/xrpc"
        return self

    def __exit__(self, *exc):
        self._serving.__exit__(*exc)


@pytest.fixture
def fake_bluesky():
    with FakeBluesky() as fake:
        yield fake


@pytest.fixture
def bluesky_env(monkeypatch):
    monkeypatch.setenv("REACTIONS_BLUESKY_HANDLE", "desk.bsky.social")
    monkeypatch.setenv("REACTIONS_BLUESKY_APP_PASSWORD", "app-password-xyz")


def _story(fake) -> Story:
    return Story(slug="live", title="Maduro", claim="The call is right.", queries=["maduro"],
                 sources=[SourceConfig("bluesky", 30, {"base_url": fake.url,
                                                       "since": "2000-01-01T00:00:00Z"}),
                          SourceConfig("reddit", 30)])


def test_reactions_run_end_to_end(sqlite_store, fake_bluesky, bluesky_env, keyword_classifier,
                                  monkeypatch, capsys):
    story = _story(fake_bluesky)
    sqlite_store.save_story(story)
    runner = Runner(sqlite_store, classifier=keyword_classifier)

    def stop_when_done():
        # Generous: a stop no longer waits for the jobs in flight, so stopping before the
        # summary is written fails the test below; on a loaded machine this can take >60 s.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = {r["source"]: r for r in sqlite_store.last_runs()}
            summary = sqlite_store.latest_summary("live")
            # The paragraph written after the posts were classified, not an earlier one.
            if (summary is not None and sum(summary.counts.values()) == POSTS
                    and len(runs) == 2 and all(r["finished_at"] for r in runs.values())):
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_when_done, daemon=True)
    watcher.start()
    run_forever(runner, [story])  # returns once SIGTERM has stopped the scheduler
    watcher.join(5)
    assert runner.stop.is_set()

    assert sqlite_store.count_posts("live") == POSTS
    stored = {p.native_id for p in sqlite_store.posts("live")}
    assert stored == {d["uri"] for d in fake_bluesky.data}
    assert ("search", 429) in fake_bluesky.log  # rate limited once, waited, went on
    assert fake_bluesky.log.count(("session", 200)) == 1
    summary = sqlite_store.latest_summary("live")
    assert sum(summary.counts.values()) == POSTS
    runs = {r["source"]: r for r in sqlite_store.last_runs()}
    assert runs["bluesky"]["added"] == POSTS and runs["bluesky"]["error"] is None
    assert runs["bluesky"]["next_run"] is not None
    assert runs["bluesky"]["next_run"] > runs["bluesky"]["started_at"]
    assert "REACTIONS_REDDIT_CLIENT_ID" in runs["reddit"]["error"]

    # `reactions status` shows the last run, posts added, the error and the next run.
    from reactions.cli import main

    monkeypatch.setenv("REACTIONS_DATABASE_URL", str(sqlite_store.engine.url))
    from reactions.config import get_settings

    get_settings.cache_clear()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "live/bluesky: last run" in out and f"{POSTS} added" in out
    assert "next " + runs["bluesky"]["next_run"].isoformat(timespec="minutes") in out
    assert "live/reddit" in out and "REACTIONS_REDDIT_CLIENT_ID" in out


def test_jobs_coalesce_never_overlap_and_jitter(sqlite_store, fake_bluesky, keyword_classifier):
    story = _story(fake_bluesky)
    runner = Runner(sqlite_store, classifier=keyword_classifier)
    scheduler = build_scheduler(runner, [story], first_run_now=False)
    scheduler.start(paused=True)  # job defaults are applied when the jobs are stored
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    job = jobs["live:bluesky"]
    assert job.coalesce is True and job.max_instances == 1
    assert job.trigger.jitter and job.trigger.interval.total_seconds() == 30 * 60
    assert "live:reddit" in jobs


def test_next_run_comes_from_the_scheduler(sqlite_store, fake_bluesky, bluesky_env,
                                           keyword_classifier):
    story = _story(fake_bluesky)
    sqlite_store.save_story(story)
    runner = Runner(sqlite_store, classifier=keyword_classifier)
    scheduler = build_scheduler(runner, [story], first_run_now=False)
    scheduler.start(paused=True)
    try:
        expected = scheduler.get_job("live:bluesky").next_run_time
        runner.collect_job("live", "bluesky")
    finally:
        scheduler.shutdown(wait=False)
    run = next(r for r in sqlite_store.last_runs() if r["source"] == "bluesky")
    assert run["next_run"] == expected and run["added"] == POSTS
