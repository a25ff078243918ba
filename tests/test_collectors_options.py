"""Each source's options have a schema, checked where stories come in (story files and the
dashboard form); unknown `--source` and impossible `--since` are one-line errors; a long
rate-limit wait is kept with the cursor and honoured by the next run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import stamina

from collectors import x
from collectors.base import CursorState, RateLimited
from reactions.cli import main
from reactions.models import Story, utcnow
from reactions.pipeline import collect_source, parse_window
from reactions.store import Store
from reactions.stories import StoryFileError, load_story_file, parse_story, seed_story_files
from tests.replay import Replay, fixture, json_response

HEAD = 'slug = "opt"\ntitle = "Options"\nclaim = "The claim holds."\nqueries = ["maduro call"]\n'


def problems(sources: str) -> str:
    with pytest.raises(StoryFileError) as raised:
        parse_story(HEAD + sources, origin="story.toml")  # what the dashboard form calls
    return str(raised.value)


def test_misspelt_key_is_refused_with_its_line_and_the_keys_it_takes():
    text = problems('\n[[sources]]\nname = "hackernews"\n\n[[sources]]\nname = "reddit"\n'
                    'subreddit = "nyc"\n')
    assert text == ("story.toml: line 11: sources[1] (reddit): unknown option 'subreddit' for "
                    "reddit (it takes: backfill_days, base_url, since, subreddits)")


def test_string_where_a_list_belongs_and_missing_required_option():
    text = problems('\n[[sources]]\nname = "mastodon"\ninstances = "mastodon.social"\n\n'
                    '[[sources]]\nname = "file"\ninterval_minutes = 5\n')
    lines = text.splitlines()
    assert lines[0] == ("story.toml: line 8: sources[0] (mastodon): instances: "
                        "Input should be a valid list")
    assert lines[1] == "story.toml: line 10: sources[1] (file): file needs `path`"


def test_wrong_types_and_values():
    text = problems('\n[[sources]]\nname = "youtube"\ndaily_quota = "lots"\n'
                    'video_ids = ["ok_video_1", "not a video id!"]\n'
                    '\n[[sources]]\nname = "rss"\nfeeds = ["ftp://x"]\n'
                    '\n[[sources]]\nname = "hackernews"\nsince = "last tuesday"\n')
    assert "line 8: sources[0] (youtube): daily_quota: Input should be a valid integer" in text
    assert "line 9: sources[0] (youtube): video_ids.1: String should match pattern" in text
    assert "line 13: sources[1] (rss): feeds.0: String should match pattern" in text
    assert "line 17: sources[2] (hackernews): since: Value error, not a timestamp" in text


def test_unknown_source_name_names_its_line():
    assert problems('\n[[sources]]\nname = "hackernews"\n\n[[sources]]\nname = "blusky"\n') \
        .startswith("story.toml: line 10: unknown source blusky; known sources: bluesky,")


def test_query_length_is_limited_in_the_story_and_in_source_options():
    long = "maduro " * 80
    with pytest.raises(StoryFileError, match="line 4: queries.0: String should have at most 512"):
        parse_story(HEAD.replace('["maduro call"]', f'["{long}"]'))
    assert "queries.0: String should have at most 512 characters" in \
        problems(f'\n[[sources]]\nname = "x"\nqueries = ["{long}"]\n')


def test_every_seed_story_and_good_options_pass(tmp_path):
    for path in seed_story_files(__import__("reactions.config").config.PROJECT_ROOT / "seeds"):
        load_story_file(path)
    story = parse_story(HEAD + '\n[[sources]]\nname = "mastodon"\ninstances = ["a.social"]\n'
                        'hashtags = ["Maduro"]\nbackfill_days = 2\n\n[[sources]]\nname = "youtube"\n'
                        'video_ids = ["dQw4w9WgXcQ"]\ndaily_quota = 500\n')
    assert story.sources[0].options == {"instances": ["a.social"], "hashtags": ["Maduro"],
                                        "backfill_days": 2}


# -- the CLI ------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'opts.db'}"
    monkeypatch.setenv("REACTIONS_DATABASE_URL", url)
    store = Store(url)
    yield store
    store.close()


def test_story_add_refuses_bad_options_and_saves_nothing(db, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + '\n[[sources]]\nname = "reddit"\nsubreddit = "nyc"\n')
    assert main(["story", "add", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 8: sources[0] (reddit): unknown option 'subreddit'" in err
    assert db.list_stories() == []


def test_collect_with_an_unknown_or_unused_source_is_a_one_line_error(db, tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(HEAD + '\n[[sources]]\nname = "hackernews"\n')
    assert main(["story", "add", str(path)]) == 0
    capsys.readouterr()
    assert main(["collect", "opt", "--source", "typo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown source 'typo'; known sources: bluesky,")
    assert len(err.splitlines()) == 1
    assert main(["collect", "opt", "--source", "reddit"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: opt has no reddit source; sources in use: hackernews"


@pytest.mark.parametrize("window", ["999999999d", "99999999999999999999w", "0d", "3x", "d"])
def test_impossible_since_is_a_one_line_error(window):
    with pytest.raises(ValueError) as raised:
        parse_window(window)
    assert "\n" not in str(raised.value)


def test_blurb_since_overflow_is_not_a_traceback(db, tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(HEAD)
    main(["story", "add", str(path)])
    assert main(["blurb", "opt", "--since", "999999999d"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: window '999999999d' reaches back further than dates go; use a "
                   "shorter one, like 30d or 52w")
    assert parse_window("52w") == timedelta(weeks=52)


# -- waits that survive a restart --------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_backoff():
    with stamina.set_testing(True, attempts=3):
        yield


X_ENV = {"REACTIONS_X_BEARER_TOKEN": "AAAA-bearer"}
STORY = Story(slug="wait", title="Wait", claim="The claim holds.", queries=["maduro"])


def test_a_long_retry_after_is_kept_with_the_cursor_and_honoured_by_the_next_run(sqlite_store):
    sqlite_store.save_story(STORY)
    replay = Replay().add("GET", "/tweets/search/recent",
                          json_response({"title": "Too Many Requests"}, 429, {"Retry-After": "3600"}))
    collector = x.XCollector(client=replay.client(), env=X_ENV)
    first = collect_source(sqlite_store, STORY, "x", options={}, collector=collector)
    assert "rate limited (429)" in first.error and len(replay.requests) == 1
    resume = CursorState(sqlite_store.get_cursor("wait", "x")).resume_at()
    assert timedelta(minutes=59) < resume - utcnow() <= timedelta(hours=1)

    # A restart (a new collector, as the scheduler builds one) makes no request until then.
    again = x.XCollector(client=replay.client(), env=X_ENV)
    second = collect_source(sqlite_store, STORY, "x", options={}, collector=again)
    assert second.waiting_until == resume and second.error is None
    assert len(replay.requests) == 1 and len(sqlite_store.last_runs()) == 1  # no run recorded


def test_after_the_wait_the_run_resumes_from_the_cursor_and_forgets_the_wait():
    state = CursorState(None)
    state.query("maduro", since_id="1991500000000000001", next_token=None, top=None)
    state.wait_until(utcnow() - timedelta(seconds=1))
    replay = Replay().add("GET", "/tweets/search/recent",
                          json_response(fixture("x", "search_recent_empty.json")))
    pages = list(x.XCollector(client=replay.client(), env=X_ENV).pages(STORY, state.dump(), {}))
    assert replay.requests[0].url.params["since_id"] == "1991500000000000001"
    saved = json.loads(pages[-1].cursor)
    assert CursorState.RESUME_KEY not in saved and saved["maduro"]["since_id"]


def test_a_waiting_source_raises_before_any_request():
    state = CursorState(None)
    state.wait_until(utcnow() + timedelta(minutes=10))
    replay = Replay()  # any request would fail the test
    with pytest.raises(RateLimited, match="no request made") as raised:
        list(x.XCollector(client=replay.client(), env=X_ENV).pages(STORY, state.dump(), {}))
    assert 590 < raised.value.retry_after <= 600 and replay.requests == []


def test_a_spent_rate_limit_window_is_kept_with_the_cursor_too():
    """x-rate-limit-remaining: 0 with a reset an hour away: the page read is kept, the run
    ends, and the reset is saved with the cursor for the next run."""
    import time

    reset = str(int(time.time()) + 3600)
    replay = Replay().add("GET", "/tweets/search/recent", json_response(
        fixture("x", "search_recent_page1.json"), 200,
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}))
    gen = x.XCollector(client=replay.client(), env=X_ENV).pages(STORY, None, {})
    first = next(gen)
    assert len(first.posts) == 2
    saved = next(gen)  # the wait, saved before the run ends
    assert saved.posts == [] and json.loads(saved.cursor)["maduro"]["next_token"]
    assert timedelta(minutes=59) < CursorState(saved.cursor).resume_at() - utcnow() <= \
        timedelta(hours=1)
    with pytest.raises(RateLimited, match="rate limit spent"):
        next(gen)
    assert len(replay.requests) == 1
