"""Plain data types shared by collectors, nlp, the store and the dashboard.

Nothing here imports any other module of the project, so every layer can depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypedDict

#: The three stance buckets, in the order they are shown everywhere.
BUCKETS: tuple[str, ...] = ("supporters", "skeptics", "neutral")
#: Label for a post the classifier could not place (unsupported language, empty text).
UNCLASSIFIED = "unclassified"

#: Labels accepted from data files and editors, mapped to buckets.
LABEL_ALIASES: dict[str, str] = {
    "favor": "supporters", "favour": "supporters", "pro": "supporters", "support": "supporters",
    "supporter": "supporters", "supporters": "supporters", "1": "supporters",
    "against": "skeptics", "con": "skeptics", "skeptic": "skeptics", "skeptics": "skeptics",
    "sceptic": "skeptics", "sceptics": "skeptics", "-1": "skeptics",
    "none": "neutral", "neutral": "neutral", "0": "neutral",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def normalize_label(label: str) -> str:
    """Map a label from data or an editor (favor/against/none, pro/con, ...) to a bucket."""
    try:
        return LABEL_ALIASES[str(label).strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown stance label {label!r}: use one of supporters, skeptics, neutral "
            "(or favor, against, none)"
        ) from None


@dataclass(slots=True)
class Post:
    """One public post, normalised from any platform."""

    platform: str
    native_id: str
    text: str
    author: str | None = None
    created_at: datetime | None = None
    url: str | None = None
    language: str | None = None
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    reply_to: str | None = None
    collected_at: datetime = field(default_factory=utcnow)
    raw: dict[str, Any] = field(default_factory=dict)
    #: Store id, set once the post has been stored.
    id: int | None = None
    #: Store id of the post this one repeats (repost or near-duplicate), if any.
    duplicate_of: int | None = None

    @property
    def key(self) -> str:
        """Identity across the whole store: platform and the platform's own id."""
        return f"{self.platform}:{self.native_id}"


@dataclass(slots=True)
class SourceConfig:
    """One source a story is collected from, and how often."""

    name: str
    interval_minutes: int = 30
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Story:
    """A news story being monitored: the claim that supporters support, and where to look."""

    slug: str
    title: str
    claim: str
    queries: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: ["en"])
    sources: list[SourceConfig] = field(default_factory=list)
    description: str = ""
    active: bool = True


@dataclass(slots=True)
class StancePrediction:
    """A classifier's answer for one post, relative to one story's claim."""

    label: str  # one of BUCKETS, or UNCLASSIFIED
    scores: dict[str, float] = field(default_factory=dict)  # bucket -> probability
    needs_review: bool = False
    reason: str | None = None  # why a post is unclassified or flagged, e.g. "language:es"


class SentenceData(TypedDict):
    """One sentence of a summary: its text, bucket (None for the opening), the posts it cites
    in order, their URLs, and the spans it quotes (`quotes[i]` is text of `post_ids[i]`)."""

    text: str
    bucket: str | None
    post_ids: list[int]
    urls: list[str]
    quotes: list[str]


class PeriodData(TypedDict):
    """The period a summary covers (ISO times; start None when unknown) and in words."""

    start: str | None
    end: str
    words: str


class CitationData(TypedDict):
    """A cited post's number, continuous across the paragraph and its evidence."""

    n: int
    post_id: int
    url: str | None


class SummaryPayload(TypedDict, total=False):
    """What `Summary.payload` holds (`reactions.pipeline.make_summary` writes it; blurb,
    the dashboard, digests and summarize-file read it). Older summaries lack some keys."""

    sentences: list[SentenceData]
    evidence: list[SentenceData]
    citations: list[CitationData]
    style: str  # "brief" or "detailed"
    period: PeriodData
    replaced: list[dict[str, Any]]  # model sentences replaced by the template's, with reasons
    platforms: list[str]
    platform_counts: dict[str, int]
    shares: dict[str, float]
    buckets: dict[str, Any]  # nlp.summarize.evidence_json
    window_seconds: int | None
    labels: dict[str, int] | None  # human / teacher label counts behind the caveat
    caveat: str  # set by a writer that knows better (summarize-file)


#: A stored summary of a sliding window ("the last 6 hours") is rewritten once it is this old,
#: as its window has moved on; blurb and the dashboard share this rule.
SLIDING_SUMMARY_MAX_AGE = timedelta(minutes=5)


@dataclass(slots=True)
class Summary:
    """A "What people are saying" paragraph for a story and window, with its evidence."""

    story: str
    paragraph: str
    counts: dict[str, int]
    writer: str
    created_at: datetime = field(default_factory=utcnow)
    window_start: datetime | None = None
    window_end: datetime | None = None
    payload: SummaryPayload = field(default_factory=dict)  # type: ignore[assignment]
    id: int | None = None
