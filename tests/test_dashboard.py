"""Every dashboard page through streamlit.testing's AppTest, on a seeded SQLite store."""

from __future__ import annotations

from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.forms import story_from_form
from reactions import aggregates
from reactions import alerts as alert_rules
from reactions import digest as digests
from reactions.models import BUCKETS, Post, SourceConfig, StancePrediction, Story, Summary, utcnow
from reactions.store import Store
from reactions.stories import StoryFileError
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")
SCRIPT = "<script>window.pwned = 1</script> I support this"


def seed(store: Store, *, posts_per_hour: int = 6, hours: int = 30) -> Story:
    """A story with classified posts over `hours`, a summary, runs, a rule and an alert."""
    story = Story(slug="seeded", title="Seeded story", claim="The policy is right.",
                  queries=["policy"], sources=[SourceConfig("file", 30, {"path": "x.jsonl"}),
                                               SourceConfig("hackernews", 60)])
    store.save_story(story)
    now = utcnow()
    posts, labels = [], []
    for hour in range(hours):
        for i in range(posts_per_hour):
            n = len(posts)
            posts.append(Post("file" if n % 2 else "hackernews", f"p{n}", f"post number {n}",
                              author=f"user{n}", url=f"https://example.org/{n}", language="en",
                              likes=n % 7, created_at=now - timedelta(hours=hour, minutes=5 + i)))
            labels.append(BUCKETS[n % 3])
    posts.append(Post("file", "xss", SCRIPT, author="<b>mallory</b>", likes=1000,
                      url="javascript:alert(1)", language="en", created_at=now - timedelta(minutes=1)))
    labels.append("supporters")
    store.upsert_posts(story.slug, [p for p in posts if p.platform == "file"], source="file")
    store.upsert_posts(story.slug, [p for p in posts if p.platform == "hackernews"],
                       source="hackernews")
    store.save_stances(story.slug, [(p.id, StancePrediction(lab, {lab: 0.9}))
                                    for p, lab in zip(posts, labels)], "test-model")
    store.save_summary(Summary(story=story.slug, paragraph=f"Supporters say: “{SCRIPT}”.",
                               counts=store.bucket_counts(story.slug), writer="template",
                               created_at=now, payload={"labels": {"human": 0, "teacher": 0}}))
    run = store.start_run(story.slug, "hackernews")
    store.finish_run(run, added=0, pages=0, error="HTTP 503 from the API")
    run = store.start_run(story.slug, "file")
    store.finish_run(run, added=len(posts), pages=1)
    rule = alert_rules.add_rule(store, "volume_spike", story=story.slug)
    with store.begin() as conn:
        from reactions import schema as t

        conn.execute(t.alerts.insert().values(
            rule_id=rule, story=story.slug, kind="volume_spike", fired_at=now,
            message="Volume spike on “Seeded story”: 90 posts", details={},
            delivered={"channel": "dashboard", "ok": True, "error": None}, acknowledged=False))
    digests.add_subscription(store, story.slug, "editor@example.org", "daily")
    return story


@pytest.fixture
def seeded(sqlite_url, monkeypatch):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    story = seed(store)
    st.cache_data.clear()
    st.cache_resource.clear()  # the dashboard's store must be this test's
    yield store, story
    st.cache_resource.clear()
    store.close()


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    if page:
        at.switch_page(f"{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


def frame(at: AppTest, column: str):
    """The page's table that has this column (AppTest does not expose dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.text] + [e.value for e in at.markdown] + \
            [e.value for e in at.caption] + [e.value for e in at.code]
    return "\n".join(str(p) for p in parts)


def test_live_page_shows_each_active_story_and_its_open_alerts(seeded):
    at = app()
    table = frame(at, "slug")
    row = table.iloc[0]
    assert row["slug"] == "seeded"
    assert row["last hour"] == 7  # six posts plus the <script> one
    assert len(row["last 24 hours"]) == 24
    assert sum(row[b] for b in BUCKETS) in (99, 100, 101)
    assert "Volume spike on “Seeded story”" in texts(at)
    at.button(key=next(b.key for b in at.button if b.key.startswith("ack-"))).click().run()
    assert aggregates.alerts(seeded[0], open_only=True) == []
    assert "Open alerts (0)" in [s.value for s in at.subheader]


def test_story_page_renders_paragraph_charts_quotes_and_escapes_post_text(seeded):
    at = app("story")
    assert at.selectbox(key="story").value == "seeded"
    assert any(SCRIPT in t.value for t in at.text)  # the paragraph, as plain text
    assert any("Shares are a rough estimate" in w.value for w in at.warning)  # no labels yet
    formats = [c.value for c in at.code]
    assert any("&lt;script&gt;" in c for c in formats)  # HTML copy is escaped
    assert any("\\<script\\>" in c for c in formats)  # Markdown copy is escaped
    quotes = [m.value for m in at.markdown if m.value.startswith(">")]
    assert any("\\<script\\>" in q for q in quotes)
    assert not any("javascript:" in q for q in quotes)
    assert any("https://example.org/" in q for q in quotes)
    assert len(at.get("vega_lite_chart")) == 2
    posts = frame(at, "corrected")
    xss = posts[posts["text"] == SCRIPT].iloc[0]
    assert xss["url"] == ""  # a javascript: link is not offered


def test_story_page_filters_by_window_and_source(seeded):
    at = app("story")
    everything = len(frame(at, "corrected"))
    at.selectbox(key="window").set_value("last 6 hours").run()
    recent = frame(at, "corrected")
    assert 0 < len(recent) < everything
    at.multiselect(key="sources").set_value(["hackernews"]).run()
    assert set(frame(at, "corrected")["source"]) == {"hackernews"}
    at.text_input(key="search").set_value("script").run()
    assert "0 newest posts shown" in texts(at)  # the <script> post came from file


def test_correcting_a_bucket_stores_a_human_label(seeded):
    store, story = seeded
    at = app("story")
    at.text_input(key="search").set_value("post number 3").run()
    post_id = at.selectbox(key="correct_post").value
    model_bucket = next(r["bucket"] for r in aggregates.post_rows(store, story.slug)
                        if r["id"] == post_id)
    new = next(b for b in BUCKETS if b != model_bucket)
    at.selectbox(key="correct_bucket").set_value(new)
    at.text_input(key="correct_editor").set_value("Ana")
    at.button(key="correct_save").click().run()
    assert not at.exception
    assert (post_id, "post number 3", new, "human") in [
        tuple(x) for x in store.labels(story.slug, source="human")]
    row = next(r for r in aggregates.post_rows(store, story.slug) if r["id"] == post_id)
    assert row["bucket"] == new and row["model_bucket"] == model_bucket and row["corrected"]


def test_stories_page_adds_pauses_and_rejects_bad_input(seeded):
    store, _ = seeded
    at = app("stories")
    at.text_input(key="slug_(new story)").set_value("Bad Slug!")
    at.text_input(key="title_(new story)").set_value("A title")
    at.text_area(key="claim_(new story)").set_value("The claim is true.")
    at.button[-1].click().run()  # the form's submit button
    assert any("slug" in e.value for e in at.error)
    assert len(store.list_stories()) == 1

    at.text_input(key="slug_(new story)").set_value("new-story")
    at.multiselect(key="sources_(new story)").set_value(["hackernews"])
    at.button[-1].click().run()
    assert not at.error
    saved = store.get_story("new-story")
    assert saved.claim == "The claim is true." and saved.sources[0].name == "hackernews"

    at.selectbox(key="toggle_story").set_value("seeded").run()
    at.button(key="pause").click().run()
    assert store.get_story("seeded").active is False
    at.button(key="resume").click().run()
    assert store.get_story("seeded").active is True


def test_editing_a_story_keeps_source_options(seeded):
    store, story = seeded
    edited = story_from_form(slug="seeded", title="New title", claim=story.claim, queries="a\nb",
                             sources=["file"], interval_minutes=15, existing=story)
    assert edited.sources[0].options == {"path": "x.jsonl"}
    assert edited.queries == ["a", "b"] and edited.sources[0].interval_minutes == 15
    with pytest.raises(StoryFileError, match="unknown source"):
        story_from_form(slug="x-y", title="t", claim="claims", queries="", sources=["nope"],
                        interval_minutes=5)
    with pytest.raises(StoryFileError, match="claim"):
        story_from_form(slug="x-y", title="t", claim="no", queries="", sources=[],
                        interval_minutes=5)


def test_digests_page_subscribes_previews_and_adds_rules(seeded):
    store, _ = seeded
    at = app("digests")
    assert "What people are saying: Seeded story" in texts(at)
    assert len(at.get("image")) == 1  # the inline chart of the preview
    at.text_input(key="sub_address").set_value("not an address")
    at.button[[b.label for b in at.button].index("Subscribe")].click().run()
    assert any("not an email address" in e.value for e in at.error)
    at.text_input(key="sub_address").set_value("desk@example.org")
    at.selectbox(key="sub_period").set_value("weekly")
    at.button[[b.label for b in at.button].index("Subscribe")].click().run()
    assert ("desk@example.org", "weekly") in [(s["address"], s["period"])
                                              for s in digests.list_subscriptions(store)]

    at.selectbox(key="rule_kind").set_value("stance_shift").run()
    at.selectbox(key="rule_channel").set_value("webhook")
    at.text_input(key="rule_target").set_value("ftp://nope")
    at.button[[b.label for b in at.button].index("Add rule")].click().run()
    assert any("webhook alerts need an http" in e.value for e in at.error)
    at.text_input(key="rule_target").set_value("http://127.0.0.1:9/hook")
    at.button[[b.label for b in at.button].index("Add rule")].click().run()
    rules = alert_rules.list_rules(store)
    assert [r["kind"] for r in rules] == ["volume_spike", "stance_shift"]
    assert rules[1]["params"]["points"] == 10


def test_health_page_shows_last_runs_and_errors(seeded):
    at = app("health")
    table = frame(at, "last error")
    by_source = {r["source"]: r for _, r in table.iterrows()}
    assert by_source["hackernews"]["status"] == "failing"
    assert by_source["hackernews"]["last error"] == "HTTP 503 from the API"
    assert by_source["file"]["status"] == "ok"
    assert by_source["file"]["posts added"] == 181
    assert by_source["file"]["next run"] > by_source["file"]["finished"]


def test_pages_say_what_to_do_on_an_empty_store(sqlite_url, monkeypatch):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    for page in (None, "story", "stories", "digests", "health"):
        at = app(page)
        assert at.info or at.markdown, page
    st.cache_resource.clear()


def test_story_page_shows_the_summary_themes_with_their_quotes_escaped(seeded):
    store, story = seeded
    theme = {"phrase": SCRIPT + " *loud*", "size": 7, "post_ids": [1, 2], "keywords": [],
             "quotes": [{"id": 1, "text": "force backs diplomacy [click](javascript:alert(1))",
                         "url": "https://example.org/q1", "platform": "bluesky",
                         "author": "ana"}]}
    store.save_summary(Summary(
        story=story.slug, paragraph="Supporters say force backs diplomacy.",
        counts=store.bucket_counts(story.slug), writer="template", created_at=utcnow(),
        payload={"buckets": {"supporters": {"count": 7, "themes": [theme]}}}))
    st.cache_data.clear()
    at = app("story")
    labels = [e.label for e in at.expander]
    assert any(label.startswith("Theme (7 posts)") and "\\<script\\>" in label
               and "\\*loud\\*" in label for label in labels)
    quotes = [m.value for m in at.markdown if m.value.startswith(">")]
    assert any("force backs diplomacy \\[click\\]\\(javascript:alert(1))" in q
               and "https://example.org/q1" in q for q in quotes)


def test_digests_page_pauses_resumes_and_deletes(seeded):
    store, _ = seeded
    assert len(digests.list_subscriptions(store)) == len(alert_rules.list_rules(store)) == 1
    at = app("digests")
    at.button(key="sub_pause").click().run()
    assert not digests.list_subscriptions(store)[0]["active"]
    at.button(key="sub_resume").click().run()
    assert digests.list_subscriptions(store)[0]["active"]
    at.button(key="rule_pause").click().run()
    assert not alert_rules.list_rules(store)[0]["active"]
    at.button(key="rule_delete").click().run()
    assert alert_rules.list_rules(store) == []
    at.button(key="sub_delete").click().run()
    assert [s["id"] for s in digests.list_subscriptions(store)] == []
