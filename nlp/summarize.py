"""The "What people are saying" paragraph: evidence per bucket, and writers that turn it into prose.

Evidence comes first: per bucket (supporters, skeptics, neutral) the post count (reposts
and near-duplicates counted in the totals, once in the themes), share, change against the
previous window, the main themes (`nlp.themes`) with their representative posts, and the
platforms. Writers share one interface, `write(evidence) -> Written`:

- `TemplateWriter` (default and fallback): deterministic sentences in the seed article's
  shape, every number computed and every quote a real post.
- `OpenAIWriter` and `LocalWriter` (`nlp.writers`): a chat model writes one bucket at a
  time from that bucket's evidence only. Every sentence it writes is checked by
  `check_sentence` (one bucket, numbers equal to the computed ones, content supported by
  that bucket's posts); a failing sentence is replaced by the template's and the
  replacement recorded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from reactions.models import BUCKETS, UNCLASSIFIED, Post, StancePrediction, Story

PLATFORM_NAMES = {
    "bluesky": "Bluesky", "mastodon": "Mastodon", "reddit": "Reddit", "hackernews": "Hacker News",
    "x": "X", "youtube": "YouTube", "rss": "news sites",
}
#: Posts read from a file (`import`, `summarize-file`) name no place they were posted.
IMPORTED = "file"
#: How each bucket is named at the start of its sentence, and the verb that introduces its points.
LABELS = {"supporters": ("Supporters", "argue"), "skeptics": ("Skeptics", "counter"),
          "neutral": ("Neutral posts", "relay")}
ADJECTIVES = {"supporters": "supportive", "skeptics": "skeptical", "neutral": "neutral"}
THEMES_PER_SENTENCE = 2
_ARTICLES = frozenset({"The", "A", "An", "This", "These", "That", "Those"})


@dataclass
class ThemeEvidence:
    """A point several posts of one bucket make (sizes count each original post once).

    `phrase` is cut from `quotes[0]` (the theme's lead), so quoting it cites that post;
    `keyphrases` are word sequences as written in some member post (`members`).
    """

    phrase: str
    size: int
    post_ids: list[int]
    quotes: list[Post]
    keywords: list[str] = field(default_factory=list)
    reposts: int = 0
    keyphrases: list[str] = field(default_factory=list)
    members: list[Post] = field(default_factory=list)


@dataclass
class BucketEvidence:
    bucket: str
    count: int  # every post, reposts included
    share: float  # of classified posts
    post_ids: list[int] = field(default_factory=list)
    quotes: list[Post] = field(default_factory=list)
    themes: list[ThemeEvidence] = field(default_factory=list)
    reposts: int = 0  # of `count`, how many repeat another post
    previous: int | None = None  # count in the previous window of the same length
    previous_share: float | None = None
    posts: list[Post] = field(default_factory=list)  # every post, for grounding checks
    percent: int = 0  # share in whole percent, rounded so the buckets' percents sum to 100

    @property
    def unique(self) -> int:
        return self.count - self.reposts

    @property
    def change(self) -> int | None:
        """Change of the share against the previous window, in percentage points."""
        if self.previous_share is None:
            return None
        return self.percent - round(100 * self.previous_share)


@dataclass
class Evidence:
    story: Story
    total: int
    unclassified: int
    platforms: list[str]
    buckets: dict[str, BucketEvidence]
    platform_counts: dict[str, int] = field(default_factory=dict)
    window: timedelta | None = None
    window_end: datetime | None = None
    #: The period the posts cover: the window's start, or (all time) the first post's time.
    period_start: datetime | None = None
    #: Word sequences the story's posts use most, as written in `topic_posts[i]`.
    topic_phrases: list[str] = field(default_factory=list)
    topic_posts: list[Post] = field(default_factory=list)
    #: Post id -> embedding (from the encoder named `encoder`), for the support check.
    vectors: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    encoder: str | None = None

    @property
    def classified(self) -> int:
        return sum(b.count for b in self.buckets.values())

    @property
    def period(self) -> str:
        """The period in words: "In the last 24 hours", "Since Nov 24", "So far"."""
        return describe_period(self.window, self.period_start, self.window_end)


@dataclass
class Sentence:
    """One sentence of the paragraph (or line of the evidence block).

    `post_ids` are the posts it cites, in order; when `quotes` is given, `quotes[i]` is a
    span of the sentence's text (shown in quotation marks) taken from post `post_ids[i]`.
    """

    text: str
    bucket: str | None
    post_ids: list[int]
    urls: list[str]
    quotes: list[str] = field(default_factory=list)


@dataclass
class Written:
    paragraph: str
    sentences: list[Sentence]
    writer: str
    replaced: list[dict[str, Any]] = field(default_factory=list)
    #: Counts, shares and quotes per bucket, after the paragraph (shown as its evidence).
    evidence: list[Sentence] = field(default_factory=list)
    style: str = "brief"
    period: str = ""


def engagement(post: Post) -> int:
    return post.likes + 2 * post.reposts + post.replies


def largest_remainder(counts: dict[str, int]) -> dict[str, int]:
    """Whole percents of the counts that sum to exactly 100 (Hamilton's method); all 0 if empty."""
    total = sum(counts.values())
    if not total:
        return {k: 0 for k in counts}
    exact = {k: 100 * v / total for k, v in counts.items()}
    out = {k: int(v) for k, v in exact.items()}
    order = sorted(counts, key=lambda k: (-(exact[k] - out[k]), -counts[k], list(counts).index(k)))
    for k in order[: 100 - sum(out.values())]:
        out[k] += 1
    return out


def build_evidence(
    story: Story, items: Sequence[tuple[Post, StancePrediction]], *,
    embeddings: dict[int, np.ndarray] | None = None, encoder: str | None = None,
    points: dict[int, np.ndarray] | None = None,
    previous: dict[str, int] | None = None, window: timedelta | None = None,
    window_end: datetime | None = None, quotes_per_bucket: int = 3,
) -> Evidence:
    """Counts, shares, change, themes and representative posts per bucket.

    `embeddings` (post id -> vector from the encoder named `encoder`) enables themes; a
    bucket's posts without a vector are counted but not clustered. `points` (post id ->
    vector from the theme encoder, `nlp.theme_encoder`) is where a bucket's themes are found
    when each of its clustered posts has one. `previous` holds the
    bucket counts of the previous window of the same length, for the change. Posts the
    classifier flagged for review never lead a theme nor are quoted for their bucket.
    """
    from nlp.themes import MIN_SIZE, extract_themes, keyphrases_per_theme

    by_bucket: dict[str, list[Post]] = {b: [] for b in BUCKETS}
    unsure: set[int] = set()
    unclassified = 0
    platforms: dict[str, int] = {}
    for post, prediction in items:
        platforms[post.platform] = platforms.get(post.platform, 0) + 1
        if prediction.label in by_bucket:
            by_bucket[prediction.label].append(post)
            if prediction.needs_review:
                unsure.add(id(post))
        else:
            unclassified += 1
    # Same posts, same order, whatever order the store returned them in: same themes.
    for posts in by_bucket.values():
        posts.sort(key=lambda p: (p.id is None, p.id or 0, p.native_id))
    background = [p.text for b in BUCKETS for p in by_bucket[b] if p.duplicate_of is None]
    classified = sum(len(v) for v in by_bucket.values())
    percents = largest_remainder({b: len(v) for b, v in by_bucket.items()})
    previous_total = sum(previous.get(b, 0) for b in BUCKETS) if previous else 0
    buckets = {}
    for bucket, posts in by_bucket.items():
        originals = [p for p in posts if p.duplicate_of is None]
        repeats: dict[int, int] = {}
        for p in posts:
            if p.duplicate_of is not None:
                repeats[p.duplicate_of] = repeats.get(p.duplicate_of, 0) + 1
        sure = [p for p in originals if id(p) not in unsure]
        quotes = sorted(sure, key=lambda p: (-(engagement(p) + repeats.get(p.id, 0)),
                                             p.id or 0))[:quotes_per_bucket]
        evidence = BucketEvidence(
            bucket=bucket, count=len(posts), share=len(posts) / classified if classified else 0.0,
            post_ids=[p.id for p in posts if p.id is not None], quotes=quotes,
            reposts=len(posts) - len(originals), posts=posts, percent=percents[bucket],
        )
        if previous is not None:
            evidence.previous = previous.get(bucket, 0)
            evidence.previous_share = (evidence.previous / previous_total if previous_total
                                       else None)
        with_vectors = [p for p in originals if embeddings and p.id in embeddings]
        if embeddings and len(with_vectors) >= MIN_SIZE:
            themes = extract_themes(
                [p.text for p in with_vectors], np.stack([embeddings[p.id] for p in with_vectors]),
                points=(np.stack([points[p.id] for p in with_vectors])
                        if points and all(p.id in points for p in with_vectors) else None),
                engagement=[engagement(p) + repeats.get(p.id, 0) for p in with_vectors],
                encoder=encoder, confident=[id(p) not in unsure for p in with_vectors],
                background=background,
            )
            for theme in themes:
                if not theme.representatives:
                    continue  # only posts the classifier is unsure of: nothing to quote
                members = [with_vectors[i] for i in theme.members]
                evidence.themes.append(ThemeEvidence(
                    phrase=theme.phrase, size=theme.size,
                    post_ids=[p.id for p in members],
                    quotes=[with_vectors[i] for i in theme.representatives],
                    keywords=theme.keywords, keyphrases=theme.keyphrases,
                    reposts=sum(repeats.get(p.id, 0) for p in members),
                    members=[p for p in members if id(p) not in unsure],
                ))
        buckets[bucket] = evidence
    ordered = sorted(platforms, key=lambda name: (-platforms[name], name))
    classified_originals = [p for b in BUCKETS for p in by_bucket[b]
                            if p.duplicate_of is None and id(p) not in unsure]
    topic = keyphrases_per_theme([[p.text for p in classified_originals]], top=2,
                                 min_posts=2)[0]
    topic_posts = [_find_post(phrase, classified_originals) for phrase in topic]
    times = [p.created_at for p, _ in items if p.created_at is not None]
    start = (window_end - window if window is not None and window_end is not None
             else min(times) if times else None)
    return Evidence(story, len(items), unclassified, ordered, buckets, platforms, window,
                    window_end, start, [t for t, p in zip(topic, topic_posts) if p],
                    [p for p in topic_posts if p], dict(embeddings or {}), encoder)


def _find_post(phrase: str, posts: Sequence[Post]) -> Post | None:
    """The first post whose text holds the phrase as written (spacing aside), else the first
    that holds it with case and punctuation aside too."""
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split())) + r"(?!\w)")
    exact = next((p for p in posts if pattern.search(p.text)), None)
    if exact is not None:
        return exact
    key = f" {_normal(phrase)} "
    return next((p for p in posts if key in f" {_normal(p.text)} "), None)


# -- the template writer -----------------------------------------------------------------


def _join(names: Sequence[str], word: str = "and") -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {word} " + names[-1]


def _plural(n: int, noun: str = "post") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def describe_window(window: timedelta) -> str:
    """'6 hours', '2 days', '1 week', '30 minutes'."""
    seconds = int(window.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"


def _day(when: datetime, year: bool) -> str:
    return f"{when:%b} {when.day}" + (f", {when.year}" if year else "")


def describe_period(window: timedelta | None, start: datetime | None,
                    end: datetime | None) -> str:
    """A summary's period in words, to open its paragraph.

    A sliding window reads "In the last 24 hours"; all time reads "Since Nov 24" (the first
    post's day; the year is added when the end falls in another year), or "So far".
    """
    if window == timedelta(days=1):
        return "In the last 24 hours"
    if window is not None:
        span = describe_window(window)
        return f"In the last {span.removeprefix('1 ')}"  # "the last hour", "the last 6 hours"
    if start is None:
        return "So far"
    return f"Since {_day(start, end is not None and end.year != start.year)}"


def _quote(text: str) -> str:
    """A post's words as a quotation: straight double quotes inside become single ones."""
    return text.replace('"', "'").replace("\u201c", "'").replace("\u201d", "'")


def _short_quote(text: str, limit: int = 20) -> str:
    """A post's first sentence, cut at a clause boundary to at most `limit` words."""
    from nlp.themes import clean_phrase

    return _quote(clean_phrase(text, limit))


def _end(text: str) -> str:
    """The sentence closed with one full stop (none added after "!", "?" or "...", nor after
    a quotation that ends with one inside its own quotation marks: 'planning stages.'")."""
    text = text.rstrip()
    return text if re.search(r"[.!?]['\u2019\"\u201d]*$", text) else text + "."


def bucket_stats(b: BucketEvidence, window: timedelta | None) -> str:
    """'12 posts, 3 of them reposts, 40%, up 5 points on the previous 6 hours'."""
    parts = [_plural(b.count)]
    if b.reposts:
        parts.append(f"{b.reposts} of them {'a repost' if b.reposts == 1 else 'reposts'}")
    parts.append(f"{b.percent}%")
    change = b.change
    if change is not None and window is not None:
        span = describe_window(window)
        if change == 0:
            parts.append(f"unchanged on the previous {span}")
        else:
            direction = "up" if change > 0 else "down"
            parts.append(f"{direction} {_plural(abs(change), 'point')} on the previous {span}")
    return ", ".join(parts)


class _Cited:
    """Builds one sentence's text while recording each quoted span and the post it cites."""

    def __init__(self) -> None:
        self.quotes: list[str] = []
        self.posts: list[Post] = []

    def quote(self, span: str, post: Post) -> str:
        self.quotes.append(span)
        self.posts.append(post)
        return f"\u201c{span}\u201d"

    def sentence(self, text: str, bucket: str | None) -> Sentence:
        return Sentence(text, bucket, [p.id for p in self.posts],
                        [p.url or "" for p in self.posts], list(self.quotes))


#: Brief style: how each bucket's sentence names its points by keyphrase alone.
BRIEF_VERBS = {"supporters": ("Supporters", "stress"), "skeptics": ("Skeptics", "raise"),
               "neutral": ("Neutral posts", "relay")}
#: Brief style: how a bucket's sentence states its main point (a clause quoted from a post),
#: and how it names a second point by keyphrase first: "Supporters point to "..." and argue
#: that "..."" (or "argue: "The ..."" when the quote opens with a word written in capitals
#: only because it starts a sentence: quotes stay exactly as written).
CLAIM_VERBS = {"supporters": ("argue", "point to"), "skeptics": ("counter", "raise"),
               "neutral": ("report", "mention")}
#: The brief paragraph's length limit, in words.
BRIEF_WORDS = 80
#: A keyphrase names a theme's point in the brief only when at least this share of the
#: theme's posts (and at least two) use it: two posts of 26 saying "blowing up boats" (both
#: sarcastic, the classifier wrong about them) do not make it the supporters' point.
KEYPHRASE_SHARE = 0.1
#: A source's name before a colon ("Axios: Trump has told advisers..."), dropped from a point.
_LEAD_IN = re.compile(r"^(?:[A-Z][\w.'’&-]*\s?){1,3}:\s+")
#: Words written with a capital only because they start a sentence, whatever the posts do
#: elsewhere ("in The Atlantic"): a quote opening with one follows a colon.
_SENTENCE_STARTERS = frozenset("The A An This These That Those There It They We".split())


def _reads_mid_sentence(word: str, texts: Sequence[str]) -> bool:
    """Whether a quote opening with `word` reads after "that": it starts lower case or with
    a digit, is "I" or an acronym, or is a name (the posts write it capitalised mid-sentence:
    "Trump", not "Say" or "The")."""
    word = word.strip("\"'\u201c\u201d\u2018\u2019(")
    if word in _SENTENCE_STARTERS:
        return False
    if not word or not word[0].isupper() or word == "I" or (len(word) > 1 and word.isupper()):
        return True
    pattern = re.compile(r"[\w,]\s+" + re.escape(word) + r"\b")
    return any(pattern.search(t) for t in texts)


def stated_point(text: str, max_words: int = 14) -> str | None:
    """The point a post states, as a quotable clause of at most `max_words` words, or None.

    The post's first sentence (links and a leading "Source:" dropped), or its first clauses
    up to a clause boundary (`nlp.text.clause_cuts`) when the sentence is longer. None for
    a question, a span with no finite verb (a headline-like fragment), or one with an ellipsis or an odd
    quotation mark: such spans do not read after "argue that".
    """
    from nlp.text import FINITE_WORDS, clause_cuts, split_sentences
    from nlp.themes import strip_links

    sentences = split_sentences(strip_links(text))
    if not sentences:
        return None
    first = _LEAD_IN.sub("", sentences[0], count=1)
    if first.rstrip().endswith("?"):
        return None
    span = first.rstrip(" .!;:,—–-")
    if len(span.split()) > max_words:
        cuts = [c for c in clause_cuts(first) if 5 <= len(c.split()) <= max_words]
        if not cuts:
            return None
        span = cuts[-1]
    words = span.split()
    lowered = {w.lower().strip(".,;:!\"'’“”()") for w in words}
    if (len(words) < 4 or "..." in span or "…" in span or span.count('"') % 2
            or span.count("“") != span.count("”") or not lowered & FINITE_WORDS):
        return None
    return _quote(span)


STYLES = ("brief", "detailed")


class TemplateWriter:
    """Deterministic sentences from the evidence alone, every quote cited to its post.

    `style="brief"` (the default) writes the seed article's shape: an opening with the
    period, platforms and what the posts talk about most, then one sentence per bucket
    naming its main points by their keyphrases, no counts. `style="detailed"` is quote-led
    with counts in the prose. Either way the counts, shares and quotes follow as evidence.
    """

    name = "template"

    def __init__(self, style: str = "brief") -> None:
        if style not in STYLES:
            raise ValueError(f"unknown summary style {style!r}; known: {', '.join(STYLES)}")
        self.style = style

    def opening(self, evidence: Evidence) -> Sentence:
        shown = evidence.platforms[:4]
        places = _join([PLATFORM_NAMES.get(p, p) for p in shown if p != IMPORTED])
        who = (f"posts on {places} and imported posts" if places and IMPORTED in shown
               else f"posts on {places}" if places else "the imported posts")
        cited = _Cited()
        if evidence.topic_phrases:
            topics = _join([cited.quote(t, p) for t, p in
                            zip(evidence.topic_phrases, evidence.topic_posts)])
            text = f"{evidence.period}, {who} have centred on {topics}."
        else:
            text = f"{evidence.period}, {who} have reacted to the story."
        return cited.sentence(text, None)

    def brief_sentence(self, evidence: Evidence, bucket: str, max_words: int = 14,
                       second: bool = True) -> Sentence:
        """One sentence naming the bucket's main points, no counts: its main point stated as
        a clause quoted from a theme's lead ("Supporters argue that "..."") and, with
        `second`, another theme's keyphrase before it ("Supporters point to "..." and
        argue that "...""); with no such clause, two keyphrases."""
        b = evidence.buckets[bucket]
        label, _ = BRIEF_VERBS[bucket]
        claim_verb, keyphrase_verb = CLAIM_VERBS[bucket]
        cited = _Cited()
        used = list(evidence.topic_phrases)  # said in the opening already
        themes = b.themes[:THEMES_PER_SENTENCE + 1]
        for index, theme in enumerate(themes):
            # Only the theme's representatives (posts the classifier is sure of) speak for it.
            point = next(((span, post) for post in theme.quotes
                          if (span := stated_point(post.text, max_words))), None)
            if point is None:
                continue
            extra = (self._keyphrase(themes[:index] + themes[index + 1:], used, cited)
                     if second else None)
            texts = [p.text for t in b.themes for p in t.members]
            said = (f"{claim_verb} that " if _reads_mid_sentence(point[0].split()[0], texts)
                    else f"{claim_verb}: ")
            text = (f"{label} {keyphrase_verb} {extra} and {said}" if extra
                    else f"{label} {said}")
            return cited.sentence(_end(text + cited.quote(*point)), bucket)
        return self.keyphrase_sentence(evidence, bucket)

    @staticmethod
    def _keyphrase(themes: Sequence[ThemeEvidence], used: list[str], cited: _Cited) -> str | None:
        """The first keyphrase of these themes not said already (nor naming a name said
        already: "Soles" after "Cartel de los Soles"), quoted and cited. `used` holds the
        phrases said, as written."""
        said = {_normal(u) for u in used}
        names = {w for u in used for w in _names(u)}
        for theme in themes:
            texts = [f" {_normal(p.text)} " for p in theme.members]
            needed = max(2, math.ceil(KEYPHRASE_SHARE * len(texts)))
            for phrase in theme.keyphrases:
                key = _normal(phrase)
                if any(key in u or u in key for u in said) or _names(phrase) & names:
                    continue
                if sum(f" {key} " in t for t in texts) < needed:
                    continue  # a few posts' words, not the theme's point
                post = _find_post(phrase, theme.members)
                if post is not None:
                    used.append(phrase)
                    return cited.quote(phrase, post)
        return None

    def keyphrase_sentence(self, evidence: Evidence, bucket: str) -> Sentence:
        """One sentence naming the bucket's main points by keyphrase (no counts)."""
        b = evidence.buckets[bucket]
        label, verb = BRIEF_VERBS[bucket]
        cited = _Cited()
        points: list[str] = []
        used = list(evidence.topic_phrases)  # said in the opening already
        for theme in b.themes[:THEMES_PER_SENTENCE + 1]:
            point = self._keyphrase([theme], used, cited)
            if point:
                points.append(point)
            if len(points) == THEMES_PER_SENTENCE:
                break
        if points:
            return cited.sentence(f"{label} {verb} {_join(points)}.", bucket)
        if b.quotes:
            span = _short_quote(b.quotes[0].text, 12)
            return cited.sentence(_end(f"{label} say, for example, {cited.quote(span, b.quotes[0])}"),
                                  bucket)
        return cited.sentence(f"{label} make no point that several of them share.", bucket)

    def bucket_sentence(self, evidence: Evidence, bucket: str) -> Sentence:
        """The detailed style's sentence: counts, shares, and each theme's lead quoted."""
        b = evidence.buckets[bucket]
        label, verb = LABELS[bucket]
        stats = bucket_stats(b, evidence.window)
        cited = _Cited()
        if b.themes:
            points = [f"{cited.quote(_quote(theme.phrase), theme.quotes[0])} "
                      f"({_plural(theme.size)})" for theme in b.themes[:THEMES_PER_SENTENCE]]
            text = f"{label} ({stats}) {verb} {_join(points)}."
        elif b.quotes:
            text = _end(f"{label} ({stats}) {verb}, for example, "
                        f"{cited.quote(_short_quote(b.quotes[0].text), b.quotes[0])}")
        else:
            text = f"{label} account for {stats}."
        return cited.sentence(text, bucket)

    def evidence_lines(self, evidence: Evidence) -> list[Sentence]:
        """Per bucket: count, share, reposts, change, and each theme's lead quote with its size."""
        lines = []
        for bucket in BUCKETS:
            b = evidence.buckets[bucket]
            if not b.count:
                continue
            label, _ = LABELS[bucket]
            cited = _Cited()
            text = f"{label}: {bucket_stats(b, evidence.window)}"
            points = [f"{cited.quote(_quote(t.phrase), t.quotes[0])} ({_plural(t.size)})"
                      for t in b.themes]
            if not points and b.quotes:
                points = [cited.quote(_short_quote(p.text), p) for p in b.quotes[:2]]
            if points:
                text += ". " + "; ".join(points)
            lines.append(cited.sentence(_end(text), bucket))
        if evidence.unclassified:
            lines.append(Sentence(
                f"Not classified: {_plural(evidence.unclassified)} (another language or no text).",
                UNCLASSIFIED, [], []))
        return lines

    def closing(self, evidence: Evidence) -> list[Sentence]:
        sentences = []
        missing = [ADJECTIVES[b] for b in BUCKETS if not evidence.buckets[b].count]
        if evidence.classified and missing:
            sentences.append(Sentence(f"No {_join(missing, 'or')} posts so far.", None, [], []))
        if evidence.unclassified and self.style == "detailed":
            n = evidence.unclassified
            sentences.append(Sentence(
                f"{n} more {'post was' if n == 1 else 'posts were'} not classified "
                "(another language or no text).", UNCLASSIFIED, [], []))
        return sentences

    def sentence_for(self, evidence: Evidence, bucket: str) -> Sentence:
        return (self.brief_sentence(evidence, bucket) if self.style == "brief"
                else self.bucket_sentence(evidence, bucket))

    def write(self, evidence: Evidence) -> Written:
        if evidence.total == 0:
            title = evidence.story.title.rstrip(". ")
            text = (f"No posts about \u201c{title}\u201d in the last {describe_window(evidence.window).removeprefix('1 ')}."
                    if evidence.window else
                    f"No posts about \u201c{title}\u201d have been collected yet.")
            return Written(text, [Sentence(text, None, [], [])], self.name, style=self.style,
                           period=evidence.period)
        sentences = [self.opening(evidence)]
        buckets = [b for b in BUCKETS if evidence.buckets[b].count]
        if self.style == "brief":
            # Shorter points, or no second point, until the paragraph fits the limit; of the
            # ways that fit, the one stating the most buckets' main points as clauses (a
            # bucket's point matters more than a second keyphrase), the first on a tie.
            fitting = []
            for max_words, second in ((14, True), (10, True), (14, False), (8, False)):
                said = [self.brief_sentence(evidence, b, max_words, second) for b in buckets]
                if _words(sentences + said + self.closing(evidence)) <= BRIEF_WORDS:
                    fitting.append(said)
                    if all(map(_states_point, said)):
                        break  # no later shape can state more buckets' points
            said = (max(fitting, key=lambda option: sum(map(_states_point, option)))
                    if fitting else said)
            sentences += said
        else:
            sentences += [self.bucket_sentence(evidence, b) for b in buckets]
        sentences += self.closing(evidence)
        return Written(" ".join(s.text for s in sentences), sentences, self.name,
                       evidence=self.evidence_lines(evidence), style=self.style,
                       period=evidence.period)


def _states_point(sentence: Sentence) -> bool:
    """Whether a brief bucket sentence states its point as a quoted clause ("Skeptics counter
    that ..."), not by keyphrases alone."""
    verb = CLAIM_VERBS.get(sentence.bucket or "", ("",))[0]
    said = re.sub("\u201c[^\u201d]*\u201d", "", sentence.text)
    return bool(verb) and re.search(rf"\b{verb}\b", said) is not None


def _words(sentences: Sequence[Sentence]) -> int:
    return sum(len(s.text.split()) for s in sentences)


def citations(written: Written) -> list[dict[str, Any]]:
    """Every cited post once, numbered in order of first citation across the paragraph and
    then the evidence block: [{"n", "post_id", "url"}]."""
    numbers: dict[int, dict[str, Any]] = {}
    for sentence in [*written.sentences, *written.evidence]:
        for pid, url in zip(sentence.post_ids, sentence.urls or [""] * len(sentence.post_ids)):
            if pid is not None and pid not in numbers:
                numbers[pid] = {"n": len(numbers) + 1, "post_id": pid, "url": url or None}
    return list(numbers.values())


# -- grounding ---------------------------------------------------------------------------

_BUCKET_WORDS = {
    "supporters": re.compile(r"\b(supporters?|supportive|backers?|proponents?|advocates?|"
                             r"in favou?r)\b", re.I),
    "skeptics": re.compile(r"\b(s[ck]eptic(s|al)?|critics?|opponents?|doubters?|detractors?)\b",
                           re.I),
    "neutral": re.compile(r"\b(neutral|undecided)\b", re.I),
}
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{3,}?)[\"\u201d]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(\s*(?:%|percent\b|per cent\b|points?\b))?", re.I)
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_WORD = re.compile(r"[a-z][a-z'-]+")
#: Words a summary sentence may use without any post saying them.
_FRAME_WORDS = frozenset("""
supporters supporter supportive skeptics skeptic skeptical sceptics critics critic neutral posts
post users people commenters many most some several few others other mostly mainly largely
argue argues argued argument arguments say says said saying claim claims think believe view
views viewing see seeing sees point points noting note notes suggest suggests suggesting
counter counters relay relays report reports reporting share shares sharing percent per cent
cent also while whereas though although however meanwhile instead rather simply just still
express expressing expressed voice voicing concern concerns praise praising welcome welcoming
call calling question questioning dismiss dismissing worry worried warn warning reposts repost
including include includes among group discussions discussion conversation online overall
back backing push pushing push back reject rejecting doubt doubts doubting highlight
highlighting account accounts example examples previous hours hour days day weeks week
minutes minute window unchanged
""".split())


def _stem(word: str) -> str:
    for suffix in ("ing", "ers", "ies", "ied", "es", "ed", "er", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = [w.removesuffix("'s").strip("'-") for w in _WORD.findall(text.lower().replace("\u2019", "'"))]
    return [w for w in words if len(w) > 2 and w not in ENGLISH_STOP_WORDS
            and w not in _FRAME_WORDS]


def _names(phrase: str) -> set[str]:
    """The capitalised words of a phrase that are not stop words, lower-cased: its names."""
    from nlp.themes import _TOKEN, is_name_word

    return {t.lower() for t in _TOKEN.findall(phrase) if is_name_word(t)}


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def allowed_numbers(evidence: Evidence, bucket: str) -> tuple[set[int], set[int]]:
    """(counts, percentages) a sentence about this bucket may state."""
    b = evidence.buckets[bucket]
    counts = {b.count, b.unique, b.reposts, evidence.classified, evidence.total}
    percents = {b.percent, round(100 * b.share)}
    for theme in b.themes:
        counts |= {theme.size, theme.size + theme.reposts}
        if b.unique:
            percents.add(round(100 * theme.size / b.unique))
    if b.previous is not None:
        counts.add(b.previous)
    if b.change is not None:
        percents.add(abs(b.change))
        counts.add(abs(b.change))
    if evidence.window is not None:  # "the previous 6 hours"
        counts.add(int(describe_window(evidence.window).split()[0]))
    return counts, percents


@dataclass
class Check:
    """The verdict on one sentence: why it fails (empty when it passes) and what supports it."""

    reasons: list[str]
    post_ids: list[int]

    @property
    def ok(self) -> bool:
        return not self.reasons


def check_sentence(text: str, bucket: str, evidence: Evidence, *, min_support: float = 0.6) -> Check:
    """Is this sentence about `bucket` grounded in that bucket's evidence?

    It must mention no other bucket, state only numbers equal to computed ones, quote only
    what a post of the bucket says, and at least `min_support` of its content words must
    occur in the bucket's posts or the story's title (never words of the claim alone, so a
    model cannot put the claim in a skeptic's mouth).
    """
    b = evidence.buckets[bucket]
    reasons = []
    posts = b.posts
    normal_posts = [_normal(p.text) for p in posts]
    quotes = _QUOTED.findall(text)
    for quote in quotes:
        q = _normal(quote.rstrip(". "))
        if q and not any(q in n for n in normal_posts):
            reasons.append(f"quote not found in the {bucket}' posts: {quote[:60]!r}")
    rest = _QUOTED.sub(" ", text)
    for other, pattern in _BUCKET_WORDS.items():
        if other != bucket and pattern.search(rest):
            reasons.append(f"mentions another bucket ({other})")
    counts, percents = allowed_numbers(evidence, bucket)
    for match in _NUMBER.finditer(rest):
        value = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "").strip().lower()
        allowed = percents if unit else counts
        if value != int(value) or int(value) not in allowed:
            reasons.append(f"number {match.group(0).strip()!r} is not a computed figure")
    for match in _NUMBER_WORD.finditer(rest):
        if match.group(1).lower() == "one":  # "one of them", "no one": mostly not a count
            continue
        if _NUMBER_WORDS[match.group(1).lower()] not in counts:
            reasons.append(f"number {match.group(1)!r} is not a computed figure")
    words = _content_words(rest)
    vocabulary: dict[str, set[int]] = {}
    for post in posts:
        for word in _content_words(post.text):
            vocabulary.setdefault(_stem(word), set()).add(post.id)
    title_words = {_stem(w) for w in _content_words(evidence.story.title)}
    title_words -= {_stem(w) for w in _content_words(evidence.story.claim)}
    support: dict[int, int] = {}
    unsupported = []
    for word in words:
        stem = _stem(word)
        if stem in vocabulary:
            for pid in vocabulary[stem]:
                support[pid] = support.get(pid, 0) + 1
        elif stem not in title_words:  # the topic, but never the claim: a model must not
            unsupported.append(word)   # put "the claim is right" in a skeptic's mouth
    if words and (len(words) - len(unsupported)) / len(words) < min_support:
        reasons.append(f"content not supported by the {bucket}' posts: {', '.join(unsupported[:6])}")
    if not words and not quotes:
        reasons.append("says nothing about the posts")
    cited = sorted(support, key=lambda pid: (-support[pid], pid))[:3]
    return Check(reasons, [pid for pid in cited if pid is not None])


#: A sentence's mean similarity to its bucket's closest posts may trail another bucket's by
#: at most this much, and must reach `EMBEDDING_FLOOR` (cosine, unit vectors).
EMBEDDING_MARGIN = 0.05
EMBEDDING_FLOOR = 0.2
EMBEDDING_NEIGHBOURS = 3


def embedding_support(vector: np.ndarray, bucket: str, evidence: Evidence) -> list[str]:
    """Reasons (empty when none) why a sentence's embedding is not supported by its bucket:
    its closest posts of the bucket are less similar to it than those of another bucket
    (a sentence that reuses the bucket's words but says what another bucket says), or
    nothing in the bucket is close at all."""
    def closeness(name: str) -> float | None:
        rows = [evidence.vectors[p.id] for p in evidence.buckets[name].posts
                if p.id in evidence.vectors]
        if not rows:
            return None
        matrix = np.asarray(rows, dtype=np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        sims = np.sort(matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12)))[::-1]
        return float(sims[:EMBEDDING_NEIGHBOURS].mean())

    own = closeness(bucket)
    if own is None:
        return []
    reasons = []
    if own < EMBEDDING_FLOOR:
        reasons.append(f"meaning not close to any of the {bucket}' posts ({own:.2f})")
    for other in BUCKETS:
        theirs = closeness(other) if other != bucket else None
        if theirs is not None and theirs > own + EMBEDDING_MARGIN:
            reasons.append(f"meaning closer to the {other}' posts ({theirs:.2f}) than to the "
                           f"{bucket}' ({own:.2f})")
    return reasons


def split_sentences(text: str) -> list[str]:
    """Sentences of a model's answer (quotes may hold full stops; "U.S." ends nothing)."""
    from nlp.text import split_sentences as split

    return split(text)


# -- model writers -----------------------------------------------------------------------


class WriterError(RuntimeError):
    """A model writer could not produce text (endpoint down, model missing); the template steps in."""


SYSTEM_PROMPT = (
    "You write one sentence of a newspaper's \"What people are saying\" paragraph. Use only the "
    "facts given: no other numbers, no outside knowledge, no opinions of your own. Describe only "
    "the group you are given; never mention any other group. Reply with the sentence alone."
)


def bucket_prompt(evidence: Evidence, bucket: str) -> str:
    """The evidence of one bucket, and nothing of the others, as a prompt."""
    b = evidence.buckets[bucket]
    label, _ = LABELS[bucket]
    lines = [f"Story: {evidence.story.title}",
             f"Group: {label.lower()} ({bucket_stats(b, evidence.window)})"]
    # Kept short: a small local model reads every token of it on a CPU.
    if b.themes:
        lines.append("Main points, with how many posts make each:")
        for theme in b.themes[:3]:
            lines.append(f"- {_short_quote(theme.phrase, 100)} ({_plural(theme.size)})")
    else:
        lines.append("Example posts:")
        lines += [f"- {_short_quote(p.text, 140)}" for p in b.quotes[:2]]
    lines.append(f'Write one sentence that starts with "{label}" and says what they mainly argue.')
    return "\n".join(lines)


class ModelWriter:
    """Writes each bucket's sentence with a chat model, keeping only sentences that check out.

    Subclasses implement `complete(system, user) -> str`. The opening and closing sentences
    come from the template; a bucket whose answer fails a check (or whose call fails) gets
    the template's sentence, and the replacement is recorded with its reasons.

    Besides the word check (`check_sentence`), each sentence is embedded with `encoder`
    (default: the encoder that made the evidence's vectors, loaded when first needed) and
    must sit closer to its bucket's posts than to another bucket's (`embedding_support`).
    """

    name = "model"

    def __init__(self, fallback: TemplateWriter | None = None, encoder: Any = None) -> None:
        self.template = fallback or TemplateWriter()
        self.encoder = encoder

    def _encoder_for(self, evidence: Evidence) -> Any:
        if self.encoder is None and evidence.vectors and evidence.encoder:
            from nlp.embed import DEFAULT_ENCODER, load_encoder

            self.encoder = load_encoder(None if evidence.encoder == DEFAULT_ENCODER
                                        else evidence.encoder)
        return self.encoder if evidence.vectors else None

    def complete(self, system: str, user: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, evidence: Evidence) -> Written:
        if evidence.total == 0 or not evidence.classified:
            written = self.template.write(evidence)
            written.writer = f"{self.name} (template: nothing to write about)"
            return written
        sentences = [self.template.opening(evidence)]
        replaced = []
        for bucket in BUCKETS:
            if not evidence.buckets[bucket].count:
                continue
            fallback = self.template.sentence_for(evidence, bucket)
            try:
                answer = self.complete(SYSTEM_PROMPT, bucket_prompt(evidence, bucket))
            except WriterError as exc:
                replaced.append({"bucket": bucket, "text": None, "reasons": [str(exc)],
                                 "replacement": fallback.text})
                sentences.append(fallback)
                continue
            parts = split_sentences(answer.strip().strip("`"))
            checks = [check_sentence(p, bucket, evidence) for p in parts]
            failures = [r for c in checks for r in c.reasons]
            encoder = self._encoder_for(evidence) if parts and not failures else None
            if encoder is not None:
                for vector in encoder.encode(parts):
                    failures += embedding_support(np.asarray(vector), bucket, evidence)
            if not parts:
                failures = ["empty answer"]
            if failures:
                replaced.append({"bucket": bucket, "text": answer, "reasons": failures,
                                 "replacement": fallback.text})
                sentences.append(fallback)
                continue
            urls = {p.id: p.url for p in evidence.buckets[bucket].posts}
            for part, check in zip(parts, checks):
                sentences.append(Sentence(part, bucket, check.post_ids,
                                          [urls[i] for i in check.post_ids if urls.get(i)]))
        sentences += self.template.closing(evidence)
        return Written(" ".join(s.text for s in sentences), sentences, self.name, replaced,
                       evidence=self.template.evidence_lines(evidence),
                       style=self.template.style, period=evidence.period)


WRITERS: dict[str, str] = {
    "template": "nlp.summarize:TemplateWriter",
    "openai": "nlp.writers:OpenAIWriter",
    "local": "nlp.writers:LocalWriter",
}


def get_writer(name: str = "template", **options: Any):
    """A writer by name (template, openai, local), built with the given options."""
    import importlib

    try:
        module_name, cls = WRITERS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown summary writer {name!r}; known: {', '.join(WRITERS)}") from None
    return getattr(importlib.import_module(module_name), cls)(**options)


def evidence_json(evidence: Evidence, ids: dict[int, Any] | None = None) -> dict[str, Any]:
    """The evidence as plain JSON: per bucket count, share, change and themes.

    `ids` maps store ids to the ids to show (a CSV's own `id` column); default: store ids.
    """
    def show(pid):
        return ids.get(pid, pid) if ids else pid

    out = {}
    for bucket, b in evidence.buckets.items():
        out[bucket] = {
            "count": b.count, "share": round(b.share, 4), "percent": b.percent,
            "unique": b.unique, "reposts": b.reposts,
            "previous": b.previous, "change_points": b.change,
            "themes": [{
                "phrase": t.phrase, "size": t.size, "reposts": t.reposts, "keywords": t.keywords,
                "keyphrases": t.keyphrases,
                "post_ids": [show(p) for p in t.post_ids],
                "quotes": [{"id": show(p.id), "text": p.text, "url": p.url, "platform": p.platform,
                            "author": p.author} for p in t.quotes],
            } for t in b.themes],
            "quotes": [{"id": show(p.id), "text": p.text, "url": p.url} for p in b.quotes],
        }
    return out


def platform_shares(evidence: Evidence) -> dict[str, int]:
    return dict(sorted(evidence.platform_counts.items(), key=lambda kv: (-kv[1], kv[0])))


__all__ = [
    "BucketEvidence", "Check", "Evidence", "ModelWriter", "Sentence", "TemplateWriter",
    "ThemeEvidence", "WriterError", "Written", "build_evidence", "check_sentence", "citations",
    "evidence_json", "get_writer", "largest_remainder",
]
