"""The Story page's ordered reads use the indexes made for them on PostgreSQL (migration
0006), and SQLite is left without them."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from reactions import schema as t
from reactions.models import Post, StancePrediction, Story
from reactions.store import Store, aggregates, export

T0 = datetime(2025, 11, 24, 12, 0, tzinfo=timezone.utc)


def _seeded(url: str) -> Store:
    store = Store(url)
    store.save_story(Story(slug="s", title="S", claim="The call is right."))
    posts = [Post("bluesky", f"p{i}", f"post {i}", likes=i % 17, reposts=i % 5,
                  created_at=None if i % 50 == 0 else T0 + timedelta(minutes=i))
             for i in range(300)]
    store.upsert_posts("s", posts, source="bluesky")
    store.save_stances("s", [(p.id, StancePrediction("neutral", {"neutral": 0.6}))
                             for p in posts], "m")
    return store


def _plan(store: Store, query) -> str:
    """EXPLAIN of the query as PostgreSQL plans it once psycopg has prepared it: a generic
    plan, whose bound parameters are unknown, with sorting and sequential scans priced out.
    An index is then used if and only if one holds the order as written."""
    from sqlalchemy.dialects.postgresql import psycopg

    dialect = psycopg.dialect(paramstyle="numeric_dollar")
    compiled = query.compile(dialect=dialect)
    values = [compiled.params[name] for name in compiled.positiontup]
    kinds = [compiled.binds[name].type.compile(dialect) for name in compiled.positiontup]
    types = ", ".join(kinds)
    with store.engine.begin() as conn:
        for setting in ("plan_cache_mode = force_generic_plan", "enable_sort = off",
                        "enable_seqscan = off"):
            conn.exec_driver_sql("SET LOCAL " + setting)
        conn.exec_driver_sql(f"PREPARE page_query ({types}) AS {compiled}")
        # EXPLAIN takes no bound parameters: the test's own values, spelt as literals.
        arguments = ", ".join(
            str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"
            for v in values)
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE page_query({arguments})").scalars()
        plan = "\n".join(rows)
        conn.exec_driver_sql("DEALLOCATE page_query")
    return plan


@pytest.mark.postgres
def test_top_posts_and_newest_posts_read_an_index(postgres_url):
    store = _seeded(postgres_url)
    try:
        top = (aggregates._posts_query("s", aggregates.NO_FILTERS)
               .where(t.posts.c.duplicate_of.is_(None))
               .order_by(aggregates._engagement().desc(), t.posts.c.id.desc()).limit(300))
        assert "ix_posts_engagement" in _plan(store, top)
        newest = export._newest_first(export._select(export.PostQuery("s"))).limit(100)
        assert "ix_posts_newest" in _plan(store, newest)
        # And the rows are the ones the order asks for.
        best = aggregates.top_posts_by_bucket(store, "s", limit=3)["neutral"]
        score = [p["likes"] + 2 * p["reposts"] for p in best]
        assert score == sorted(score, reverse=True) and score[0] == 16 + 2 * 4
        page = export.page(store, export.PostQuery("s"), limit=300)
        times = [r.created_at for r in page]
        assert times[-6:] == [None] * 6 and times[:-6] == sorted(times[:-6], reverse=True)
    finally:
        store.close()


def test_sqlite_gets_no_story_page_indexes(sqlite_url):
    store = Store(sqlite_url)
    try:
        names = {i["name"] for i in sa.inspect(store.engine).get_indexes("posts")}
        assert "ix_posts_created_at" in names
        assert not names & {"ix_posts_engagement", "ix_posts_newest"}
    finally:
        store.close()
