"""Collection state: cursors and the runs of each (story, source)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reactions import schema as t
from reactions.models import utcnow
from reactions.store.engine import describe_error


class RunsMixin:
    """The cursors and runs tables."""

    def get_cursor(self, story: str, source: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.cursors.c.cursor).where(
                    t.cursors.c.story == story, t.cursors.c.source == source)
            ).scalar_one_or_none()

    def save_cursor(self, story: str, source: str, cursor: str | None, *, conn: Connection) -> None:
        stmt = self._insert(t.cursors).values(
            story=story, source=source, cursor=cursor, updated_at=utcnow())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["story", "source"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
        ))

    def start_run(self, story: str, source: str) -> int:
        with self.begin() as conn:
            return conn.execute(sa.insert(t.runs).values(
                story=story, source=source, started_at=utcnow(), added=0, pages=0,
            )).inserted_primary_key[0]

    def finish_run(
        self, run_id: int, *, added: int, pages: int, error: str | BaseException | None = None,
        next_run: datetime | None = None,
    ) -> None:
        """Close a run; the error is stored as one line without SQL (see `describe_error`)."""
        with self.begin() as conn:
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(
                finished_at=utcnow(), added=added, pages=pages, error=describe_error(error),
                next_run=next_run,
            ))

    def last_runs(self) -> list[dict[str, Any]]:
        """The latest run per (story, source), for `reactions status` and the Health page."""
        latest = (sa.select(sa.func.max(t.runs.c.id)).group_by(t.runs.c.story, t.runs.c.source)
                  .scalar_subquery())
        query = (sa.select(t.runs).where(t.runs.c.id.in_(latest))
                 .order_by(t.runs.c.story, t.runs.c.source))
        with self.engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(query)]
        for run in runs:  # rows written before errors were stored without their SQL
            run["error"] = describe_error(run["error"])
        return runs
