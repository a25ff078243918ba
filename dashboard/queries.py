"""Read-only queries the dashboard pages use, cached briefly. No torch, no collection, no SQL.

Aggregates run in SQL in the data layer (`reactions.store.aggregates`, through
`reactions.aggregates`), so a page moves a few hundred rows even with 100,000 posts behind
it; results are cached for `TTL_SECONDS`. Every write a page makes goes through
`dashboard.writes`, which clears the cache so it shows at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from reactions import aggregates, export
from reactions.aggregates import Filters
from reactions.export import PostQuery
from reactions.models import SLIDING_SUMMARY_MAX_AGE, Story, Summary, utcnow
from reactions.store import Store

TTL_SECONDS = 15
#: Window choices on the Story page: label -> length (None = all time).
WINDOWS: dict[str, timedelta | None] = {
    "last 6 hours": timedelta(hours=6), "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7), "last 30 days": timedelta(days=30), "all time": None,
}


@st.cache_resource
def get_store() -> Store:
    """One store per dashboard process (the URL comes from REACTIONS_* settings)."""
    return Store.from_settings()


def clear() -> None:
    """Forget cached results after a write, so the next read shows it."""
    st.cache_data.clear()


def filters_for(window: str, platforms: list[str], languages: list[str]) -> Filters:
    length = WINDOWS[window]
    # Rounded to the minute so that reruns within a minute hit the cache.
    since = utcnow().replace(second=0, microsecond=0) - length if length else None
    return Filters(since=since, platforms=tuple(platforms), languages=tuple(languages))


def step_for(window: str) -> int:
    """Chart resolution for a window: hourly up to a day, 6-hourly for a week, else daily."""
    length = WINDOWS[window]
    if length is not None and length <= timedelta(days=1):
        return 3600
    if length is not None and length <= timedelta(days=7):
        return 6 * 3600
    return 24 * 3600


@st.cache_data(ttl=TTL_SECONDS)
def list_stories() -> list[Story]:
    return get_store().list_stories()


@st.cache_data(ttl=TTL_SECONDS)
def bucket_counts(slug: str, filters: Filters = aggregates.NO_FILTERS) -> dict[str, int]:
    return aggregates.bucket_counts(get_store(), slug, filters)


@st.cache_data(ttl=TTL_SECONDS)
def latest_summary(slug: str) -> Summary | None:
    return get_store().latest_summary(slug)


@st.cache_data(ttl=TTL_SECONDS)
def window_summary(slug: str, window: str) -> tuple[Summary | None, bool]:
    """The newest summary written for this window (None: none yet), and whether it is stale
    (a post was classified or labelled after it, or a sliding window has moved on since, so
    its numbers may differ from the tiles)."""
    store = get_store()
    summary = store.summary_for_window(slug, WINDOWS[window])
    if summary is None:
        return None, False
    changed = store.last_changed_at(slug)
    moved = WINDOWS[window] is not None and utcnow() - summary.created_at > SLIDING_SUMMARY_MAX_AGE
    return summary, bool(moved or (changed and changed >= summary.created_at))


@st.cache_data(ttl=TTL_SECONDS)
def breakdown(slug: str, filters: Filters, step_seconds: int) -> dict:
    """Counts, stance series and volume series in one pass (the Story page needs all three)."""
    return aggregates.breakdown(get_store(), slug, filters, step_seconds=step_seconds)


@st.cache_data(ttl=TTL_SECONDS)
def top_posts_by_bucket(slug: str, filters: Filters, limit: int = 3) -> dict[str, list[dict]]:
    return aggregates.top_posts_by_bucket(get_store(), slug, filters, limit=limit)


@st.cache_data(ttl=TTL_SECONDS)
def stance_series(slug: str, filters: Filters, step_seconds: int) -> list[dict]:
    return aggregates.stance_series(get_store(), slug, filters, step_seconds=step_seconds)


@st.cache_data(ttl=TTL_SECONDS)
def volume_series(slug: str, filters: Filters, step_seconds: int) -> list[dict]:
    return aggregates.volume_series(get_store(), slug, filters, step_seconds=step_seconds)


@st.cache_data(ttl=TTL_SECONDS)
def top_posts(slug: str, bucket: str, filters: Filters, limit: int = 3) -> list[dict]:
    return aggregates.top_posts(get_store(), slug, bucket, filters, limit=limit)


@st.cache_data(ttl=TTL_SECONDS)
def post_rows(slug: str, filters: Filters, search: str = "", buckets: tuple[str, ...] = (),
              limit: int = 200) -> list[dict]:
    return aggregates.post_rows(get_store(), slug, filters, search=search, buckets=buckets,
                                limit=limit)


@st.cache_data(ttl=TTL_SECONDS)
def filter_options(slug: str) -> dict[str, list[str]]:
    return aggregates.filter_options(get_store(), slug)


@st.cache_data(ttl=5)
def live_overview() -> list[dict]:
    return aggregates.live_overview(get_store())


@st.cache_data(ttl=5)
def alerts(story: str | None = None, open_only: bool = False, limit: int = 50) -> list[dict]:
    return get_store().alerts(story=story, open_only=open_only, limit=limit)


@st.cache_data(ttl=TTL_SECONDS)
def last_runs() -> list[dict]:
    return get_store().last_runs()


@st.cache_data(ttl=TTL_SECONDS)
def heartbeats() -> list[dict]:
    """The schedulers and workers that beat lately, each with `alive` (reactions.heartbeat)."""
    from reactions.heartbeat import processes

    return processes(get_store())


@st.cache_data(ttl=TTL_SECONDS)
def saved_waits() -> dict[tuple[str, str], datetime]:
    """(story, source) -> until when its platform asked us to wait (reactions.waits)."""
    from reactions.waits import saved_waits as waits

    return waits(get_store())


@st.cache_data(ttl=TTL_SECONDS)
def count_posts(slug: str) -> int:
    return get_store().count_posts(slug)


@st.cache_data(ttl=TTL_SECONDS)
def count_post_rows(query: PostQuery) -> int:
    return export.count(get_store(), query)


@st.cache_data(ttl=TTL_SECONDS)
def post_page(query: PostQuery, offset: int, limit: int) -> list[dict]:
    return export.page(get_store(), query, offset=offset, limit=limit)


@st.cache_data(ttl=TTL_SECONDS)
def newest_post_at(slug: str) -> datetime | None:
    """When the story's newest post was made (the Story page's default window covers it)."""
    return aggregates.newest_post_at(get_store(), slug)


def default_window(slug: str) -> str:
    """The shortest window that holds the story's newest post, so the page never opens empty."""
    newest = newest_post_at(slug)
    if newest is None:
        return "all time"
    age = utcnow() - newest
    return next((name for name, length in WINDOWS.items() if length is None or age <= length),
                "all time")


@st.cache_data(ttl=TTL_SECONDS)
def human_labels(slug: str) -> int:
    return get_store().label_counts(slug).get("human", 0)
