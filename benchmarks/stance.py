"""Stance throughput: the default classifier against a naive per-post transformers pipeline.

Both sides put the same posts into buckets for the same claim, each in its own process so
that load time and peak memory are its own. The naive side runs the same
default model one post at a time in float32 (a transformers feature-extraction pipeline for
the embedding, an unbatched pass of the pair model); ours works in length-sorted batches
(bf16 where the CPU has it) and scores all posts at once.

Posts are SemEval-2016 tweets from ../shared/data when present, otherwise the demo story's
sample posts, repeated.

Two more measurements, each ours against the previous path in the same run:

* the encoder alone with 1 and 2 torch threads: batches bucketed by token count (ours)
  against batches sorted by characters and padded to their longest (before), in posts/s and
  as a fraction of this CPU's peak, the peak being a bf16 (or float32) matrix product
  measured in the same process with the same threads; useful FLOPs count real tokens only;
* a multi-target file (`--multi-rows` rows of VAST dev over their topics, about 4 rows per
  topic as in VAST): `evaluate()` with claims and pairs read in one batched pass (ours)
  against one target at a time (before).

The last line printed is one JSON object (the encoder at 1 thread: ours against before).

    python benchmarks/stance.py [--posts 1000] [--threads 2] [--multi-rows 600] [--per-post]
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


def _peak_flops(torch, dtype) -> float:
    """FLOP/s of a square matrix product in this process (its threads, its dtype)."""
    a = torch.randn(1024, 1024).to(dtype)
    b = torch.randn(1024, 1024).to(dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * 1024**3 / (time.perf_counter() - started))
    return best


def _useful_flops(encoder, texts) -> float:
    """Forward FLOPs of the real (unpadded) tokens: matmuls and attention per layer."""
    config = encoder.model.config
    h, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    ids = encoder.tokenizer(list(texts), truncation=True, max_length=encoder.max_length)["input_ids"]
    total = 0.0
    for row in ids:
        n = len(row)
        total += layers * (n * (8 * h * h + 4 * h * ffn) + 4 * n * n * h)
    return total


def run_encoder(texts, threads, queue):
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    from nlp.embed import Encoder

    encoder = Encoder()
    dtype = torch.bfloat16 if encoder.dtype == "bfloat16" else torch.float32
    peak = _peak_flops(torch, dtype)
    flops = _useful_flops(encoder, texts)
    result = {"threads": threads, "dtype": encoder.dtype, "peak_gflops": peak / 1e9}
    for name, encode in (("before", encoder.encode_by_characters), ("ours", encoder.encode)):
        encode(texts[:200])  # warm-up: kernels for the common shapes
        started = time.perf_counter()
        encode(texts)
        seconds = time.perf_counter() - started
        result[name] = {"posts_per_s": len(texts) / seconds,
                        "fraction_of_peak": flops / seconds / peak}
    queue.put(result)


def run_multi(rows, per_target, queue):
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(ROOT))
    from nlp.stance import load_classifier
    from nlp.stance.train import StanceRows, evaluate

    data = StanceRows(rows[0], rows[1], __import__("numpy").array(rows[2]))
    clf = load_classifier(None)
    clf.predict(["warm up"], "warm up")
    started = time.perf_counter()
    result = evaluate(clf, data, batched=not per_target)
    seconds = time.perf_counter() - started
    queue.put({"seconds": seconds, "rows_per_s": len(data) / seconds,
               "macro_f1": result["macro_f1"], "targets": len(set(data.targets))})


def spawn(target, *args) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def multi_rows(n: int):
    """n rows of VAST dev, whole topics in file order (about 4 rows per topic)."""
    path = SHARED / "vast_dev.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        data = list(csv.DictReader(handle))
    data = data[:n]
    return ([r["target"] for r in data], [r["text"] for r in data],
            [{"favor": 0, "against": 1}.get(r["label"], 2) for r in data])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--multi-rows", type=int, default=600)
    parser.add_argument("--per-post", action="store_true",
                        help="also run the per-post naive pipeline against the default (slow)")
    args = parser.parse_args()
    texts, source = load_posts(args.posts)
    encoder = {}
    for threads in (1, 2):
        r = spawn(run_encoder, texts, threads)
        encoder[threads] = r
        for name in ("before", "ours"):
            print(f"encoder, {threads} thread(s), {name:6}: {r[name]['posts_per_s']:7.1f} posts/s, "
                  f"{r[name]['fraction_of_peak']:.1%} of peak ({r['peak_gflops']:.0f} GFLOP/s "
                  f"{r['dtype']} matmul)")
    multi = {}
    rows = multi_rows(args.multi_rows)
    if rows is not None:
        for name, per_target in (("before", True), ("ours", False)):
            r = spawn(run_multi, rows, per_target)
            multi[name] = r
            print(f"multi-target file, {name:6}: {len(rows[0])} rows over {r['targets']} targets "
                  f"in {r['seconds']:.1f} s ({r['rows_per_s']:.1f} rows/s, macro-F1 {r['macro_f1']})")
    one = encoder[1]
    summary = {
        "metric": "stance_encoder_throughput_1_thread", "unit": "posts/s",
        "ours": round(one["ours"]["posts_per_s"], 1),
        "baseline": round(one["before"]["posts_per_s"], 1),
        "speedup": round(one["ours"]["posts_per_s"] / one["before"]["posts_per_s"], 2),
        "posts": len(texts), "source": source,
        "fraction_of_peak": {f"{t}_threads": {k: round(encoder[t][k]["fraction_of_peak"], 3)
                                              for k in ("ours", "before")} for t in (1, 2)},
        "posts_per_s_2_threads": {k: round(encoder[2][k]["posts_per_s"], 1)
                                  for k in ("ours", "before")},
    }
    if multi:
        summary["multi_target"] = {k: {"rows_per_s": round(v["rows_per_s"], 2),
                                       "seconds": round(v["seconds"], 1)} for k, v in multi.items()}
        summary["multi_target"]["rows"] = len(rows[0])
    if not args.per_post:
        print(json.dumps(summary))
        return
    print(f"{len(texts)} posts ({source}), claim {CLAIM!r}, {args.threads} torch threads")
    naive = measure(run_naive, texts, args.threads)
    ours = measure(run_ours, texts, args.threads)
    agreement = sum(a == b for a, b in zip(ours["labels"], naive["labels"])) / len(texts)
    for name, r in (("naive per-post pipeline", naive), ("ours (batched)", ours)):
        print(f"{name:24} {r['posts_per_s']:8.1f} posts/s  {r['seconds']:6.2f} s  "
              f"load {r['load_s']:5.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB  {r['dtype']}")
    speedup = ours["posts_per_s"] / naive["posts_per_s"]
    print(f"speedup {speedup:.1f}x; same bucket on {agreement:.1%} of posts")
    summary["per_post"] = {
        "ours": round(ours["posts_per_s"], 1), "baseline": round(naive["posts_per_s"], 1),
        "speedup": round(speedup, 2), "threads": args.threads, "ours_dtype": ours["dtype"],
        "ours_load_s": round(ours["load_s"], 2), "baseline_load_s": round(naive["load_s"], 2),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]),
        "baseline_peak_rss_mb": round(naive["peak_rss_mb"]), "label_agreement": round(agreement, 4)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
