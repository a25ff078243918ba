"""Peak memory of `reactions export` on a big story: streamed rows against loading them all.

Seeds a SQLite store (or --url) with N classified posts, some with editor labels, then
writes the story's CSV export twice, in one run:

- baseline: every row loaded into a list first (`export.page` with no limit, as the
  dashboard's old 200-row table did for its rows), then written;
- ours: `reactions.export.export`, rows streamed from the database in batches of 1,000.

Peak memory is Python's own allocations during the export (tracemalloc, in runs of their
own since it slows them), which is what grows with the story; both write the same bytes,
checked. Also printed: the time of each, and of the dashboard's posts table (count plus
one page of 50). The last line is JSON.

    python benchmarks/export.py [--posts 50000] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seed(url: str, n: int) -> None:
    from reactions.models import BUCKETS, Post, SourceConfig, StancePrediction, Story, utcnow
    from reactions.store import Store

    store = Store(url)
    story = Story(slug="big", title="A big story", claim="The policy is right.",
                  queries=["policy"], sources=[SourceConfig("hackernews", 30)])
    store.save_story(story)
    now = utcnow()
    chunk = 5000
    for start in range(0, n, chunk):
        posts = [Post("hackernews", f"p{i}", f"post number {i} about the policy, with some "
                      f"more words to make it the length of a real post ({i % 97})",
                      author=f"user{i % 500}", url=f"https://example.org/{i}", language="en",
                      likes=i % 13, created_at=now - timedelta(seconds=20 * i))
                 for i in range(start, min(n, start + chunk))]
        store.upsert_posts(story.slug, posts, source="hackernews")
    ids = [p.id for p in store.posts(story.slug)]
    predictions = []
    for k, post_id in enumerate(ids):
        bucket = BUCKETS[k % 3]
        scores = {b: (0.6 if b == bucket else 0.2) for b in BUCKETS}
        predictions.append((post_id, StancePrediction(bucket, scores, needs_review=k % 5 == 0)))
    store.save_stances(story.slug, predictions, "bench")
    for post_id in ids[:200]:
        store.add_label(story.slug, post_id, "skeptics", source="human")
    store.close()


def timed(fn, path: Path) -> tuple[float, str]:
    """(seconds, sha256 of the file written) of fn(file)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        started = time.perf_counter()
        fn(out)
        seconds = time.perf_counter() - started
    return seconds, hashlib.sha256(path.read_bytes()).hexdigest()


def peak_mb(fn, path: Path) -> float:
    """Python's peak allocations (MB) during fn(file); tracemalloc slows it, so untimed."""
    with path.open("w", encoding="utf-8", newline="") as out:
        tracemalloc.start()
        fn(out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    from reactions import export
    from reactions.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        seed(url, args.posts)
        print(f"seeded {args.posts} posts in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        store = Store(url)
        query = export.PostQuery("big")

        def baseline(out):
            rows = export.page(store, query, limit=args.posts + 1)  # everything, in a list
            export.write_csv(iter(rows), out)

        def ours(out):
            export.export(store, query, "csv", out)

        ours(io.StringIO())  # warm-up: imports, the database's page cache
        ours_s, ours_sha = timed(ours, Path(tmp) / "ours.csv")
        base_s, base_sha = timed(baseline, Path(tmp) / "baseline.csv")
        ours_mb = peak_mb(ours, Path(tmp) / "ours.csv")
        base_mb = peak_mb(baseline, Path(tmp) / "baseline.csv")
        assert ours_sha == base_sha, "the two exports differ"

        started = time.perf_counter()
        total = export.count(store, query)
        page = export.page(store, query, offset=0, limit=50)
        table_s = time.perf_counter() - started
        assert total == args.posts and len(page) == 50
        store.close()

    print(f"export of {args.posts} posts to CSV: ours {ours_mb:.1f} MB peak in {ours_s:.1f} s, "
          f"baseline (all rows loaded first) {base_mb:.1f} MB in {base_s:.1f} s")
    print(f"dashboard posts table (count + first page of 50): {table_s * 1000:.0f} ms")
    print(json.dumps({"metric": f"peak Python memory exporting {args.posts} posts as CSV",
                      "unit": "MB", "ours": round(ours_mb, 1), "baseline": round(base_mb, 1),
                      "speedup": round(base_mb / ours_mb, 2)}))


if __name__ == "__main__":
    main()
