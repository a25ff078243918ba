"""Summaries: the paragraphs written per story and window."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from reactions import schema as t
from reactions.models import Summary


class SummariesMixin:
    """The summaries table."""

    def save_summary(self, summary: Summary) -> int:
        with self.begin() as conn:
            result = conn.execute(sa.insert(t.summaries).values(
                story=summary.story, window_start=summary.window_start,
                window_end=summary.window_end, created_at=summary.created_at,
                writer=summary.writer, paragraph=summary.paragraph, counts=summary.counts,
                payload=summary.payload,
            ))
            summary.id = result.inserted_primary_key[0]
        return summary.id

    def latest_summary(self, story: str) -> Summary | None:
        """The newest stored summary of the story, if any."""
        query = (sa.select(t.summaries).where(t.summaries.c.story == story)
                 .order_by(t.summaries.c.created_at.desc(), t.summaries.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Summary(
            id=row.id, story=row.story, paragraph=row.paragraph, counts=row.counts,
            writer=row.writer, created_at=row.created_at, window_start=row.window_start,
            window_end=row.window_end, payload=row.payload,
        )

    def summary_for_window(
        self, story: str, window: timedelta | None, *, newer_than: datetime | None = None,
        scan: int = 50,
    ) -> Summary | None:
        """The newest stored summary of the story written for a window of this length
        (None = all time), optionally only one written after `newer_than`."""
        query = (sa.select(t.summaries).where(t.summaries.c.story == story)
                 .order_by(t.summaries.c.created_at.desc(), t.summaries.c.id.desc()).limit(scan))
        if newer_than is not None:
            query = query.where(t.summaries.c.created_at > newer_than)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                start, end = row.window_start, row.window_end
                length = None if start is None else (end - start if end else None)
                if length == window:
                    return Summary(
                        id=row.id, story=row.story, paragraph=row.paragraph, counts=row.counts,
                        writer=row.writer, created_at=row.created_at, window_start=start,
                        window_end=end, payload=row.payload,
                    )
        return None
