"""The store's core: the engine, transactions, migrations, planner statistics and errors.

`StoreBase` holds what every area of the store shares (the engine, `begin`, the dialect's
upsert INSERT, the planner statistics bookkeeping); the area modules add their methods as
mixins of `reactions.store.Store`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reactions.store.text import storable_text

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Rows per INSERT statement in bulk upserts (keeps under SQLite's variable limit).
CHUNK = 500
#: PostgreSQL's planner statistics of a table are refreshed (ANALYZE) once this process has
#: written this share of the rows the table had at its last refresh, and at least
#: ANALYZE_MIN_ROWS rows: a geometric schedule, so a story growing to 100,000 posts costs
#: about twenty cheap (sampled) ANALYZEs per table, whatever the autovacuum setting.
ANALYZE_GROWTH = 0.25
ANALYZE_MIN_ROWS = 1000
#: SQLite's page cache per connection, in KiB (see make_engine).
SQLITE_CACHE_KIB = 16 * 1024
#: Tables whose statistics the ingest and dashboard plans depend on.
ANALYZED_TABLES = ("posts", "story_posts", "dedup_keys", "stances", "labels")


class StoreError(Exception):
    """Base of the store's errors."""


class UnknownStory(StoreError, LookupError):
    """No story with that slug; the message lists the ones that exist."""


def describe_error(error: BaseException | str | None) -> str | None:
    """One line saying what went wrong, without the SQL statement or its parameters.

    SQLAlchemy's errors carry the full INSERT with every post's text; that belongs in a
    debug log, not in the `runs` table, `reactions status` or the Health page.
    """
    if error is None:
        return None
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        orig = error.orig
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return storable_text(f"database error ({type(orig).__name__}): {first}"[:500])
    text = str(error)
    for marker in ("\n[SQL:", "[SQL:", "\n[parameters:", "\n(Background on this error"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return storable_text(" ".join(text.split())[:2000])


class StoreBase:
    """The engine and transactions that every area of the store shares."""

    def __init__(self, url: str | Engine, *, migrate: bool = True) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        self._stats_lock = threading.Lock()
        self._written: dict[str, int] = {}  # rows written per table since its last ANALYZE
        self._analyzed_rows: dict[str, float] = {}  # rows the table had at its last ANALYZE
        if migrate:
            self.migrate()

    @classmethod
    def from_settings(cls, settings: Any = None, *, migrate: bool = True) -> StoreBase:
        """The store the settings point at (REACTIONS_DATABASE_URL, else SQLite in the data dir)."""
        from reactions.config import get_settings

        settings = settings or get_settings()
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.sqlalchemy_url, migrate=migrate)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema up to the newest migration (a no-op when it is current)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        with self.engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            after = MigrationContext.configure(conn).get_current_revision()
        if after != before:  # new or rebuilt tables start without planner statistics
            self.refresh_statistics(force=True)

    @contextmanager
    def begin(self, *, flush: bool = True) -> Iterator[Connection]:
        """A transaction; everything done through the connection commits or rolls back together.

        `flush=False` lets PostgreSQL acknowledge the commit before its WAL reaches the disk
        (`synchronous_commit = off` for this transaction only): a server crash can then lose
        the last few such commits, never corrupt or half-apply one. Collection pages use
        it, as a page and the cursor past it are lost together and simply fetched again;
        it saves a disk flush per page. After a commit that wrote many rows, the planner
        statistics are refreshed (see `refresh_statistics`), outside the transaction.
        """
        with self.engine.begin() as conn:
            if not flush and self.dialect == "postgresql":
                conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            yield conn
        if self._written:
            self.refresh_statistics()

    # -- planner statistics ------------------------------------------------------------

    def _wrote(self, table: str, rows: int) -> None:
        with self._stats_lock:
            self._written[table] = self._written.get(table, 0) + rows

    @staticmethod
    def _table_rows(conn: Connection, table: str) -> float:
        """The row count PostgreSQL last recorded for the table (0 when never analyzed)."""
        rows = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                    "to_regclass(:name)"), {"name": table}).scalar()
        return max(float(rows or 0), 0.0)

    def refresh_statistics(self, tables: Sequence[str] | None = None, *,
                           force: bool = False) -> list[str]:
        """ANALYZE the tables this process has grown by a quarter since their last ANALYZE
        (all of `tables`, default the ingest and dashboard tables, with `force`); returns
        the tables analyzed.

        PostgreSQL plans from these statistics, and nothing else keeps them fresh when
        autovacuum is off (or slow to notice a bulk load); ANALYZE samples a fixed number
        of rows, so each refresh costs tens of milliseconds at any size. SQLite is left
        to its built-in heuristics: with sampled `sqlite_stat1` statistics the Story page
        at 100,000 posts measured slower (1.2-1.3 s cold against 0.6-0.9 s, same database
        file, alternating runs). A refresh that fails is logged and never fails the write
        that triggered it.
        """
        if self.dialect != "postgresql":
            self._written.clear()
            return []
        names = list(tables or ANALYZED_TABLES)
        with self._stats_lock:
            if not force:  # decided in memory where it can be: no round trip per page
                names = [n for n in names if self._written.get(n, 0) >= ANALYZE_MIN_ROWS and (
                    n not in self._analyzed_rows
                    or self._written[n] >= ANALYZE_GROWTH * self._analyzed_rows[n])]
            if not names:
                return []
            done = []
            try:
                with self.engine.begin() as conn:
                    for name in names:
                        if name not in self._analyzed_rows:
                            self._analyzed_rows[name] = self._table_rows(conn, name)
                        grown = self._written.get(name, 0)
                        if force or grown >= ANALYZE_GROWTH * self._analyzed_rows[name]:
                            done.append(name)
                    if done:
                        conn.execute(sa.text("ANALYZE " + ", ".join(done)))
                    for name in done:
                        self._analyzed_rows[name] = self._table_rows(conn, name)
                        self._written.pop(name, None)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not refresh planner statistics of %s: %s", ", ".join(names),
                            describe_error(exc))
                return []
        if done:
            log.debug("refreshed planner statistics of %s", ", ".join(done))
        return done

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table):
        """An INSERT that can carry ON CONFLICT clauses on this dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - other databases are untested
            raise StoreError(f"bulk upsert is not implemented for {self.dialect}")
        return insert(table)


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if not url.endswith(":memory:") and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the WAL every ~40 MB instead of every 4 MB: random dedup keys dirty
            # pages all over the indexes, and frequent checkpoints rewrote them page by page
            # (commit time per page tripled between 10k and 100k posts without this).
            cur.execute("PRAGMA wal_autocheckpoint=10000")
            # A 16 MiB page cache (SQLite's default is 2 MiB) keeps the dedup keys' index of
            # a story of about 100,000 posts in memory: each page's lookups and inserts then
            # read fewer leaves back from the WAL or the file (about a tenth less CPU per
            # post at that size; 32 MiB measured no better). It is a ceiling per
            # connection, reached only by the pages a connection reads.
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)
