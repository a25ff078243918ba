"""Each platform's collector against its recorded API responses, through httpx.MockTransport."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import httpx
import pytest
import stamina

from collectors import bluesky, hackernews, mastodon, reddit, rss, x, youtube
from collectors.base import REGISTRY, MissingCredentials, collector_class
from collectors.http import RateLimiter
from reactions.models import Story
from tests.replay import Replay, fixture, json_response

SINCE = {"since": "2025-11-01T00:00:00Z"}


@pytest.fixture(autouse=True)
def _no_backoff():
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def maduro() -> Story:
    return Story(slug="maduro", title="Trump Maduro call", claim="The call is right.",
                 queries=["Trump Maduro call"], hashtags=["Maduro"])


def run_pages(collector, story, cursor=None, options=None):
    pages = list(collector.pages(story, cursor, options or dict(SINCE)))
    return pages, [p for page in pages for p in page.posts]


def test_every_platform_is_registered_with_a_parse_function():
    for name in ("bluesky", "mastodon", "reddit", "hackernews", "x", "youtube", "rss", "file"):
        cls = collector_class(name)
        assert cls.name == name
    assert set(REGISTRY) >= {"bluesky", "mastodon", "reddit", "hackernews", "x", "youtube", "rss"}


# -- Bluesky -----------------------------------------------------------------------------

BSKY_ENV = {"REACTIONS_BLUESKY_HANDLE": "desk.bsky.social",
            "REACTIONS_BLUESKY_APP_PASSWORD": "app-pass-1234-abcd"}


def test_bluesky_pages_session_and_malformed_item(maduro):
    replay = (Replay()
              .add("POST", "/com.atproto.server.createSession",
                   json_response(fixture("bluesky", "createSession.json")))
              .add("GET", "/app.bsky.feed.searchPosts",
                   json_response(fixture("bluesky", "searchPosts_page1.json")),
                   json_response(fixture("bluesky", "searchPosts_page2.json")),
                   json_response(fixture("bluesky", "searchPosts_empty.json"))))
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    pages, posts = run_pages(collector, maduro)
    assert len(pages) == 2 and len(posts) == 5
    assert len(pages[1].skipped) == 1 and "no record text" in pages[1].skipped[0]
    first = posts[0]
    assert first.native_id.startswith("at://did:plc:abc001xyz/app.bsky.feed.post/")
    assert first.url == "https://bsky.app/profile/alice.bsky.social/post/3lbq001k2x2c2"
    assert first.author == "alice.bsky.social" and first.likes == 11
    assert posts[2].reply_to == "at://did:plc:abc001xyz/app.bsky.feed.post/3lbq001k2x2c2"
    assert first.created_at == datetime(2025, 11, 20, 15, 4, tzinfo=timezone.utc)
    login = replay.sent("/com.atproto.server.createSession")
    assert len(login) == 1
    assert json.loads(login[0].content) == {"identifier": "desk.bsky.social",
                                            "password": "app-pass-1234-abcd"}
    searches = replay.sent("/app.bsky.feed.searchPosts")
    assert searches[0].headers["Authorization"] == "Bearer eyJhbGciOi.access-1.sig"
    assert searches[0].url.params["sort"] == "latest" and searches[0].url.params["limit"] == "100"
    assert searches[1].url.params["cursor"] == "3"
    # Caught up: the next run searches from the newest post seen, and reuses the session.
    state = json.loads(pages[-1].cursor)["Trump Maduro call"]
    assert state["since"] == "2025-11-20T15:04:00.000Z" and state["cursor"] is None
    again, new = run_pages(collector, maduro, pages[-1].cursor)
    assert new == [] and replay.requests[-1].url.params["since"] == state["since"]
    assert len(replay.sent("/com.atproto.server.createSession")) == 1


def test_bluesky_expired_session_is_refreshed_and_the_request_retried(maduro):
    replay = (Replay()
              .add("POST", "/com.atproto.server.createSession",
                   json_response(fixture("bluesky", "createSession.json")))
              .add("POST", "/com.atproto.server.refreshSession",
                   json_response(fixture("bluesky", "refreshSession.json")))
              .add("GET", "/app.bsky.feed.searchPosts",
                   json_response(fixture("bluesky", "expiredToken.json"), status=400),
                   json_response(fixture("bluesky", "searchPosts_page2.json"))))
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    _, posts = run_pages(collector, maduro)
    assert len(posts) == 2
    refresh = replay.sent("/com.atproto.server.refreshSession")
    assert refresh[0].headers["Authorization"] == "Bearer eyJhbGciOi.refresh-1.sig"
    assert replay.sent("/app.bsky.feed.searchPosts")[-1].headers["Authorization"] == \
        "Bearer eyJhbGciOi.access-2.sig"


def test_bluesky_refused_refresh_logs_in_again(maduro):
    replay = (Replay()
              .add("POST", "/com.atproto.server.createSession",
                   json_response(fixture("bluesky", "createSession.json")))
              .add("POST", "/com.atproto.server.refreshSession",
                   json_response(fixture("bluesky", "expiredToken.json"), status=400))
              .add("GET", "/app.bsky.feed.searchPosts",
                   json_response(fixture("bluesky", "expiredToken.json"), status=400),
                   json_response(fixture("bluesky", "searchPosts_page2.json"))))
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    _, posts = run_pages(collector, maduro)
    assert len(posts) == 2
    assert len(replay.sent("/com.atproto.server.createSession")) == 2


def test_bluesky_pages_further_back_by_moving_until(maduro, monkeypatch):
    from tests.replay import bluesky_search, bluesky_session, make_bluesky_posts

    monkeypatch.setattr(bluesky, "WINDOW_CAP", 150)
    data = make_bluesky_posts(420)
    replay = (Replay().add("POST", "/com.atproto.server.createSession", bluesky_session)
              .add("GET", "/app.bsky.feed.searchPosts", bluesky_search(data, window_cap=150)))
    collector = bluesky.BlueskyCollector(client=replay.client(), env=BSKY_ENV)
    _, posts = run_pages(collector, maduro, options={"since": "2000-01-01T00:00:00Z"})
    assert {p.native_id for p in posts} == {d["uri"] for d in data}
    assert any("until" in r.url.params for r in replay.sent("searchPosts"))


def test_bluesky_missing_credentials_name_the_variables(maduro):
    collector = bluesky.BlueskyCollector(client=Replay().client(), env={})
    with pytest.raises(MissingCredentials) as err:
        list(collector.pages(maduro, None, {}))
    assert "REACTIONS_BLUESKY_HANDLE" in str(err.value)
    assert "REACTIONS_BLUESKY_APP_PASSWORD" in str(err.value)


# -- Mastodon ----------------------------------------------------------------------------

def _link(next_max=None, prev_min=None, base="https://mastodon.social/api/v1/timelines/tag/Maduro"):
    links = []
    if next_max:
        links.append(f'<{base}?max_id={next_max}>; rel="next"')
    if prev_min:
        links.append(f'<{base}?min_id={prev_min}>; rel="prev"')
    return {"Link": ", ".join(links)} if links else {}


def test_mastodon_backfill_then_forward_with_min_id(maduro):
    replay = Replay().add(
        "GET", "/api/v1/timelines/tag/Maduro",
        json_response(fixture("mastodon", "tag_timeline_page1.json"),
                      headers=_link("113500000000000007", "113500000000000009")),
        json_response(fixture("mastodon", "tag_timeline_page2.json"),
                      headers=_link("113500000000000004", "113500000000000006")),
        json_response([]),
    )
    collector = mastodon.MastodonCollector(client=replay.client(), env={})
    pages, posts = run_pages(collector, maduro, options={"since": "2025-11-01T00:00:00Z"})
    assert [len(p.posts) for p in pages] == [3, 2, 0]
    assert len(pages[1].skipped) == 1
    sent = replay.sent("/tag/Maduro")
    assert "max_id" not in sent[0].url.params and sent[1].url.params["max_id"] == "113500000000000007"
    first = posts[0]
    assert first.native_id == "https://mastodon.social/users/ana/statuses/113500000000000009"
    assert first.text == "Finally a direct channel. #Maduro call is the right move & overdue."
    assert "@desk these strikes are illegal." in posts[1].text
    assert "https://www.reuters.com/world/x" in posts[1].text
    assert "alert" not in posts[2].text and posts[2].text == "What happens to the crews? No one says."
    assert posts[1].author == "ben@journa.host"
    state = json.loads(pages[-1].cursor)
    key = "tag:https://mastodon.social:Maduro"
    assert state[key]["min_id"] == "113500000000000009"
    # The next run pages forward from the newest post seen.
    replay2 = Replay().add(
        "GET", "/api/v1/timelines/tag/Maduro",
        json_response(fixture("mastodon", "tag_timeline_newer.json"),
                      headers=_link("113500000000000012", "113500000000000012")),
        json_response([]))
    collector2 = mastodon.MastodonCollector(client=replay2.client(), env={})
    pages2, new = run_pages(collector2, maduro, cursor=pages[-1].cursor)
    assert [p.text for p in new] == ["New today: Maduro call confirmed for Friday."]
    assert replay2.requests[0].url.params["min_id"] == "113500000000000009"
    assert replay2.requests[1].url.params["min_id"] == "113500000000000012"


def test_mastodon_searches_only_with_a_token_and_several_instances(maduro):
    replay = (Replay()
              .add("GET", "/api/v1/timelines/tag/Maduro", json_response([]))
              .add("GET", "/api/v2/search", json_response(fixture("mastodon", "search_statuses.json")),
                   json_response({"accounts": [], "statuses": [], "hashtags": []})))
    opts = {"instances": ["mastodon.social", "https://masto.es"], **SINCE}
    collector = mastodon.MastodonCollector(client=replay.client(), env={})
    run_pages(collector, maduro, options=opts)
    assert {r.url.host for r in replay.requests} == {"mastodon.social", "masto.es"}
    assert not replay.sent("/api/v2/search")
    token_env = {"REACTIONS_MASTODON_TOKEN": "tok-secret-9"}
    collector = mastodon.MastodonCollector(client=replay.client(), env=token_env)
    _, posts = run_pages(collector, maduro, options=opts)
    search = replay.sent("/api/v2/search")
    assert search[0].url.host == "mastodon.social"
    assert search[0].headers["Authorization"] == "Bearer tok-secret-9"
    assert search[0].url.params["type"] == "statuses"
    assert [p.language for p in posts] == ["es"]
    assert all("Authorization" not in r.headers for r in replay.sent("/tag/Maduro"))


# -- Reddit ------------------------------------------------------------------------------

REDDIT_ENV = {"REACTIONS_REDDIT_CLIENT_ID": "cid123", "REACTIONS_REDDIT_CLIENT_SECRET": "csecret456",
              "REACTIONS_REDDIT_USERNAME": "newsdesk"}


def test_reddit_token_user_agent_paging_and_rate_limit_headers(maduro):
    slept: list[float] = []
    replay = (Replay()
              .add("POST", "/api/v1/access_token", json_response(fixture("reddit", "access_token.json")))
              .add("GET", "/search",
                   json_response(fixture("reddit", "search_page1.json"), headers={
                       "X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0.0",
                       "X-Ratelimit-Reset": "42"}),
                   json_response(fixture("reddit", "search_page2.json"), headers={
                       "X-Ratelimit-Remaining": "99.0", "X-Ratelimit-Reset": "500"})))
    limiter = RateLimiter("reddit", sleep=slept.append, clock=lambda: 1000.0)
    collector = reddit.RedditCollector(client=replay.client(), env=REDDIT_ENV, limiter=limiter)
    pages, posts = run_pages(collector, maduro)
    assert slept == [42.0]  # waited for the window to reopen before page 2, not after it
    token = replay.sent("/api/v1/access_token")[0]
    assert token.headers["Authorization"] == "Basic " + base64.b64encode(b"cid123:csecret456").decode()
    assert b"grant_type=client_credentials" in token.content
    search = replay.sent("/search")
    assert search[0].headers["User-Agent"] == "python:reactions:0.1.0 (by /u/newsdesk)"
    assert search[0].headers["Authorization"] == "bearer eyJhbGciOiJSUzI1NiIs.reddit-token"
    assert search[0].url.params["sort"] == "new" and search[1].url.params["after"] == "t3_1gx002"
    assert [p.native_id for p in posts] == ["t3_1gx001", "t3_1gx002", "t3_1gx003"]
    assert posts[1].text == "The boat strikes are illegal & everyone knows it\nDiscuss. [link](https://x.com)"
    assert posts[1].author is None and posts[2].text.endswith("terrorist organization")
    assert len(pages[1].skipped) == 1
    assert posts[0].url == "https://www.reddit.com/r/worldnews/comments/1gx001/slug/"


def test_reddit_parses_comment_listings():
    posts = reddit.parse(fixture("reddit", "comments_listing.json"))
    assert [(p.native_id, p.reply_to) for p in posts] == [("t1_lx001", "t3_1gx001")]


def test_reddit_missing_credentials(maduro):
    with pytest.raises(MissingCredentials, match="REACTIONS_REDDIT_CLIENT_ID, REACTIONS_REDDIT_CLIENT_SECRET"):
        list(reddit.RedditCollector(client=Replay().client(), env={}).pages(maduro, None, {}))


# -- X -----------------------------------------------------------------------------------

def test_x_next_token_since_id_and_author_expansion(maduro):
    replay = Replay().add("GET", "/tweets/search/recent",
                          json_response(fixture("x", "search_recent_page1.json")),
                          json_response(fixture("x", "search_recent_page2.json")),
                          json_response(fixture("x", "search_recent_empty.json")))
    collector = x.XCollector(client=replay.client(), env={"REACTIONS_X_BEARER_TOKEN": "AAAA-bearer"})
    pages, posts = run_pages(collector, maduro)
    assert [len(p.posts) for p in pages] == [2, 1] and len(pages[1].skipped) == 1
    sent = replay.requests
    assert sent[0].headers["Authorization"] == "Bearer AAAA-bearer"
    assert sent[0].url.params["expansions"].split(",")[0] == "author_id" and "start_time" in sent[0].url.params
    assert sent[1].url.params["next_token"] == "b26v89c19zqg8o3fpzbkk"
    assert posts[0].author == "newsdesk" and posts[0].text.startswith("Trump to call Maduro & strikes")
    assert posts[0].url == "https://x.com/newsdesk/status/1991500000000000009"
    assert posts[1].reply_to == "1991500000000000009" and posts[2].language is None
    _, new = run_pages(collector, maduro, cursor=pages[-1].cursor)
    assert new == [] and sent[-1].url.params["since_id"] == "1991500000000000009"
    assert "next_token" not in sent[-1].url.params


def test_x_missing_token(maduro):
    with pytest.raises(MissingCredentials, match="REACTIONS_X_BEARER_TOKEN"):
        list(x.XCollector(client=Replay().client(), env={}).pages(maduro, None, {}))


# -- YouTube -----------------------------------------------------------------------------

YT_ENV = {"REACTIONS_YOUTUBE_API_KEY": "AIzaSy-secret-key"}


def youtube_replay(search: httpx.Response) -> Replay:
    """/search answers `search`; /commentThreads gives two pages, then the second again."""
    return (Replay()
            .add("GET", "/search", search)
            .add("GET", "/commentThreads",
                 json_response(fixture("youtube", "commentThreads_page1.json")),
                 json_response(fixture("youtube", "commentThreads_page2.json"))))


def test_youtube_discovers_videos_pages_comments_and_counts_quota(maduro):
    replay = youtube_replay(json_response(fixture("youtube", "search.json")))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    pages, posts = run_pages(collector, maduro)
    assert [p.native_id for p in posts] == ["UgzKx001AaBbCc4AaABAg", "UgzKx002AaBbCc4AaABAg",
                                            "UgzKx003AaBbCc4AaABAg"]
    assert len(pages[-1].skipped) == 1
    assert posts[0].url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgzKx001AaBbCc4AaABAg"
    assert all(r.headers["X-goog-api-key"] == "AIzaSy-secret-key" for r in replay.requests)
    assert all("AIzaSy" not in str(r.url) for r in replay.requests)
    assert replay.sent("/commentThreads")[1].url.params["pageToken"] == "QURTSl9pMlQ"
    state = json.loads(pages[-1].cursor)
    # search.list has a bucket of its own; the two comment pages cost a unit each.
    assert state["quota"]["searches"] == 1 and state["quota"]["used"] == 2
    assert state["discovered"]["ids"] == ["dQw4w9WgXcQ"]


def two_queries() -> Story:
    return Story(slug="maduro", title="Trump Maduro call", claim="The call is right.",
                 queries=["Trump Maduro call", "Maduro drug boats"])


def test_youtube_spent_searches_read_the_videos_found(monkeypatch):
    """With the day's search.list calls spent, the videos found so far are still read, and
    the search is tried again once the searches are back."""
    monkeypatch.setattr(youtube, "utcnow", lambda: datetime(2026, 11, 25, 18, tzinfo=timezone.utc))
    replay = youtube_replay(json_response(fixture("youtube", "search.json")))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    opts = {"daily_searches": 1, **SINCE}
    pages, posts = run_pages(collector, two_queries(), options=opts)
    assert len(replay.sent("/search")) == 1 and len(posts) == 3
    state = json.loads(pages[-1].cursor)
    assert state["quota"] == {"day": "2026-11-25", "used": 2, "searches": 1}
    assert state["discovered"] == {"at": None, "ids": ["dQw4w9WgXcQ"]}
    # Later the same day: no search, the known video is read again from its cursor.
    pages, _ = run_pages(collector, two_queries(), pages[-1].cursor, opts)
    assert len(replay.sent("/search")) == 1 and len(replay.sent("/commentThreads")) == 3
    # The next Pacific day both queries are searched again.
    monkeypatch.setattr(youtube, "utcnow", lambda: datetime(2026, 11, 26, 18, tzinfo=timezone.utc))
    pages, _ = run_pages(collector, two_queries(), pages[-1].cursor, {**opts, "daily_searches": 5})
    assert len(replay.sent("/search")) == 3
    assert json.loads(pages[-1].cursor)["discovered"]["at"].startswith("2026-11-26")


def test_youtube_search_quota_spent_by_the_api(maduro):
    """The API says search.list is spent: that bucket is recorded as spent for the day, the
    videos found before are read (comment units are a separate bucket), and with none known
    the run stops until midnight Pacific Time without losing the count."""
    replay = youtube_replay(json_response(fixture("youtube", "quotaExceeded.json"), status=403))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    stale = json.dumps({"discovered": {"at": "2025-01-01T00:00:00.000Z", "ids": ["dQw4w9WgXcQ"]}})
    pages, posts = run_pages(collector, maduro, stale)
    assert len(posts) == 3 and len(replay.sent("/search")) == 1
    quota = json.loads(pages[-1].cursor)["quota"]
    assert quota["searches"] == youtube.DAILY_SEARCHES and quota["used"] == 2

    fresh = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    gen = fresh.pages(maduro, None, dict(SINCE))
    page = next(gen)  # the search counted, nothing found
    assert page.posts == [] and json.loads(page.cursor)["quota"]["searches"] == 100
    with pytest.raises(youtube.QuotaExceeded, match="search.list calls are spent") as raised:
        next(gen)
    assert not raised.value.by_api and 0 < raised.value.retry_after <= 24 * 3600
    sent = len(replay.requests)
    with pytest.raises(youtube.QuotaExceeded, match="search.list calls are spent"):
        run_pages(fresh, maduro, page.cursor)
    assert len(replay.requests) == sent  # no call for the rest of the day


def test_youtube_stops_at_the_daily_quota(maduro):
    replay = Replay().add("GET", "/commentThreads",
                          json_response(fixture("youtube", "commentThreads_page1.json")))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    opts = {"video_ids": ["dQw4w9WgXcQ"], "daily_quota": 3, **SINCE}
    gen = collector.pages(maduro, None, opts)
    pages = []
    with pytest.raises(youtube.QuotaExceeded, match="3 of 3 quota units"):
        for page in gen:
            pages.append(page)
    assert len(replay.requests) == 3 and len(pages) == 3


def test_youtube_quota_error_and_disabled_comments(maduro):
    replay = Replay().add("GET", "/commentThreads", lambda req: json_response(
        fixture("youtube", "commentsDisabled.json" if req.url.params["videoId"] == "off"
                else "quotaExceeded.json"), status=403))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    pages, posts = run_pages(collector, maduro, options={"video_ids": ["off"], **SINCE})
    assert posts == [] and "commentsDisabled" in pages[0].skipped[0]
    with pytest.raises(youtube.QuotaExceeded):
        run_pages(collector, maduro, options={"video_ids": ["vid"], **SINCE})


def test_youtube_quota_day_is_the_pacific_day():
    # 07:30 UTC on 25 November is 23:30 on the 24th in California (PST, UTC-8).
    winter = datetime(2026, 11, 25, 7, 30, tzinfo=timezone.utc)
    assert youtube.quota_day(winter) == "2026-11-24"
    assert youtube.until_reset(winter) == 30 * 60
    summer = datetime(2026, 7, 1, 6, 30, tzinfo=timezone.utc)  # 23:30 PDT (UTC-7)
    assert youtube.quota_day(summer) == "2026-06-30"
    assert youtube.until_reset(summer) == 30 * 60
    # 00:30 PDT on 1 November 2026, the day the clocks go back: 24.5 hours to midnight.
    assert youtube.until_reset(datetime(2026, 11, 1, 7, 30, tzinfo=timezone.utc)) == 24.5 * 3600


def test_youtube_quota_count_runs_to_midnight_pacific(maduro, monkeypatch):
    """A quota spent on the Pacific day stays spent after midnight UTC, until midnight PT."""
    replay = Replay().add("GET", "/commentThreads",
                          json_response(fixture("youtube", "commentThreads_page1.json")))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    opts = {"video_ids": ["dQw4w9WgXcQ"], "daily_quota": 3, **SINCE}
    cursor = json.dumps({"quota": {"day": "2026-11-24", "used": 3}})
    # 02:00 UTC on the 25th: still the 24th in California.
    monkeypatch.setattr(youtube, "utcnow", lambda: datetime(2026, 11, 25, 2, tzinfo=timezone.utc))
    with pytest.raises(youtube.QuotaExceeded, match="midnight Pacific") as raised:
        run_pages(collector, maduro, cursor, opts)
    assert raised.value.retry_after == 6 * 3600 and replay.requests == []
    # 08:30 UTC: a new Pacific day, so the count starts again.
    monkeypatch.setattr(youtube, "utcnow", lambda: datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc))
    pages = []
    with pytest.raises(youtube.QuotaExceeded, match="3 of 3"):
        for page in collector.pages(maduro, cursor, opts):
            pages.append(page)
    assert len(replay.requests) == 3 and pages[0].posts  # the page has a next page each time
    assert json.loads(pages[-1].cursor)["quota"] == {"day": "2026-11-25", "used": 3,
                                                      "searches": 0}


def test_youtube_quota_spent_by_the_api_is_recorded_for_the_day(maduro):
    """When the API says the quota is spent (another client of the key spent it), the cursor
    says so too, and later runs that day make no calls."""
    replay = Replay().add("GET", "/commentThreads", json_response(
        fixture("youtube", "quotaExceeded.json"), status=403))
    collector = youtube.YouTubeCollector(client=replay.client(), env=YT_ENV)
    opts = {"video_ids": ["vid"], "daily_quota": 500, **SINCE}
    gen = collector.pages(maduro, None, opts)
    page = next(gen)
    assert page.posts == [] and json.loads(page.cursor)["quota"]["used"] == 500
    with pytest.raises(youtube.QuotaExceeded) as raised:
        next(gen)
    assert raised.value.by_api and 0 < raised.value.retry_after <= 24 * 3600
    sent = len(replay.requests)
    with pytest.raises(youtube.QuotaExceeded, match="500 of 500"):
        run_pages(collector, maduro, page.cursor, opts)
    assert len(replay.requests) == sent


# -- RSS / Atom --------------------------------------------------------------------------

def test_rss_conditional_get_and_story_filter(maduro):
    replay = Replay().add(
        "GET", "/world.rss",
        lambda req: (json_response(None, status=304) if req.headers.get("If-None-Match") == '"v1"'
                     else rss_response()))
    collector = rss.RssCollector(client=replay.client())
    opts = {"feeds": ["https://news.example.org/world.rss"]}
    pages, posts = run_pages(collector, maduro, options=opts)
    assert [p.url for p in posts] == ["https://news.example.org/world/trump-maduro-call"]
    assert posts[0].text == ("Trump plans direct call with Maduro as U.S. strikes continue\n"
                             "President Trump said he would call Maduro directly, officials said.")
    assert posts[0].author == "A. Reporter" and posts[0].language == "en"
    assert posts[0].created_at == datetime(2025, 11, 20, 15, tzinfo=timezone.utc)
    assert len(pages[0].skipped) == 1
    again, _ = run_pages(collector, maduro, cursor=pages[-1].cursor, options=opts)
    assert again == [] and replay.requests[-1].headers["If-Modified-Since"] == \
        "Thu, 20 Nov 2025 16:00:00 GMT"
    everything, all_posts = run_pages(rss.RssCollector(client=replay.client()), maduro,
                                      options={**opts, "match": False})
    assert len(all_posts) == 3


def rss_response():
    import httpx

    return httpx.Response(200, content=fixture("rss", "news.rss"), headers={
        "ETag": '"v1"', "Last-Modified": "Thu, 20 Nov 2025 16:00:00 GMT",
        "Content-Type": "application/rss+xml"})


def test_atom_entries():
    posts = rss.parse(fixture("rss", "news.atom"))
    assert len(posts) == 1
    assert posts[0].text == ("Trump anuncia una llamada con Maduro\n"
                             "La Casa Blanca confirmó la llamada — y siguen los ataques.")
    assert posts[0].language == "es" and posts[0].author == "Redacción"


def test_rss_refuses_what_is_not_a_feed():
    from collectors.base import MalformedResponse

    with pytest.raises(MalformedResponse):
        rss.parse(b"<html><body>not a feed</body></html>")


# -- Hacker News -------------------------------------------------------------------------

def test_hackernews_hits_and_malformed_hit(maduro):
    replay = Replay().add("GET", "/search_by_date",
                          json_response(fixture("hackernews", "search_by_date_page1.json")))
    collector = hackernews.HackerNewsCollector(client=replay.client())
    pages, posts = run_pages(collector, maduro, options={})
    assert [p.native_id for p in posts] == ["40000003", "40000002"]
    assert posts[1].text == "These strikes are illegal & reckless." and posts[1].reply_to == "40000000"
    assert len(pages[0].skipped) == 1
    assert json.loads(pages[0].cursor)["Trump Maduro call"]["since"] == 1763652000
