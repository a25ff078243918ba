"""Collection state and process bookkeeping: cursors, runs, leases and heartbeats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reactions import schema as t
from reactions.models import utcnow
from reactions.store.engine import describe_error
from reactions.store.posts import sqlite_cursor, sqlite_time

_SQLITE_SAVE_CURSOR = (
    "INSERT INTO cursors (story, source, cursor, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (story, source) DO UPDATE SET cursor = excluded.cursor, "
    "updated_at = excluded.updated_at"
)


class RunsMixin:
    """The cursors, runs, leases and heartbeats tables."""

    def get_cursor(self, story: str, source: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.cursors.c.cursor).where(
                    t.cursors.c.story == story, t.cursors.c.source == source)
            ).scalar_one_or_none()

    def save_cursor(self, story: str, source: str, cursor: str | None, *, conn: Connection) -> None:
        if self.dialect == "sqlite":  # once per collected page: no SQLAlchemy statement
            with sqlite_cursor(conn) as dbapi_cursor:
                dbapi_cursor.execute(_SQLITE_SAVE_CURSOR,
                                     (story, source, cursor, sqlite_time(utcnow())))
            return
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

    def cursors_containing(self, text: str) -> list[tuple[str, str, str]]:
        """(story, source, cursor) of every saved cursor that contains `text`."""
        query = sa.select(t.cursors.c.story, t.cursors.c.source, t.cursors.c.cursor).where(
            t.cursors.c.cursor.like(f"%{text}%"))
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def close_open_runs(self, is_stale: Callable[[str, str, set[str]], bool],
                        error: str) -> int:
        """Close (with `error`) the open runs that `is_stale(story, source, live_leases)`
        says no process is doing, in one transaction; how many were closed."""
        now = utcnow()
        with self.begin() as conn:
            open_runs = conn.execute(sa.select(t.runs.c.id, t.runs.c.story, t.runs.c.source)
                                     .where(t.runs.c.finished_at.is_(None))).all()
            live = set(conn.execute(sa.select(t.leases.c.name)
                                    .where(t.leases.c.expires_at >= now)).scalars())
            stale = [r.id for r in open_runs if is_stale(r.story, r.source, live)]
            if stale:
                conn.execute(sa.update(t.runs).where(t.runs.c.id.in_(stale))
                             .values(finished_at=now, error=error))
        return len(stale)

    # -- leases (reactions.leases) -------------------------------------------------------

    def try_acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lease if it is free, expired or already `owner`'s, in one upsert that is
        atomic on SQLite and PostgreSQL alike; True when `owner` holds it."""
        now = utcnow()
        stmt = self._insert(t.leases).values(name=name, owner=owner,
                                             expires_at=now + timedelta(seconds=ttl))
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=sa.or_(t.leases.c.expires_at < now, t.leases.c.owner == owner),
        ).returning(t.leases.c.owner)
        with self.begin() as conn:
            return conn.execute(stmt).first() is not None

    def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Push the expiry on; False when the lease is no longer `owner`'s."""
        with self.begin() as conn:
            return conn.execute(
                sa.update(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner)
                .values(expires_at=utcnow() + timedelta(seconds=ttl))
            ).rowcount == 1

    def release_lease(self, name: str, owner: str) -> None:
        with self.begin() as conn:
            conn.execute(sa.delete(t.leases).where(t.leases.c.name == name,
                                                   t.leases.c.owner == owner))

    def lease_holder(self, name: str) -> str | None:
        """Who holds the lease now (None when it is free or expired)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.leases.c.owner).where(
                t.leases.c.name == name, t.leases.c.expires_at >= utcnow())).scalar_one_or_none()

    def lease_owners(self) -> list[tuple[str, str]]:
        """(name, owner) of every lease row, expired or not."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(t.leases.c.name, t.leases.c.owner))]

    # -- heartbeats (reactions.heartbeat) ------------------------------------------------

    def beat(self, name: str, role: str, *, started_at: datetime, keep: timedelta) -> None:
        """Record that `name` is alive now (one upsert), and drop rows older than `keep`."""
        now = utcnow()
        stmt = self._insert(t.heartbeats).values(name=name, role=role, started_at=started_at,
                                                 beat_at=now, stopped_at=None)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={
            "role": stmt.excluded.role, "beat_at": stmt.excluded.beat_at, "stopped_at": None})
        with self.begin() as conn:
            conn.execute(stmt)
            conn.execute(sa.delete(t.heartbeats).where(t.heartbeats.c.beat_at < now - keep))

    def mark_stopped(self, name: str) -> None:
        """Mark the process `name` as stopped (a clean exit)."""
        with self.begin() as conn:
            conn.execute(sa.update(t.heartbeats).where(t.heartbeats.c.name == name)
                         .values(stopped_at=utcnow()))

    def heartbeats(self) -> list[dict[str, Any]]:
        """Every heartbeat row, newest beat first."""
        query = sa.select(t.heartbeats).order_by(t.heartbeats.c.beat_at.desc())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
