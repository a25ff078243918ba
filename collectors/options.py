"""What each source accepts in a story's `[[sources]]` block: one pydantic schema per collector.

Story files (`reactions story add`) and the dashboard's story form both go through
`reactions.stories.parse_story`, which checks every source's options against its schema
here: a misspelt key (`subreddit` for `subreddits`), a string where a list belongs
(`instances = "mastodon.social"`) or a missing required option (`path` of `file`) is
refused with the line and the reason, instead of being stored and ignored.

This module imports pydantic and collectors.base only, so checking a story never loads
an HTTP client or a platform module.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collectors.base import parse_timestamp

#: The longest query a story (or a source's `queries`) may hold, in characters: X's recent
#: search takes 512, and no platform's search does better with more.
MAX_QUERY_CHARS = 512

Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]


class _Options(BaseModel):
    """Options every source takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    #: First run: read back to this time (ISO 8601) ...
    since: str | None = None
    #: ... or this many days (default 7).
    backfill_days: float | None = Field(None, gt=0, le=3650)

    @field_validator("since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timestamp(value)  # ValueError names the text
        return value


class _Http(_Options):
    #: Another server speaking the same API (a mirror, a test server).
    base_url: Url | None = None


class FileOptions(_Options):
    path: Name
    platform: Name | None = None


class HackerNewsOptions(_Http):
    queries: list[Query] | None = None


class BlueskyOptions(_Http):
    queries: list[Query] | None = None
    lang: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$")] | None = None


class MastodonOptions(_Options):
    instances: list[Name] | None = None
    hashtags: list[Name] | None = None
    search_instance: Name | None = None


class RedditOptions(_Http):
    subreddits: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,21}$")]] | None = None


class XOptions(_Http):
    queries: list[Query] | None = None


class YouTubeOptions(_Http):
    video_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{6,20}$")]] | None = None
    channel_ids: list[Annotated[str, Field(pattern=r"^UC[A-Za-z0-9_-]{10,40}$")]] | None = None
    discover_hours: float | None = Field(None, gt=0)
    max_videos: int | None = Field(None, ge=1, le=500)
    daily_quota: int | None = Field(None, ge=1)
    daily_searches: int | None = Field(None, ge=0)


class RssOptions(_Options):
    feeds: list[Url] | None = None
    match: bool | None = None


#: Collector name -> the schema of its options (kept beside collectors.base.REGISTRY).
SCHEMAS: dict[str, type[_Options]] = {
    "file": FileOptions,
    "hackernews": HackerNewsOptions,
    "bluesky": BlueskyOptions,
    "mastodon": MastodonOptions,
    "reddit": RedditOptions,
    "x": XOptions,
    "youtube": YouTubeOptions,
    "rss": RssOptions,
}


def option_problems(source: str, options: dict[str, Any]) -> list[tuple[str, str]]:
    """(option key, reason) for each thing wrong with a source's options; [] when fine.

    A source with no schema (registered by an addition) is not checked.
    """
    schema = SCHEMAS.get(source)
    if schema is None:
        return []
    try:
        schema.model_validate(options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "?"
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(schema.model_fields))
                reason = f"unknown option {key!r} for {source} (it takes: {known})"
            elif err["type"] == "missing":
                reason = f"{source} needs `{key}`"
            else:
                reason = f"{where}: {err['msg']}"
            problems.append((key, reason))
        return problems
    return []
