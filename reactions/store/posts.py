"""Posts: ingest (bulk upserts, filing under a story), reads, embeddings and dedup keys.

The ingest functions at the bottom are the hot path of collection: on PostgreSQL one
statement per page, with the page as one JSON (or array) parameter; on SQLite sqlite3's
own executemany, which binds the rows in C.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reactions import schema as t
from reactions.models import Post, utcnow
from reactions.store.engine import CHUNK, describe_error
from reactions.store.text import storable_dump, storable_json, storable_text

log = logging.getLogger(__name__)


def _post_key(post: Post) -> tuple[str, str]:
    """(platform, native id) as stored: the posts table's unique key."""
    return post.platform, storable_text(str(post.native_id))


def _post_row(post: Post, *, clean_raw: bool = True) -> dict[str, Any]:
    """The post as a posts row. With `clean_raw=False` the raw JSON is left as it is, for a
    caller that sends the page through `_page_json`, which cleans it for the whole page."""
    return {
        "platform": post.platform,
        "native_id": storable_text(str(post.native_id)),
        "author": storable_text(post.author),
        "text": storable_text(post.text),
        "language": storable_text(post.language),
        "created_at": post.created_at,
        "collected_at": post.collected_at,
        "url": storable_text(post.url),
        "likes": int(post.likes or 0),
        "reposts": int(post.reposts or 0),
        "replies": int(post.replies or 0),
        "reply_to": storable_text(post.reply_to),
        "raw": storable_json(post.raw) if clean_raw else post.raw,
    }


def _page_json(page: list[dict[str, Any]]) -> str:
    """Rows as one JSON text for the server to unpack, every `raw` value made storable.

    The whole page is checked the way `storable_json` checks one value (a NUL is escaped as
    \\u0000, a lone surrogate fails to encode), and only a page that fails has its raw
    values cleaned, one by one. So a page is encoded once, where checking each post's raw
    JSON first encoded every post twice. The other columns were cleaned by `_post_row`.
    """
    return storable_dump(page) or json.dumps(
        [{**row, "raw": storable_json(row["raw"])} for row in page], ensure_ascii=False)


def row_to_post(row: Any) -> Post:
    """Build a `Post` from a row of the posts table (extra columns are ignored)."""
    m = row._mapping
    return Post(
        id=m["id"], platform=m["platform"], native_id=m["native_id"], text=m["text"],
        author=m["author"], created_at=m["created_at"], url=m["url"], language=m["language"],
        likes=m["likes"], reposts=m["reposts"], replies=m["replies"], reply_to=m["reply_to"],
        collected_at=m["collected_at"], raw=m["raw"] or {}, duplicate_of=m["duplicate_of"],
    )


class PostsMixin:
    """The posts and story_posts tables, embeddings and near-duplicate keys."""

    def upsert_posts(
        self, story: str, posts: Sequence[Post], *, source: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Store posts for a story; returns how many are new to the story.

        Posts are unique on (platform, native id): a post seen again only refreshes its
        engagement counts, so ingesting the same page twice adds nothing. Each stored
        post's `id` is filled in.
        """
        if conn is None:
            with self.begin() as conn:
                return self.upsert_posts(story, posts, source=source, conn=conn)
        if not posts:
            return 0
        # The last occurrence of a key in one batch wins, as it would across batches.
        unique: dict[tuple[str, str], Post] = {}
        for post in posts:
            unique[_post_key(post)] = post
        # Both dialects' statements clean the raw JSON on the way (_page_json, _raw_text).
        raw_cleaned_later = self.dialect in ("postgresql", "sqlite")
        rows = [_post_row(p, clean_raw=not raw_cleaned_later) for p in unique.values()]
        now = utcnow()
        if self.dialect == "postgresql":
            ids = _pg_upsert_posts_or_skip(conn, rows)
            for post in posts:  # a post the database refused keeps id None (and is skipped)
                post.id = ids.get(_post_key(post))
            added = _pg_link_posts(conn, story, source or "unknown", list(ids.values()), now)
            self._wrote("posts", len(rows))
            self._wrote("story_posts", added)
            return added
        if self.dialect == "sqlite":
            ids = _sqlite_upsert_posts(conn, rows)
            for post in posts:
                post.id = ids[_post_key(post)]
            added = _sqlite_link_posts(conn, story, source or "unknown", list(ids.values()), now)
            self._wrote("posts", len(rows))
            self._wrote("story_posts", added)
            return added
        ids: dict[tuple[str, str], int] = {}
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            stmt = self._insert(t.posts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["platform", "native_id"],
                set_={"likes": stmt.excluded.likes, "reposts": stmt.excluded.reposts,
                      "replies": stmt.excluded.replies},
            ).returning(t.posts.c.id, t.posts.c.platform, t.posts.c.native_id)
            # executemany: compiled once and cached (a multi-row VALUES is recompiled per
            # batch size, which dominated ingest time); batched by insertmanyvalues.
            for row in conn.execute(stmt, chunk):
                ids[(row.platform, row.native_id)] = row.id
        for post in posts:  # duplicates within the batch share the id
            post.id = ids[_post_key(post)]
        links = [{"story": story, "post_id": i, "source": source or "unknown", "added_at": now}
                 for i in ids.values()]
        added = 0
        for start in range(0, len(links), CHUNK):
            stmt = (self._insert(t.story_posts).on_conflict_do_nothing()
                    .returning(t.story_posts.c.post_id))
            # rowcount is unreliable for multi-row inserts on PostgreSQL; count what came back.
            added += len(conn.execute(stmt, links[start : start + CHUNK]).all())
        self._wrote("posts", len(rows))
        self._wrote("story_posts", added)
        return added

    def _story_posts_query(self, story: str, since: datetime | None, until: datetime | None):
        query = (
            sa.select(t.posts)
            .join(t.story_posts, t.story_posts.c.post_id == t.posts.c.id)
            .where(t.story_posts.c.story == story)
        )
        if since is not None:
            query = query.where(t.posts.c.created_at >= since)
        if until is not None:
            query = query.where(t.posts.c.created_at < until)
        return query

    def posts(
        self, story: str, *, since: datetime | None = None, until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Post]:
        """The story's posts, newest first."""
        query = self._story_posts_query(story, since, until).order_by(
            t.posts.c.created_at.desc(), t.posts.c.id.desc()
        ).limit(limit)
        with self.engine.connect() as conn:
            return [row_to_post(r) for r in conn.execute(query)]

    def count_posts(self, story: str | None = None) -> int:
        with self.engine.connect() as conn:
            if story is None:
                return conn.execute(sa.select(sa.func.count()).select_from(t.posts)).scalar_one()
            return conn.execute(
                sa.select(sa.func.count()).select_from(t.story_posts)
                .where(t.story_posts.c.story == story)
            ).scalar_one()

    def set_duplicates(self, links: dict[int, int | None]) -> None:
        """Record which post each post repeats (post id -> original id, or None)."""
        if not links:
            return
        with self.begin() as conn:
            conn.execute(
                sa.update(t.posts).where(t.posts.c.id == sa.bindparam("pid"))
                .values(duplicate_of=sa.bindparam("orig")),
                [{"pid": k, "orig": v} for k, v in links.items()],
            )

    def save_embeddings(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        rows = [{"post_id": pid, "model": model, "vector": np.asarray(v, "<f4").tobytes()}
                for pid, v in vectors.items()]
        with self.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                stmt = self._insert(t.embeddings).values(rows[start : start + CHUNK])
                conn.execute(stmt.on_conflict_do_nothing())

    def drop_embeddings(self, prefix: str, keep: str) -> int:
        """Delete the stored vectors of every model whose name starts with `prefix`, except
        `keep` (vectors of superseded weights); returns how many rows went."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.begin() as conn:
            result = conn.execute(sa.delete(t.embeddings).where(
                t.embeddings.c.model.like(pattern, escape="\\"), t.embeddings.c.model != keep))
        return result.rowcount or 0

    def embeddings(self, model: str, post_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored embeddings of these posts for this model (missing ones are absent)."""
        out: dict[int, np.ndarray] = {}
        ids = list(post_ids)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = sa.select(t.embeddings.c.post_id, t.embeddings.c.vector).where(
                    t.embeddings.c.model == model,
                    t.embeddings.c.post_id.in_(ids[start : start + CHUNK]),
                )
                for pid, blob in conn.execute(query):
                    out[pid] = np.frombuffer(blob, dtype="<f4")
        return out

    def commit_page(self, story: str, source: str, posts: Sequence[Post], cursor: str | None) -> int:
        """Store a page's posts and move the cursor past them, in one transaction."""
        with self.begin(flush=False) as conn:  # lost only with its cursor: fetched again
            added = self.upsert_posts(story, posts, source=source, conn=conn)
            self.save_cursor(story, source, cursor, conn=conn)
        return added

    # -- near-duplicate keys (collectors, #3) ------------------------------------------

    def dedup_owners(self, story: str, keys: Sequence[int], *, conn: Connection) -> dict[int, int]:
        """key -> id of the original post filed under it, for the keys the story knows."""
        owners: dict[int, int] = {}
        unique = list(dict.fromkeys(keys))
        if self.dialect == "postgresql":
            # One typed array parameter: one round trip and one plan, where an IN list of
            # 500 parameters per chunk cost PostgreSQL ~40% of ingest time.
            from sqlalchemy.dialects.postgresql import ARRAY

            keys_param = sa.bindparam("keys", unique, type_=ARRAY(sa.BigInteger))
            query = sa.select(t.dedup_keys.c.key, t.dedup_keys.c.post_id).where(
                t.dedup_keys.c.story == story, t.dedup_keys.c.key == sa.any_(keys_param))
            return dict(conn.execute(query).all())
        if self.dialect == "sqlite":  # one fixed statement, the keys as one JSON parameter
            with sqlite_cursor(conn) as cursor:
                return dict(cursor.execute(
                    "SELECT key, post_id FROM dedup_keys WHERE key IN "
                    "(SELECT value FROM json_each(?)) AND story = ?",
                    (json.dumps(unique), story)).fetchall())
        for start in range(0, len(unique), CHUNK):  # pragma: no cover - untested databases
            query = sa.select(t.dedup_keys.c.key, t.dedup_keys.c.post_id).where(
                t.dedup_keys.c.story == story, t.dedup_keys.c.key.in_(unique[start : start + CHUNK]))
            owners.update((key, pid) for key, pid in conn.execute(query))
        return owners

    def file_duplicates(
        self, story: str, keys: Sequence[tuple[int, int]], links: dict[int, int], *,
        conn: Connection,
    ) -> None:
        """File (key, post id) rows of new originals and set `duplicate_of` of repeats."""
        if keys and self.dialect == "postgresql":
            # Two array parameters unnested server-side: one statement and one round trip
            # for the page's thousands of keys, where executemany sent one row group each.
            conn.execute(_PG_FILE_KEYS, {"story": story, "keys": [k for k, _ in keys],
                                         "post_ids": [pid for _, pid in keys]})
        elif keys and self.dialect == "sqlite":
            # Straight to sqlite3's executemany: SQLAlchemy's per-row parameter handling
            # cost more than the inserts themselves (about ten keys per post).
            with sqlite_cursor(conn) as cursor:
                cursor.executemany(
                    "INSERT INTO dedup_keys (story, key, post_id) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING", [(story, k, pid) for k, pid in keys])
        elif keys:  # pragma: no cover - other databases are untested
            rows = [{"story": story, "key": k, "post_id": pid} for k, pid in keys]
            for start in range(0, len(rows), CHUNK):
                conn.execute(self._insert(t.dedup_keys).on_conflict_do_nothing(),
                             rows[start : start + CHUNK])
        self._wrote("dedup_keys", len(keys))
        if links and self.dialect == "sqlite":
            with sqlite_cursor(conn) as cursor:
                cursor.executemany("UPDATE posts SET duplicate_of = ? WHERE id = ?",
                                   [(orig, pid) for pid, orig in links.items()])
        elif links:
            conn.execute(
                sa.update(t.posts).where(t.posts.c.id == sa.bindparam("pid"))
                .values(duplicate_of=sa.bindparam("orig")),
                [{"pid": k, "orig": v} for k, v in links.items()],
            )

    def post_ids(
        self, keys: Iterable[tuple[str, str]], *, conn: Connection,
    ) -> dict[tuple[str, str], int]:
        """(platform, native id) -> store id, for those of these posts that are stored."""
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], int] = {}
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            query = sa.select(t.posts.c.id, t.posts.c.platform, t.posts.c.native_id).where(
                sa.tuple_(t.posts.c.platform, t.posts.c.native_id).in_(chunk))
            found.update(((r.platform, r.native_id), r.id) for r in conn.execute(query))
        return found

    def clear_duplicates(self, story: str, *, conn: Connection) -> None:
        """Forget the story's dedup keys and links (before re-linking every post)."""
        conn.execute(sa.delete(t.dedup_keys).where(t.dedup_keys.c.story == story))
        ids = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story == story)
        conn.execute(sa.update(t.posts).where(t.posts.c.id.in_(ids)).values(duplicate_of=None))


_POST_COLUMNS = {
    "platform": "varchar", "native_id": "varchar", "author": "text", "text": "text",
    "language": "varchar", "created_at": "timestamptz", "collected_at": "timestamptz",
    "url": "text", "likes": "integer", "reposts": "integer", "replies": "integer",
    "reply_to": "varchar", "raw": "json",
}


def _pg_upsert_posts_statement() -> sa.TextClause:
    names = ", ".join(_POST_COLUMNS)
    record = ", ".join(f"{c} {kind}" for c, kind in _POST_COLUMNS.items())
    sql = (f"INSERT INTO posts ({names}) SELECT {names} "
           f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
           "ON CONFLICT (platform, native_id) DO UPDATE SET likes = excluded.likes, "
           "reposts = excluded.reposts, replies = excluded.replies "
           "RETURNING id, platform, native_id")
    return sa.text(sql)


_PG_UPSERT_POSTS = _pg_upsert_posts_statement()
_PG_LINK_POSTS = sa.text(
    "INSERT INTO story_posts (story, post_id, source, added_at) "
    "SELECT :story, p.id, :source, :added_at FROM unnest(CAST(:ids AS integer[])) AS p(id) "
    "ON CONFLICT DO NOTHING RETURNING post_id"
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _pg_upsert_posts(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Upsert rows in one statement whose one parameter is the page as a JSON array, which
    the server unpacks (`json_to_recordset`). The statement text never changes, so psycopg
    prepares it once per connection, where an executemany's multi-row VALUES (13
    placeholders per post) was parsed again on every page, and `json.dumps` (C) encodes
    the page faster than psycopg quotes a text array element by element;
    (platform, native id) -> id."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else _utc(value).isoformat()

    page = [{**row, "created_at": iso(row["created_at"]), "collected_at": iso(row["collected_at"])}
            for row in rows]
    return {(r.platform, r.native_id): r.id
            for r in conn.execute(_PG_UPSERT_POSTS, {"rows": _page_json(page)})}


def _pg_upsert_posts_or_skip(conn: Connection, rows: list[dict[str, Any]]
                             ) -> dict[tuple[str, str], int]:
    """`_pg_upsert_posts` in a savepoint; when PostgreSQL refuses the page's data (a value
    too long for its column, a number out of range), the rows are tried one by one, each in
    its own savepoint, so one bad row costs that row and not the page. The refused rows are
    logged with the reason (never their text)."""
    try:
        with conn.begin_nested():
            return _pg_upsert_posts(conn, rows)
    except sa.exc.DataError:
        pass
    ids: dict[tuple[str, str], int] = {}
    for row in rows:
        try:
            with conn.begin_nested():
                ids.update(_pg_upsert_posts(conn, [row]))
        except sa.exc.DataError as exc:
            log.warning("skipped post %s/%.80s: %s", row["platform"], row["native_id"],
                        describe_error(exc))
    return ids


def _pg_link_posts(conn: Connection, story: str, source: str, ids: list[int],
                   now: datetime) -> int:
    """File posts under a story in one statement; how many were new to it."""
    result = conn.execute(_PG_LINK_POSTS, {"story": story, "source": source,
                                           "added_at": _utc(now), "ids": ids})
    return len(result.all())


# SQLite: sqlite3's own executemany binds the page's rows in C, then one SELECT over the
# page's native ids (the unique index, probed once per post) reads the ids back.
_SQLITE_INSERT_POSTS = (
    f"INSERT INTO posts ({', '.join(_POST_COLUMNS)}) VALUES ({', '.join('?' * len(_POST_COLUMNS))})"
    " ON CONFLICT (platform, native_id) DO UPDATE SET "
    "likes = excluded.likes, reposts = excluded.reposts, replies = excluded.replies"
)
_SQLITE_POST_IDS = (
    "SELECT id, native_id FROM posts WHERE platform = ? AND native_id IN "
    "(SELECT value FROM json_each(?))"
)
_SQLITE_LINK_POSTS = (
    "INSERT INTO story_posts (story, post_id, source, added_at) SELECT ?, value, ?, ? "
    "FROM json_each(?) WHERE true ON CONFLICT DO NOTHING RETURNING post_id"
)


@contextmanager
def sqlite_cursor(conn: Connection) -> Iterator[Any]:
    """sqlite3's own cursor on the connection, in its open transaction, for the ingest's
    statements: SQLAlchemy's result object for each statement cost more per page than
    SQLite's work for the small ones. These statements are plain SQL text already."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def sqlite_time(value: datetime | None) -> str | None:
    """A datetime as the posts table stores it on SQLite (naive UTC, SQLAlchemy's format:
    `YYYY-MM-DD HH:MM:SS.ffffff`). `isoformat` writes the same text as the `strftime`
    this replaced, in a third less time; it is called twice per post."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _raw_text(raw: Any) -> str | None:
    """A post's raw JSON as the text SQLite stores, made storable (see `storable_json`):
    encoded once, and walked again only when that text holds a NUL or a lone surrogate."""
    if raw is None:
        return None
    return (storable_dump(raw, separators=(",", ":"))
            or json.dumps(storable_json(raw), ensure_ascii=False, separators=(",", ":")))


def _sqlite_upsert_posts(conn: Connection, rows: list[dict[str, Any]]
                         ) -> dict[tuple[str, str], int]:
    """Upsert rows with sqlite3's executemany (parameters bound in C), then read their ids
    with one SELECT; (platform, native id) -> id.

    This replaced one statement that unpacked the page from a JSON parameter with
    `json_each` and `json_extract`: that parsed each post's JSON object once per column,
    which cost about twice the time of binding the values directly. RETURNING is not
    available to executemany, hence the SELECT.
    """
    params = [(row["platform"], row["native_id"], row["author"], row["text"], row["language"],
               sqlite_time(row["created_at"]), sqlite_time(row["collected_at"]), row["url"],
               row["likes"], row["reposts"], row["replies"], row["reply_to"],
               _raw_text(row["raw"])) for row in rows]
    by_platform: dict[str, list[str]] = {}
    for row in rows:
        by_platform.setdefault(row["platform"], []).append(row["native_id"])
    ids: dict[tuple[str, str], int] = {}
    with sqlite_cursor(conn) as cursor:
        cursor.executemany(_SQLITE_INSERT_POSTS, params)
        for platform, native_ids in by_platform.items():
            for start in range(0, len(native_ids), 5000):  # one statement per page in practice
                chunk = json.dumps(native_ids[start:start + 5000])
                ids.update(((platform, native_id), pid) for pid, native_id in cursor.execute(
                    _SQLITE_POST_IDS, (platform, chunk)))
    return ids


def _sqlite_link_posts(conn: Connection, story: str, source: str, ids: list[int],
                       now: datetime) -> int:
    with sqlite_cursor(conn) as cursor:
        return len(cursor.execute(_SQLITE_LINK_POSTS, (story, source, sqlite_time(now),
                                                       json.dumps(ids))).fetchall())


def _pg_file_keys() -> sa.TextClause:
    from sqlalchemy.dialects.postgresql import ARRAY

    return sa.text(
        "INSERT INTO dedup_keys (story, key, post_id) "
        "SELECT :story, k.key, k.post_id FROM unnest(:keys, :post_ids) AS k(key, post_id) "
        "ON CONFLICT DO NOTHING"
    ).bindparams(sa.bindparam("keys", type_=ARRAY(sa.BigInteger)),
                 sa.bindparam("post_ids", type_=ARRAY(sa.Integer)))


_PG_FILE_KEYS = _pg_file_keys()
