"""The "What people are saying" paragraph: evidence per bucket, and writers that turn it into prose.

This first version builds counts, shares and representative posts per bucket and writes
the paragraph from a template, so every sentence is grounded in computed numbers and real
posts. Themes and model writers build on the same `Evidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reactions.models import BUCKETS, UNCLASSIFIED, Post, StancePrediction, Story

PLATFORM_NAMES = {
    "bluesky": "Bluesky", "mastodon": "Mastodon", "reddit": "Reddit", "hackernews": "Hacker News",
    "x": "X", "youtube": "YouTube", "rss": "news sites", "file": "imported posts",
}


@dataclass
class BucketEvidence:
    bucket: str
    count: int
    share: float
    post_ids: list[int] = field(default_factory=list)
    quotes: list[Post] = field(default_factory=list)
    themes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Evidence:
    story: Story
    total: int
    unclassified: int
    platforms: list[str]
    buckets: dict[str, BucketEvidence]


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


def _engagement(post: Post) -> int:
    return post.likes + 2 * post.reposts + post.replies


def build_evidence(
    story: Story, items: Sequence[tuple[Post, StancePrediction]], *, quotes_per_bucket: int = 3,
) -> Evidence:
    """Counts, shares and representative posts per bucket (reposts counted, not quoted)."""
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
    buckets = {}
    for bucket, posts in by_bucket.items():
        originals = [p for p in posts if p.duplicate_of is None]
        quotes = sorted(originals, key=_engagement, reverse=True)[:quotes_per_bucket]
        buckets[bucket] = BucketEvidence(
            bucket=bucket, count=len(posts),
            share=len(posts) / classified if classified else 0.0,
            post_ids=[p.id for p in posts if p.id is not None], quotes=quotes,
        )
    ordered = sorted(platforms, key=lambda name: (-platforms[name], name))
    return Evidence(story, len(items), unclassified, ordered, buckets)


def _join(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _percent(share: float) -> str:
    return f"{round(share * 100)}%"


class TemplateWriter:
    """Deterministic sentences in the seed article's shape, from the evidence alone."""

    name = "template"

    def write(self, evidence: Evidence) -> Written:
        if evidence.total == 0:
            text = f"No posts about {evidence.story.title!r} have been collected yet."
            return Written(text, [Sentence(text, None, [], [])], self.name)
        platforms = _join([PLATFORM_NAMES.get(p, p) for p in evidence.platforms[:4]])
        sentences = [Sentence(
            f"Discussions on {platforms} highlight {evidence.story.title.rstrip('.')}.",
            None, [], [])]
        phrases = {
            "supporters": "Supporters back the approach",
            "skeptics": "Skeptics push back",
            "neutral": "Neutral posts relay the news without taking a side",
        }
        for bucket in BUCKETS:
            b = evidence.buckets[bucket]
            if not b.count:
                continue
            noun = "post" if b.count == 1 else "posts"
            quote = ""
            if b.quotes:
                q = b.quotes[0].text.replace("\n", " ")
                q = q if len(q) <= 120 else q[:117].rsplit(" ", 1)[0] + "..."
                quote = f', for example: "{q}"'
            sentences.append(Sentence(
                f"{phrases[bucket]} ({b.count} {noun}, {_percent(b.share)}){quote}.",
                bucket, [p.id for p in b.quotes if p.id is not None],
                [p.url for p in b.quotes if p.url],
            ))
        if evidence.unclassified:
            sentences.append(Sentence(
                f"{evidence.unclassified} more {'post was' if evidence.unclassified == 1 else 'posts were'}"
                " not classified (another language or no text).", UNCLASSIFIED, [], []))
        return Written(" ".join(s.text for s in sentences), sentences, self.name)


WRITERS = {"template": TemplateWriter}


def get_writer(name: str = "template", **options: Any) -> TemplateWriter:
    try:
        return WRITERS[name](**options)
    except KeyError:
        raise ValueError(f"unknown summary writer {name!r}; known: {', '.join(WRITERS)}") from None
