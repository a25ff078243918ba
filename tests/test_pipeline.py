"""The pipeline end to end with a fake classifier: ingest a file, classify, summarize."""

import json
from datetime import timedelta

import pytest

from reactions import pipeline
from reactions.models import SourceConfig, Story


def write_posts(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


RECORDS = [
    {"platform": "bluesky", "native_id": "a1", "text": "Finally someone is doing something about these narco boats",
     "author": "ana.bsky.social", "created_at": "2025-11-24T10:00:00Z", "likes": 40},
    {"platform": "bluesky", "native_id": "a2", "text": "These strikes are illegal killings without any due process",
     "created_at": "2025-11-24T11:00:00Z", "likes": 12},
    {"platform": "reddit", "native_id": "t3_x", "text": "Axios reports Trump wants to call Maduro directly",
     "created_at": "2025-11-24T12:00:00Z"},
    {"platform": "reddit", "native_id": "t3_y", "text": "RT Axios reports Trump wants to call Maduro directly https://t.co/x",
     "created_at": "2025-11-24T12:30:00Z"},
    {"platform": "mastodon", "native_id": "m1", "text": "Finalmente alguien hace algo contra los narcos del régimen",
     "created_at": "2025-11-24T13:00:00Z"},
]


@pytest.fixture
def file_story(tmp_path):
    path = tmp_path / "posts.jsonl"
    write_posts(path, RECORDS)
    return Story(slug="file-story", title="Trump plans a call with Maduro", claim="The strikes are right.",
                 languages=["en", "es"], sources=[SourceConfig("file", 60, {"path": str(path)})]), path


def test_collect_classify_summarize(store, file_story, keyword_classifier):
    story, path = file_story
    store.save_story(story)
    (result,) = pipeline.collect(store, story)
    assert (result.added, result.error) == (5, None)
    posts = {p.native_id: p for p in store.posts(story.slug)}
    assert posts["m1"].language == "es" and posts["a1"].language == "en"
    assert posts["t3_y"].duplicate_of == posts["t3_x"].id  # the repost points at the original

    counts = pipeline.classify(store, story, classifier=keyword_classifier)
    assert counts == {"supporters": 1, "skeptics": 1, "neutral": 2, "unclassified": 1}
    stance = {p.native_id: s for p, s in store.classified_posts(story.slug)}
    assert stance["m1"].reason == "language:es"

    summary = pipeline.summarize(store, story)
    assert summary.counts == {"supporters": 1, "skeptics": 1, "neutral": 2, "unclassified": 1}
    assert "Bluesky" in summary.paragraph and "Reddit" in summary.paragraph
    assert store.latest_summary(story.slug).paragraph == summary.paragraph


def test_collect_twice_adds_nothing_and_appends_resume(store, file_story, keyword_classifier):
    story, path = file_story
    store.save_story(story)
    pipeline.collect(store, story)
    (again,) = pipeline.collect(store, story)
    assert again.added == 0 and store.count_posts(story.slug) == 5
    extra = {"platform": "bluesky", "native_id": "a9", "text": "Supporting this all the way"}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(extra) + "\n")
    (third,) = pipeline.collect(store, story)
    assert third.added == 1 and store.count_posts(story.slug) == 6


def test_malformed_records_are_skipped_not_fatal(sqlite_store, tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text('{"native_id": "1", "text": "fine post here"}\n{not json\n{"native_id": "2"}\n',
                    encoding="utf-8")
    story = Story(slug="s", title="t", claim="a claim", sources=[SourceConfig("file", 5, {"path": str(path)})])
    sqlite_store.save_story(story)
    (result,) = pipeline.collect(sqlite_store, story)
    assert result.added == 1 and len(result.skipped) == 2
    assert any("posts.jsonl:2" in s for s in result.skipped)


def test_missing_file_is_recorded_as_run_error(sqlite_store, tmp_path):
    story = Story(slug="s", title="t", claim="a claim",
                  sources=[SourceConfig("file", 5, {"path": str(tmp_path / "nope.jsonl")})])
    sqlite_store.save_story(story)
    (result,) = pipeline.collect(sqlite_store, story)
    assert "does not exist" in result.error
    assert sqlite_store.last_runs()[0]["error"] == result.error


def test_editor_labels_reach_the_classifier(sqlite_store, file_story):
    story, _ = file_story
    sqlite_store.save_story(story)
    pipeline.collect(sqlite_store, story)
    post = sqlite_store.posts(story.slug)[0]
    sqlite_store.add_label(story.slug, post.id, "skeptics")
    seen = {}

    class Recorder:
        name, languages, encoder = "rec", frozenset({"en", "es"}), None

        def adapt(self, texts, labels, claim):
            seen["examples"] = list(zip(texts, labels))
            return self

        def predict(self, texts, claim, embeddings=None):
            from reactions.models import StancePrediction
            return [StancePrediction("neutral", {"neutral": 1.0}) for _ in texts]

    pipeline.classify(sqlite_store, story, classifier=Recorder())
    assert seen["examples"] == [(post.text, "skeptics")]
    assert sqlite_store.bucket_counts(story.slug)["skeptics"] == 1  # the human label wins


@pytest.mark.parametrize("text,expected", [("30m", timedelta(minutes=30)), ("6h", timedelta(hours=6)),
                                           ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)), ("", None)])
def test_parse_window(text, expected):
    assert pipeline.parse_window(text) == expected


@pytest.mark.parametrize("bad", ["6", "h", "-1h", "3y", "1.5h"])
def test_parse_window_rejects(bad):
    with pytest.raises(ValueError, match="not like"):
        pipeline.parse_window(bad)


def test_review_threshold_setting_reaches_the_classifier(sqlite_store, file_story, monkeypatch,
                                                         keyword_classifier):
    import nlp.stance

    seen = {}

    def fake_load(spec=None, **options):
        seen.update(options, spec=spec)
        return keyword_classifier

    monkeypatch.setattr(nlp.stance, "load_classifier", fake_load)
    monkeypatch.setenv("REACTIONS_REVIEW_THRESHOLD", "0.7")
    from reactions.config import get_settings

    get_settings.cache_clear()
    story, _ = file_story
    sqlite_store.save_story(story)
    pipeline.collect(sqlite_store, story)
    pipeline.classify(sqlite_store, story, model="some/model")
    assert seen == {"spec": "some/model", "review_below": 0.7}
