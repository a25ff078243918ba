"""Worker throughput: posts classified per second by 1 `reactions worker` against 2, on the
same posts, in one run.

Each side gets a fresh store (a new PostgreSQL schema when the server answers, else a
SQLite file) holding the same posts split over `--stories` stories (classification is one
task per story, so stories are what two workers share), then starts its workers (one
task and one torch thread each, the stance model loaded before timing starts), sends one
`classify` task per story through the broker and times until every post has a stance.

Posts are SemEval-2016 tweets from ../shared/data when present, otherwise the demo
story's sample posts, repeated. The issue asks for 20,000 posts; the default is 4,000 so
that a run fits in a few minutes on a shared 2-core machine (pass --posts 20000).
The last line printed is one JSON object.

    python benchmarks/workers.py [--posts 4000] [--stories 8] [--broker redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stance import load_posts  # noqa: E402 (after the path)

CLAIM = "The government's new policy is the right decision"
PG_URL = os.environ.get("REACTIONS_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_database(tmp: Path, label: str) -> tuple[str, Callable[[], None]]:
    """A URL to an empty database, and a function that drops it."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        schema = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        return f"sqlite:///{tmp / f'{label}.db'}", lambda: None
    sep = "&" if "?" in PG_URL else "?"

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def fill(url: str, texts: list[str], stories: int) -> list[str]:
    from reactions.models import Post, Story
    from reactions.store import Store

    store = Store(url)
    slugs = []
    per_story = -(-len(texts) // stories)
    for number in range(stories):
        slug = f"bench-{number}"
        store.save_story(Story(slug=slug, title=f"Bench {number}", claim=CLAIM,
                               queries=["policy"], languages=["en"]))
        chunk = texts[number * per_story : (number + 1) * per_story]
        posts = [Post("bench", f"{slug}-{i}", text, language="en") for i, text in enumerate(chunk)]
        store.upsert_posts(slug, posts, source="bench")
        slugs.append(slug)
    store.close()
    return slugs


def stances(url: str) -> int:
    import sqlalchemy as sa

    from reactions import schema as t
    from reactions.store import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.stances)).scalar()
    engine.dispose()
    return count


def run_side(workers: int, texts: list[str], stories: int, broker: str, tmp: Path) -> dict:
    from reactions.config import load_settings
    from reactions.worker import Dispatch

    url, drop = fresh_database(tmp, f"w{workers}")
    try:
        slugs = fill(url, texts, stories)
        queue = f"reactions-bench-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
        env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                   REACTIONS_DATA_DIR=str(tmp / "data"), REACTIONS_DATABASE_URL=url,
                   REACTIONS_BROKER_URL=broker, REACTIONS_BROKER_QUEUE=queue)
        logs = [tmp / f"w{workers}-{i}.log" for i in range(workers)]
        processes = [subprocess.Popen(
            [sys.executable, "-m", "reactions", "worker", "--concurrency", "1",
             "--torch-threads", "1", "--name", f"bench{i}@%h"],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT) for i, log in
            enumerate(logs)]
        try:
            deadline = time.monotonic() + 300
            while not all("ready." in log.read_text() for log in logs):
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise SystemExit("workers did not start:\n" + "\n".join(
                        log.read_text()[-2000:] for log in logs))
                time.sleep(0.2)
            dispatch = Dispatch(load_settings(broker_url=broker, broker_queue=queue,
                                              database_url=url))
            started = time.perf_counter()
            for slug in slugs:
                dispatch.send("classify", slug)
            while stances(url) < len(texts):
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
    finally:
        drop()
    # Shows the stories were shared: classify tasks each worker finished.
    shared = [sum(1 for line in log.read_text().splitlines()
                  if "reactions.classify[" in line and "succeeded" in line) for log in logs]
    return {"workers": workers, "posts": len(texts), "seconds": round(elapsed, 2),
            "posts_per_second": round(len(texts) / elapsed, 1), "database": url.split(":")[0],
            "classify_tasks_per_worker": shared}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--stories", type=int, default=8)
    parser.add_argument("--broker", default=os.environ.get("REACTIONS_BENCH_BROKER_URL",
                                                           "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()
    texts, source = load_posts(args.posts)
    print(f"{len(texts)} posts ({source}) in {args.stories} stories; broker "
          f"{args.broker.split('@')[-1]}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        one = run_side(1, texts, args.stories, args.broker, Path(tmp))
        print(json.dumps(one), flush=True)
        two = run_side(2, texts, args.stories, args.broker, Path(tmp))
        print(json.dumps(two), flush=True)
    print(json.dumps({
        "metric": f"posts classified per second by 2 workers vs 1 ({len(texts)} posts, "
                  "one torch thread per worker)",
        "unit": "posts/s", "ours": two["posts_per_second"], "baseline": one["posts_per_second"],
        "speedup": round(two["posts_per_second"] / one["posts_per_second"], 2),
    }))


if __name__ == "__main__":
    main()
