"""Near-duplicates and reposts are linked to their original as pages arrive, incrementally."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reactions.models import Post, Story
from reactions.pipeline import link_duplicates, store_page

T0 = datetime(2025, 11, 20, 12, tzinfo=timezone.utc)
ORIGINAL = "Finally someone is willing to talk to Maduro directly, and I support this call."


def post(i, text, platform="bluesky"):
    return Post(platform=platform, native_id=str(i), text=text, created_at=T0 + timedelta(minutes=i))


def test_reposts_link_to_the_original_across_pages_and_platforms(store):
    store.save_story(Story(slug="d", title="D", claim="The call is right."))
    store_page(store, "d", "bluesky", [post(1, ORIGINAL), post(2, "Strikes on boats are illegal.")],
               "c1")
    later = [post(3, f"RT @alice: {ORIGINAL} https://t.co/abc", "x"),
             post(4, ORIGINAL.replace("directly, and", "directly and").upper(), "mastodon"),
             post(5, "Something else entirely about oil prices and the navy today.")]
    assert store_page(store, "d", "x", later, "c2") == 3
    posts = {p.native_id + p.platform: p for p in store.posts("d")}
    original = posts["1bluesky"].id
    assert posts["3x"].duplicate_of == original
    assert posts["4mastodon"].duplicate_of == original
    assert posts["5bluesky"].duplicate_of is None and posts["2bluesky"].duplicate_of is None
    assert store.count_posts("d") == 5  # repeats count in totals
    # Seeing the same page again changes nothing; a full re-link agrees with the incremental one.
    store_page(store, "d", "x", later, "c2")
    assert link_duplicates(store, "d") == 2
    again = {p.native_id + p.platform: p.duplicate_of for p in store.posts("d")}
    assert again == {k: p.duplicate_of for k, p in posts.items()}


def test_a_repost_links_to_its_original_by_key_across_runs_not_by_text(store):
    """The original came in an earlier page; the repost names it by key, and is linked to it
    even where its text matches nothing (the original was edited since) or matches another."""
    store.save_story(Story(slug="r", title="R", claim="The call is right."))
    store_page(store, "r", "x", [post(1, ORIGINAL, "x")], "c1")
    store_page(store, "r", "x", [post(2, ORIGINAL + " (edited)", "x")], "c2")
    repost = Post(platform="x", native_id="9", text="An edited text nobody else wrote, at all.",
                  author="fan", created_at=T0 + timedelta(hours=1), raw={"repost_of": "x:2"})
    stray = Post(platform="x", native_id="10", text=ORIGINAL, author="fan",
                 created_at=T0 + timedelta(hours=1), raw={"repost_of": "x:404"})
    assert store_page(store, "r", "x", [repost, stray], "c3") == 2
    posts = {p.native_id: p for p in store.posts("r")}
    assert posts["2"].duplicate_of == posts["1"].id  # a near-duplicate, by its text
    assert posts["9"].duplicate_of == posts["2"].id  # the repost, by key: not "1", not None
    # A repost whose original is not stored falls back to its text.
    assert posts["10"].duplicate_of == posts["1"].id
    # A full re-link keeps the explicit link.
    link_duplicates(store, "r")
    assert {p.native_id: p.duplicate_of for p in store.posts("r")} == \
        {k: p.duplicate_of for k, p in posts.items()}
