"""Evidence and the template writer: counts, reposts, change, themes, stored summaries, escaping."""

import hashlib
import html
import json
import re
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from nlp.summarize import TemplateWriter, build_evidence, check_sentence
from reactions import pipeline
from reactions.models import Post, StancePrediction, Story
from reactions.render import render_summary

NOW = datetime(2025, 11, 24, 18, 0, tzinfo=timezone.utc)


class FakeEncoder:
    """Bag-of-words vectors (hashed) of the text before " | ": posts sharing words are close.

    Counts what it encodes. The tail after " | " only keeps test posts from being near-duplicates.
    """

    name = "fake-bow"

    def __init__(self):
        self.encoded = 0

    def encode(self, texts, progress=None):
        self.encoded += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.split(" | ")[0].lower()):
                if len(word) > 3:
                    out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class LabelClassifier:
    """Reads the bucket from a tag in the text: [s] supporters, [k] skeptics, else neutral."""

    name = "tag-test"
    languages = None
    encoder = None

    def predict(self, texts, claim, embeddings=None):
        labels = ["supporters" if "[s]" in t else "skeptics" if "[k]" in t else "neutral"
                  for t in texts]
        return [StancePrediction(label, {label: 0.9}) for label in labels]

    def adapt(self, texts, labels, claim):
        return self


# Two points supporters make (the fake encoder sees only the words before " | ").
SUPPORT_A = ["[s] Stop narco boats now | {}", "[s] Yes, stop the narco boats | {}",
             "[s] So stop all narco boats | {}"]
SUPPORT_B = ["[s] Cartel leaders are terrorists | {}", "[s] The cartel leaders are terrorists | {}"]
SKEPTIC = ["[k] Strikes without trial are illegal killings | {}", "[k] Illegal killings without trial | {}"]
TAILS = ["heard it on the morning radio today", "my neighbour Bob told me over coffee",
         "as the evening broadcast put it clearly", "read this week in a long thread online",
         "after watching the Monday vote unfold", "quoting a veteran reporter I follow"]


def posts_for(texts, platform="bluesky", hours_ago=1, start=0):
    return [Post(platform=platform, native_id=f"{platform}-{start + i}", text=text,
                 created_at=NOW - timedelta(hours=hours_ago, minutes=i), likes=i,
                 url=f"https://example.org/{platform}/{start + i}")
            for i, text in enumerate(texts)]


@pytest.fixture
def themed_story(store):
    return make_themed_story(store)


def make_themed_story(store):
    """Supporters making two points (one reposted twice), skeptics one, and 8 hours earlier
    a dozen skeptic posts; classified from the tags."""
    story = Story(slug="navy", title="The navy strikes narco boats", claim="The strikes are right.")
    store.save_story(story)
    current = ([t.format(TAILS[i]) for i in range(3) for t in SUPPORT_A]
               + [t.format(TAILS[i]) for i in range(3) for t in SUPPORT_B]
               + [t.format(TAILS[i]) for i in range(2) for t in SKEPTIC])
    posts = posts_for(current)
    reposts = [Post(platform="x", native_id=f"rt{i}", text="RT " + posts[0].text,
                    created_at=NOW - timedelta(minutes=5 + i)) for i in range(2)]
    earlier = posts_for([t.format(TAILS[i]) for i in range(6) for t in SKEPTIC], platform="reddit",
                        hours_ago=8, start=100)
    store.upsert_posts(story.slug, posts + reposts + earlier, source="file")
    # The collector links reposts (nlp.text); here the links are set, so the counts are exact.
    store.set_duplicates({r.id: posts[0].id for r in reposts})
    pipeline.classify(store, story, classifier=LabelClassifier())
    return story


def test_evidence_counts_reposts_change_and_themes(store, themed_story):
    encoder = FakeEncoder()
    summary = pipeline.summarize(store, themed_story, since=timedelta(hours=6), now=NOW,
                                 writer=TemplateWriter("detailed"), encoder=encoder)
    buckets = summary.payload["buckets"]
    sup = buckets["supporters"]
    # 15 supporter posts + 2 reposts of one of them: counted in the total, once in themes.
    assert (sup["count"], sup["reposts"], sup["unique"]) == (17, 2, 15)
    assert summary.counts == {"supporters": 17, "skeptics": 4, "neutral": 0, "unclassified": 0}
    assert sup["share"] == pytest.approx(17 / 21, abs=1e-4)
    # The previous 6 hours held 12 skeptic posts and nothing else.
    assert buckets["skeptics"]["previous"] == 12 and buckets["skeptics"]["change_points"] == 19 - 100
    assert sup["change_points"] == 81
    sizes = sorted(t["size"] for t in sup["themes"])
    assert sizes == [6, 9]  # the two points supporters make, each post once
    boats = next(t for t in sup["themes"] if t["size"] == 9)
    assert "narco boats" in boats["phrase"].lower() and boats["reposts"] == 2
    assert len(boats["quotes"]) == 3
    assert len({q["text"] for q in boats["quotes"]}) == 3
    # Paragraph: platforms, counts, the change, both themes, the missing bucket.
    text = summary.paragraph
    assert text.startswith("In the last 6 hours, posts on Bluesky and X have centred on ")
    assert summary.payload["period"]["words"] == "In the last 6 hours"
    assert "Supporters (17 posts, 2 of them reposts, 81%, up 81 points on the previous 6 hours)" in text
    assert "(9 posts)" in text and "(6 posts)" in text
    assert "Skeptics (4 posts, 19%, down 81 points on the previous 6 hours)" in text
    assert "No neutral posts so far." in text


def test_embeddings_are_reused_not_encoded_twice(store, themed_story):
    encoder = FakeEncoder()
    pipeline.summarize(store, themed_story, encoder=encoder, now=NOW)
    first = encoder.encoded
    assert first > 0
    pipeline.summarize(store, themed_story, encoder=encoder, now=NOW)
    assert encoder.encoded == first  # the second run reads them from the store


def test_summary_is_stored_per_window(store, themed_story):
    encoder = FakeEncoder()
    six = pipeline.summarize(store, themed_story, since=timedelta(hours=6), now=NOW, encoder=encoder)
    everything = pipeline.summarize(store, themed_story, now=NOW + timedelta(seconds=1),
                                    encoder=encoder)
    assert store.summary_for_window(themed_story.slug, timedelta(hours=6)).id == six.id
    assert store.summary_for_window(themed_story.slug, None).id == everything.id
    assert store.summary_for_window(themed_story.slug, timedelta(days=1)) is None
    assert store.summary_for_window(themed_story.slug, None,
                                    newer_than=NOW + timedelta(minutes=1)) is None


def test_template_sentences_pass_the_grounding_check(store, themed_story):
    evidence = pipeline.story_evidence(store, themed_story, since=timedelta(hours=6), now=NOW,
                                       encoder=FakeEncoder())
    written = TemplateWriter("detailed").write(evidence)
    checked = 0
    for sentence in written.sentences:
        if sentence.bucket in evidence.buckets:
            check = check_sentence(sentence.text, sentence.bucket, evidence)
            assert check.ok, (sentence.text, check.reasons)
            checked += 1
    assert checked == 2


def story_with(*texts_and_labels):
    story = Story(slug="s", title="A story", claim="It is right.")
    items = [(Post("bluesky", str(i), text, id=i, url=f"https://bsky.app/{i}"),
              StancePrediction(label)) for i, (text, label) in enumerate(texts_and_labels)]
    return story, items


def test_empty_story_reads_sensibly():
    story, items = story_with()
    written = TemplateWriter().write(build_evidence(story, items))
    assert written.paragraph == "No posts about \u201cA story\u201d have been collected yet."
    windowed = build_evidence(story, items, window=timedelta(hours=6), previous={})
    assert TemplateWriter().write(windowed).paragraph == (
        "No posts about \u201cA story\u201d in the last 6 hours.")


def test_one_bucket_story_reads_sensibly():
    story, items = story_with(("Great move", "supporters"), ("Love it", "supporters"))
    written = TemplateWriter().write(build_evidence(story, items))
    assert written.paragraph == (
        "So far, posts on Bluesky have reacted to the story. Supporters say, for example, "
        "\u201cGreat move\u201d. No skeptical or neutral posts so far.")
    assert written.evidence[0].text == (
        "Supporters: 2 posts, 100%. \u201cGreat move\u201d; \u201cLove it\u201d.")
    assert written.sentences[1].post_ids == [0] and written.sentences[1].urls == ["https://bsky.app/0"]


def test_imported_posts_are_not_called_a_platform():
    """A CSV or JSONL import names no place the posts were made: "posts on imported posts"
    is not English."""
    story = Story(slug="s", title="A story", claim="It is right.")

    def opening(*platforms):
        items = [(Post(platform, str(i), "Great move", id=i), StancePrediction("supporters"))
                 for i, platform in enumerate(platforms)]
        return TemplateWriter().write(build_evidence(story, items)).sentences[0].text

    assert opening("file", "file") == "So far, the imported posts have reacted to the story."
    assert opening("bluesky", "file") == (
        "So far, posts on Bluesky and imported posts have reacted to the story.")
    assert opening("bluesky", "x") == "So far, posts on Bluesky and X have reacted to the story."


def test_only_unclassified_posts():
    story, items = story_with(("hola amigos", "unclassified"))
    written = TemplateWriter().write(build_evidence(story, items))
    assert written.paragraph == "So far, posts on Bluesky have reacted to the story."
    assert [s.text for s in written.evidence] == [
        "Not classified: 1 post (another language or no text)."]
    detailed = TemplateWriter("detailed").write(build_evidence(story, items))
    assert detailed.paragraph.endswith(
        "1 more post was not classified (another language or no text).")


def test_template_writer_is_fast(store, themed_story):
    items = store.classified_posts(themed_story.slug)
    evidence = build_evidence(themed_story, items)
    writer = TemplateWriter()
    start = time.perf_counter()
    for _ in range(20):
        writer.write(evidence)
    assert (time.perf_counter() - start) / 20 < 0.05


HOSTILE = 'Illegal <script>alert("x")</script> <b>bold</b> *star* [link](javascript:alert(1))'


def test_post_html_renders_as_text_in_every_format(sqlite_store):
    story = Story(slug="esc", title="Escaping <i>test</i>", claim="It is right.")
    sqlite_store.save_story(story)
    post = Post("reddit", "1", HOSTILE, url='javascript:alert(1)', created_at=NOW)
    sqlite_store.upsert_posts(story.slug, [post], source="file")
    sqlite_store.save_stances(story.slug, [(post.id, StancePrediction("skeptics"))], "test")
    summary = pipeline.summarize(sqlite_store, story, writer=TemplateWriter())
    assert "<script>" in summary.paragraph  # the paragraph quotes the post as text
    rendered = render_summary(summary, story, "html")
    assert "<script>" not in rendered and "<b>" not in rendered and "<i>" not in rendered
    assert html.escape("<script>alert('x')</script>") in rendered  # shown, as text
    assert "javascript:" not in rendered.split("alert(1))")[-1]  # the post's URL is not linked
    assert 'href="javascript' not in rendered
    md = render_summary(summary, story, "markdown")
    assert "<script>" not in md and "*star*" not in md and "](javascript" not in md
    data = json.loads(render_summary(summary, story, "json"))
    assert HOSTILE.replace('"', "'") in data["paragraph"]  # JSON keeps the text, as data
    text = render_summary(summary, story, "text")
    assert HOSTILE.replace('"', "'") in text


def test_blurb_json_shape(capsys, sqlite_store, monkeypatch):
    from reactions.cli import main

    monkeypatch.setenv("REACTIONS_DATABASE_URL", str(sqlite_store.engine.url))
    story = Story(slug="shape", title="Shape", claim="It is right.")
    sqlite_store.save_story(story)
    posts = posts_for(["[s] Good call", "[k] Bad call", "plain news"])
    sqlite_store.upsert_posts(story.slug, posts, source="file")
    pipeline.classify(sqlite_store, story, classifier=LabelClassifier())
    assert main(["blurb", "shape", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"paragraph", "sentences", "buckets", "writer", "replaced"} <= set(data)
    assert data["writer"] == "template" and data["replaced"] == []
    for sentence in data["sentences"]:
        assert set(sentence) == {"text", "bucket", "post_ids", "urls", "quotes"}
    assert set(data["buckets"]) == {"supporters", "skeptics", "neutral"}
    for bucket in data["buckets"].values():
        assert {"count", "share", "themes"} <= set(bucket)
    cited = next(s for s in data["sentences"] if s["bucket"] == "supporters")
    assert cited["post_ids"] == [posts[0].id] and cited["urls"] == [posts[0].url]
    # A second blurb reuses the stored paragraph; html works too.
    stored = sqlite_store.summary_for_window("shape", None)
    assert main(["blurb", "shape", "--format", "html"]) == 0
    assert "<p>" in capsys.readouterr().out
    assert sqlite_store.summary_for_window("shape", None).id == stored.id


def test_shares_carry_a_caveat_until_an_editor_labels_the_story(sqlite_store):
    """With no label the buckets are the cold-start guess, and every rendering says so; a
    teacher's labels are not an editor's; one editor label ends the caveat."""
    story = Story(slug="cave", title="Caveat", claim="It is right.")
    sqlite_store.save_story(story)
    posts = posts_for(["[s] Good call", "[k] Bad call", "plain news"])
    sqlite_store.upsert_posts(story.slug, posts, source="file")
    pipeline.classify(sqlite_store, story, classifier=LabelClassifier())

    summary = pipeline.summarize(sqlite_store, story, writer=TemplateWriter())
    assert summary.payload["labels"] == {"human": 0, "teacher": 0}
    for fmt in ("text", "markdown", "html"):
        assert "rough estimate" in render_summary(summary, story, fmt), fmt
    assert "cold-start guess" in render_summary(summary, story, "html")
    assert "python -m reactions label cave" in render_summary(summary, story, "text")
    data = json.loads(render_summary(summary, story, "json"))
    assert data["labels"] == {"human": 0, "teacher": 0} and "cold-start" in data["caveat"]

    sqlite_store.add_label(story.slug, posts[0].id, "supporters", source="teacher")
    summary = pipeline.summarize(sqlite_store, story, writer=TemplateWriter())
    assert "1 teacher-model labels, none from an editor" in render_summary(summary, story)
    sqlite_store.add_label(story.slug, posts[1].id, "skeptics", source="human")
    summary = pipeline.summarize(sqlite_store, story, writer=TemplateWriter())
    assert "rough estimate" not in render_summary(summary, story, "html")
    assert json.loads(render_summary(summary, story, "json"))["caveat"] is None


def test_safe_url_keeps_only_plain_http_links():
    from reactions.render import safe_url

    assert safe_url(" https://example.org/a?b=1 ") == "https://example.org/a?b=1"
    assert safe_url("HTTP://Example.org/") == "HTTP://Example.org/"
    for bad in (None, "", "javascript:alert(1)", "data:text/html,<b>x</b>", "https:///nohost",
                "ftp://example.org/", 'https://example.org/"onmouseover="x',
                "https://example.org/<script>", "https://exa mple.org/", "//example.org/"):
        assert safe_url(bad) is None, bad
