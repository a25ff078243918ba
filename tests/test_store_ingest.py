"""The ingest path on SQLite and PostgreSQL: text the database cannot store, errors without
SQL, the key-first dedup key, its migration, and planner statistics kept fresh."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from reactions import schema as t
from reactions.models import Post
from reactions.pipeline import store_page
from reactions.store import MIGRATIONS, Store, describe_error, storable_text
from reactions.store import engine as store_module

T0 = datetime(2025, 11, 24, 12, 0, tzinfo=timezone.utc)


def post(i, text, **kwargs):
    return Post("bluesky", f"id{i}", text, author=kwargs.pop("author", f"user{i}"),
                created_at=T0 + timedelta(minutes=i), **kwargs)


@pytest.mark.parametrize(("raw", "clean"), [
    ("plain ascii", "plain ascii"),
    ("nul\x00inside\x00", "nulinside"),
    ("lone \ud800 high", "lone \ufffd high"),
    ("lone \udfff low", "lone \ufffd low"),
    ("pair \ud83d\ude00 joined", "pair \U0001F600 joined"),
    ("café \x00 ☕", "café  ☕"),
    (None, None),
])
def test_storable_text(raw, clean):
    assert storable_text(raw) == clean


def test_a_nul_or_a_lone_surrogate_costs_nothing_on_either_database(store, story):
    store.save_story(story)
    page = [
        post(0, "the call\x00 was right"),
        post(1, "a lone \ud83d surrogate", author="bad\udc00name"),
        post(2, "an ordinary post about the call"),
        post(3, "emoji \ud83d\ude00 as a pair", raw={"text\x00": ["x\x00y", {"k": "\udfff"}]}),
    ]
    page[0].raw = {"record": {"text": "the call\x00 was right"}}
    assert store_page(store, story.slug, "bluesky", page, "c1") == 4
    stored = {p.native_id: p for p in store.posts(story.slug)}
    assert stored["id0"].text == "the call was right"
    assert stored["id0"].raw == {"record": {"text": "the call was right"}}
    assert stored["id1"].text == "a lone \ufffd surrogate"
    assert stored["id1"].author == "bad\ufffdname"
    assert stored["id3"].text == "emoji \U0001F600 as a pair"
    assert stored["id3"].raw == {"text": ["xy", {"k": "\ufffd"}]}
    assert store.get_cursor(story.slug, "bluesky") == "c1"
    # The same page again is recognised (ids match the cleaned keys), nothing is added.
    assert store_page(store, story.slug, "bluesky", page, "c2") == 0
    assert store.count_posts(story.slug) == 4


def test_raw_json_that_needs_no_cleaning_is_stored_as_it_came(store, story):
    """The page is checked as a whole: text that only looks like an escaped NUL, and
    characters beyond ASCII, come back exactly."""
    store.save_story(story)
    raw = {"record": {"text": "café ☕ 😀 and a literal \\u0000 here"}, "n": [1, None, 2.5]}
    page = [post(0, "café ☕ 😀", raw=raw), post(1, "plain", raw={})]
    assert store_page(store, story.slug, "bluesky", page, "c1") == 2
    stored = {p.native_id: p for p in store.posts(story.slug)}
    assert stored["id0"].raw == raw and stored["id1"].raw == {}
    assert stored["id0"].text == "café ☕ 😀"


def test_run_errors_are_stored_without_sql(store, story):
    store.save_story(story)
    with pytest.raises(sa.exc.IntegrityError) as caught, store.begin() as conn:
        conn.execute(sa.insert(t.posts).values(platform="x", native_id="1", text=None,
                                               collected_at=T0))
    assert "INSERT INTO posts" in str(caught.value)  # what SQLAlchemy's message carries
    for error in (caught.value, f"unexpected IntegrityError: {caught.value}"):
        run = store.start_run(story.slug, "bluesky")
        store.finish_run(run, added=0, pages=0, error=error)
        stored = store.last_runs()[0]["error"]
        assert "INSERT" not in stored and "[SQL" not in stored and "\n" not in stored
        assert "null" in stored.lower() and "text" in stored  # what went wrong, still said
    assert describe_error(None) is None
    with store.begin() as conn:  # a row stored before errors were cleaned is shown clean
        conn.execute(sa.update(t.runs).values(error=f"unexpected: {caught.value}"))
    assert "INSERT" not in store.last_runs()[0]["error"]


def test_dedup_keys_are_key_first(store):
    pk = sa.inspect(store.engine).get_pk_constraint("dedup_keys")
    assert pk["constrained_columns"] == ["key", "story"]
    indexes = {i["name"]: i["column_names"]
               for i in sa.inspect(store.engine).get_indexes("dedup_keys")}
    assert indexes["ix_dedup_keys_story"] == ["story"]


@pytest.mark.postgres
def test_the_cached_generic_plan_probes_the_keys(postgres_url):
    """The plan psycopg's prepared statement ends up with (generic, statistics from when the
    table was empty) probes the key-first primary key with the page's keys."""
    store = Store(postgres_url)  # statistics taken now, on empty tables, and never again
    with store.engine.begin() as conn:
        for slug in ("s", "t"):
            conn.execute(sa.insert(t.stories).values(slug=slug, title="S", claim="c",
                                                     definition={}, active=True, created_at=T0,
                                                     updated_at=T0))
        pid = conn.execute(sa.insert(t.posts).values(platform="x", native_id="1", text="t",
                                                     collected_at=T0)).inserted_primary_key[0]
        conn.execute(sa.text("INSERT INTO dedup_keys (story, key, post_id) SELECT s, k, :p "
                             "FROM generate_series(1, 20000) AS k, unnest(ARRAY['s', 't']) AS s"),
                     {"p": pid})
    with store.engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.execute(sa.text("PREPARE owners(varchar, bigint[]) AS SELECT key, post_id FROM "
                             "dedup_keys WHERE story = $1 AND key = ANY($2)"))
        plan = "\n".join(conn.execute(sa.text(
            "EXPLAIN EXECUTE owners('s', ARRAY[1, 2]::bigint[])")).scalars())
        conn.execute(sa.text("DEALLOCATE owners"))
    store.close()
    assert "pk_dedup_keys" in plan and "key = ANY" in plan.split("Index Cond")[1], plan


def test_migration_keeps_the_keys_of_a_0002_database(db_url, story):
    from alembic import command
    from alembic.config import Config

    engine = store_module.make_engine(db_url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        assert sa.inspect(conn).get_pk_constraint("dedup_keys")["constrained_columns"] == [
            "story", "key"]
        conn.execute(sa.insert(t.stories).values(slug="s", title="S", claim="c", definition={},
                                                 active=True, created_at=T0, updated_at=T0))
        pid = conn.execute(sa.insert(t.posts).values(platform="x", native_id="1", text="t",
                                                     collected_at=T0)).inserted_primary_key[0]
        conn.execute(sa.text("INSERT INTO dedup_keys (story, key, post_id) VALUES "
                             "('s', -5, :p), ('s', 7, :p)"), {"p": pid})
    engine.dispose()
    store = Store(db_url)  # upgrades to head
    with store.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(t.dedup_keys.c.key)).scalars()) == [-5, 7]
        assert "message_id" in {c["name"] for c in sa.inspect(conn).get_columns("digests")}
    assert sa.inspect(store.engine).get_pk_constraint("dedup_keys")["constrained_columns"] == [
        "key", "story"]
    store.close()


def _analyzed(store: Store, table: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = "
            "to_regclass(:t)"), {"t": table}).scalar()


@pytest.mark.postgres
def test_statistics_are_refreshed_after_a_bulk_load(postgres_url, story, monkeypatch):
    monkeypatch.setattr(store_module, "ANALYZE_MIN_ROWS", 50)
    store = Store(postgres_url)
    store.save_story(story)
    refreshed = []
    original = store.refresh_statistics
    monkeypatch.setattr(store, "refresh_statistics",
                        lambda *a, **k: refreshed.extend(original(*a, **k)) or refreshed)
    store_page(store, story.slug, "bluesky", [post(i, f"post {i} on the call and more words")
                                              for i in range(3)], "c1")
    assert refreshed == []  # under the threshold: nothing to do, no round trip
    for page in range(1, 4):
        store_page(store, story.slug, "bluesky",
                   [post(i, f"post {i} about the call, {i} words") for i in
                    range(page * 100, page * 100 + 100)], f"c{page}")
    assert {"posts", "story_posts", "dedup_keys"} <= set(refreshed)
    assert _analyzed(store, "posts") and _analyzed(store, "dedup_keys")
    # Geometric: the next refresh waits for the tables to grow by a quarter again.
    count = len(refreshed)
    store_page(store, story.slug, "bluesky", [post(i, f"one more post {i} here")
                                              for i in range(1000, 1010)], "c9")
    assert len(refreshed) == count
    store.close()


def test_sqlite_keeps_its_heuristic_plans(sqlite_url, story, monkeypatch):
    """Sampled statistics made the Story page slower on SQLite: none are taken there."""
    monkeypatch.setattr(store_module, "ANALYZE_MIN_ROWS", 50)
    store = Store(sqlite_url)
    store.save_story(story)
    store_page(store, story.slug, "bluesky", [post(i, f"post {i} about the call, {i} words")
                                              for i in range(200)], "c1")
    assert store.refresh_statistics(force=True) == []
    with store.engine.connect() as conn:
        assert not conn.execute(sa.text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar()
    store.close()


def test_batched_minhash_equals_datasketch():
    """The stored dedup keys come from this signature: it must stay datasketch's, value for
    value, or keys filed before would stop matching."""
    import zlib

    from datasketch import MinHash

    from nlp import text

    texts = ["the call was the right thing to do", "RT @a: the call was the right thing",
             "Ünïcode wörds, and 😀 emoji too here", "one two three", "x " * 300]
    sets = [text._shingles_of_key(text.dedup_key(t)) for t in texts]
    ours = text._minhash_values(sets, 64)
    for shingles, signature in zip(sets, ours):
        reference = MinHash(num_perm=64, hashfunc=zlib.crc32)
        reference.update_batch(list(shingles))
        assert signature.tolist() == reference.hashvalues.tolist()
    assert text._minhash_values([], 64) == []


def test_dedup_keys_are_the_ones_stored_before():
    """Keys are stored: the same texts must keep giving the same keys, value for value."""
    from nlp.text import dedup_keys

    assert dedup_keys(["The call was the right thing to do, says everyone here", "ok",
                       "Ünïcode wörds 😀 and more words"]) == [
        [4582707165959692131, -3343750427921563624, 3861802237850876833, 7879003935184591812,
         -7186283757242611735, -6310667156875636389],
        [5644386772846488007, -2357837889195550789, -8072812516465572553, 1305945647526686871,
         3044356041063366867, 5876223295857555148],
        [6660941445201380342, -1310599186042335873, -2142224869980443280, 7336370165587869677,
         3634880303000700396, -2643245437161490961],
    ]


@pytest.mark.postgres
def test_one_post_postgresql_refuses_costs_that_post_not_the_page(postgres_url, story, caplog):
    store = Store(postgres_url)
    store.save_story(story)
    page = [post(i, f"post {i} about the call, with words") for i in range(5)]
    page[2].native_id = "x" * 400  # longer than the column allows
    page[3].likes = 2**40  # out of an integer's range
    assert store_page(store, story.slug, "bluesky", page, "c1") == 3
    assert sorted(p.native_id for p in store.posts(story.slug)) == ["id0", "id1", "id4"]
    assert page[2].id is None and page[3].id is None and page[0].id is not None
    assert store.get_cursor(story.slug, "bluesky") == "c1"  # the page is done
    assert caplog.text.count("skipped post bluesky/") == 2 and "INSERT" not in caplog.text
    store.close()


def test_a_page_mixing_platforms_gets_each_post_its_own_id(store, story):
    """The same native id on two platforms is two posts; a page seen again keeps the ids,
    refreshes the counts, and raw JSON comes back as it went in (None stays NULL)."""
    store.save_story(story)
    page = [Post("bluesky", "same", "a post on bluesky", created_at=T0, raw={"n": [1, 2.5]}),
            Post("mastodon", "same", "a post on mastodon", created_at=T0, raw=None),
            post(1, "another post", raw={"deep": {"é": "☕"}})]
    assert store.upsert_posts(story.slug, page, source="mixed") == 3
    first = [p.id for p in page]
    assert len(set(first)) == 3 and None not in first
    again = [Post("bluesky", "same", "a post on bluesky", created_at=T0, likes=7),
             Post("mastodon", "same", "a post on mastodon", created_at=T0),
             post(1, "another post", raw={"deep": {"é": "☕"}})]
    assert store.upsert_posts(story.slug, again, source="mixed") == 0
    assert [p.id for p in again] == first
    stored = {(p.platform, p.native_id): p for p in store.posts(story.slug)}
    assert stored[("bluesky", "same")].likes == 7
    assert stored[("bluesky", "same")].raw == {"n": [1, 2.5]}
    assert stored[("bluesky", "id1")].raw == {"deep": {"é": "☕"}}
    with store.engine.connect() as conn:  # SQL NULL, not the JSON text 'null'
        assert conn.exec_driver_sql("SELECT raw IS NULL FROM posts WHERE platform = 'mastodon'"
                                    ).scalar_one()


def testsqlite_times_are_written_as_sqlalchemy_writes_them(sqlite_url, story):
    """The ingest writes created_at and collected_at as text itself; it must be the text
    SQLAlchemy writes (and reads back), or time filters would compare unlike strings."""
    from reactions.store.posts import sqlite_time

    moments = [datetime(2025, 11, 24, 12, 0), datetime(2025, 11, 24, 12, 0, 0, 7),
               datetime(2025, 11, 24, 7, 30, 5, 120000, tzinfo=timezone(timedelta(hours=-5)))]
    for moment in moments:
        as_utc = moment if moment.tzinfo is None else moment.astimezone(timezone.utc)
        assert sqlite_time(moment) == as_utc.strftime("%Y-%m-%d %H:%M:%S.%f")
    store = Store(sqlite_url)
    store.save_story(story)
    page = [Post("bluesky", f"id{i}", f"post number {i}", created_at=moment)
            for i, moment in enumerate(moments)]
    store.upsert_posts(story.slug, page)
    with store.engine.connect() as conn:
        written = conn.exec_driver_sql("SELECT created_at FROM posts ORDER BY id").scalars().all()
        assert written == [sqlite_time(m) for m in moments]
        conn.execute(sa.insert(t.posts).values(platform="x", native_id="sa", text="t",
                                               created_at=moments[1], collected_at=T0))
        assert conn.exec_driver_sql("SELECT created_at FROM posts WHERE native_id = 'sa'"
                                    ).scalar() == written[1]
    back = {p.native_id: p.created_at for p in store.posts(story.slug)}
    assert back["id2"] == moments[2] and back["id1"] == moments[1].replace(tzinfo=timezone.utc)
    before = datetime.now(timezone.utc)
    store.commit_page(story.slug, "bluesky", [], "next")  # the cursor's own SQLite statement
    store.commit_page(story.slug, "bluesky", [], "after next")
    with store.engine.connect() as conn:
        cursor, updated_at = conn.execute(sa.select(t.cursors.c.cursor, t.cursors.c.updated_at)
                                          ).one()
    assert cursor == "after next" and before <= updated_at <= datetime.now(timezone.utc)
    store.close()


@pytest.mark.parametrize("text", ["", "one", "  one  ", "one two", "one, two", "é ü", "a_b",
                                  "a_b c", "1 2", "!!", "word!", "¡hola! qué", "中文 字",
                                  "@ @", "x\ty", "#1 #2"])
def test_the_two_word_check_is_a_word_count(text):
    """detect_language's early exit searches for a second word instead of counting them."""
    from nlp.text import _TWO_WORDS, _WORD

    assert bool(_TWO_WORDS.search(text)) == (len(_WORD.findall(text)) >= 2)


@pytest.mark.parametrize("key", ["", "one", "one two", "one two three", "a b c d e f a b c",
                                 "café ☕ crème brûlée now"])
def test_shingles_of_three_words_are_the_sliced_ones(key):
    from nlp.text import _shingles_of_key

    words = key.split()
    sliced = ({" ".join(words[i:i + 3]).encode() for i in range(len(words) - 2)}
              if len(words) >= 3 else ({" ".join(words).encode()} if words else set()))
    assert _shingles_of_key(key) == sliced


def test_sqlite_connections_keep_wal_and_a_larger_page_cache(sqlite_store):
    """Durability stays WAL with synchronous=NORMAL; the page cache is the store's size."""
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == (
            -store_module.SQLITE_CACHE_KIB)
