"""What the network does to a run: rate limits, server errors, timeouts, truncated bodies,
missing credentials, a kill between two pages; and that secrets never leak."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest
import stamina
import stamina.instrumentation as instrumentation

from collectors import bluesky, hackernews, x
from collectors.base import Interrupted, MalformedResponse, RateLimited, TransientError
from collectors.http import MAX_WAIT, RateLimiter, get_json
from reactions.models import SourceConfig, Story
from reactions.pipeline import collect, collect_source
from tests.replay import (
    Replay,
    bluesky_search,
    bluesky_session,
    fixture,
    json_response,
    make_bluesky_posts,
)

BSKY_ENV = {"REACTIONS_BLUESKY_HANDLE": "desk.bsky.social",
            "REACTIONS_BLUESKY_APP_PASSWORD": "hunter2-app-password"}
HN_PAGE = fixture("hackernews", "search_by_date_page1.json")


@pytest.fixture
def no_backoff():
    with stamina.set_testing(True, attempts=4):
        yield


@pytest.fixture
def waits():
    """The waits stamina schedules between attempts (real waits: keep them tiny)."""
    seen: list[float] = []
    instrumentation.set_on_retry_hooks([lambda details: seen.append(details.wait_for)])
    yield seen
    instrumentation.set_on_retry_hooks(None)


@pytest.fixture
def hn_story(sqlite_store):
    story = Story(slug="hn", title="Maduro", claim="The call is right.", queries=["maduro"],
                  sources=[SourceConfig("hackernews")])
    sqlite_store.save_story(story)
    return story


def test_429_retry_after_is_honoured(waits):
    replay = Replay().add("GET", "/search_by_date",
                          json_response({}, 429, {"Retry-After": "0.3"}),
                          json_response(HN_PAGE))
    started = time.monotonic()
    assert get_json(replay.client(), "https://hn.test/search_by_date", source="hackernews") == HN_PAGE
    assert time.monotonic() - started >= 0.3
    assert len(replay.requests) == 2
    assert waits == [0.0]  # the server's wait, and no stamina backoff on top of it


def test_rate_limits_and_server_errors_share_one_budget_of_attempts(no_backoff):
    replay = Replay().add("GET", "/x", json_response({}, 503),
                          json_response({}, 429, {"Retry-After": "0"}), json_response({}, 503),
                          json_response({}, 429, {"Retry-After": "0"}), json_response(HN_PAGE))
    with pytest.raises(RateLimited):
        get_json(replay.client(), "https://api.test/x", source="x")
    assert len(replay.requests) == 4  # attempts=4 in all, not 4 per kind


def _stop_soon(seconds=0.2):
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    return stop


def test_a_stop_cuts_a_retry_after_wait_short():
    replay = Replay().add("GET", "/x", json_response({}, 429, {"Retry-After": "60"}),
                          json_response(HN_PAGE))
    limiter = RateLimiter("x", stop=_stop_soon())
    started = time.monotonic()
    with pytest.raises(Interrupted, match="stopped while waiting out a rate limit"):
        get_json(replay.client(), "https://api.test/x", source="x", limiter=limiter)
    assert time.monotonic() - started < 5
    assert len(replay.requests) == 1


def test_a_stop_cuts_a_server_error_backoff_short(monkeypatch, waits):
    """The backoff after a 5xx is taken inside the failed attempt, where a stop ends it."""
    monkeypatch.setattr("collectors.http.RETRY_WAIT_INITIAL", 30.0)
    replay = Replay().add("GET", "/x", json_response({}, 503), json_response(HN_PAGE))
    limiter = RateLimiter("x", stop=_stop_soon())
    started = time.monotonic()
    with pytest.raises(Interrupted, match="stopped while backing off"):
        get_json(replay.client(), "https://api.test/x", source="x", limiter=limiter)
    assert time.monotonic() - started < 5
    assert len(replay.requests) == 1 and waits == []


def test_a_server_error_backoff_runs_its_course_without_a_stop(monkeypatch, waits):
    monkeypatch.setattr("collectors.http.RETRY_WAIT_INITIAL", 0.3)
    replay = Replay().add("GET", "/x", json_response({}, 503), json_response(HN_PAGE))
    started = time.monotonic()
    assert get_json(replay.client(), "https://api.test/x", source="x") == HN_PAGE
    assert time.monotonic() - started >= 0.3
    assert waits == [0.0]  # waited inside the attempt, nothing added by stamina


def test_a_stop_cuts_a_spent_rate_limit_window_short():
    limiter = RateLimiter("reddit", stop=_stop_soon())
    limiter.resume_at = time.time() + 200
    started = time.monotonic()
    with pytest.raises(Interrupted):
        limiter.wait()
    assert time.monotonic() - started < 5


def test_a_stop_during_a_rate_limit_wait_ends_the_run_without_an_error(sqlite_store, hn_story):
    saved = '{"maduro": {"since": 5, "top": null, "until": null}}'
    with sqlite_store.begin() as conn:
        sqlite_store.save_cursor("hn", "hackernews", saved, conn=conn)
    replay = Replay().add("GET", "/search_by_date",
                          json_response({}, 429, {"Retry-After": "120"}), json_response(HN_PAGE))
    stop = _stop_soon()
    collector = hackernews.HackerNewsCollector(client=replay.client(), stop=stop)
    started = time.monotonic()
    result = collect_source(sqlite_store, hn_story, "hackernews", collector=collector, stop=stop)
    assert time.monotonic() - started < 5
    assert result.error is None and result.added == 0
    assert sqlite_store.get_cursor("hn", "hackernews") == saved
    run = sqlite_store.last_runs()[0]
    assert run["error"] is None and run["finished_at"] is not None


def test_the_scheduler_hands_its_stop_event_to_the_collectors(sqlite_store):
    from reactions.schedule import Runner

    runner = Runner(sqlite_store)
    assert runner.collector("hackernews").limiter.stop is runner.stop
    assert runner.collector("reddit").limiter.stop is runner.stop


def test_retry_after_longer_than_the_cap_gives_up_at_once():
    replay = Replay().add("GET", "/x", json_response({}, 429, {"Retry-After": str(MAX_WAIT + 1)}))
    with pytest.raises(RateLimited) as err:
        get_json(replay.client(), "https://api.test/x", source="x")
    assert err.value.retry_after == pytest.approx(MAX_WAIT + 1, abs=1)
    assert len(replay.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(no_backoff, status):
    replay = Replay().add("GET", "/search_by_date", json_response({}, status), json_response(HN_PAGE))
    assert get_json(replay.client(), "https://hn.test/search_by_date", source="hackernews") == HN_PAGE
    assert len(replay.requests) == 2


def test_timeouts_are_retried_then_reported(no_backoff):
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    replay = Replay().add("GET", "/search_by_date", timeout, json_response(HN_PAGE))
    assert get_json(replay.client(), "https://hn.test/search_by_date", source="hackernews") == HN_PAGE
    replay = Replay().add("GET", "/search_by_date", timeout)
    with pytest.raises(TransientError, match="timed out"):
        get_json(replay.client(), "https://hn.test/search_by_date", source="hackernews")
    assert len(replay.requests) == 4


def test_truncated_json_is_retried_then_reported(no_backoff):
    truncated = httpx.Response(200, content=b'{"hits": [{"objectID": "1", "tit')
    replay = Replay().add("GET", "/search_by_date", truncated)
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        get_json(replay.client(), "https://hn.test/search_by_date", source="hackernews")
    assert len(replay.requests) == 4


def test_a_source_that_keeps_failing_records_why_and_keeps_its_cursor(no_backoff, sqlite_store,
                                                                        hn_story):
    saved = '{"maduro": {"since": 5, "top": null, "until": null}}'
    with sqlite_store.begin() as conn:
        sqlite_store.save_cursor("hn", "hackernews", saved, conn=conn)
    replay = Replay().add("GET", "/search_by_date", json_response({}, 503))
    collector = hackernews.HackerNewsCollector(client=replay.client())
    result = collect_source(sqlite_store, hn_story, "hackernews", collector=collector)
    assert result.added == 0 and "server error 503" in result.error
    assert sqlite_store.get_cursor("hn", "hackernews") == saved
    run = sqlite_store.last_runs()[0]
    assert "server error 503" in run["error"] and run["finished_at"] is not None


def test_malformed_item_keeps_the_rest_of_the_page(sqlite_store, hn_story):
    replay = Replay().add("GET", "/search_by_date", json_response(HN_PAGE))
    collector = hackernews.HackerNewsCollector(client=replay.client())
    result = collect_source(sqlite_store, hn_story, "hackernews", collector=collector)
    assert result.added == 2 and len(result.skipped) == 1
    assert "item 2" in result.skipped[0]


def test_missing_credentials_skip_the_source_and_the_rest_goes_on(sqlite_store, monkeypatch):
    story = Story(slug="multi", title="Maduro", claim="The call is right.", queries=["maduro"],
                  sources=[SourceConfig("x"), SourceConfig("reddit"), SourceConfig("hackernews")])
    sqlite_store.save_story(story)
    # hackernews has no credentials; give it a recorded answer through the registry's seam
    replay = Replay().add("GET", "/search_by_date", json_response(HN_PAGE))
    import collectors.http

    # Every collector builds its default client here; only hackernews gets as far as a request.
    monkeypatch.setattr(collectors.http, "make_client", replay.client)
    results = collect(sqlite_store, story)
    by_source = {r.source: r for r in results}
    assert "set REACTIONS_X_BEARER_TOKEN" in by_source["x"].error
    assert "REACTIONS_REDDIT_CLIENT_ID, REACTIONS_REDDIT_CLIENT_SECRET" in by_source["reddit"].error
    assert by_source["hackernews"].added == 2 and by_source["hackernews"].error is None


def test_secrets_never_reach_logs_errors_or_the_store(no_backoff, sqlite_store, caplog):
    story = Story(slug="sec", title="Maduro", claim="The call is right.", queries=["maduro"],
                  sources=[SourceConfig("bluesky"), SourceConfig("x")])
    sqlite_store.save_story(story)
    replay = (Replay().add("POST", "/com.atproto.server.createSession",
                           json_response({"error": "AuthenticationRequired",
                                          "message": "Invalid identifier or password"}, 401))
              .add("GET", "/tweets/search/recent", json_response({"title": "Unauthorized"}, 401)))
    caplog.set_level(logging.DEBUG)
    xenv = {"REACTIONS_X_BEARER_TOKEN": "AAAAsecretBearer"}
    results = [
        collect_source(sqlite_store, story, "bluesky",
                       collector=bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)),
        collect_source(sqlite_store, story, "x",
                       collector=x.XCollector(client=replay.client(), env=xenv)),
    ]
    assert all(r.error for r in results)
    assert "REACTIONS_BLUESKY_APP_PASSWORD" in results[0].error
    stored = json.dumps(sqlite_store.last_runs(), default=str)
    for secret in ("hunter2-app-password", "AAAAsecretBearer"):
        assert secret not in caplog.text
        assert secret not in stored
        assert all(secret not in r.error for r in results)


# -- crash and resume --------------------------------------------------------------------

class Killed(BaseException):
    """Stands in for the process being killed (not an Exception: nothing catches it)."""


def _bluesky_run(store, story, replay):
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    return collect_source(store, story, "bluesky", collector=collector,
                          options={"since": "2000-01-01T00:00:00Z"})


def test_killed_between_pages_resumes_without_gaps_or_duplicates(store, sqlite_url):
    from reactions.store import Store

    data = make_bluesky_posts(450)
    story = Story(slug="crash", title="Maduro", claim="The call is right.", queries=["maduro"],
                  sources=[SourceConfig("bluesky")])
    # The uninterrupted run, in its own store.
    reference = Store(sqlite_url.replace("reactions.db", "reference.db"))
    reference.save_story(story)
    full = Replay().add("POST", "/com.atproto.server.createSession", bluesky_session) \
        .add("GET", "/app.bsky.feed.searchPosts", bluesky_search(data))
    assert _bluesky_run(reference, story, full).added == 450

    # The same run, killed while fetching the third page.
    store.save_story(story)
    search = bluesky_search(data)
    calls = {"n": 0}

    def dies_on_third_page(request):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed()
        return search(request)

    crashing = Replay().add("POST", "/com.atproto.server.createSession", bluesky_session) \
        .add("GET", "/app.bsky.feed.searchPosts", dies_on_third_page)
    with pytest.raises(Killed):
        _bluesky_run(store, story, crashing)
    assert store.count_posts("crash") == 200  # two pages committed, cursor after the second
    # Restart: a fresh process, a fresh collector, the same store.
    restart = Replay().add("POST", "/com.atproto.server.createSession", bluesky_session) \
        .add("GET", "/app.bsky.feed.searchPosts", bluesky_search(data))
    result = _bluesky_run(store, story, restart)
    assert result.added == 250
    assert len(restart.sent("searchPosts")) == len(full.sent("searchPosts")) - 2
    assert restart.sent("searchPosts")[0].url.params["cursor"] == "200"

    def keys(s):
        return sorted((p.native_id, p.text, p.created_at) for p in s.posts("crash"))

    assert keys(store) == keys(reference)
    assert store.count_posts() == 450
    reference.close()


def test_stop_event_finishes_the_page_in_flight(sqlite_store):
    import threading

    data = make_bluesky_posts(300)
    story = Story(slug="stop", title="Maduro", claim="The call is right.", queries=["maduro"],
                  sources=[SourceConfig("bluesky")])
    sqlite_store.save_story(story)
    stop = threading.Event()
    search = bluesky_search(data)

    def stop_during_first_page(request):
        stop.set()
        return search(request)

    replay = Replay().add("POST", "/com.atproto.server.createSession", bluesky_session) \
        .add("GET", "/app.bsky.feed.searchPosts", stop_during_first_page)
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    result = collect_source(sqlite_store, story, "bluesky", collector=collector, stop=stop,
                            options={"since": "2000-01-01T00:00:00Z"})
    assert result.pages == 1 and result.added == 100
    state = json.loads(sqlite_store.get_cursor("stop", "bluesky"))
    assert state["maduro"]["cursor"] == "100"
