"""`reactions import --platform NAME FILE`: saved raw API pages through the platform's parse."""

from __future__ import annotations

import json
import shutil

import pytest

from reactions.cli import main
from reactions.models import Story
from reactions.store import Store
from tests.replay import FIXTURES


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'import.db'}"
    monkeypatch.setenv("REACTIONS_DATABASE_URL", url)
    store = Store(url)
    store.save_story(Story(slug="maduro", title="Maduro", claim="The call is right."))
    yield store
    store.close()


def test_import_one_json_page(db, capsys):
    assert main(["import", "--platform", "bluesky",
                 str(FIXTURES / "bluesky" / "searchPosts_page1.json")]) == 0
    out = capsys.readouterr().out
    assert "maduro: 3 posts read from 1 pages, 3 new" in out
    posts = {p.native_id: p for p in db.posts("maduro")}
    assert len(posts) == 3 and all(k.startswith("at://") for k in posts)


def test_import_jsonl_pages_is_idempotent_and_reports_bad_lines(db, tmp_path, capsys):
    pages = [json.loads((FIXTURES / "reddit" / n).read_text()) for n in
             ("search_page1.json", "search_page2.json", "comments_listing.json")]
    path = tmp_path / "reddit.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in pages) + '\n{"kind": "Listing", "da\n')
    assert main(["import", "--platform", "reddit", "--story", "maduro", str(path)]) == 1
    out = capsys.readouterr().out
    assert "reddit.jsonl:4: not valid JSON" in out
    assert "reddit.jsonl:2: reddit: item 0" in out  # the malformed thing, named
    assert "4 posts read from 3 pages, 4 new, 1 malformed items skipped, 1 pages unreadable" in out
    assert main(["import", "--platform", "reddit", "--story", "maduro", str(path)]) == 1
    assert "4 posts read from 3 pages, 0 new" in capsys.readouterr().out
    assert db.count_posts("maduro") == 4


@pytest.mark.parametrize("platform,name,count", [
    ("mastodon", "tag_timeline_page1.json", 3),
    ("mastodon", "search_statuses.json", 1),
    ("x", "search_recent_page1.json", 2),
    ("youtube", "commentThreads_page1.json", 2),
    ("hackernews", "search_by_date_page1.json", 2),
    ("rss", "news.rss", 3),
    ("rss", "news.atom", 1),
])
def test_import_every_platform(db, capsys, platform, name, count):
    assert main(["import", "--platform", platform, str(FIXTURES / platform / name)]) == 0
    assert db.count_posts("maduro") == count
    assert all(p.platform == platform for p in db.posts("maduro"))


def test_import_wrong_platform_is_a_clear_error(db, capsys, tmp_path):
    shutil.copy(FIXTURES / "x" / "search_recent_page1.json", tmp_path / "page.json")
    assert main(["import", "--platform", "bluesky", str(tmp_path / "page.json")]) == 1
    assert "bluesky: response has no `posts` list, `feed` list or `thread`" in capsys.readouterr().out
    assert main(["import", "--platform", "myspace", str(tmp_path / "page.json")]) == 2
    assert "unknown source 'myspace'" in capsys.readouterr().err
    assert db.count_posts("maduro") == 0


def test_import_needs_a_story_when_there_are_several(db, capsys):
    db.save_story(Story(slug="other", title="Other", claim="Another claim."))
    path = str(FIXTURES / "x" / "search_recent_page1.json")
    assert main(["import", "--platform", "x", path]) == 2
    assert "--story" in capsys.readouterr().err
    assert main(["import", "--platform", "x", "--story", "other", path]) == 0
    assert db.count_posts("other") == 2 and db.count_posts("maduro") == 0


def test_retweets_link_to_an_original_from_an_earlier_import(db, tmp_path, capsys):
    retweets = json.loads((FIXTURES / "x" / "search_recent_retweets.json").read_text())
    original = retweets["includes"]["tweets"][0]
    first = tmp_path / "original.json"
    users = retweets["includes"]["users"]
    first.write_text(json.dumps({"data": [original], "includes": {"users": users},
                                 "meta": {"result_count": 1}}))
    assert main(["import", "--platform", "x", str(first)]) == 0
    (stored,) = db.posts("maduro")
    page = str(FIXTURES / "x" / "search_recent_retweets.json")
    assert main(["import", "--platform", "x", page]) == 0
    out = capsys.readouterr().out
    # The retweet whose original is missing is reported and skipped; the others are linked.
    assert "1991600000000000013 retweets 1991600000000000099" in out
    posts = {p.native_id: p for p in db.posts("maduro")}
    assert "1991600000000000013" not in posts and len(posts) == 4
    assert posts["1991600000000000001"].id == stored.id and stored.duplicate_of is None
    assert posts["1991600000000000011"].duplicate_of == stored.id
    assert posts["1991600000000000012"].duplicate_of == stored.id
