"""`reactions export` and reactions.export: every post with its bucket, streamed to a file."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from reactions import export
from reactions.aggregates import Filters
from reactions.cli import main
from reactions.models import BUCKETS, Post, StancePrediction, utcnow
from reactions.store import Store
from tests.conftest import ROOT
from tests.test_dashboard import SCRIPT, seed


@pytest.fixture
def seeded_store(db_url, monkeypatch):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", db_url)
    store = Store(db_url)
    story = seed(store)
    yield store, story
    store.close()


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_export_has_every_post_with_bucket_probabilities_and_label_source(seeded_store, capsys):
    store, story = seeded_store
    posts = {r["id"]: r for r in export.page(store, export.PostQuery(story.slug), limit=10_000)}
    corrected = next(i for i, r in posts.items() if r["bucket"] == "supporters")
    store.add_label(story.slug, corrected, "skeptics", source="human", labeller="Ana")

    code, out, err = cli(capsys, "export", story.slug)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [tuple(rows[0])] == [export.COLUMNS]
    assert len(rows) == store.count_posts(story.slug) == 181
    assert "exported 181 posts" in err
    by_id = {int(r["id"]): r for r in rows}
    human = by_id[corrected]
    assert (human["bucket"], human["model_bucket"], human["label_source"]) == \
        ("skeptics", "supporters", "human")
    assert human["needs_review"] == "False"
    other = next(r for i, r in by_id.items() if i != corrected)
    assert other["label_source"] == "model" and other["bucket"] == other["model_bucket"]
    assert float(other[f"p_{other['bucket']}"]) == pytest.approx(0.9)
    assert float(other["confidence"]) == pytest.approx(0.9)
    xss = next(r for r in rows if r["text"] == SCRIPT)
    assert xss["url"] == ""  # a javascript: link is not exported as a link
    assert xss["platform"] == "file" and xss["author"] == "<b>mallory</b>"
    ordinary = next(r for r in rows if r["platform"] == "hackernews")
    assert ordinary["url"].startswith("https://example.org/")
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first


def test_jsonl_export_honours_since_and_writes_a_file(seeded_store, capsys, tmp_path):
    store, story = seeded_store
    out = tmp_path / "recent.jsonl"
    code, _, err = cli(capsys, "export", story.slug, "--since", "6h", "--out", str(out))
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    cutoff = utcnow() - timedelta(hours=6)
    expected = [p for p in store.posts(story.slug) if p.created_at >= cutoff]
    assert 0 < len(rows) == len(expected) < 181
    assert {r["id"] for r in rows} == {p.id for p in expected}
    assert set(rows[0]) == set(export.COLUMNS)
    assert all(r["bucket"] in BUCKETS for r in rows)
    assert not list(tmp_path.glob(".*.partial"))


def test_parquet_export_round_trips(seeded_store, capsys, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    store, story = seeded_store
    out = tmp_path / "posts.parquet"
    code, _, err = cli(capsys, "export", story.slug, "--out", str(out))  # format from the suffix
    assert code == 0, err
    table = pq.read_table(out)
    assert table.num_rows == 181 and table.schema.names == list(export.COLUMNS)
    frame = table.to_pandas()
    assert set(frame["bucket"]) == set(BUCKETS)
    assert str(frame["created_at"].dtype).startswith("datetime64")


def test_parquet_without_pyarrow_is_a_clear_error_and_leaves_no_file(seeded_store, capsys,
                                                                     tmp_path, monkeypatch):
    _, story = seeded_store
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    out = tmp_path / "posts.parquet"
    code, _, err = cli(capsys, "export", story.slug, "--format", "parquet", "--out", str(out))
    assert code == 2
    assert "Parquet needs pyarrow" in err and "Traceback" not in err
    assert not out.exists()


def test_bad_requests_fail_before_writing(seeded_store, capsys, tmp_path):
    out = tmp_path / "x.csv"
    code, _, err = cli(capsys, "export", "no-such-story", "--out", str(out))
    assert code == 2 and "no-such-story" in err and not out.exists()
    code, _, err = cli(capsys, "export", "seeded", "--since", "yesterday", "--out", str(out))
    assert code == 2 and "30m, 6h" in err and not out.exists()
    code, _, err = cli(capsys, "export", "seeded", "--format", "parquet")
    assert code == 2 and "--out" in err


def test_iter_rows_streams_in_batches_without_losing_or_repeating_posts(sqlite_store):
    """Posts sharing a time, and posts with none, straddle batch edges."""
    from reactions.models import SourceConfig, Story

    store = sqlite_store
    story = Story(slug="ties", title="Ties", claim="The claim holds.", queries=["x"],
                  sources=[SourceConfig("hackernews", 30)])
    store.save_story(story)
    now = utcnow().replace(microsecond=0)
    posts = [Post("hackernews", f"t{i}", f"post {i}", created_at=now - timedelta(minutes=i // 4))
             for i in range(23)]
    posts += [Post("hackernews", f"n{i}", f"untimed {i}", created_at=None) for i in range(5)]
    store.upsert_posts(story.slug, posts, source="hackernews")
    ids = [p.id for p in store.posts(story.slug)]
    store.save_stances(story.slug, [(i, StancePrediction("neutral", {"neutral": 0.6}))
                                    for i in ids[:20]], "m")
    query = export.PostQuery(story.slug)
    streamed = [r["id"] for r in export.iter_rows(store, query, batch_size=3)]
    assert sorted(streamed) == sorted(ids) and len(streamed) == len(set(streamed)) == 28
    assert streamed == [r["id"] for r in export.page(store, query, limit=100)]
    assert export.count(store, query) == 28
    # Counted from story_posts alone when no filter reads the posts' own columns.
    assert export.count(store, export.PostQuery(story.slug, Filters(sources=("hackernews",)))) == 28
    assert export.count(store, export.PostQuery(story.slug, Filters(sources=("rss",)))) == 0
    assert export.count(store, export.PostQuery("no-such-story")) == 0
    pending = export.PostQuery(story.slug, buckets=(export.PENDING,))
    assert export.count(store, pending) == 8
    assert {r["bucket"] for r in export.iter_rows(store, pending)} == {export.PENDING}
    recent = export.PostQuery(story.slug, Filters(since=now - timedelta(minutes=2)))
    assert export.count(store, recent) == 12
    untimed = export.PostQuery(story.slug, search="UNTIMED")  # case-insensitive
    assert export.count(store, untimed) == 5 == len(export.page(store, untimed))
    assert export.count(store, export.PostQuery(story.slug, search="untimed",
                                                buckets=(export.PENDING,))) == 5


def test_export_to_a_pipe_that_closes_early_is_quiet(tmp_path):
    db = f"sqlite:///{tmp_path / 'pipe.db'}"
    store = Store(db)
    seed(store, posts_per_hour=40)  # about 300 KB of CSV: more than a pipe's buffer
    store.close()
    env = {"REACTIONS_DATABASE_URL": db, "PATH": "/usr/bin:/bin",
           "REACTIONS_DATA_DIR": str(tmp_path)}
    result = subprocess.run(f"{sys.executable} -m reactions export seeded | head -2",
                            shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("id,platform,source")
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
