"""Stances and labels: the model's buckets, editors' and teachers' labels, and their counts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from reactions import schema as t
from reactions.models import BUCKETS, Post, StancePrediction, utcnow
from reactions.store.aggregates import Filters, bucket_counts
from reactions.store.engine import CHUNK
from reactions.store.posts import row_to_post


class StancesMixin:
    """The stances and labels tables."""

    def posts_without_stance(self, story: str) -> list[Post]:
        """The story's posts that have no stance yet, oldest first."""
        query = (
            self._story_posts_query(story, None, None)
            .outerjoin(t.stances, sa.and_(t.stances.c.post_id == t.posts.c.id,
                                          t.stances.c.story == story))
            .where(t.stances.c.post_id.is_(None))
            .order_by(t.posts.c.id)
        )
        with self.engine.connect() as conn:
            return [row_to_post(r) for r in conn.execute(query)]

    def save_stances(
        self, story: str, results: Iterable[tuple[int, StancePrediction]], model: str
    ) -> int:
        """Store (or replace) predictions for posts of a story."""
        now = utcnow()
        rows = [
            {"story": story, "post_id": pid, "label": p.label, "scores": p.scores,
             "needs_review": p.needs_review, "reason": p.reason, "model": model,
             "classified_at": now}
            for pid, p in results
        ]
        with self.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                stmt = self._insert(t.stances)
                stmt = stmt.values(rows[start : start + CHUNK]).on_conflict_do_update(
                    index_elements=["story", "post_id"],
                    set_={c: stmt.excluded[c] for c in
                          ("label", "scores", "needs_review", "reason", "model", "classified_at")},
                )
                conn.execute(stmt)
        self._wrote("stances", len(rows))
        return len(rows)

    def clear_stances(self, story: str) -> None:
        """Forget a story's predictions, so the next classification redoes them all."""
        with self.begin() as conn:
            conn.execute(sa.delete(t.stances).where(t.stances.c.story == story))

    def classified_posts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
    ) -> list[tuple[Post, StancePrediction]]:
        """The story's posts with their stance (human label first, else the model's), newest first."""
        human = (
            sa.select(t.labels.c.post_id, t.labels.c.label)
            .where(t.labels.c.story == story, t.labels.c.source == "human")
            .subquery()
        )
        query = (
            self._story_posts_query(story, since, until)
            .add_columns(t.stances.c.label.label("stance_label"), t.stances.c.scores,
                         t.stances.c.needs_review, t.stances.c.reason,
                         human.c.label.label("human_label"))
            .join(t.stances, sa.and_(t.stances.c.post_id == t.posts.c.id, t.stances.c.story == story))
            .outerjoin(human, human.c.post_id == t.posts.c.id)
            .order_by(t.posts.c.created_at.desc(), t.posts.c.id.desc())
        )
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.human_label:
                    pred = StancePrediction(row.human_label, row.scores or {}, False, "human")
                else:
                    pred = StancePrediction(row.stance_label, row.scores or {}, row.needs_review,
                                            row.reason)
                out.append((row_to_post(row), pred))
        return out

    def bucket_counts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
    ) -> dict[str, int]:
        """Posts per bucket (human labels override the model), aggregated in SQL: the one
        query the Story page's tiles use too (`aggregates.bucket_counts`)."""
        return bucket_counts(self, story, Filters(since=since, until=until))

    def add_label(
        self, story: str, post_id: int, label: str, *, source: str = "human",
        labeller: str | None = None,
    ) -> None:
        """Record an editor's (or a teacher model's) bucket for a post; replaces an earlier one."""
        if label not in BUCKETS:
            raise ValueError(f"label must be one of {', '.join(BUCKETS)}, not {label!r}")
        if source not in ("human", "teacher"):
            raise ValueError(f"label source must be 'human' or 'teacher', not {source!r}")
        row = {"story": story, "post_id": post_id, "source": source, "label": label,
               "labeller": labeller, "created_at": utcnow()}
        with self.begin() as conn:
            stmt = self._insert(t.labels).values(row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["story", "post_id", "source"],
                set_={"label": stmt.excluded.label, "labeller": stmt.excluded.labeller,
                      "created_at": stmt.excluded.created_at},
            ))
        self._wrote("labels", 1)

    def labels(self, story: str, *, source: str | None = None) -> list[tuple[int, str, str, str]]:
        """(post_id, text, label, source) for the story's labelled posts."""
        query = (
            sa.select(t.labels.c.post_id, t.posts.c.text, t.labels.c.label, t.labels.c.source)
            .join(t.posts, t.posts.c.id == t.labels.c.post_id)
            .where(t.labels.c.story == story)
            .order_by(t.labels.c.created_at)
        )
        if source is not None:
            query = query.where(t.labels.c.source == source)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def label_counts(self, story: str) -> dict[str, int]:
        """How many of the story's posts carry a label, by source (human, teacher)."""
        query = (sa.select(t.labels.c.source, sa.func.count()).where(t.labels.c.story == story)
                 .group_by(t.labels.c.source))
        counts = {"human": 0, "teacher": 0}
        with self.engine.connect() as conn:
            counts.update({source: int(n) for source, n in conn.execute(query)})
        return counts

    def last_changed_at(self, story: str) -> datetime | None:
        """When the story's buckets last changed: a post classified, or labelled by an editor
        or a teacher (a summary written before then is stale)."""
        with self.engine.connect() as conn:
            classified = conn.execute(sa.select(sa.func.max(t.stances.c.classified_at))
                                      .where(t.stances.c.story == story)).scalar_one_or_none()
            labelled = conn.execute(sa.select(sa.func.max(t.labels.c.created_at))
                                    .where(t.labels.c.story == story)).scalar_one_or_none()
        times = [x for x in (classified, labelled) if x is not None]
        return max(times) if times else None
