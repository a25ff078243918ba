"""Read-only queries the dashboard pages use, cached briefly. No torch, no collection."""

from __future__ import annotations

import streamlit as st

from reactions.models import Story, Summary
from reactions.store import Store

TTL_SECONDS = 15


@st.cache_resource
def get_store() -> Store:
    """One store per dashboard process (the URL comes from REACTIONS_* settings)."""
    return Store.from_settings()


@st.cache_data(ttl=TTL_SECONDS)
def list_stories() -> list[Story]:
    return get_store().list_stories()


@st.cache_data(ttl=TTL_SECONDS)
def bucket_counts(slug: str) -> dict[str, int]:
    return get_store().bucket_counts(slug)


@st.cache_data(ttl=TTL_SECONDS)
def latest_summary(slug: str) -> Summary | None:
    return get_store().latest_summary(slug)


@st.cache_data(ttl=TTL_SECONDS)
def classified_rows(slug: str, limit: int = 500) -> list[dict]:
    """The story's newest classified posts as plain rows for tables."""
    rows = []
    for post, pred in get_store().classified_posts(slug)[:limit]:
        rows.append({
            "id": post.id, "bucket": pred.label, "platform": post.platform,
            "author": post.author or "", "text": post.text,
            "confidence": round(max(pred.scores.values()), 2) if pred.scores else None,
            "needs_review": pred.needs_review, "created_at": post.created_at,
            "url": post.url or "", "duplicate": post.duplicate_of is not None,
        })
    return rows
