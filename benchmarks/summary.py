"""Time the summary: evidence for 10,000 posts with embeddings stored, the template writer,
and (when installed) the local 0.5B model writer.

A SQLite store in a temporary folder gets one story with N posts (three buckets, reposts
included). Posts are written from a few hundred real-sounding sentences, each encoded with
the packaged MiniLM; a post's stored vector is its sentence's vector plus a little noise,
as classification would have left it. Then, side by side:

- ours: `pipeline.story_evidence`, which reads the stored embeddings (and the theme
  vectors, which the first evidence of a story encodes and stores: that first run is timed
  and printed too);
- baseline: the same evidence when the posts are encoded again (what reusing avoids),
  timed on a sample of posts and scaled linearly to N.

    python benchmarks/summary.py [--posts 10000] [--baseline-sample 1000] [--local]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBJECTS = ["the strikes", "the navy", "the blockade", "the call with Maduro", "the operation",
            "the White House", "the cartel designation", "the sanctions", "Congress", "the raid"]
POINTS = {
    "supporters": ["{} will finally stop the drug boats", "{} shows strength against narcoterrorism",
                   "{} protects our kids from fentanyl", "{} is smart diplomacy backed by force",
                   "{} is long overdue and I am glad"],
    "skeptics": ["{} is an illegal killing without trial", "{} risks a war nobody voted for",
                 "{} is about oil, not drugs", "{} ignores Congress and the law",
                 "{} will hurt civilians in Venezuela"],
    "neutral": ["Axios reports on {} today", "Officials describe {} in a briefing",
                "Live updates: {} this morning", "A timeline of {} so far",
                "Reporters ask the Pentagon about {}"],
}
TAILS = ["", " honestly", " if you ask me", " #venezuela", " (thread)", " and that is that",
         " imo", " via AP", " - watch this", " again"]


def make_posts(n: int, rng: random.Random):
    """(text, bucket, sentence) for n posts, about 8% of them reposts of earlier ones."""
    from reactions.models import BUCKETS

    rows = []
    for i in range(n):
        if rows and rng.random() < 0.08:
            text, bucket, sentence = rows[rng.randrange(len(rows))]
            rows.append(("RT " + text, bucket, sentence))
            continue
        bucket = rng.choices(BUCKETS, weights=(0.45, 0.35, 0.2))[0]
        sentence = rng.choice(POINTS[bucket]).format(rng.choice(SUBJECTS))
        sentence = sentence[0].upper() + sentence[1:]
        rows.append((f"{sentence}{rng.choice(TAILS)} #{i}", bucket, sentence))
    return rows


def build_store(directory: Path, n: int, seed: int = 0):
    """A store holding the story, its posts, their stances and their embeddings."""
    from nlp.embed import DEFAULT_ENCODER, load_encoder
    from reactions import pipeline
    from reactions.models import Post, StancePrediction, Story, utcnow
    from reactions.store import Store

    rng = random.Random(seed)
    store = Store(f"sqlite:///{directory / 'bench.db'}")
    story = Story(slug="bench", title="US strikes on drug boats", claim="The strikes are right.")
    store.save_story(story)
    rows = make_posts(n, rng)
    sentences = sorted({s for _, _, s in rows})
    encoder = load_encoder(None)
    vectors = dict(zip(sentences, encoder.encode(sentences)))
    now = utcnow()
    platforms = ["bluesky", "reddit", "x", "mastodon"]
    posts = [Post(platform=platforms[i % 4], native_id=str(i), text=text,
                  created_at=now - timedelta(minutes=n - i), likes=rng.randrange(50))
             for i, (text, _, _) in enumerate(rows)]
    store.upsert_posts(story.slug, posts, source="bench")
    pipeline.link_duplicates(store, story.slug)
    store.save_stances(story.slug, [(p.id, StancePrediction(b)) for p, (_, b, _) in zip(posts, rows)],
                       "bench")
    noise = np.random.default_rng(seed)
    stored = {}
    for post, (_, _, sentence) in zip(posts, rows):
        v = vectors[sentence] + 0.05 * noise.normal(size=vectors[sentence].shape)
        stored[post.id] = (v / np.linalg.norm(v)).astype(np.float32)
    store.save_embeddings(DEFAULT_ENCODER, stored)
    return store, story, encoder


class Reencoding:
    """The baseline's encoder: encodes every post again, ignoring what is stored."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.name = "reencode-baseline"

    def encode(self, texts, progress=None):
        return self.encoder.encode(texts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--baseline-sample", type=int, default=1_000)
    parser.add_argument("--local", action="store_true", help="also time the local model writer")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the local model (default: torch's)")
    args = parser.parse_args(argv)

    from nlp.summarize import TemplateWriter
    from reactions import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        store, story, encoder = build_store(Path(tmp), args.posts)
        # The first evidence encodes the posts' theme vectors once and stores them; later
        # ones read them back, like the embeddings.
        start = time.perf_counter()
        pipeline.story_evidence(store, story)
        first = time.perf_counter() - start
        print(f"first evidence (theme vectors encoded and stored): {first:.2f}s")
        start = time.perf_counter()
        evidence = pipeline.story_evidence(store, story)
        ours = time.perf_counter() - start
        themes = {b: len(e.themes) for b, e in evidence.buckets.items()}
        print(f"evidence for {evidence.total} posts (embeddings stored): {ours:.2f}s; "
              f"themes {themes}")

        writer = TemplateWriter()
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            written = writer.write(evidence)
            times.append(time.perf_counter() - t0)
        template_ms = 1000 * statistics.median(times)
        print(f"template writer: {template_ms:.2f} ms (median of 50)")
        print("paragraph:", written.paragraph)

        sample = store.posts(story.slug, limit=args.baseline_sample)
        baseline_encoder = Reencoding(encoder)
        t0 = time.perf_counter()
        baseline_encoder.encode([p.text for p in sample])
        encode_per_post = (time.perf_counter() - t0) / len(sample)
        baseline = ours + encode_per_post * evidence.total
        print(f"baseline (encode again): {encode_per_post * 1000:.2f} ms per post, "
              f"{baseline:.1f}s for {evidence.total} posts (timed on {len(sample)})")

        local = {}
        if args.local:
            from nlp.summarize import get_writer

            local_writer = get_writer("local", threads=args.threads)
            local_writer._load()
            t0 = time.perf_counter()
            written = local_writer.write(evidence)
            local = {"local_seconds": round(time.perf_counter() - t0, 2),
                     "local_replaced": len(written.replaced), "local_threads": args.threads}
            print(f"local writer: {local['local_seconds']}s, {len(written.replaced)} sentences "
                  f"replaced; paragraph: {written.paragraph}")
        store.close()
    print(json.dumps({
        "metric": "evidence time for stored posts", "unit": "s", "posts": evidence.total,
        "ours": round(ours, 3), "baseline": round(baseline, 2),
        "baseline_name": f"encode every post again (timed on {len(sample)}, scaled)",
        "speedup": round(baseline / ours, 1), "template_ms": round(template_ms, 3),
        "first_seconds": round(first, 2), **local,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
