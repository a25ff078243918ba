"""The numbers the dashboard, alerts and digests show.

The queries live in the data layer (`reactions.store.aggregates`) and are re-exported
here with the arithmetic on their results: each bucket's share, and the Live page's
overview of every active story.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reactions.models import BUCKETS, utcnow
from reactions.store import Store
from reactions.store.aggregates import (
    NO_FILTERS,
    Filters,
    breakdown,
    bucket_counts,
    filter_options,
    last_collected,
    newest_post_at,
    post_rows,
    stance_series,
    top_posts,
    top_posts_by_bucket,
    volume_counts,
    volume_series,
)

__all__ = [
    "NO_FILTERS", "Filters", "breakdown", "bucket_counts", "filter_options", "last_collected",
    "live_overview", "newest_post_at", "post_rows", "shares", "stance_series", "top_posts",
    "top_posts_by_bucket", "volume_counts", "volume_series",
]


def shares(counts: dict[str, int]) -> dict[str, float]:
    """Each bucket's share of the classified posts (0..1); all zero when there are none."""
    total = sum(counts.get(b, 0) for b in BUCKETS)
    return {b: (counts.get(b, 0) / total if total else 0.0) for b in BUCKETS}



def live_overview(store: Store, *, now: datetime | None = None, hours: int = 24) -> list[dict]:
    """One row per active story: shares, last hour against its usual hour, a sparkline."""
    now = now or utcnow()
    collected = last_collected(store)
    open_alerts: dict[str, int] = {}
    for alert in store.alerts(open_only=True, limit=1000):
        open_alerts[alert["story"]] = open_alerts.get(alert["story"], 0) + 1
    rows = []
    for story in store.list_stories(active_only=True):
        hourly = volume_counts(store, story.slug, end=now, intervals=hours, step=timedelta(hours=1))
        earlier = sorted(hourly[:-1])
        usual = earlier[len(earlier) // 2] if earlier else 0
        counts = bucket_counts(store, story.slug)
        rows.append({
            "slug": story.slug, "title": story.title, "counts": counts, "shares": shares(counts),
            "last_hour": hourly[-1], "usual_hour": usual, "sparkline": hourly,
            "last_collected": collected.get(story.slug), "open_alerts": open_alerts.get(story.slug, 0),
        })
    return rows
