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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from reactions.models import BUCKETS, UNCLASSIFIED, Post, StancePrediction, Story

PLATFORM_NAMES = {
    "bluesky": "Bluesky", "mastodon": "Mastodon", "reddit": "Reddit", "hackernews": "Hacker News",
    "x": "X", "youtube": "YouTube", "rss": "news sites", "file": "imported posts",
}
#: How each bucket is named at the start of its sentence, and the verb that introduces its points.
LABELS = {"supporters": ("Supporters", "argue"), "skeptics": ("Skeptics", "counter"),
          "neutral": ("Neutral posts", "relay")}
ADJECTIVES = {"supporters": "supportive", "skeptics": "skeptical", "neutral": "neutral"}
THEMES_PER_SENTENCE = 2
_ARTICLES = frozenset({"The", "A", "An", "This", "These", "That", "Those"})


@dataclass
class ThemeEvidence:
    """A point several posts of one bucket make (sizes count each original post once)."""

    phrase: str
    size: int
    post_ids: list[int]
    quotes: list[Post]
    keywords: list[str] = field(default_factory=list)
    reposts: int = 0


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

    @property
    def unique(self) -> int:
        return self.count - self.reposts

    @property
    def change(self) -> int | None:
        """Change of the share against the previous window, in percentage points."""
        if self.previous_share is None:
            return None
        return round(100 * self.share) - round(100 * self.previous_share)


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

    @property
    def classified(self) -> int:
        return sum(b.count for b in self.buckets.values())


@dataclass
class Sentence:
    text: str
    bucket: str | None
    post_ids: list[int]
    urls: list[str]


@dataclass
class Written:
    paragraph: str
    sentences: list[Sentence]
    writer: str
    replaced: list[dict[str, Any]] = field(default_factory=list)


def engagement(post: Post) -> int:
    return post.likes + 2 * post.reposts + post.replies


def build_evidence(
    story: Story, items: Sequence[tuple[Post, StancePrediction]], *,
    embeddings: dict[int, np.ndarray] | None = None, encoder: str | None = None,
    previous: dict[str, int] | None = None, window: timedelta | None = None,
    window_end: datetime | None = None, quotes_per_bucket: int = 3,
) -> Evidence:
    """Counts, shares, change, themes and representative posts per bucket.

    `embeddings` (post id -> vector from the encoder named `encoder`) enables themes; a
    bucket's posts without a vector are counted but not clustered. `previous` holds the
    bucket counts of the previous window of the same length, for the change.
    """
    from nlp.themes import MIN_SIZE, extract_themes

    by_bucket: dict[str, list[Post]] = {b: [] for b in BUCKETS}
    unclassified = 0
    platforms: dict[str, int] = {}
    for post, prediction in items:
        platforms[post.platform] = platforms.get(post.platform, 0) + 1
        if prediction.label in by_bucket:
            by_bucket[prediction.label].append(post)
        else:
            unclassified += 1
    classified = sum(len(v) for v in by_bucket.values())
    previous_total = sum(previous.get(b, 0) for b in BUCKETS) if previous else 0
    buckets = {}
    for bucket, posts in by_bucket.items():
        originals = [p for p in posts if p.duplicate_of is None]
        repeats: dict[int, int] = {}
        for p in posts:
            if p.duplicate_of is not None:
                repeats[p.duplicate_of] = repeats.get(p.duplicate_of, 0) + 1
        quotes = sorted(originals, key=lambda p: (-(engagement(p) + repeats.get(p.id, 0)),
                                                  p.id or 0))[:quotes_per_bucket]
        evidence = BucketEvidence(
            bucket=bucket, count=len(posts), share=len(posts) / classified if classified else 0.0,
            post_ids=[p.id for p in posts if p.id is not None], quotes=quotes,
            reposts=len(posts) - len(originals), posts=posts,
        )
        if previous is not None:
            evidence.previous = previous.get(bucket, 0)
            evidence.previous_share = (evidence.previous / previous_total if previous_total
                                       else None)
        with_vectors = [p for p in originals if embeddings and p.id in embeddings]
        if embeddings and len(with_vectors) >= MIN_SIZE:
            themes = extract_themes(
                [p.text for p in with_vectors], np.stack([embeddings[p.id] for p in with_vectors]),
                engagement=[engagement(p) + repeats.get(p.id, 0) for p in with_vectors],
                encoder=encoder,
            )
            for theme in themes:
                members = [with_vectors[i] for i in theme.members]
                evidence.themes.append(ThemeEvidence(
                    phrase=theme.phrase, size=theme.size,
                    post_ids=[p.id for p in members],
                    quotes=[with_vectors[i] for i in theme.representatives],
                    keywords=theme.keywords,
                    reposts=sum(repeats.get(p.id, 0) for p in members),
                ))
        buckets[bucket] = evidence
    ordered = sorted(platforms, key=lambda name: (-platforms[name], name))
    return Evidence(story, len(items), unclassified, ordered, buckets, platforms, window, window_end)


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


def _short_quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split()).replace('"', "'")
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."


def bucket_stats(b: BucketEvidence, window: timedelta | None) -> str:
    """'12 posts, 3 of them reposts, 40%, up 5 points on the previous 6 hours'."""
    parts = [_plural(b.count)]
    if b.reposts:
        parts.append(f"{b.reposts} of them {'a repost' if b.reposts == 1 else 'reposts'}")
    parts.append(f"{round(100 * b.share)}%")
    change = b.change
    if change is not None and window is not None:
        span = describe_window(window)
        if change == 0:
            parts.append(f"unchanged on the previous {span}")
        else:
            direction = "up" if change > 0 else "down"
            parts.append(f"{direction} {_plural(abs(change), 'point')} on the previous {span}")
    return ", ".join(parts)


class TemplateWriter:
    """Deterministic sentences in the seed article's shape, from the evidence alone."""

    name = "template"

    def opening(self, evidence: Evidence) -> Sentence:
        platforms = _join([PLATFORM_NAMES.get(p, p) for p in evidence.platforms[:4]])
        title = evidence.story.title.rstrip(". ")
        first, _, rest = title.partition(" ")
        if first in _ARTICLES:  # "highlight the navy's strikes", but "highlight Trump's call"
            title = f"{first.lower()} {rest}".strip()
        return Sentence(f"Discussions on {platforms} highlight {title}.", None, [], [])

    def bucket_sentence(self, evidence: Evidence, bucket: str) -> Sentence:
        b = evidence.buckets[bucket]
        label, verb = LABELS[bucket]
        stats = bucket_stats(b, evidence.window)
        cited: list[Post] = []
        if b.themes:
            points = []
            for theme in b.themes[:THEMES_PER_SENTENCE]:
                points.append(f'"{_short_quote(theme.phrase)}" ({_plural(theme.size)})')
                cited.extend(theme.quotes[:1])
            text = f"{label} ({stats}) {verb} {_join(points)}."
        elif b.quotes:
            cited = b.quotes[:1]
            text = f'{label} ({stats}) {verb}, for example, "{_short_quote(cited[0].text)}".'
        else:
            text = f"{label} account for {stats}."
        return Sentence(text, bucket, [p.id for p in cited if p.id is not None],
                        [p.url for p in cited if p.url])

    def closing(self, evidence: Evidence) -> list[Sentence]:
        sentences = []
        missing = [ADJECTIVES[b] for b in BUCKETS if not evidence.buckets[b].count]
        if evidence.classified and missing:
            sentences.append(Sentence(f"No {_join(missing, 'or')} posts so far.", None, [], []))
        if evidence.unclassified:
            n = evidence.unclassified
            sentences.append(Sentence(
                f"{n} more {'post was' if n == 1 else 'posts were'} not classified "
                "(another language or no text).", UNCLASSIFIED, [], []))
        return sentences

    def write(self, evidence: Evidence) -> Written:
        if evidence.total == 0:
            title = evidence.story.title.rstrip(". ")
            text = (f"No posts about \u201c{title}\u201d in the last {describe_window(evidence.window)}."
                    if evidence.window else
                    f"No posts about \u201c{title}\u201d have been collected yet.")
            return Written(text, [Sentence(text, None, [], [])], self.name)
        sentences = [self.opening(evidence)]
        sentences += [self.bucket_sentence(evidence, b) for b in BUCKETS
                      if evidence.buckets[b].count]
        sentences += self.closing(evidence)
        return Written(" ".join(s.text for s in sentences), sentences, self.name)


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


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def allowed_numbers(evidence: Evidence, bucket: str) -> tuple[set[int], set[int]]:
    """(counts, percentages) a sentence about this bucket may state."""
    b = evidence.buckets[bucket]
    counts = {b.count, b.unique, b.reposts, evidence.classified, evidence.total}
    percents = {round(100 * b.share)}
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


def split_sentences(text: str) -> list[str]:
    """Sentences of a model's answer (quotes may hold full stops)."""
    text = " ".join(text.split())
    parts, start, inside = [], 0, False
    for i, ch in enumerate(text):
        if ch in "\"\u201c\u201d":
            inside = not inside if ch == '"' else ch == "\u201c"
        elif ch in ".!?" and not inside and (i + 1 == len(text) or text[i + 1] == " "):
            parts.append(text[start : i + 1].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return [p for p in parts if p]


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
    """

    name = "model"

    def __init__(self, fallback: TemplateWriter | None = None) -> None:
        self.template = fallback or TemplateWriter()

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
            fallback = self.template.bucket_sentence(evidence, bucket)
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
        return Written(" ".join(s.text for s in sentences), sentences, self.name, replaced)


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
            "count": b.count, "share": round(b.share, 4), "unique": b.unique, "reposts": b.reposts,
            "previous": b.previous, "change_points": b.change,
            "themes": [{
                "phrase": t.phrase, "size": t.size, "reposts": t.reposts, "keywords": t.keywords,
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
    "ThemeEvidence", "WriterError", "Written", "build_evidence", "check_sentence", "evidence_json",
    "get_writer",
]
