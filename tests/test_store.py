"""The store, on SQLite and on PostgreSQL: migrations, idempotent upserts, stances, labels."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from reactions.models import Post, StancePrediction, Summary
from reactions.store import Store, UnknownStory

T0 = datetime(2025, 11, 24, 12, 0, tzinfo=timezone.utc)


def make_posts(n, platform="bluesky", start=0):
    return [Post(platform, f"id{i}", f"post number {i}", author=f"user{i}",
                 created_at=T0 + timedelta(minutes=i), likes=i) for i in range(start, start + n)]


def test_migrations_create_every_table_and_are_idempotent(store, db_url):
    Store(db_url).close()  # a second migrate on the same database is a no-op
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"posts", "stories", "story_posts", "stances", "labels", "summaries", "cursors",
            "runs", "embeddings", "subscriptions", "digests", "alert_rules", "alerts",
            "alembic_version"} <= tables


def test_story_roundtrip_and_unknown_story(store, demo_story):
    store.save_story(demo_story)
    loaded = store.get_story(demo_story.slug)
    assert loaded == demo_story
    with pytest.raises(UnknownStory, match="trump-maduro-call"):
        store.get_story("no-such-story")


def test_upsert_is_idempotent_and_refreshes_engagement(store, story):
    store.save_story(story)
    posts = make_posts(30)
    assert store.upsert_posts(story.slug, posts, source="bluesky") == 30
    assert store.upsert_posts(story.slug, make_posts(30), source="bluesky") == 0
    assert store.count_posts(story.slug) == 30 and store.count_posts() == 30
    again = make_posts(1)
    again[0].likes = 999
    store.upsert_posts(story.slug, again)
    stored = {p.native_id: p for p in store.posts(story.slug)}
    assert stored["id0"].likes == 999
    assert stored["id0"].created_at == T0  # aware UTC back from both databases


def test_same_post_in_two_stories_is_stored_once(store, story, demo_story):
    store.save_story(story)
    store.save_story(demo_story)
    assert store.upsert_posts(story.slug, make_posts(5)) == 5
    assert store.upsert_posts(demo_story.slug, make_posts(5)) == 5
    assert store.count_posts() == 5
    assert store.count_posts(story.slug) == store.count_posts(demo_story.slug) == 5


def test_duplicate_keys_within_one_batch(store, story):
    store.save_story(story)
    posts = make_posts(3) + make_posts(3)
    assert store.upsert_posts(story.slug, posts) == 3
    assert all(p.id is not None for p in posts)


def test_commit_page_moves_cursor_with_posts(store, story):
    store.save_story(story)
    assert store.get_cursor(story.slug, "bluesky") is None
    store.commit_page(story.slug, "bluesky", make_posts(4), "cursor-1")
    assert store.get_cursor(story.slug, "bluesky") == "cursor-1"
    store.commit_page(story.slug, "bluesky", make_posts(4, start=4), "cursor-2")
    assert store.get_cursor(story.slug, "bluesky") == "cursor-2"
    assert store.count_posts(story.slug) == 8


def test_stances_counts_and_human_labels_override(store, story):
    store.save_story(story)
    posts = make_posts(6)
    store.upsert_posts(story.slug, posts)
    labels = ["supporters", "supporters", "skeptics", "neutral", "unclassified", "skeptics"]
    store.save_stances(story.slug, [(p.id, StancePrediction(lab, {lab: 0.9} if lab != "unclassified" else {}))
                                    for p, lab in zip(posts, labels)], "m1")
    assert store.posts_without_stance(story.slug) == []
    assert store.bucket_counts(story.slug) == {
        "supporters": 2, "skeptics": 2, "neutral": 1, "unclassified": 1}
    assert store.label_counts(story.slug) == {"human": 0, "teacher": 0}
    store.add_label(story.slug, posts[0].id, "skeptics", labeller="editor")
    store.add_label(story.slug, posts[1].id, "neutral", source="teacher")  # teacher: no override
    store.add_label(story.slug, posts[1].id, "neutral", source="teacher")  # replaced, not added
    assert store.label_counts(story.slug) == {"human": 1, "teacher": 1}
    assert store.bucket_counts(story.slug)["skeptics"] == 3
    items = dict((p.id, pred) for p, pred in store.classified_posts(story.slug))
    assert items[posts[0].id].label == "skeptics" and items[posts[0].id].reason == "human"
    assert items[posts[1].id].label == "supporters"
    assert {(pid, lab, src) for pid, _, lab, src in store.labels(story.slug)} == {
        (posts[0].id, "skeptics", "human"), (posts[1].id, "neutral", "teacher")}
    with pytest.raises(ValueError, match="label must be one of"):
        store.add_label(story.slug, posts[0].id, "maybe")


def test_window_filters(store, story):
    store.save_story(story)
    posts = make_posts(10)
    store.upsert_posts(story.slug, posts)
    store.save_stances(story.slug, [(p.id, StancePrediction("neutral", {"neutral": 1.0})) for p in posts], "m")
    since = T0 + timedelta(minutes=5)
    assert len(store.posts(story.slug, since=since)) == 5
    assert store.bucket_counts(story.slug, since=since)["neutral"] == 5


def test_embeddings_roundtrip(store, story):
    store.save_story(story)
    posts = make_posts(3)
    store.upsert_posts(story.slug, posts)
    vectors = {p.id: np.arange(4, dtype=np.float32) + i for i, p in enumerate(posts)}
    store.save_embeddings("enc", vectors)
    got = store.embeddings("enc", [p.id for p in posts] + [10**6])
    assert set(got) == {p.id for p in posts}
    np.testing.assert_array_equal(got[posts[2].id], vectors[posts[2].id])


def test_drop_embeddings_keeps_the_named_model_and_other_prefixes(store, story):
    store.save_story(story)
    posts = make_posts(2)
    store.upsert_posts(story.slug, posts)
    ids = [p.id for p in posts]
    vectors = {pid: np.ones(4, dtype=np.float32) for pid in ids}
    models = ("en_c", "en_c+themes", "en_c+themes-old", "en_c+themes-new", "enXc+themes-x")
    for model in models:
        store.save_embeddings(model, vectors)
    assert store.drop_embeddings("en_c+themes", keep="en_c+themes-new") == 4
    left = {m: set(store.embeddings(m, ids)) for m in models}
    # "_" is a LIKE wildcard: in the prefix it must match only itself
    assert left == {"en_c": set(ids), "en_c+themes": set(), "en_c+themes-old": set(),
                    "en_c+themes-new": set(ids), "enXc+themes-x": set(ids)}


def test_summaries_latest_and_runs(store, story):
    store.save_story(story)
    for i in range(2):
        store.save_summary(Summary(story.slug, f"paragraph {i}", {"supporters": i}, "template",
                                   created_at=T0 + timedelta(hours=i), payload={"n": i}))
    latest = store.latest_summary(story.slug)
    assert latest.paragraph == "paragraph 1" and latest.payload == {"n": 1}
    run = store.start_run(story.slug, "bluesky")
    store.finish_run(run, added=3, pages=1, error="boom")
    (row,) = store.last_runs()
    assert row["added"] == 3 and row["error"] == "boom"
