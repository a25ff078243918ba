"""The paragraph tells the truth: quotes cite their posts, one period, clean English, one shape."""

import json
import random
import re
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from nlp.summarize import (
    EMBEDDING_MARGIN,
    BucketEvidence,
    Evidence,
    ModelWriter,
    TemplateWriter,
    ThemeEvidence,
    build_evidence,
    citations,
    largest_remainder,
    stated_point,
)
from nlp.text import clause_cut, split_sentences
from nlp.themes import clean_phrase, keyphrases_per_theme
from reactions import pipeline
from reactions.models import Post, StancePrediction, Story
from reactions.render import escape_markdown, render_summary
from tests.test_summarize import NOW, FakeEncoder, LabelClassifier, make_themed_story, posts_for


@pytest.fixture
def themed_story(store):
    return make_themed_story(store)


def _normal(text):
    return " ".join(re.findall(r"\w+", text.lower()))


def assert_citations_hold(written, evidence):
    """Every quoted span is text of the post it cites; every post a bucket's sentence cites is
    in that bucket; every quote in the text is accounted for."""
    posts = {p.id: p for b in evidence.buckets.values() for p in b.posts}
    bucket_of = {p.id: name for name, b in evidence.buckets.items() for p in b.posts}
    checked = 0
    for sentence in [*written.sentences, *written.evidence]:
        assert len(sentence.quotes) <= len(sentence.post_ids)
        shown = re.findall(r"\u201c([^\u201d]+)\u201d", sentence.text)
        assert shown == sentence.quotes, sentence.text  # no quote without its citation
        for quote, pid in zip(sentence.quotes, sentence.post_ids):
            assert _normal(quote.removesuffix("...")) in _normal(posts[pid].text), (quote, pid)
            checked += 1
        if sentence.bucket in evidence.buckets:
            for pid in sentence.post_ids:
                assert bucket_of[pid] == sentence.bucket, (sentence.text, pid)
    return checked


class EchoWriter(ModelWriter):
    """A model that answers with a grounded sentence built from the bucket's own top post."""

    name = "echo"

    def complete(self, system, user):
        label = re.search(r'starts with "(\w+(?: posts)?)"', user).group(1)
        return f"{label} mostly repeat their own posts."


@pytest.mark.parametrize("make", [lambda: TemplateWriter("brief"), lambda: TemplateWriter("detailed"),
                                  lambda: EchoWriter(TemplateWriter("brief"))],
                         ids=["brief", "detailed", "model"])
def test_every_quote_cites_its_own_post_in_the_right_bucket(store, themed_story, make):
    evidence = pipeline.story_evidence(store, themed_story, since=timedelta(hours=6), now=NOW,
                                       encoder=FakeEncoder())
    written = make().write(evidence)
    assert assert_citations_hold(written, evidence) >= 4


def test_stated_point_is_a_clause_quoted_as_written():
    axios = ("Axios: Trump has told advisers he wants to speak directly with Maduro, even as "
             "U.S. strikes on suspected drug boats continue. https://www.axios.com/x")
    assert stated_point(axios) == "Trump has told advisers he wants to speak directly with Maduro"
    assert (stated_point("The boats are legit targets and the call is smart. Fight me.")
            == "The boats are legit targets and the call is smart")  # capitals kept: exact quote
    assert stated_point("Cartel de los Soles officially an FTO") is None  # no verb: a headline
    assert stated_point("Why is nobody asking who was on these boats?") is None
    assert stated_point("Reminder that the War Powers Resolution exists and Congress is just... "
                        "letting this happen") is None
    long_no_break = " ".join(["the strikes are"] + ["very"] * 20 + ["wrong"])
    assert stated_point(long_no_break) is None  # never cut mid-clause


def test_brief_states_each_bucket_point_as_a_clause_in_its_own_words(store, themed_story):
    evidence = pipeline.story_evidence(store, themed_story, since=timedelta(hours=6), now=NOW,
                                       encoder=FakeEncoder())
    written = TemplateWriter("brief").write(evidence)
    posts = {p.id: p for b in evidence.buckets.values() for p in b.posts}
    supporters = next(s for s in written.sentences if s.bucket == "supporters")
    assert re.fullmatch(r"Supporters point to \u201c[^\u201d]+\u201d and argue(:| that) "
                        r"\u201c[^\u201d]+\u201d\.", supporters.text), supporters.text
    for sentence in written.sentences:
        for quote, pid in zip(sentence.quotes, sentence.post_ids):
            assert quote in posts[pid].text  # verbatim, capitals and all
    assert len(written.paragraph.split()) <= 80


def test_brief_drops_second_points_before_passing_its_word_limit(store, themed_story, monkeypatch):
    import nlp.summarize as summarize

    evidence = pipeline.story_evidence(store, themed_story, since=timedelta(hours=6), now=NOW,
                                       encoder=FakeEncoder())
    full = TemplateWriter("brief").write(evidence)
    assert "point to" in full.paragraph  # room for second points at the usual limit
    monkeypatch.setattr(summarize, "BRIEF_WORDS", len(full.paragraph.split()) - 1)
    short = TemplateWriter("brief").write(evidence)
    assert len(short.paragraph.split()) < len(full.paragraph.split())
    assert "point to" not in short.paragraph
    assert_citations_hold(short, evidence)


def test_quote_follows_that_only_where_its_first_word_reads_mid_sentence():
    from nlp.summarize import _reads_mid_sentence

    posts = ["Nobody expected Trump to call.", "So Maduro answers, and then what?",
             "Say what you want, it worked.", "He writes for The Atlantic."]
    for word in ("Trump", "Maduro", "83", "FTO", "I", "regime"):  # "argue that Trump ..."
        assert _reads_mid_sentence(word, posts), word
    for word in ("Say", "Reminder", "The", "A"):  # "argue: Say what you want ..."
        assert not _reads_mid_sentence(word, posts), word


def test_brief_keeps_a_buckets_point_before_a_second_keyphrase(monkeypatch):
    """Of the shapes that fit the word limit, the one stating the most buckets' points as
    clauses wins: shortening every clause must not cost a bucket its point when dropping
    the second keyphrases keeps them all."""
    import nlp.summarize as summarize
    from nlp.summarize import Sentence

    def fake(self, evidence, bucket, max_words=14, second=True):
        verb = summarize.CLAIM_VERBS[bucket][0]
        if second and max_words == 14:  # too long
            return Sentence(" ".join(["word"] * 40), bucket, [], [], [])
        if second:  # shorter clauses: the skeptics' point no longer fits, keyphrases instead
            text = ("Skeptics raise \u201cwar powers\u201d and \u201cadjudication step\u201d."
                    if bucket == "skeptics" else f"X {verb} that \u201cshort point\u201d.")
            return Sentence(text, bucket, [], [], [])
        return Sentence(f"X {verb} that \u201ca whole point here\u201d.", bucket, [], [], [])

    monkeypatch.setattr(summarize.TemplateWriter, "brief_sentence", fake)
    monkeypatch.setattr(summarize.TemplateWriter, "opening",
                        lambda self, evidence: Sentence("Since Nov 24, posts.", None, [], [], []))
    monkeypatch.setattr(summarize.TemplateWriter, "closing", lambda self, evidence: [])
    monkeypatch.setattr(summarize.TemplateWriter, "evidence_lines", lambda self, evidence: [])
    evidence = SimpleNamespace(total=3, period="Since Nov 24",
                               buckets={b: SimpleNamespace(count=1) for b in summarize.BUCKETS})
    written = summarize.TemplateWriter("brief").write(evidence)
    assert "adjudication" not in written.paragraph
    assert written.paragraph.count("a whole point here") == 3


def test_planted_unsure_post_never_leads_a_theme():
    """A skeptic's sarcastic post the classifier put with supporters would lead their theme
    (as central as any, and the most engaged); flagged unsure, it is counted but neither quoted nor cited."""
    story = Story(slug="s", title="Boats", claim="The strikes are right.")
    texts = ["Stop narco boats now | sure, great plan, what could go wrong"] + [
        f"Stop narco boats now | {word}" for word in ("today", "please", "for good", "at last",
                                                       "and for all", "already")]

    def evidence_for(unsure):
        items = [(Post("bluesky", str(i), t, id=i, likes=1000 if i == 0 else i, url=f"https://b/{i}"),
                  StancePrediction("supporters", {"supporters": 0.5}, unsure and i == 0))
                 for i, t in enumerate(texts)]
        vectors = FakeEncoder().encode(texts)
        return build_evidence(story, items, embeddings=dict(enumerate(vectors)), encoder="fake")

    assert 0 in [p.id for p in evidence_for(unsure=False).buckets["supporters"].themes[0].quotes]
    evidence = evidence_for(unsure=True)
    sup = evidence.buckets["supporters"]
    assert sup.count == 7 and sup.themes[0].size == 7  # still counted, in its theme
    assert 0 not in [p.id for t in sup.themes for p in t.quotes]
    assert 0 not in [p.id for p in sup.quotes]
    assert "sure" not in sup.themes[0].phrase
    for writer in (TemplateWriter("brief"), TemplateWriter("detailed")):
        written = writer.write(evidence)
        assert 0 not in [pid for s in [*written.sentences, *written.evidence] for pid in s.post_ids]


def test_same_posts_in_any_order_give_the_same_themes(store, themed_story):
    items = store.classified_posts(themed_story.slug)
    embeddings, name = pipeline.theme_embeddings(store, [p for p, _ in items], encoder=FakeEncoder())
    first = build_evidence(themed_story, items, embeddings=embeddings, encoder=name)
    for seed in range(3):
        shuffled = list(items)
        random.Random(seed).shuffle(shuffled)
        again = build_evidence(themed_story, shuffled, embeddings=embeddings, encoder=name)
        for bucket in first.buckets:
            assert ([(t.phrase, t.post_ids) for t in again.buckets[bucket].themes]
                    == [(t.phrase, t.post_ids) for t in first.buckets[bucket].themes])
        assert TemplateWriter().write(again).paragraph == TemplateWriter().write(first).paragraph


def test_citation_numbers_run_on_across_the_paragraph_in_every_format(store, themed_story):
    summary = pipeline.summarize(store, themed_story, since=timedelta(hours=6), now=NOW,
                                 encoder=FakeEncoder(), writer=TemplateWriter("detailed"))
    numbers = [c["n"] for c in summary.payload["citations"]]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 4
    for fmt in ("text", "markdown", "html"):
        shown = [int(n) for n in re.findall(r"\[(\d+)\]", render_summary(summary, themed_story, fmt))]
        firsts = list(dict.fromkeys(shown))
        assert firsts == numbers, fmt  # 1, 2, 3 ... never restarting at [1] per sentence
    html_out = render_summary(summary, themed_story, "html")
    ids = {c["n"]: c["url"] for c in summary.payload["citations"]}
    links = re.findall(r'<a href="([^"]+)"[^>]*>\[(\d+)\]', html_out)
    assert links
    for url, n in links:  # each number links to the post it stands for
        assert ids[int(n)] == url


def test_brief_is_the_default_short_with_no_counts_and_a_period(store, themed_story):
    summary = pipeline.summarize(store, themed_story, since=timedelta(hours=6), now=NOW,
                                 encoder=FakeEncoder())
    assert summary.payload["style"] == "brief"
    paragraph = summary.paragraph
    assert paragraph.startswith("In the last 6 hours, posts on ")
    assert len(paragraph.split()) <= 80
    assert themed_story.title.lower() not in paragraph.lower()  # never the pasted headline
    for sentence in summary.payload["sentences"]:
        if sentence["bucket"]:
            assert not re.search(r"\d", re.sub(r"\u201c[^\u201d]*\u201d", "", sentence["text"]))
    everything = pipeline.summarize(store, themed_story, now=NOW, encoder=FakeEncoder())
    assert everything.paragraph.startswith("Since Nov 24, posts on ")
    assert everything.payload["period"]["start"].startswith("2025-11-24")


def test_period_in_words():
    from datetime import datetime, timezone

    from nlp.summarize import describe_period

    day = datetime(2025, 11, 24, 9, tzinfo=timezone.utc)
    assert describe_period(timedelta(days=1), None, day) == "In the last 24 hours"
    assert describe_period(timedelta(hours=1), None, day) == "In the last hour"
    assert describe_period(timedelta(weeks=2), None, day) == "In the last 2 weeks"
    assert describe_period(None, day, day + timedelta(days=3)) == "Since Nov 24"
    assert describe_period(None, day, day + timedelta(days=60)) == "Since Nov 24, 2025"
    assert describe_period(None, None, None) == "So far"


@pytest.mark.parametrize("counts", [(1, 1, 1), (97, 53, 49), (2, 2, 3), (0, 0, 5), (1, 0, 0)])
def test_shares_sum_to_100(counts):
    shares = largest_remainder(dict(zip("abc", counts)))
    assert sum(shares.values()) == 100
    total = sum(counts)
    for key, n in zip("abc", counts):
        assert abs(shares[key] - 100 * n / total) < 1


def test_demo_counts_share_line_sums_to_100():
    from reactions.models import Summary
    from reactions.render import counts_line

    line = counts_line(Summary("s", "", {"supporters": 97, "skeptics": 53, "neutral": 49}, "t"))
    assert sum(int(n) for n in re.findall(r"\((\d+)%\)", line)) == 100


def test_sentences_split_after_abbreviations_only_where_they_end():
    assert split_sentences("The U.S. military struck again. Dr. Smith objects. Fine!") == [
        "The U.S. military struck again.", "Dr. Smith objects.", "Fine!"]
    assert split_sentences('He said "stop. now." and left. Next') == [
        'He said "stop. now." and left.', "Next"]


def test_quotes_are_cut_at_a_clause_boundary():
    text = ("Blowing up boats without showing any evidence, and then calling the guy for a chat "
            "about elections and oil, is not a policy.")
    cut = clause_cut(text, 12)
    assert cut == "Blowing up boats without showing any evidence"  # a whole clause: no "..."
    assert clause_cut("The U.S. strikes work. More later", 12) == "The U.S. strikes work"
    lead_in = ("Mastodon is going to hate this but: the boats are legit targets and the call is "
               "smart. Both can be true.")
    assert clause_cut(lead_in, 12) == "the boats are legit targets and the call is smart"


def test_no_doubled_punctuation(store):
    story = Story(slug="p", title="T", claim="C")
    store.save_story(story)
    posts = posts_for(["[s] It works.", "[k] Does it work?", "[s] It really works!",
                       "[n] Axios says the call is still in the 'planning stages.'"])
    store.upsert_posts(story.slug, posts, source="file")
    pipeline.classify(store, story, classifier=LabelClassifier())
    for style in ("brief", "detailed"):
        summary = pipeline.summarize(store, story, style=style, writer=TemplateWriter(style))
        for fmt in ("text", "markdown", "html"):
            out = render_summary(summary, story, fmt)
            assert "planning stages" in out
            assert not re.search(r"[.!?]['\u2019]*[\"\u201d](\[\d+\])?\.|(?<!\.)\.\.(?!\.)", out), (style, fmt, out)


def test_markdown_keeps_parentheses_and_escapes_links():
    assert escape_markdown("Supporters (5 posts)") == "Supporters (5 posts)"
    assert escape_markdown("[x](javascript:y)") == "\\[x\\]\\(javascript:y)"
    assert escape_markdown("- list\n# head") == "\\- list\n\\# head"


def test_a_correction_makes_blurb_rewrite_the_paragraph(capsys, sqlite_store, monkeypatch):
    from reactions.cli import main

    monkeypatch.setenv("REACTIONS_DATABASE_URL", str(sqlite_store.engine.url))
    story = Story(slug="fix", title="Fix", claim="It is right.")
    sqlite_store.save_story(story)
    posts = posts_for(["[s] Good call", "[s] Great call", "[k] Bad call"])
    sqlite_store.upsert_posts(story.slug, posts, source="file")
    pipeline.classify(sqlite_store, story, classifier=LabelClassifier())
    assert main(["blurb", "fix", "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["counts"]["supporters"] == 2
    sqlite_store.add_label(story.slug, posts[1].id, "skeptics")  # an editor corrects a post
    assert main(["blurb", "fix", "--format", "json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["counts"]["supporters"], after["counts"]["skeptics"]) == (1, 2)
    assert after["created_at"] != before["created_at"]
    # the detailed style states the same, corrected numbers
    assert main(["blurb", "fix", "--style", "detailed"]) == 0
    assert "Skeptics (2 posts, 67%)" in capsys.readouterr().out


class NearEncoder:
    """Embeds a text by its tag word: alpha near the supporters' posts, beta the skeptics'."""

    name = "near"

    def encode(self, texts, progress=None):
        return np.array([np.eye(8)[1] if "beta" in t else np.eye(8)[0] for t in texts])


def test_model_sentence_that_means_another_buckets_point_is_replaced():
    """The words pass the word check, but its meaning sits with the skeptics: replaced."""
    story = Story(slug="s", title="Strikes", claim="The strikes are right.")
    texts = ["strikes stop boats alpha", "strikes stop boats now alpha",
             "strikes stop boats beta", "strikes stop boats again beta"]
    labels = ["supporters", "supporters", "skeptics", "skeptics"]
    vectors = dict(enumerate(NearEncoder().encode(texts)))
    items = [(Post("x", str(i), t, id=i), StancePrediction(lab))
             for i, (t, lab) in enumerate(zip(texts, labels))]
    evidence = build_evidence(story, items, embeddings=vectors, encoder="near")

    class Canned(ModelWriter):
        name = "canned"

        def complete(self, system, user):
            return ("Supporters say strikes stop boats beta." if "supporters" in user.lower()
                    else "Skeptics say strikes stop boats beta.")

    written = Canned(encoder=NearEncoder()).write(evidence)
    assert [r["bucket"] for r in written.replaced] == ["supporters"]
    assert any("closer to the skeptics" in r for r in written.replaced[0]["reasons"])
    assert EMBEDDING_MARGIN > 0
    assert any(s.text == "Skeptics say strikes stop boats beta." for s in written.sentences)
    assert citations(written)  # the template replacement still cites its posts


def past_story(store):
    """A story whose posts are all a year old, classified, with a summary of all time."""
    story = Story(slug="past", title="Past", claim="It is right.")
    store.save_story(story)
    posts = posts_for(["[s] Good call", "[s] Great call", "[k] Bad call", "plain news"])
    store.upsert_posts(story.slug, posts, source="file")
    pipeline.classify(store, story, classifier=LabelClassifier())
    return story, posts


def test_story_page_shows_a_past_story_and_its_paragraph_with_the_same_numbers(
        sqlite_url, monkeypatch):
    import streamlit as st

    from reactions.store import Store
    from tests.test_dashboard import app

    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    story, posts = past_story(store)
    summary = pipeline.summarize(store, story, writer=TemplateWriter())
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = app("story")
        # Tile labels carry the bucket's colour as Markdown (":blue[Supporters]").
        tiles = {m.label.split("[")[-1].rstrip("]"): (m.value, m.delta) for m in at.metric}
        assert tiles["Supporters"] == ("2", "50%") and tiles["Skeptics"] == ("1", "25%")
        assert summary.counts["supporters"] == 2 and summary.counts["skeptics"] == 1
        assert summary.paragraph in [t.value for t in at.text]
        assert not at.warning or all("corrected" not in w.value for w in at.warning)
        # An editor's correction: the tiles move at once, the paragraph is flagged stale ...
        store.add_label(story.slug, posts[1].id, "skeptics")
        st.cache_data.clear()
        at = app("story")
        assert {m.label.split("[")[-1].rstrip("]"): m.value for m in at.metric}["Skeptics"] == "2"
        assert any("corrected" in w.value for w in at.warning)
        # ... until it is rewritten (here as the scheduler's tick or `blurb` would).
        pipeline.current_summary(store, story, writer=TemplateWriter())
        st.cache_data.clear()
        at = app("story")
        assert not any("corrected" in w.value for w in at.warning)
    finally:
        st.cache_resource.clear()
        store.close()


def test_digest_paragraph_is_of_the_digest_period(sqlite_store):
    """A daily digest shows the last day's paragraph and numbers, not an all-time one."""
    from reactions.digest import build_digest

    story, posts = past_story(sqlite_store)  # posts an hour before NOW
    old = posts_for(["[k] Old bad call", "[k] Old worse call"], hours_ago=72, start=50)
    sqlite_store.upsert_posts(story.slug, old, source="file")
    pipeline.classify(sqlite_store, story, classifier=LabelClassifier())
    everything = pipeline.summarize(sqlite_store, story, writer=TemplateWriter(), now=NOW)
    assert everything.counts["skeptics"] == 3
    digest = build_digest(sqlite_store, story, "ed@example.org", "daily", now=NOW)
    assert digest.counts["skeptics"] == 1
    text = digest.message.get_body(("plain",)).get_content()
    day = sqlite_store.summary_for_window(story.slug, timedelta(days=1))
    assert day is not None and day.counts["skeptics"] == 1
    assert day.paragraph.startswith("In the last 24 hours, ")
    assert day.paragraph.split(",")[0] in text


def test_scheduler_tick_rewrites_a_stale_summary(sqlite_store, monkeypatch):
    """Nothing new collected, but an editor corrected a post: the tick writes a new summary."""
    story, posts = past_story(sqlite_store)
    monkeypatch.setattr(pipeline, "collect", lambda store, story, stop=None: [])
    monkeypatch.setattr(pipeline, "writer_from_settings", lambda style="brief": TemplateWriter(style))
    first = pipeline.process_story(sqlite_store, story, classifier=LabelClassifier())["summary"]
    assert first is not None and first.counts["skeptics"] == 1
    assert pipeline.process_story(sqlite_store, story, classifier=LabelClassifier())["summary"] is None
    sqlite_store.add_label(story.slug, posts[0].id, "skeptics")
    again = pipeline.process_story(sqlite_store, story, classifier=LabelClassifier())["summary"]
    assert again is not None and again.counts["skeptics"] == 2


def test_the_running_scheduler_rewrites_a_summary_an_editor_made_stale(sqlite_store, monkeypatch):
    """`reactions run`'s own tick (not only process_story): no new posts, but a correction
    since the paragraph was written, so the paragraph is rewritten with the editor's bucket."""
    from reactions.models import SourceConfig
    from reactions.schedule import Runner

    story, posts = past_story(sqlite_store)
    story.sources = [SourceConfig("file", options={"path": "unused.jsonl"})]
    sqlite_store.save_story(story)
    monkeypatch.setattr(pipeline, "collect_source",
                        lambda store, story, source, **_: pipeline.SourceResult(story.slug, source))
    monkeypatch.setattr(pipeline, "writer_from_settings", lambda style="brief": TemplateWriter(style))
    runner = Runner(sqlite_store, classifier=LabelClassifier())
    monkeypatch.setattr(runner, "collector", lambda source: None)
    runner._collect(story.slug, "file")  # no summary yet: written
    first = sqlite_store.summary_for_window(story.slug, None)
    assert first is not None and first.counts["skeptics"] == 1
    runner._collect(story.slug, "file")  # nothing changed: kept
    assert sqlite_store.summary_for_window(story.slug, None).id == first.id
    sqlite_store.add_label(story.slug, posts[0].id, "skeptics")
    runner._collect(story.slug, "file")
    again = sqlite_store.summary_for_window(story.slug, None)
    assert again.id != first.id and again.counts["skeptics"] == 2


def test_a_digest_preview_writes_no_summary(sqlite_store, monkeypatch):
    """The Digests page previews with save=False: viewing it stores nothing."""
    import sqlalchemy as sa

    from reactions import schema
    from reactions.digest import build_digest

    story, _ = past_story(sqlite_store)
    monkeypatch.setattr(pipeline, "writer_from_settings", lambda style="brief": TemplateWriter(style))

    def stored() -> int:
        with sqlite_store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.summaries)).scalar()

    before = stored()
    build_digest(sqlite_store, story, "ed@example.org", "weekly", now=NOW, save=False)
    assert stored() == before
    build_digest(sqlite_store, story, "ed@example.org", "weekly", now=NOW)
    assert stored() == before + 1


# -- phrases that read whole (issue 16 part 5) ---------------------------------------------

_MARKS = str.maketrans({'"': "'", "\u201c": "'", "\u201d": "'", "\u2018": "'", "\u2019": "'"})
#: Words a quote cut from a post must not end on (an independent list, not the code's).
_DANGLING = frozenset("a an the of to in on at by for with from into as and or but nor "
                      "that which who is are was were be has have had would will can".split())
_JOINERS = r"(?:\s+(?:de|del|la|las|los|el|of|the)){0,2}"
_CONJUNCTIONS = r"(?:and|but|or|nor|yet|so|because|while|although|though|whereas|unless)\b"


def _name_word(word):
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return word[:1].isupper() and word.lower() not in ENGLISH_STOP_WORDS


def quote_problems(quote, text, *, clause=True):
    """Why a quote does not read as whole text of `text` (empty when it does): it must be
    verbatim (quotation marks and spacing aside, capitals and all); with `clause`, start where
    a sentence or clause starts and end at a clause boundary or the post's end, not on a
    function word; and never start or end inside a capitalised name."""
    from nlp.themes import strip_links

    q = " ".join(quote.removesuffix("...").translate(_MARKS).split()).strip("' ")
    post = " ".join(strip_links(text).translate(_MARKS).split())
    starts = [m.start() for m in re.finditer(re.escape(q), post)] if q else []
    if not starts:
        return [f"not verbatim: {quote!r}"]
    best = None
    for at in starts:
        before, after = post[:at].rstrip("' "), post[at + len(q):]
        problems = []
        if clause:
            if before and before[-1] not in ".!?;:,\u2014\u2013\u2192(":
                problems.append(f"starts mid-clause: ...{before[-30:]!r} | {quote!r}")
            ended = q[-1] in ".!?;:,"  # the quote ends on its own stop: 'stages.'" So...
            if after.strip() and not ended \
                    and not re.match(r"['\s]*(?:[.!?;:,\u2014\u2013\u2192)]|-\s)", after) \
                    and not re.match(r"\s+" + _CONJUNCTIONS, after):
                problems.append(f"ends mid-clause: {quote!r} | {after[:30]!r}...")
            # A whole sentence may end on a particle ("while the strikes go on."); a cut may not.
            whole = q[-1] in ".!?" or not after.strip() or re.match(r"['\s]*[.!?]", after)
            if not whole and q.split()[-1].lower().strip(".,;:!?'") in _DANGLING:
                problems.append(f"ends on a function word: {quote!r}")
        first, last = q.split()[0], q.split()[-1]
        joiner = {"de", "del", "la", "las", "los", "el", "of", "the"}
        lead = re.search(r"(?<![\w'])([A-Z][\w'-]*)" + _JOINERS + r"\s+$", post[:at])
        if (_name_word(first) or first in joiner) and lead and _name_word(lead.group(1)):
            problems.append(f"starts inside a name: {post[max(0, at - 25):at]!r} | {quote!r}")
        follow = re.match(_JOINERS + r"\s+([A-Z][\w'-]*)", after)
        if (_name_word(last) or last in joiner) and follow and _name_word(follow.group(1)):
            problems.append(f"ends inside a name: {quote!r} | {after[:25]!r}")
        if not problems:
            return []
        best = best or problems
    return best


def test_quote_problems_catches_what_an_editor_would():
    post = ('Terror designation of a "cartel" the government says is run by a head of state '
            '\u2192 strikes. Cartel de los Soles designation should have happened.')
    assert quote_problems("Terror designation of a 'cartel' the government says is run by a "
                          "head of state", post) == []
    assert quote_problems("Terror designation of a 'cartel' the government says is run by a "
                          "head of...", post)  # mid-clause, and on "of"
    assert quote_problems("the government says is run by a head of state", post)  # starts mid-way
    assert quote_problems("Soles designation", post, clause=False)  # cut out of a name
    # A whole sentence may end on a particle; a clause cut at a comma may not.
    assert quote_problems("People are shocked while the strikes go on",
                          "People are shocked while the strikes go on. That is the point.") == []
    assert quote_problems("The strikes go on", "The strikes go on, and on, until Congress acts.") \
        == ["ends on a function word: 'The strikes go on'"]
    assert quote_problems("Cartel de los", post, clause=False)
    assert quote_problems("Cartel de los Soles designation", post, clause=False) == []
    assert quote_problems("terror designation", post, clause=False)  # not as written


@pytest.mark.parametrize("max_words", [6, 10, 14, 20])
def test_clause_cut_starts_and_ends_where_clauses_do(max_words):
    """On generated sentences (clauses of random length joined by commas, conjunctions,
    dashes and arrows): a cut is verbatim, starts at the sentence's start, ends at a clause
    boundary or the sentence's end and never on a function word, and is at most half as long
    again as asked, unless the sentence has no boundary at all (then it says so with "...")."""
    rng = random.Random(max_words)
    content = "boats strikes navy cartel government evidence trial call Maduro Congress vote".split()
    function = "of the to a by with for in on".split()
    joins = [", ", "; ", " \u2014 ", " \u2192 ", " and ", " but ", " or "]
    for _ in range(300):
        clauses = [" ".join(rng.choice(content + function) for _ in range(rng.randint(2, 12)))
                   + " " + rng.choice(content) for _ in range(rng.randint(1, 4))]
        sentence = "The " + "".join(c + (rng.choice(joins) if i < len(clauses) - 1 else "")
                                    for i, c in enumerate(clauses)) + ". Then more."
        cut = clause_cut(sentence, max_words)
        if cut.endswith("..."):  # only where no clause ends in time, at a content word
            words = sentence.split()
            ends = [i + 1 for i, w in enumerate(words[:-1])
                    if (w[-1] in ",;" or words[i + 1] in ("\u2014", "\u2192", "and", "but", "or"))
                    and w.strip(",;") not in _DANGLING]
            assert not [n for n in ends if 4 <= n <= max_words + max_words // 2], (sentence, cut)
            assert len(cut.split()) <= max_words and cut.split()[-1] not in _DANGLING
            continue
        assert quote_problems(cut, sentence) == [], (sentence, cut)
        assert len(cut.split()) <= max_words + max_words // 2 or cut == sentence.split(".")[0]


def test_clause_cut_prefers_the_whole_sentence_or_a_clause_to_a_word_cut():
    killed = ("83 people killed and the government has not publicly identified one of them or "
              "shown what was on a single boat. That's not interdiction.")
    assert clause_cut(killed, 14) == killed.split(".")[0]  # 21 words: fits half as many again
    assert clause_cut(killed, 10) == ("83 people killed and the government has not publicly "
                                      "identified one of them")  # before "or", not "... or..."
    terror = ('Terror designation of a "cartel" the government says is run by a head of state '
              '\u2192 strikes \u2192 "no plan to target him right now". The playbook is not subtle.')
    assert clause_cut(terror, 14) == ('Terror designation of a "cartel" the government says is '
                                      'run by a head of state')
    # Never a dangling function word, even where a clause mark follows one.
    assert clause_cut("We have seen the strikes on boats of, frankly, every kind in the "
                      "Caribbean this autumn without any vote at all in Congress.", 8) \
        == "We have seen the strikes on boats of, frankly"
    # Only with no boundary at all is a sentence cut at a word, and not after "of".
    words = " ".join(["boats"] * 13 + ["of", "state"] * 10)
    assert clause_cut(words, 14) == " ".join(["boats"] * 13) + "..."


def test_quotes_start_at_a_sentence_or_clause_start():
    note = ('Style note for the desk: "suspected" drug boats, and attribute the call story to '
            "Axios. No date or agenda has been made public.")
    assert clause_cut(note, 14) == note.split(".")[0]  # not "suspected drug boats, and ..."
    assert clean_phrase(note).startswith("Style note for the desk")
    lead_in = "I will say it now: the boats are legit targets and the call is smart, honestly."
    assert clause_cut(lead_in, 11) == "the boats are legit targets and the call is smart, honestly"


def test_keyphrases_never_cut_a_name_and_keep_mid_sentence_spelling():
    texts = ["Cartel de los Soles designation should have happened under the last admin.",
             "The Cartel de los Soles designation is correct and long overdue.",
             "Good. Cartel de los Soles designation, finally, and the Federal Register has it.",
             "Blowing up boats works. They keep blowing up boats and it works.",
             "Blowing up boats is the message."]
    other = ["The call is a mistake.", "A call now is a mistake.", "The call is fine."]
    phrases = [p for group in keyphrases_per_theme([texts, other], top=8) for p in group]
    assert phrases and "Soles designation" not in phrases
    for phrase in phrases:
        post = next(t for t in texts + other if phrase.lower() in t.lower())
        assert not [p for t in texts + other if phrase in t
                    for p in quote_problems(phrase, t, clause=False)], phrase
        assert phrase in " ".join(texts + other), (phrase, post)  # as written somewhere
    assert "blowing up boats" in phrases  # as written mid-sentence, not "Blowing up boats"


def _planted_evidence(opening, themes):
    """Supporters' evidence with these themes (phrase lead text, keyphrases, member texts),
    and `opening` as the story's most used phrases."""
    story = Story(slug="p", title="Boats", claim="The strikes are right.")
    posts, built = [], []
    for lead, keyphrases, members in themes:
        group = [Post("bluesky", str(len(posts) + i), t, id=len(posts) + i,
                      url=f"https://b/{len(posts) + i}") for i, t in enumerate([lead, *members])]
        posts += group
        built.append(ThemeEvidence(phrase=clean_phrase(lead), size=len(group),
                                   post_ids=[p.id for p in group], quotes=group[:1],
                                   keyphrases=keyphrases, members=group))
    buckets = {b: BucketEvidence(b, 0, 0.0) for b in ("supporters", "skeptics", "neutral")}
    buckets["supporters"] = BucketEvidence("supporters", len(posts), 1.0,
                                           [p.id for p in posts], posts[:1], built, posts=posts,
                                           percent=100)
    topic_posts = [next(p for p in posts if t in p.text) for t in opening]
    return Evidence(story, len(posts), 0, ["bluesky"], buckets, {"bluesky": len(posts)},
                    topic_phrases=list(opening), topic_posts=topic_posts), posts


def test_brief_names_no_name_the_opening_used_and_quotes_read_whole():
    evidence, posts = _planted_evidence(["President Maduro"], [
        ("The strikes are the reason Maduro would pick up the phone. Leverage.", [], []),
        ("The Maduro regime only understands force, and President Maduro knows it.",
         ["Maduro regime", "Peace through strength"],
         ["Peace through strength, then the call.", "Peace through strength works."]),
        ("83 people killed and the government has not publicly identified one of them or shown "
         "what was on a single boat, and nobody in Congress has asked.", ["single boat"],
         ["Not one single boat was shown.", "A single boat, no evidence."]),
    ])
    text_of = {p.id: p.text for p in posts}
    written = TemplateWriter("brief").write(evidence)
    supporters = next(s for s in written.sentences if s.bucket == "supporters")
    assert "Maduro regime" not in supporters.text  # "Maduro": the opening said it
    assert supporters.text.startswith("Supporters point to \u201cPeace through strength\u201d")
    for sentence in [*written.sentences, *written.evidence]:
        for quote, pid in zip(sentence.quotes, sentence.post_ids):
            assert quote_problems(quote, text_of[pid], clause=len(quote.split()) > 4) == []
    killed = next(q for s in written.evidence for q in s.quotes if q.startswith("83"))
    # too long whole (27 words): the longest run of clauses within the budget, before "or"
    assert killed == "83 people killed and the government has not publicly identified one of them"


def test_brief_names_no_keyphrase_only_a_few_of_its_theme_use():
    """Two posts of a large theme (a sarcastic pair the classifier misread) do not make its
    point; a keyphrase most of the theme's posts use does."""
    point = ("The strikes are the reason Maduro would pick up the phone.", [], [])
    members = [f"Sink the narco boats first, then talk, day {i}." for i in range(18)]
    few = ["Imagine blowing up boats and calling it policy.", "They keep blowing up boats."]
    evidence, _ = _planted_evidence(["pick up the phone"], [point, (
        "Sink the narco boats first, then talk.", ["blowing up boats", "narco boats first"],
        few + members)])
    supporters = next(s for s in TemplateWriter("brief").write(evidence).sentences
                      if s.bucket == "supporters")
    assert "blowing up boats" not in supporters.text
    assert "\u201cnarco boats first\u201d" in supporters.text
