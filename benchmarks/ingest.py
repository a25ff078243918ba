"""Ingest throughput and memory: recorded API pages parsed, normalized, de-duplicated and
upserted, into SQLite and PostgreSQL, against a row-by-row insert baseline in the same run.

The pages are Bluesky `searchPosts` responses (100 postViews each, the documented shape),
generated page by page so the input itself takes no memory; about one post in ten is a
repost or near-duplicate of an earlier one. Both paths do the same work per post (JSON
decode, `parse`, language detection from the text, MinHash dedup keys and linking); they
differ only in how rows reach the database:

- ours: `reactions.pipeline.store_page`, one transaction per page, a few statements with
  the page as one JSON or array parameter, duplicates checked against the stored LSH band
  keys of earlier posts (see docs/performance.md);
- baseline: one INSERT per post, per story link and per dedup key, committed per post.

Each measurement runs in a fresh child process, so peak RSS is that run's alone.

    python benchmarks/ingest.py                 # 100,000 posts, SQLite and PostgreSQL
    python benchmarks/ingest.py --count 100000 --baseline-count 10000   # a few minutes
    python benchmarks/ingest.py --count 20000 --no-postgres

Besides wall-clock posts/s, each run reports posts per CPU second of its own process, a
figure that other load on a shared machine disturbs less (PostgreSQL's server-side work is
not in it).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("REACTIONS_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PAGE = 100
WORDS = ("maduro call boats strikes caracas talks law navy oil venezuela trump cartel soles "
         "pressure diplomacy coast guard crews evidence congress war powers sanctions election "
         "president military drugs fentanyl cocaine regime opposition caribbean fleet").split()


def recorded_pages(count: int, seed: int = 7):
    """Raw JSON bodies of searchPosts pages holding `count` posts, newest first."""
    rng = random.Random(seed)
    start = datetime(2025, 11, 20, 16, tzinfo=timezone.utc)
    texts: list[str] = []
    for first in range(0, count, PAGE):
        views = []
        for i in range(first, min(first + PAGE, count)):
            if texts and rng.random() < 0.1:  # a repost or light edit of an earlier post
                text = "RT @someone: " + rng.choice(texts[-5000:]) + " https://t.co/x" + str(i)
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
                text = f"{text.capitalize()} #{i}"
                texts.append(text)
            created = (start - timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            did = f"did:plc:user{i % 5000:05d}"
            views.append({
                "uri": f"at://{did}/app.bsky.feed.post/3l{i:010d}", "cid": f"bafy{i}",
                "author": {"did": did, "handle": f"user{i % 5000}.bsky.social",
                           "displayName": f"User {i % 5000}"},
                "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": created,
                           "langs": ["en"]},
                "replyCount": i % 3, "repostCount": i % 7, "likeCount": i % 50, "quoteCount": 0,
                "indexedAt": created, "labels": [],
            })
        yield json.dumps({"cursor": str(first + PAGE), "posts": views}).encode()


def fresh_database(kind: str, workdir: Path) -> tuple[str, callable]:
    """A URL to an empty database of that kind, and a function that removes it."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: [p.unlink(missing_ok=True) for p in
                                             workdir.glob(path.name + "*")]
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def timed(pages):
    """Yield the pages, adding up only the time spent ingesting them (not generating them):
    [wall seconds, this process's CPU seconds]."""
    spent = [0.0, 0.0]

    def pages_and_clock():
        for raw in pages:
            started, cpu = time.perf_counter(), time.process_time()
            yield raw
            spent[0] += time.perf_counter() - started
            spent[1] += time.process_time() - cpu

    return pages_and_clock(), spent


def ingest_ours(store, pages) -> None:
    from collectors.bluesky import parse
    from reactions.pipeline import store_page

    for number, raw in enumerate(pages):
        store_page(store, "bench", "bluesky", parse(json.loads(raw)), str(number))


def ingest_row_by_row(store, pages) -> None:
    """The naive way: every row its own statement and commit."""
    import sqlalchemy as sa

    from collectors.bluesky import parse
    from nlp.text import dedup_keys
    from reactions import schema as t
    from reactions.pipeline import prepare_posts
    from reactions.store.posts import _post_row

    for raw in pages:
        posts = parse(json.loads(raw))
        prepare_posts(posts)
        for post, keys in zip(posts, dedup_keys([p.text for p in posts])):
            with store.begin() as conn:
                row = _post_row(post)
                stmt = store._insert(t.posts).values(row).on_conflict_do_update(
                    index_elements=["platform", "native_id"], set_={"likes": row["likes"]})
                post.id = conn.execute(stmt.returning(t.posts.c.id)).scalar_one()
                conn.execute(store._insert(t.story_posts).values(
                    story="bench", post_id=post.id, source="bluesky",
                    added_at=post.collected_at).on_conflict_do_nothing())
                owner = None
                for key in keys:
                    owner = owner or conn.execute(sa.select(t.dedup_keys.c.post_id).where(
                        t.dedup_keys.c.story == "bench", t.dedup_keys.c.key == key)).scalar()
                if owner and owner != post.id:
                    conn.execute(sa.update(t.posts).where(t.posts.c.id == post.id)
                                 .values(duplicate_of=owner))
                else:
                    for key in keys:
                        conn.execute(store._insert(t.dedup_keys).values(
                            story="bench", key=key, post_id=post.id).on_conflict_do_nothing())


def child(kind: str, mode: str, count: int) -> dict:
    """One measured run in this process (called in a fresh child)."""
    import sqlalchemy as sa

    from reactions import schema as t
    from reactions.models import Story
    from reactions.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = fresh_database(kind, Path(tmp))
        store = Store(url)
        store.save_story(Story(slug="bench", title="Bench", claim="The call is right."))
        # Warm the language model and MinHash permutations outside the timed part.
        from nlp.text import dedup_keys, detect_language

        detect_language("warm up the language model please")
        dedup_keys(["warm up the minhash permutations"])
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pages, spent = timed(recorded_pages(count))
        (ingest_ours if mode == "ours" else ingest_row_by_row)(store, pages)
        seconds, cpu_seconds = spent
        with store.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(t.posts)).scalar_one()
            linked = conn.execute(sa.select(sa.func.count()).select_from(t.posts)
                                  .where(t.posts.c.duplicate_of.is_not(None))).scalar_one()
        store.close()
        drop()
    return {"db": kind, "mode": mode, "count": count, "seconds": round(seconds, 2),
            "posts_per_s": round(count / seconds, 1), "cpu_seconds": round(cpu_seconds, 2),
            "posts_per_cpu_s": round(count / cpu_seconds, 1), "stored": stored, "linked": linked,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_mb": round(rss_before / 1024, 1)}


def measure(kind: str, mode: str, count: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, mode, str(count)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {kind:10} {mode:9} {count:>7} posts: {result['seconds']:7.2f}s "
          f"{result['posts_per_s']:8.0f} posts/s ({result['posts_per_cpu_s']:.0f} per CPU "
          f"second of this process)  peak RSS {result['peak_rss_mb']:6.1f} MB  "
          f"({result['linked']} linked as repeats)", flush=True)
    return result


def postgres_up() -> bool:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--baseline-count", type=int, default=None,
                        help="posts for the row-by-row baseline (default: --count)")
    parser.add_argument("--memory-counts", default="10000,30000",
                        help="smaller SQLite runs to show memory stays flat")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("DB", "MODE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mode, count = args.child
        print(json.dumps(child(kind, mode, int(count))))
        return
    baseline_count = args.baseline_count or args.count
    kinds = ["sqlite"] + ([] if args.no_postgres or not postgres_up() else ["postgresql"])
    print(f"ingest: {args.count} posts in pages of {PAGE} (baseline: {baseline_count}); "
          f"{os.cpu_count()} CPUs")
    results: dict[str, dict] = {}
    for kind in kinds:
        results[f"{kind}/ours"] = measure(kind, "ours", args.count)
        results[f"{kind}/baseline"] = measure(kind, "baseline", baseline_count)
    memory = {}
    for count in [int(c) for c in args.memory_counts.split(",") if c]:
        memory[count] = measure("sqlite", "ours", count)["peak_rss_mb"]
    memory[args.count] = results["sqlite/ours"]["peak_rss_mb"]
    ours, base = results["sqlite/ours"], results["sqlite/baseline"]
    summary = {
        "metric": "ingest_posts_per_second_sqlite", "unit": "posts/s",
        "ours": ours["posts_per_s"], "baseline": base["posts_per_s"],
        "speedup": round(ours["posts_per_s"] / base["posts_per_s"], 2),
        "count": args.count, "baseline_count": baseline_count, "target": 5000,
        "peak_rss_mb_by_count": {str(k): v for k, v in sorted(memory.items())},
        "ours_per_cpu_s": ours["posts_per_cpu_s"], "baseline_per_cpu_s": base["posts_per_cpu_s"],
        "load_average": round(os.getloadavg()[0], 1),
    }
    if "postgresql/ours" in results:
        pg, pg_base = results["postgresql/ours"], results["postgresql/baseline"]
        summary.update(postgres_ours=pg["posts_per_s"], postgres_baseline=pg_base["posts_per_s"],
                       postgres_speedup=round(pg["posts_per_s"] / pg_base["posts_per_s"], 2),
                       postgres_target=3000)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
