"""Story page render time with 100,000 posts in the store: SQL aggregates against the skeleton.

Seeds a SQLite store (the default) with N posts over a week, classified, with some editor
labels and a summary, then runs the Story page through streamlit.testing's AppTest:

- baseline: the walking skeleton's Story page (git 9bd5dbf), which loads every classified
  post into Python and builds its tables there;
- ours: today's Story page (SQL aggregates, indexed filters, short-TTL cache).

Each is timed cold (data caches cleared: what the first editor after the TTL waits for) and
warm (cached), after one discarded warm-up run that pays imports and AppTest's start-up.
Times are the page script's run on the server, not browser paint. The last line is JSON.

    python benchmarks/dashboard.py [--posts 100000] [--repeat 3]
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
    summarize(store, story)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="SQLite file to seed once and reuse (default: temporary)")
    args = parser.parse_args()
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.database) if args.database else Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        os.environ["REACTIONS_DATABASE_URL"] = url
        if not seeded(url, args.posts):
            started = time.perf_counter()
            seed(url, args.posts)
            print(f"seeded {args.posts} posts in {time.perf_counter() - started:.1f} s")
        baseline = baseline_pages(Path(tmp))
        ours = str(ROOT / "dashboard" / "story.py")
        base_cold, base_warm = time_page(baseline, args.repeat)
        print(f"baseline (skeleton page, posts loaded into Python): cold {base_cold:.3f} s, "
              f"warm {base_warm:.3f} s")
        our_cold, our_warm = time_page(ours, args.repeat)
        print(f"ours (SQL aggregates): cold {our_cold:.3f} s, warm {our_warm:.3f} s")
        print(f"target: under 1 s cold with {args.posts} posts: "
              f"{'met' if our_cold < 1 else 'NOT met'}")
    print(json.dumps({
        "metric": "story_page_render_cold", "unit": "s", "posts": args.posts,
        "ours": round(our_cold, 3), "baseline": round(base_cold, 3),
        "speedup": round(base_cold / our_cold, 2),
        "ours_warm": round(our_warm, 3), "baseline_warm": round(base_warm, 3),
        "database": "sqlite", "repeat": args.repeat,
    }))


if __name__ == "__main__":
    main()
