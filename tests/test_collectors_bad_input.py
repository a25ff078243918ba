"""Bad input costs one row, never a source: undecodable bytes, malformed lines and invalid
items are reported with their line or item and skipped; long texts are capped and flagged;
a wrong server language tag does not set a post aside."""

from __future__ import annotations

import json

import pytest

from collectors import mastodon
from collectors.file import FileCollector
from collectors.text import MAX_TEXT_CHARS
from reactions.cli import main
from reactions.models import Post, Story
from reactions.pipeline import prepare_posts
from reactions.store import Store
from tests.replay import FIXTURES

STORY = Story(slug="s", title="S", claim="The call is right.")


def read_all(path, cursor=None):
    pages = list(FileCollector().pages(STORY, cursor, {"path": str(path)}))
    posts = [p for page in pages for p in page.posts]
    skipped = [s for page in pages for s in page.skipped]
    return pages, posts, skipped


def test_csv_with_a_bad_byte_in_row_700_reads_every_other_row_and_moves_on(tmp_path):
    path = tmp_path / "export.csv"
    rows = [b"id,text,created_at"]
    for n in range(1, 1001):
        text = f"post number {n} about the call".encode()
        if n == 700:
            text = b"caf\xe9 au lait post 700"  # Latin-1, not UTF-8
        rows.append(b"%d,%s,2025-11-20T15:00:00Z" % (n, text))
    path.write_bytes(b"\n".join(rows) + b"\n")
    pages, posts, skipped = read_all(path)
    assert len(posts) == 999 and 700 not in {int(p.native_id) for p in posts}
    # Line 701 of the file (the header is line 1); the column counts bytes of the field.
    assert skipped == ["export.csv:701: field 'text': byte 0xe9 at column 4 is not UTF-8"]
    assert pages[-1].cursor == "1000"
    # The next run starts after the whole file: nothing read again, nothing stuck.
    again = list(FileCollector().pages(STORY, pages[-1].cursor, {"path": str(path)}))
    assert [p.posts for p in again] == []


def test_csv_line_numbers_count_quoted_newlines(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_bytes(b'id,text\n1,"first line\nsecond line"\n2,fine\n3,"bad \xff"\n4,\n')
    _, posts, skipped = read_all(path)
    assert [p.native_id for p in posts] == ["1", "2"]
    assert posts[0].text == "first line\nsecond line"
    assert skipped == ["multi.csv:5: field 'text': byte 0xff at column 5 is not UTF-8",
                       "multi.csv:6: record has no text"]


def test_jsonl_bad_byte_malformed_line_and_invalid_record_each_cost_one_line(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b'{"id": 1, "text": "ok one"}\n'
                     b'{"id": 2, "text": "bad \xff byte"}\n'
                     b'{"id": 3, "text": \n'
                     b'{"id": 4}\n'
                     b'{"id": 5, "text": "bad date", "created_at": "the day after"}\n'
                     b'{"id": 6, "text": "ok six", "created_at": "Sat, Dec 16 2023 02:02:33 PM"}\n')
    pages, posts, skipped = read_all(path)
    assert [p.native_id for p in posts] == ["1", "6"]
    assert posts[1].created_at.hour == 14
    assert skipped[0] == "posts.jsonl:2: byte 0xff at column 24 is not UTF-8"
    assert skipped[1].startswith("posts.jsonl:3: not valid JSON")
    assert skipped[2] == "posts.jsonl:4: record has no text"
    assert skipped[3].startswith("posts.jsonl:5: not a timestamp") and len(skipped) == 4
    assert pages[-1].cursor == "6"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_huge_post_is_capped_and_flagged(tmp_path, suffix):
    big = "word " * 60_000  # 300,000 characters: past the csv module's own field limit too
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        path.write_text(f"id,text\n1,{big}\n2,small one\n")
    else:
        path.write_text(json.dumps({"id": 1, "text": big}) + "\n"
                        + json.dumps({"id": 2, "text": "small one"}) + "\n")
    _, posts, skipped = read_all(path)
    assert skipped == [] and len(posts) == 2
    assert len(posts[0].text) == MAX_TEXT_CHARS and posts[0].raw["text_truncated"] == len(big.strip())
    assert "text_truncated" not in posts[1].raw


def test_platform_parse_caps_long_text_too():
    status = json.loads((FIXTURES / "mastodon" / "status.json").read_text())
    status["content"] = "<p>" + "long " * 5000 + "</p>"
    (post,) = mastodon.parse(status)
    assert len(post.text) == MAX_TEXT_CHARS and post.raw["text_truncated"] == 24_999


# -- import -------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    monkeypatch.setenv("REACTIONS_DATABASE_URL", url)
    store = Store(url)
    store.save_story(Story(slug="maduro", title="Maduro", claim="The call is right."))
    yield store
    store.close()


def test_import_jsonl_with_a_bad_byte_loses_only_that_item(db, tmp_path, capsys):
    pages = [json.loads((FIXTURES / "bluesky" / n).read_text())
             for n in ("searchPosts_page1.json", "getQuotes.json")]
    first = json.dumps(pages[0]).encode()
    # One byte that is not UTF-8 inside the second post's text, on line 1.
    marker = pages[0]["posts"][1]["record"]["text"][:12].encode()
    first = first.replace(marker, marker + b"\xfe", 1)
    path = tmp_path / "pages.jsonl"
    path.write_bytes(first + b"\n" + json.dumps(pages[1]).encode() + b"\n")
    assert main(["import", "--platform", "bluesky", str(path)]) == 0
    out = capsys.readouterr().out
    assert "skipped pages.jsonl:1: bluesky: item 1: ValueError: text: byte 0xfe at column 13" in out
    assert "3 posts read from 2 pages, 3 new, 1 malformed items skipped" in out
    assert db.count_posts("maduro") == 3


def test_import_single_json_page_with_a_bad_byte_keeps_the_rest(db, tmp_path, capsys):
    raw = (FIXTURES / "reddit" / "comment_tree.json").read_bytes()
    raw = raw.replace(b"could end this", b"could end th\xffis", 1)
    path = tmp_path / "tree.json"
    path.write_bytes(raw)
    assert main(["import", "--platform", "reddit", str(path)]) == 0
    out = capsys.readouterr().out
    assert "reddit: item 1: ValueError: text: byte 0xff" in out
    assert db.count_posts("maduro") == 2


# -- language tags ----------------------------------------------------------------------

def test_wrong_server_language_tag_is_overridden_or_marked_unsure():
    sure = Post("mastodon", "1", "A phone call will not stop the strikes, this is for show.",
                language="ja")
    unsure = Post("mastodon", "2", "good call", language="ja")
    agreeing = Post("mastodon", "3", "good call", language="en")
    prepare_posts([sure, unsure, agreeing])
    assert sure.language == "en" and "language_unsure" not in sure.raw
    assert unsure.language is None and unsure.raw["language_unsure"] == {"tagged": "ja",
                                                                        "guess": "en"}
    assert agreeing.language == "en" and "language_unsure" not in agreeing.raw
