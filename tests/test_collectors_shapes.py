"""Every response shape a newsroom reads, per platform, through the same pure `parse(payload)`.

The payloads under tests/fixtures/ follow each API's documented shapes: Bluesky feed
items (post, reply, reason), thread trees with unseen nodes and quotes; Mastodon single
statuses, contexts and boosts; Reddit comment trees with "more" stubs and `replies: ""`;
X retweets whose text is cut at "…" with the original in `includes.tweets` and partial
`errors`; YouTube channel discussions (no videoId) with replies; RSS dates feeds write.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from collectors import bluesky, mastodon, reddit, rss, x, youtube
from reactions.cli import main
from reactions.models import Story
from reactions.store import Store
from tests.replay import FIXTURES, fixture

ROOT = "at://did:plc:desk01/app.bsky.feed.post/3lroot0000a2a"
R1 = "at://did:plc:carol03/app.bsky.feed.post/3lreply001b2b"
R2 = "at://did:plc:dave04/app.bsky.feed.post/3lreply002c2c"
ORIGINAL = "at://did:plc:erin05/app.bsky.feed.post/3lorig0003d2d"
REPOST = "at://did:plc:desk01/app.bsky.feed.repost/3lrepost04e2e"


# -- Bluesky -----------------------------------------------------------------------------

def test_bluesky_author_feed_gives_a_repost_and_its_original():
    skipped: list[str] = []
    posts = bluesky.parse(fixture("bluesky", "getAuthorFeed.json"), skipped=skipped)
    assert [p.native_id for p in posts] == [ROOT, ORIGINAL, REPOST, R2]
    original, repost = posts[1], posts[2]
    # The original: its own author, text and counts.
    assert original.author == "erin.bsky.social"
    assert original.text.startswith("The call with Maduro")
    assert original.reposts == 7 and "repost_of" not in original.raw
    assert original.url == "https://bsky.app/profile/erin.bsky.social/post/3lorig0003d2d"
    # The repost: who reposted it and when, the original's text, no counts of its own.
    assert repost.author == "newsdesk.bsky.social" and repost.text == original.text
    assert repost.created_at == datetime(2025, 11, 20, 14, 30, tzinfo=timezone.utc)
    assert (repost.likes, repost.reposts, repost.replies) == (0, 0, 0)
    assert repost.raw["repost_of"] == f"bluesky:{ORIGINAL}"
    assert posts[3].reply_to == R1
    assert len(skipped) == 1 and "item 3" in skipped[0] and "no record text" in skipped[0]


def test_bluesky_timeline_reposts_of_one_post_store_the_original_once():
    posts = bluesky.parse(fixture("bluesky", "getTimeline.json"))
    # Two reposts without the repost record's URI: each gets one from who reposted what.
    assert [p.native_id for p in posts] == [
        ORIGINAL, f"at://did:plc:carol03/app.bsky.feed.repost/?subject={ORIGINAL}",
        f"at://did:plc:dave04/app.bsky.feed.repost/?subject={ORIGINAL}", R1, ROOT]
    assert [p.author for p in posts[1:3]] == ["carol.bsky.social", "dave.bsky.social"]
    assert all(p.raw["repost_of"] == f"bluesky:{ORIGINAL}" for p in posts[1:3])
    assert not any("repost_of" in p.raw for p in posts[3:])  # a pinned post is no repost


def test_bluesky_post_thread_has_parents_and_replies_and_leaves_out_unseen_nodes():
    skipped: list[str] = []
    posts = bluesky.parse(fixture("bluesky", "getPostThread.json"), skipped=skipped)
    assert [p.native_id for p in posts] == [ROOT, R1, R2]
    assert posts[1].reply_to == ROOT and posts[2].reply_to == R1
    assert skipped == []  # notFound and blocked posts are not malformed


def test_bluesky_quotes():
    posts = bluesky.parse(fixture("bluesky", "getQuotes.json"))
    assert len(posts) == 1 and posts[0].text == "This Maduro call is theatre, nothing more."
    assert posts[0].author == "fay.bsky.social"


def test_bluesky_refuses_an_unknown_shape_with_the_shapes_it_reads():
    with pytest.raises(bluesky.MalformedResponse, match="getPostThread"):
        bluesky.parse({"notifications": []})


# -- Mastodon ----------------------------------------------------------------------------

def test_mastodon_single_status():
    posts = mastodon.parse(fixture("mastodon", "status.json"))
    assert len(posts) == 1
    assert posts[0].native_id == "https://example.social/users/carol/statuses/998877"
    assert posts[0].text == "@newsdesk Talking is better than bombing boats, good call."
    assert posts[0].author == "carol@example.social"


def test_mastodon_context_ancestors_and_descendants_with_replies_linked_by_uri():
    posts = mastodon.parse(fixture("mastodon", "context.json"))
    assert [p.author for p in posts] == ["newsdesk", "dave"]
    assert posts[0].text == "Trump says he will call #Maduro this week."
    # dave answers carol's status (not in this context): the server's id is kept.
    assert posts[1].reply_to == "113500000000000002"


def test_mastodon_boosts_give_the_boosted_status_once_and_each_boost():
    posts = mastodon.parse(fixture("mastodon", "home_timeline_boosts.json"))
    boosted = "https://mastodon.social/users/newsdesk/statuses/113500000000000001"
    assert [p.native_id for p in posts[:3]] == [
        boosted, "https://mastodon.social/users/fay/statuses/113500000000000011/activity",
        "https://mastodon.social/users/erin/statuses/113500000000000010/activity"]
    assert posts[0].author == "newsdesk" and posts[0].reposts == 4
    assert posts[0].url == "https://mastodon.social/@newsdesk/113500000000000001"
    assert [p.author for p in posts[1:3]] == ["fay", "erin"]
    assert all(p.raw["repost_of"] == f"mastodon:{boosted}" and p.text == posts[0].text
               and p.reposts == p.likes == 0 for p in posts[1:3])
    assert posts[1].created_at == datetime(2025, 11, 20, 15, 1, tzinfo=timezone.utc)
    assert "repost_of" not in posts[3].raw


# -- Reddit ------------------------------------------------------------------------------

def test_reddit_comment_tree_with_more_stubs_and_empty_replies():
    skipped: list[str] = []
    posts = reddit.parse(fixture("reddit", "comment_tree.json"), skipped=skipped)
    assert [p.native_id for p in posts] == ["t3_1gxroot", "t1_lxc02", "t1_lxc03"]
    assert posts[2].reply_to == "t1_lxc02" and posts[1].reply_to == "t3_1gxroot"
    assert posts[2].url == \
        "https://www.reddit.com/r/worldnews/comments/1gxroot/trump_to_call_maduro/lxc03/"
    assert skipped == []  # "more" stubs and the deleted comment are not errors


def test_reddit_comment_listing_without_permalink_gets_a_url():
    posts = reddit.parse(fixture("reddit", "subreddit_comments_no_permalink.json"))
    assert posts[0].url == "https://www.reddit.com/comments/1gxroot/comment/lxc05/"


def test_reddit_refuses_something_that_is_not_a_listing():
    with pytest.raises(reddit.MalformedResponse, match="comment tree"):
        reddit.parse([{"kind": "Listing"}, {"kind": "t1"}])


# -- X -----------------------------------------------------------------------------------

def test_x_retweets_give_the_original_whole_and_each_retweet_and_keep_partial_errors():
    skipped: list[str] = []
    posts = x.parse(fixture("x", "search_recent_retweets.json"), skipped=skipped)
    assert [p.native_id for p in posts] == ["1991600000000000014", "1991600000000000001",
                                           "1991600000000000012", "1991600000000000011"]
    original = posts[1]
    assert "…" not in original.text and original.text.endswith("Talks first, pressure second.")
    assert original.author == "analyst" and original.reposts == 250 + 12
    assert "repost_of" not in original.raw
    # Each retweet: its own id, author and time, the original's whole text, no copied counts.
    assert [p.author for p in posts[2:]] == ["fan_two", "fan_one"]
    assert all(p.text == original.text and p.raw["repost_of"] == "x:1991600000000000001"
               and (p.likes, p.reposts, p.replies) == (0, 0, 0) for p in posts[2:])
    assert posts[3].created_at == datetime(2025, 11, 20, 15, 30, tzinfo=timezone.utc)
    assert posts[3].url == "https://x.com/fan_one/status/1991600000000000011"
    # The retweet whose original is missing is refused, never stored with its cut text;
    # the response's partial error is reported too.
    assert any("1991600000000000013 retweets 1991600000000000099" in s for s in skipped)
    assert any("Not Found Error (1991600000000000099)" in s for s in skipped)
    assert len(skipped) == 2


def test_x_an_original_also_in_data_is_one_post():
    page = fixture("x", "search_recent_retweets.json")
    page["data"].append(page["includes"]["tweets"][0])
    ids = [p.native_id for p in x.parse(page)]
    assert ids.count("1991600000000000001") == 1 and len(ids) == 4


# -- YouTube -----------------------------------------------------------------------------

def test_youtube_channel_threads_have_channel_urls_and_replies():
    posts = youtube.parse(fixture("youtube", "commentThreads_channel.json"))
    assert [p.native_id for p in posts] == ["UgwChan001", "UgwChan001.9zReply01", "UgwVid002"]
    assert posts[0].url == "https://www.youtube.com/channel/UCnewschannel/discussion?lc=UgwChan001"
    assert all("None" not in (p.url or "None") for p in posts)
    assert posts[1].reply_to == "UgwChan001" and posts[0].replies == 1
    assert posts[2].url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgwVid002"


# -- RSS ---------------------------------------------------------------------------------

def test_rss_twelve_hour_dates_zones_and_feed_boilerplate():
    posts = rss.parse(fixture("rss", "reddit_odd_dates.rss"))
    assert posts[0].created_at == datetime(2023, 12, 16, 14, 2, 33, tzinfo=timezone.utc)
    assert posts[1].created_at == datetime(2023, 12, 16, 14, 15, tzinfo=timezone.utc)  # EST
    assert posts[2].created_at is None  # unreadable: no date rather than a wrong one
    assert posts[0].text == "Trump to call Maduro as US strikes go on\nThe call is planned for Friday."
    assert "submitted by" not in posts[0].text and "[link]" not in posts[0].text


# -- end to end: `reactions import` stores a repost once ---------------------------------

@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'shapes.db'}"
    monkeypatch.setenv("REACTIONS_DATABASE_URL", url)
    store = Store(url)
    store.save_story(Story(slug="maduro", title="Maduro", claim="The call is right."))
    yield store
    store.close()


@pytest.mark.parametrize("platform,name,stored", [
    ("bluesky", "getAuthorFeed.json", 4),
    ("bluesky", "getTimeline.json", 5),
    ("bluesky", "getPostThread.json", 3),
    ("bluesky", "getQuotes.json", 1),
    ("mastodon", "status.json", 1),
    ("mastodon", "context.json", 2),
    ("mastodon", "home_timeline_boosts.json", 4),
    ("reddit", "comment_tree.json", 3),
    ("x", "search_recent_retweets.json", 4),
    ("youtube", "commentThreads_channel.json", 3),
    ("rss", "reddit_odd_dates.rss", 3),
])
def test_import_reads_each_shape(db, capsys, platform, name, stored):
    main(["import", "--platform", platform, str(FIXTURES / platform / name)])
    assert "unreadable" not in capsys.readouterr().out
    assert db.count_posts("maduro") == stored


def test_import_links_retweets_to_their_original_and_counts_them_as_reposts(db):
    from nlp.summarize import build_evidence, get_writer
    from reactions.pipeline import classify
    from tests.conftest import KeywordClassifier

    path = str(FIXTURES / "x" / "search_recent_retweets.json")
    assert main(["import", "--platform", "x", path]) == 0
    posts = {p.native_id: p for p in db.posts("maduro")}
    original = posts["1991600000000000001"]
    assert original.text.endswith("Talks first, pressure second.") and original.reposts == 262
    assert original.duplicate_of is None
    retweets = [posts["1991600000000000011"], posts["1991600000000000012"]]
    assert [p.duplicate_of for p in retweets] == [original.id, original.id]
    assert [p.author for p in retweets] == ["fan_one", "fan_two"]
    assert not any(p.text.startswith("RT @") or "…" in p.text for p in posts.values())
    assert posts["1991600000000000014"].duplicate_of is None  # a quote is a post of its own
    # Reading the page again adds nothing and keeps the links.
    assert main(["import", "--platform", "x", path]) == 0
    assert db.count_posts("maduro") == 4
    # Totals: the original and its two retweets are 3 posts, 2 of them reposts; the
    # retweets never stand as quotes.
    story = db.get_story("maduro")
    classify(db, story, classifier=KeywordClassifier())
    items = [(p, s) for p, s in db.classified_posts("maduro")
             if p.native_id != "1991600000000000014"]
    evidence = build_evidence(story, items)
    bucket = evidence.buckets["neutral"]
    assert (bucket.count, bucket.reposts, bucket.unique) == (3, 2, 1)
    assert [q.native_id for q in bucket.quotes] == ["1991600000000000001"]
    written = get_writer("template").write(evidence)
    # The brief paragraph has no counts; its evidence block says how many were reposts.
    assert any("3 posts, 2 of them reposts" in line.text for line in written.evidence)


def test_collectors_stay_a_leaf():
    """Collectors import only `reactions.models` (and the package's `__version__`) of ours,
    besides each other: never nlp, the store, the pipeline or the dashboard."""
    import ast

    for path in sorted((FIXTURES.parent.parent / "collectors").glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("nlp", "dashboard", "benchmarks"), (path.name, name)
                if top == "reactions":
                    assert name in ("reactions", "reactions.models"), (path.name, name)


def test_youtube_collects_channel_threads_with_their_replies():
    from tests.replay import Replay, json_response

    replay = Replay().add("GET", "/commentThreads",
                          json_response(fixture("youtube", "commentThreads_channel.json")))
    collector = youtube.YouTubeCollector(client=replay.client(),
                                         env={"REACTIONS_YOUTUBE_API_KEY": "AIza-test"})
    story = Story(slug="s", title="S", claim="The call is right.", queries=["maduro"])
    options = {"video_ids": ["dQw4w9WgXcQ"], "channel_ids": ["UCnewschannel0001"],
               "since": "2025-11-01T00:00:00Z"}
    pages = list(collector.pages(story, None, options))
    sent = [r.url.params for r in replay.requests]
    assert sent[1]["allThreadsRelatedToChannelId"] == "UCnewschannel0001"
    assert "videoId" not in sent[1] and sent[1]["part"] == "snippet,replies"
    channel_posts = pages[-1].posts
    assert channel_posts[0].url.startswith("https://www.youtube.com/channel/UCnewschannel/")
    assert any(p.reply_to == "UgwChan001" for p in channel_posts)
    saved = __import__("json").loads(pages[-1].cursor)
    assert saved["channels"]["UCnewschannel0001"]["since"] == "2025-11-20T17:20:00.000Z"


def test_mastodon_paging_goes_by_the_boost_time_not_the_boosted_post_time():
    """A boost today of a post from 2020 must not end the first run's sweep back."""
    from tests.replay import Replay, json_response

    page = fixture("mastodon", "home_timeline_boosts.json")
    for status in page:
        if status["reblog"]:
            status["reblog"]["created_at"] = "2020-01-01T00:00:00.000Z"
    replay = Replay().add("GET", "/api/v1/timelines/tag/Maduro", json_response(page),
                          json_response([]))
    collector = mastodon.MastodonCollector(client=replay.client(), env={})
    story = Story(slug="s", title="S", claim="The call is right.", hashtags=["Maduro"])
    pages = list(collector.pages(story, None, {"since": "2025-11-01T00:00:00Z"}))
    assert len(replay.requests) == 2
    assert replay.requests[1].url.params["max_id"] == "113500000000000003"
    saved = __import__("json").loads(pages[-1].cursor)["tag:https://mastodon.social:Maduro"]
    assert saved == {"max_id": None, "min_id": "113500000000000011", "top": "113500000000000011"}


@pytest.mark.parametrize("text,expected", [
    ("Sat, Dec 16 2023 02:02:33 PM", "2023-12-16T14:02:33+00:00"),
    ("Sat, Dec 16 2023 12:02:33 AM", "2023-12-16T00:02:33+00:00"),
    ("Sat, 16 Dec 2023 14:02:33 GMT", "2023-12-16T14:02:33+00:00"),
    ("Sat, 16 Dec 2023 09:02:33 -0500", "2023-12-16T14:02:33+00:00"),
    ("Dec 16, 2023 9:02 AM EST", "2023-12-16T14:02:00+00:00"),
    ("2023-12-16T15:02:33+01:00", "2023-12-16T14:02:33+00:00"),
    ("2023-12-16T14:02:33.000Z", "2023-12-16T14:02:33+00:00"),
    ("2023-12-16 14:02:33", "2023-12-16T14:02:33+00:00"),
    ("1702735353", "2023-12-16T14:02:33+00:00"),
    (1702735353000, "2023-12-16T14:02:33+00:00"),
])
def test_one_timestamp_parser_reads_what_platforms_and_feeds_send(text, expected):
    from collectors.base import parse_timestamp

    assert parse_timestamp(text).isoformat() == expected


@pytest.mark.parametrize("text", ["sometime last week", "32/13/2023 10:00 PM", True, 1e30])
def test_timestamp_parser_refuses_what_it_cannot_read(text):
    from collectors.base import parse_timestamp

    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(text)
