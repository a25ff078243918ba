"""Every dashboard page through streamlit.testing's AppTest, on a seeded SQLite store."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import ui
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
    store.save_alert({
        "rule_id": rule, "story": story.slug, "kind": "volume_spike", "fired_at": now,
        "message": "Volume spike on “Seeded story”: 90 posts", "details": {},
        "delivered": {"channel": "dashboard", "ok": True, "error": None},
        "acknowledged": False})
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


def app(page: str = "live") -> AppTest:
    """The app on one page ("/" moves on to /live in a browser; AppTest goes there directly)."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page(f"{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def frame(at: AppTest, column: str):
    """The page's table that has this column (AppTest does not expose dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def chart_data(chart) -> pd.DataFrame:
    """The rows a chart element draws (Streamlit sends them as Arrow IPC bytes)."""
    import pyarrow as pa

    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pandas()


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.text] + [e.value for e in at.markdown] + \
            [e.value for e in at.caption] + [e.value for e in at.code]
    return "\n".join(str(p) for p in parts)


def test_live_page_shows_each_active_story_and_its_open_alerts(seeded):
    store, _ = seeded
    store.save_story(Story(slug="empty", title="Nothing yet", claim="The claim holds.",
                           queries=["x"], sources=[SourceConfig("hackernews", 30)]))
    at = app()
    table = frame(at, "last 24 h")
    rows = {r["story"]: r for _, r in table.iterrows()}
    row = rows["story?story=seeded"]  # a link to the story's page
    assert row["last hour"].split()[0] == "7"  # six posts plus the <script> one
    assert row["posts"] == 181
    assert len(row["last 24 h"]) == 24
    assert sum(row[b] for b in BUCKETS) in (99, 100, 101)
    empty = rows["story?story=empty"]
    assert all(pd.isna(empty[b]) for b in BUCKETS)  # no 0% bars for a story with no posts
    assert empty["posts"] == 0
    assert any("cold-start guess" in c.value for c in at.caption)
    assert "Volume spike on “Seeded story”" in texts(at)
    at.button(key=next(b.key for b in at.button if b.key.startswith("ack-"))).click().run()
    assert seeded[0].alerts(open_only=True) == []
    assert "Open alerts (0)" in [s.value for s in at.subheader]


def test_live_table_colours_each_bucket_from_the_one_palette(seeded):
    at = app()
    table = next(d for d in at.dataframe if "last 24 h" in d.value.columns)
    config = json.loads(table.proto.columns)
    colors = {b: config[b]["type_config"]["color"] for b in BUCKETS}
    assert colors == {b: ui.BUCKET_COLORS[b] for b in BUCKETS}
    assert len(set(colors.values())) == 3


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
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    stance_chart = json.loads(charts[0].proto.spec)
    assert [ui.BUCKET_COLORS[b] for b in BUCKETS] == stance_chart["encoding"]["color"]["scale"]["range"]
    posts = frame(at, "correct to")
    assert {"platform", "confidence", "review", "by", "link"} <= set(posts.columns)
    assert posts["correct to"].isna().all()  # no answer is preselected
    xss = posts[posts["text"] == SCRIPT].iloc[0]
    assert pd.isna(xss["link"])  # a javascript: link is not offered
    assert xss["confidence"] == 90 and xss["by"] == "model"


def test_posts_table_shows_the_platform_not_the_collector(seeded):
    store, story = seeded
    store.upsert_posts(story.slug, [Post("bluesky", "b1", "from a file of bluesky posts",
                                         language="en", created_at=utcnow())], source="file")
    at = app("story")
    posts = frame(at, "correct to")
    row = posts[posts["text"] == "from a file of bluesky posts"].iloc[0]
    assert row["platform"] == "bluesky" and row["bucket"] == "not classified yet"


def test_volume_chart_and_filter_group_by_platform_not_collector(seeded):
    """The demo's `file` source holds posts made on several platforms: the Story page's
    volume chart and filter name those platforms, not "file"."""
    store, story = seeded
    now = utcnow()
    imported = [Post(platform, f"{platform}{i}", f"{platform} post {i}", language="en",
                     created_at=now - timedelta(minutes=10 + i))
                for platform, n in (("bluesky", 3), ("reddit", 2)) for i in range(n)]
    store.upsert_posts(story.slug, imported, source="file")
    options = aggregates.filter_options(store, story.slug)
    assert options["platforms"] == ["bluesky", "file", "hackernews", "reddit"]
    assert options["sources"] == ["file", "hackernews"]
    volume = aggregates.breakdown(store, story.slug)["volume"]
    per_platform = {}
    for row in volume:
        per_platform[row["platform"]] = per_platform.get(row["platform"], 0) + row["posts"]
    assert per_platform["bluesky"] == 3 and per_platform["reddit"] == 2
    assert per_platform["file"] == store.count_posts(story.slug) - 5 - per_platform["hackernews"]
    only = aggregates.breakdown(store, story.slug, aggregates.Filters(platforms=("reddit",)))
    assert {r["platform"] for r in only["volume"]} == {"reddit"}
    assert sum(r["posts"] for r in only["volume"]) == 2

    at = app("story")
    assert set(at.multiselect(key="platforms").options) == set(options["platforms"])
    assert any(h.value == "Volume by platform" for h in at.subheader)
    volume_chart = at.get("vega_lite_chart")[-1]
    assert json.loads(volume_chart.proto.spec)["encoding"]["color"]["field"] == "platform"
    drawn = chart_data(volume_chart).groupby("platform")["posts"].sum().to_dict()
    assert drawn == per_platform
    at.multiselect(key="platforms").set_value(["bluesky"]).run()
    assert set(frame(at, "correct to")["platform"]) == {"bluesky"}
    values = chart_data(at.get("vega_lite_chart")[-1])  # the volume chart
    assert set(values["platform"]) == {"bluesky"} and values["posts"].sum() == 3


def test_story_page_numbers_beside_the_paragraph_count_the_paragraphs_posts(seeded):
    """Filtered tiles say they are filtered; the paragraph keeps its own, unfiltered numbers."""
    store, story = seeded
    written = store.bucket_counts(story.slug)  # the seeded summary's counts (all time)

    def tiles_of(at):
        return {m.label.split("[")[-1].split("]")[0]: m.value for m in at.metric
                if "(filtered)" in m.label}

    def beside_paragraph(at):
        return next(m.value for m in at.markdown if m.value.startswith("The paragraph's posts"))

    expected = [f"{ui.bucket_label(b)} **{written[b]}**" for b in BUCKETS]
    at = app("story")
    beside = beside_paragraph(at)
    assert all(line in beside for line in expected), beside
    assert not tiles_of(at)
    at.multiselect(key="platforms").set_value(["hackernews"]).run()
    assert beside_paragraph(at) == beside.replace("posts:", "posts (unfiltered):")
    only = aggregates.bucket_counts(store, story.slug, aggregates.Filters(platforms=("hackernews",)))
    assert tiles_of(at)["Supporters"] == str(only["supporters"]) != str(written["supporters"])
    assert "Filtered to hackernews" in texts(at)


def test_posts_table_pages_through_every_post(seeded):
    store, story = seeded
    at = app("story")
    at.selectbox(key="window").set_value("all time").run()
    at.selectbox(key="page_size").set_value(50).run()
    assert "Posts 1-50 of 181" in texts(at)
    seen = []
    for number in range(1, 5):
        at.number_input(key="page").set_value(number).run()
        seen += list(frame(at, "correct to")["id"])
    assert "Posts 151-181 of 181" in texts(at)
    assert len(seen) == len(set(seen)) == 181 == store.count_posts(story.slug)
    assert at.get("download_button")[0].label == "Download all 181 matching posts"


def test_story_page_filters_by_window_source_and_needs_review(seeded):
    store, story = seeded
    at = app("story")
    at.selectbox(key="window").set_value("all time").run()
    everything = len(frame(at, "correct to"))
    at.selectbox(key="window").set_value("last 6 hours").run()
    recent = frame(at, "correct to")
    assert 0 < len(recent) < everything
    at.multiselect(key="platforms").set_value(["hackernews"]).run()
    assert set(frame(at, "correct to")["platform"]) == {"hackernews"}
    at.text_input(key="search").set_value("script").run()
    assert "No posts match these filters." in texts(at)  # the <script> post came from file
    at.text_input(key="search").set_value("").run()
    unsure = [p.id for p in store.posts(story.slug)][:3]
    store.save_stances(story.slug, [(i, StancePrediction("neutral", {"neutral": 0.4},
                                                         needs_review=True)) for i in unsure], "m")
    store.add_label(story.slug, unsure[0], "skeptics", source="human")  # settled by an editor
    st.cache_data.clear()
    at.multiselect(key="platforms").set_value([]).run()
    at.selectbox(key="window").set_value("all time").run()
    at.checkbox(key="review_only").check().run()
    flagged = frame(at, "correct to")
    assert sorted(flagged["id"]) == sorted(unsure[1:]) and flagged["review"].all()
    assert list(flagged["confidence"]) == [40, 40]


def edit_cells(at: AppTest, column_with: str, edits: dict[int, dict]) -> None:
    """Send the edits a browser would make in a data editor (AppTest cannot type into one).

    Streamlit's data editor reports its edits as a JSON widget state, {"edited_rows":
    {row: {column: value}}}; this adds that state to the next run, as the browser does.
    """
    editor = next(d for d in at.dataframe if column_with in d.value.columns)
    original = at._tree.get_widget_states

    def with_edits():
        states = original()
        state = states.widgets.add()
        state.id = editor.proto.id
        state.string_value = json.dumps({"edited_rows": {str(k): v for k, v in edits.items()},
                                         "added_rows": [], "deleted_rows": []})
        return states

    at._tree.get_widget_states = with_edits


def test_correcting_buckets_in_the_table_stores_human_labels(seeded):
    store, story = seeded
    at = app("story")
    at.text_input(key="search").set_value("post number 3").run()
    table = frame(at, "correct to")
    first, second = table.iloc[0], table.iloc[1]
    new = next(b for b in BUCKETS if b != first["bucket"])
    assert at.button(key="correct_save").disabled  # nothing picked, nothing to save
    edits = {0: {"correct to": new}, 1: {"correct to": second["bucket"]}}
    edit_cells(at, "correct to", edits)
    at.run()
    assert at.button(key="correct_save").label == "Save corrections (2)"
    edit_cells(at, "correct to", edits)
    at.text_input(key="correct_editor").set_value("Ana")
    at.button(key="correct_save").click().run()
    assert not at.exception
    human = {pid: label for pid, _, label, _ in store.labels(story.slug, source="human")}
    assert human == {int(first["id"]): new, int(second["id"]): second["bucket"]}
    row = next(r for r in aggregates.post_rows(store, story.slug) if r["id"] == first["id"])
    assert row["bucket"] == new and row["model_bucket"] == first["bucket"] and row["corrected"]
    assert any("Saved 2 corrections" in m.value for m in at.success)
    after = frame(at, "correct to")
    assert after["correct to"].isna().all()  # a fresh editor: no pick carries over
    assert after[after["id"] == first["id"]].iloc[0]["by"] == "human"


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


def test_stories_page_keeps_each_sources_interval(seeded):
    store, story = seeded
    assert [s.interval_minutes for s in story.sources] == [30, 60]
    at = app("stories")
    at.selectbox(key="edit_story").set_value("seeded").run()
    assert at.number_input(key="interval_seeded_file").value == 30
    assert at.number_input(key="interval_seeded_hackernews").value == 60
    at.number_input(key="interval_seeded_hackernews").set_value(45)
    at.text_input(key="title_seeded").set_value("Renamed")
    at.button(key="save_seeded").click().run()
    assert not at.error, [e.value for e in at.error]
    saved = store.get_story("seeded")
    assert saved.title == "Renamed"
    assert {s.name: (s.interval_minutes, s.options) for s in saved.sources} == {
        "file": (30, {"path": "x.jsonl"}), "hackernews": (45, {})}


def test_editing_a_story_keeps_source_options(seeded):
    store, story = seeded
    edited = story_from_form(slug="seeded", title="New title", claim=story.claim, queries="a\nb",
                             sources=["file", "hackernews", "reddit"], interval_minutes=15,
                             intervals={"file": 20}, existing=story)
    assert edited.sources[0].options == {"path": "x.jsonl"}
    assert edited.queries == ["a", "b"]
    # Its own interval where given, else the one it had, else the default for a new source.
    assert [s.interval_minutes for s in edited.sources] == [20, 60, 15]
    with pytest.raises(StoryFileError, match="unknown source"):
        story_from_form(slug="x-y", title="t", claim="claims", queries="", sources=["nope"],
                        interval_minutes=5)
    with pytest.raises(StoryFileError, match="claim"):
        story_from_form(slug="x-y", title="t", claim="no", queries="", sources=[],
                        interval_minutes=5)


def test_digests_page_warns_when_mail_is_not_configured(seeded, monkeypatch):
    from reactions.config import get_settings

    at = app("digests")
    assert any("Mail is not configured" in w.value for w in at.warning)
    assert at.number_input(key="rule_volume_spike_min_posts").value == 10  # not 10.00
    assert at.number_input(key="rule_volume_spike_threshold").value == 3.5
    settings = frame(at, "settings")["settings"].iloc[0]
    assert "min posts 10" in settings and "10.00" not in settings
    assert not any("No post of this story was made" in i.value for i in at.info)  # it has posts
    monkeypatch.setenv("REACTIONS_SMTP_HOST", "127.0.0.1")
    get_settings.cache_clear()
    at = app("digests")
    assert not any("Mail is not configured" in w.value for w in at.warning)


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
    assert by_source["file"]["posts added"] == "181"
    assert by_source["file"]["next run"] == "-"  # a one-off run plans none
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "None" not in cells and "+00:00" not in cells
    assert any("scheduler has not run" in w.value for w in at.warning)


def test_health_page_says_whether_the_scheduler_is_alive(seeded):
    store, story = seeded
    run = store.start_run(story.slug, "hackernews")
    store.finish_run(run, added=0, pages=0, error="hackernews: skipped, credentials missing: "
                     "set X in the environment", next_run=utcnow() + timedelta(minutes=25))
    at = app("health")
    assert any("scheduler is running" in s.value for s in at.success)
    by_source = {r["source"]: r for _, r in frame(at, "last error").iterrows()}
    assert by_source["hackernews"]["status"] == "skipped (no credentials)"
    assert [m.value for m in at.metric if m.label == "Sources failing"] == ["0"]

    run = store.start_run(story.slug, "hackernews")
    store.finish_run(run, added=0, pages=0, next_run=utcnow() - timedelta(hours=2))
    st.cache_data.clear()
    at = app("health")
    assert any("scheduler looks stopped" in w.value for w in at.warning)


def test_short_when_reads_recent_times_relatively_across_midnight():
    from datetime import datetime, timezone

    now = datetime(2026, 11, 28, 0, 5, tzinfo=timezone.utc)
    assert ui.short_when(datetime(2026, 11, 27, 23, 55, tzinfo=timezone.utc), now=now) \
        == "23:55 (10 min ago)"
    assert ui.short_when(datetime(2026, 11, 28, 0, 20, tzinfo=timezone.utc), now=now) \
        == "00:20 (in 15 min)"
    assert ui.short_when(datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc), now=now) \
        == "2026-11-27 12:00"


def test_health_page_shows_scheduler_and_worker_heartbeats(seeded):
    from reactions import heartbeat
    from reactions import schema as t

    store, story = seeded
    heartbeat.beat(store, "scheduler@desk-1", heartbeat.SCHEDULER)
    for name in ("reactions@desk-2", "reactions@desk-3", "reactions@desk-4"):
        heartbeat.beat(store, name, heartbeat.WORKER)
    heartbeat.stopped(store, "reactions@desk-3")
    with store.begin() as conn:  # desk-4 was killed: it stopped beating ten minutes ago
        conn.execute(t.heartbeats.update().where(t.heartbeats.c.name == "reactions@desk-4")
                     .values(beat_at=utcnow() - timedelta(minutes=10)))
    at = app("health")
    assert any("scheduler is running" in s.value for s in at.success)
    assert any(s.value == "1 worker alive." for s in at.success)
    workers = {r["worker"]: r for _, r in frame(at, "worker").iterrows()}
    assert {k: r["status"] for k, r in workers.items()} == {
        "reactions@desk-2": "alive", "reactions@desk-3": "stopped",
        "reactions@desk-4": "not responding"}
    assert "10 min ago" in workers["reactions@desk-4"]["last heartbeat"]

    # A clean stop of the scheduler and the last worker: said at once, whatever the runs say.
    run = store.start_run(story.slug, "file")
    store.finish_run(run, added=0, pages=0, next_run=utcnow() + timedelta(minutes=25))
    heartbeat.stopped(store, "scheduler@desk-1")
    heartbeat.stopped(store, "reactions@desk-2")
    st.cache_data.clear()
    at = app("health")
    assert any("scheduler is not running: it stopped" in w.value for w in at.warning)
    assert any(w.value.startswith("0 workers alive") for w in at.warning)


def test_health_page_shows_a_source_waiting_out_a_rate_limit(seeded):
    from collectors.base import CursorState

    store, story = seeded
    run = store.start_run(story.slug, "hackernews")
    store.finish_run(run, added=0, pages=0, error="hackernews: rate limited (429)")
    state = CursorState(None)
    state.wait_until(utcnow() + timedelta(hours=1))
    with store.begin() as conn:
        store.save_cursor(story.slug, "hackernews", state.dump(), conn=conn)
    at = app("health")
    by_source = {r["source"]: r for _, r in frame(at, "last error").iterrows()}
    assert by_source["hackernews"]["status"].startswith("waiting until ")
    assert [m.value for m in at.metric if m.label == "Sources failing"] == ["0"]


def test_pages_say_what_to_do_on_an_empty_store(sqlite_url, monkeypatch):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    for page in ("live", "story", "stories", "digests", "health"):
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


def test_digests_page_settles_a_digest_whose_outcome_is_unknown(seeded):
    store, _ = seeded
    sub = digests.list_subscriptions(store)[0]
    for key in ("2025-01-01", "2025-01-02"):  # two sends interrupted after the hand-over
        assert digests._claim(store, sub["id"], key, utcnow())[0] == "claimed"
        digests._record(store, sub["id"], key, status="unknown", error="dropped")
    first, second = (d["id"] for d in digests.unknown_digests(store))
    at = app("digests")
    assert sum("may or may not have arrived" in w.value for w in at.warning) == 2
    at.button(key=f"digest_arrived_{first}").click().run()
    at.button(key=f"digest_resend_{second}").click().run()
    assert not at.exception
    status = {d["id"]: d["status"] for d in store.digest_history(sub["id"])}
    assert status == {first: "sent", second: "failed"}  # "failed" is sent again when due
    assert not any("may or may not have arrived" in w.value for w in at.warning)


def test_post_text_links_work_and_everything_else_is_escaped():
    text = "see https://example.org/a_b-c?x=1&y=(2)). *now* <b>x</b> javascript:alert(1)"
    markdown = ui.post_markdown(text)
    link = "[https://example.org/a\\_b-c?x=1&y=(2)](<https://example.org/a_b-c?x=1&y=(2)>)"
    assert markdown.startswith("see " + link)
    # Parentheses stay plain (only brackets make links), so a link in the text cannot form.
    assert markdown.endswith(")). \\*now\\* \\<b\\>x\\</b\\> javascript:alert(1)")
    assert ui.post_markdown("[x](javascript:alert(1))").startswith("\\[x\\]")
    assert "%5C" not in markdown and "](<javascript" not in markdown
    assert ui.post_markdown("www.x_y.org/a") == "[www.x\\_y.org/a](<http://www.x_y.org/a>)"


def test_numbers_shares_and_times_read_well():
    now = utcnow()
    assert ui.number(60.0) == "60" and ui.number(3.5) == "3.5" and ui.number(1204) == "1,204"
    assert ui.number(None) == "-"
    assert ui.share(0, 0) == "-" and ui.share(1, 3) == "33%"
    assert ui.when(None) == "-"
    assert ui.when(now - timedelta(minutes=3), now=now).endswith("UTC (3 min ago)")
    assert ui.ago(now + timedelta(minutes=30), now=now) == "in 30 min"
