"""Stance throughput: the default classifier against a naive per-post transformers pipeline.

Both sides put the same posts into buckets for the same claim, each in its own process so
that load time and peak memory are its own. The naive side runs the same
default model one post at a time in float32 (a transformers feature-extraction pipeline for
the embedding, an unbatched pass of the pair model); ours works in length-sorted batches
(bf16 where the CPU has it) and scores all posts at once.

Posts are SemEval-2016 tweets from ../shared/data when present, otherwise the demo story's
sample posts, repeated. The last line printed is one JSON object.

    python benchmarks/stance.py [--posts 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "stance"
CLAIM = "The government's new policy is the right decision"


def load_posts(n: int) -> tuple[list[str], str]:
    if (SHARED / "semeval2016_train.csv").is_file():
        with open(SHARED / "semeval2016_train.csv", newline="", encoding="utf-8") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)]
        source = "SemEval-2016 tweets"
    else:
        lines = (ROOT / "seeds" / "trump-maduro-call.posts.jsonl").read_text(encoding="utf-8")
        texts = [json.loads(line)["text"] for line in lines.splitlines() if line.strip()]
        source = "demo story posts"
    texts = (texts * (n // max(len(texts), 1) + 1))[:n]
    return texts, source


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(texts, threads, queue):
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    from nlp.stance import load_classifier

    clf = load_classifier(None)
    clf.predict(texts[:16], CLAIM)  # warm-up, as a live monitor would have done
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    preds = clf.predict(texts, CLAIM)
    seconds = time.perf_counter() - started
    queue.put({"load_s": load_s, "seconds": seconds, "labels": [p.label for p in preds],
               "peak_rss_mb": peak_rss_mb(), "dtype": clf.encoder.dtype})


def run_naive(texts, threads, queue):
    """The same default model (embedding, heads and pair model), one post at a time in float32:
    a transformers feature-extraction pipeline for the embedding and an unbatched pair pass."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    from transformers import pipeline

    from nlp.embed import packaged_model_path
    from nlp.stance import DEFAULT_DIR, EmbeddingStanceClassifier

    path = str(packaged_model_path())
    extract = pipeline("feature-extraction", model=path, tokenizer=path, framework="pt")
    clf = EmbeddingStanceClassifier.load(DEFAULT_DIR, encoder=_PipelineEncoder(extract))
    if clf.pair is not None:
        clf.pair.dtype = "float32"
        clf.pair.batch_size = 1

    def one(text):
        if clf.pair is not None:
            clf.pair._memo.clear()  # no cache: every post is read afresh
        return clf.predict([text], CLAIM)[0].label

    for text in texts[:16]:
        one(text)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    labels = [one(text) for text in texts]
    seconds = time.perf_counter() - started
    queue.put({"load_s": load_s, "seconds": seconds, "labels": labels,
               "peak_rss_mb": peak_rss_mb(), "dtype": "float32"})


class _PipelineEncoder:
    """The claim's hypotheses embedded through the same naive pipeline, one at a time."""

    name = "naive"

    def __init__(self, extract):
        self.extract = extract

    def encode(self, texts, progress=None):
        import numpy as np

        rows = []
        for text in texts:
            vector = np.asarray(self.extract(text))[0].mean(0)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32)


def measure(target, texts, threads) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(texts, threads, queue))
    process.start()
    result = queue.get()
    process.join()
    result["posts_per_s"] = len(texts) / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    texts, source = load_posts(args.posts)
    print(f"{len(texts)} posts ({source}), claim {CLAIM!r}, {args.threads} torch threads")
    naive = measure(run_naive, texts, args.threads)
    ours = measure(run_ours, texts, args.threads)
    agreement = sum(a == b for a, b in zip(ours["labels"], naive["labels"])) / len(texts)
    for name, r in (("naive per-post pipeline", naive), ("ours (batched)", ours)):
        print(f"{name:24} {r['posts_per_s']:8.1f} posts/s  {r['seconds']:6.2f} s  "
              f"load {r['load_s']:5.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB  {r['dtype']}")
    speedup = ours["posts_per_s"] / naive["posts_per_s"]
    print(f"speedup {speedup:.1f}x; same bucket on {agreement:.1%} of posts")
    print(json.dumps({
        "metric": "stance_throughput", "unit": "posts/s",
        "ours": round(ours["posts_per_s"], 1), "baseline": round(naive["posts_per_s"], 1),
        "speedup": round(speedup, 2), "posts": len(texts), "source": source,
        "threads": args.threads, "ours_dtype": ours["dtype"],
        "ours_load_s": round(ours["load_s"], 2), "baseline_load_s": round(naive["load_s"], 2),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]), "baseline_peak_rss_mb": round(naive["peak_rss_mb"]),
        "label_agreement": round(agreement, 4),
    }))


if __name__ == "__main__":
    main()
