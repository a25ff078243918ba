"""Story page render time with 100,000 posts in the store: SQL aggregates against the skeleton.

Seeds a SQLite store (the default) with N posts over a week, classified, with some editor
labels and a summary, then runs the Story page through streamlit.testing's AppTest:

- baseline: the walking skeleton's Story page (git 9bd5dbf), which loads every classified
  post into Python and builds its tables there;
- ours: today's Story page (SQL aggregates, indexed filters, short-TTL cache).

Each is timed cold (data caches cleared: what the first editor after the TTL waits for) and
warm (cached), after one discarded warm-up run that pays imports and AppTest's start-up.
Times are the page script's run on the server, not browser paint. The same is then done on
PostgreSQL (a fresh schema in REACTIONS_TEST_POSTGRES_URL's database, skipped when no
server answers), seeded through the store, whose statistics refresh keeps the plans right
with autovacuum off. The last line is JSON.

    python benchmarks/dashboard.py [--posts 100000] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASELINE_COMMIT = "9bd5dbf"


def seed(url: str, n: int) -> None:
    from reactions.models import BUCKETS, Post, SourceConfig, StancePrediction, Story, utcnow
    from reactions.pipeline import summarize
    from reactions.store import Store

    store = Store(url)
    story = Story(slug="bench", title="Benchmark story", claim="The policy is right.",
                  sources=[SourceConfig("bluesky"), SourceConfig("mastodon"), SourceConfig("reddit")])
    store.save_story(story)
    now = utcnow()
    sources = ["bluesky", "mastodon", "reddit"]
    batch = 5000
    for start in range(0, n, batch):
        posts = [Post(platform=sources[i % 3], native_id=str(i),
                      text=f"post {i} about the policy, {'great' if i % 3 == 0 else 'bad'} idea",
                      author=f"user{i % 5000}", url=f"https://example.org/p/{i}",
                      language="en" if i % 10 else "es", likes=i % 97, reposts=i % 13,
                      created_at=now - timedelta(seconds=(i * 604800) // n))
                 for i in range(start, min(n, start + batch))]
        for source in sources:
            store.upsert_posts(story.slug, [p for p in posts if p.platform == source], source=source)
        store.save_stances(story.slug, [(p.id, StancePrediction(BUCKETS[int(p.native_id) % 3],
                                                                {"supporters": 0.6}))
                                        for p in posts], "bench")
        for p in posts[::200]:
            store.add_label(story.slug, p.id, "neutral", labeller="bench")
    # The page shows the latest stored summary; one over the last hour (about 1/168 of the
    # posts, plus the hour before for the comparison) keeps the embedding work bounded,
    # where an all-time summary would embed every one of the N posts on the CPU first.
    summarize(store, story, since=timedelta(hours=1))
    store.close()


def seeded(url: str, n: int) -> bool:
    """Whether the database already holds the benchmark story with n posts."""
    from reactions.store import Store

    store = Store(url)
    try:
        return any(s.slug == "bench" for s in store.list_stories()) and store.count_posts("bench") == n
    finally:
        store.close()


def baseline_pages(folder: Path) -> str:
    """The skeleton's story page and queries, as package `baseline_dashboard`."""
    package = folder / "baseline_dashboard"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("queries.py", "story.py"):
        text = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:dashboard/{name}"], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout
        (package / name).write_text(text.replace("from dashboard import queries",
                                                 "from baseline_dashboard import queries"))
    sys.path.insert(0, str(folder))
    return str(package / "story.py")


def time_page(path: str, repeat: int) -> tuple[float, float]:
    """(median cold seconds, median warm seconds) of running the page script."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    cold, warm = [], []
    # One AppTest per page, run once first: that run pays imports and AppTest's own start-up
    # (it scans every installed package for components, ~0.4 s here), which a dashboard
    # server pays once at start, not per page view.
    at = AppTest.from_file(path, default_timeout=300)
    at.run()
    for _ in range(repeat):
        st.cache_data.clear()  # cold: no cached query results
        started = time.perf_counter()
        at.run()
        cold.append(time.perf_counter() - started)
        assert not at.exception, at.exception
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
    return statistics.median(cold), statistics.median(warm)


def fresh_postgres() -> tuple[str, callable] | None:
    """A URL to a fresh schema in REACTIONS_TEST_POSTGRES_URL's database (None when no server
    answers), and a function that drops it."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("REACTIONS_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = sa.create_engine(base, connect_args={"connect_timeout": 2})
    try:
        schema = f"dash_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        return None

    def drop():
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def measure(url: str, posts: int, repeat: int, tmp: Path) -> dict:
    """Seed (unless already seeded) and time both pages against this database."""
    os.environ["REACTIONS_DATABASE_URL"] = url
    if not seeded(url, posts):
        started = time.perf_counter()
        seed(url, posts)
        print(f"seeded {posts} posts in {time.perf_counter() - started:.1f} s", flush=True)
    baseline = baseline_pages(tmp)
    ours = str(ROOT / "dashboard" / "story.py")
    base_cold, base_warm = time_page(baseline, repeat)
    our_cold, our_warm = time_page(ours, repeat)
    return {"ours": round(our_cold, 3), "baseline": round(base_cold, 3),
            "ours_warm": round(our_warm, 3), "baseline_warm": round(base_warm, 3)}


def child(kind: str, posts: int, repeat: int, database: str | None) -> dict:
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sqlite":
            path = Path(database) if database else Path(tmp) / "bench.db"
            return measure(f"sqlite:///{path}", posts, repeat, Path(tmp))
        fresh = fresh_postgres()
        if fresh is None:
            return {"skipped": "no PostgreSQL server answers"}
        url, drop = fresh
        try:
            return measure(url, posts, repeat, Path(tmp))
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="SQLite file to seed once and reuse (default: temporary)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.posts, args.repeat, args.database)))
        return
    results = {}
    for kind in ("sqlite",) + (() if args.no_postgres else ("postgresql",)):
        # Each database in its own process: its own Streamlit caches and settings.
        command = [sys.executable, __file__, "--child", kind, "--posts", str(args.posts),
                   "--repeat", str(args.repeat)] + (["--database", args.database]
                                                    if args.database else [])
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
        lines = out.stdout.strip().splitlines()
        print("\n".join(f"  {kind}: {line}" for line in lines[:-1]))
        result = json.loads(lines[-1])
        if "skipped" in result:
            print(f"{kind}: skipped ({result['skipped']})")
            continue
        results[kind] = result
        print(f"{kind}: baseline (skeleton page, posts loaded into Python): cold "
              f"{result['baseline']:.3f} s, warm {result['baseline_warm']:.3f} s; ours (SQL "
              f"aggregates): cold {result['ours']:.3f} s, warm {result['ours_warm']:.3f} s; "
              f"under 1 s cold: {'met' if result['ours'] < 1 else 'NOT met'}", flush=True)
    lite = results["sqlite"]
    summary = {
        "metric": "story_page_render_cold", "unit": "s", "posts": args.posts,
        "ours": lite["ours"], "baseline": lite["baseline"],
        "speedup": round(lite["baseline"] / lite["ours"], 2),
        "ours_warm": lite["ours_warm"], "baseline_warm": lite["baseline_warm"],
        "database": "sqlite", "repeat": args.repeat,
    }
    if "postgresql" in results:
        pg = results["postgresql"]
        summary.update(postgres_ours=pg["ours"], postgres_baseline=pg["baseline"],
                       postgres_speedup=round(pg["baseline"] / pg["ours"], 2),
                       postgres_ours_warm=pg["ours_warm"])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
