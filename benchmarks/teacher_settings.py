"""Choosing the teacher's settings on a story that is not the demo: sample size, calibration,
keeping the confident half or every answer.

The demo story's labels are what the cold-start figures are reported on, so nothing may be
tuned on them. This script asks the teacher once about a seeded sample of one held-out
target's posts (by default COVID-19 tweets, "Wearing a Face Mask", a data set the default
classifier never trained on; evaluation only, no weights are trained for shipping), then,
from those same answers, builds each variant's teacher labels, adapts the default classifier
to them as `pipeline.classify` does, and scores it on other posts of the same target:

* sample: the first 16, 32, ... of the asked posts (as if the teacher had been asked fewer);
* calibrated (subtract each answer's mean log-probability over the sample) or raw argmax;
* the confident half (widest margins) or every answer.

In the same run: the default with no labels and every post in the largest bucket. Scores
are accuracy, macro-F1 and F_avg on the same scored posts for every variant.

    PYTHONPATH=$PWD:/tmp/teacher-pkgs python benchmarks/teacher_settings.py --threads 1
    python benchmarks/teacher_settings.py --data covid19_glandt.csv --target "Stay at Home Orders"

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scored(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from reactions.commands.demo import bucket_scores
    from reactions.models import BUCKETS

    out = bucket_scores([(BUCKETS[g], BUCKETS[p]) for g, p in zip(y_true, y_pred)])
    f1 = out.pop("f1")
    out["f_avg"] = (f1["supporters"] + f1["skeptics"]) / 2
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def variant_labels(raw: np.ndarray, k: int, calibrated: bool, half: bool) -> tuple[list[int], list[int]]:
    """(indices into the first k asked posts, bucket indices) the teacher would store."""
    from nlp.stance.teacher import confident_half

    scores = raw[:k] - raw[:k].mean(0) if calibrated else raw[:k]
    ordered = np.sort(scores, axis=1)
    keep = confident_half(ordered[:, -1] - ordered[:, -2]) if half else list(range(k))
    return keep, [int(scores[i].argmax()) for i in keep]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="covid19_glandt.csv", help="a CSV in ../shared/data/stance/extra")
    parser.add_argument("--target", default="Wearing a Face Mask")
    parser.add_argument("--asked", type=int, default=64, help="posts the teacher is asked about")
    parser.add_argument("--scored", type=int, default=300, help="other posts scored")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (local model)")
    parser.add_argument("--model", default="chat-local:", help="chat-local:SPEC or chat:NAME")
    args = parser.parse_args(argv)

    from nlp.stance import load_classifier
    from nlp.stance.chat import ChatStanceClassifier, LocalScorer
    from nlp.stance.data import SHARED_DATA, read_rows
    from reactions.models import BUCKETS

    path = SHARED_DATA / "stance" / "extra" / args.data
    if not path.is_file():
        sys.exit(f"{path} is absent: this benchmark needs the labelled data in ../shared/data")
    rows = read_rows([path])
    mine = np.array([i for i, t in enumerate(rows.targets) if t == args.target])
    if len(mine) < args.asked + args.scored:
        sys.exit(f"{args.target!r} has {len(mine)} rows, fewer than --asked + --scored")
    pick = np.random.default_rng(0).permutation(mine)
    asked, held = pick[: args.asked], pick[args.asked : args.asked + args.scored]
    claim = args.target
    asked_texts = [rows.texts[i] for i in asked]
    held_texts, y = [rows.texts[i] for i in held], rows.labels[held]

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    default = load_classifier(None)
    results: dict = {"data": args.data, "target": args.target, "asked": len(asked),
                     "scored_posts": len(held), "model": args.model}
    results["majority"] = scored(y, np.full(len(y), np.bincount(y, minlength=3).argmax()))
    results["no_labels"] = scored(y, default.predict_proba(held_texts, claim).argmax(1))

    backend, _, spec = args.model.partition(":")
    teacher = (ChatStanceClassifier(LocalScorer(spec or None)) if backend == "chat-local"
               else load_classifier(args.model))
    start = time.perf_counter()
    raw = np.zeros((0, 3))
    for chunk in range(0, len(asked_texts), 16):
        raw = np.vstack([raw, teacher.raw_logprobs(asked_texts[chunk : chunk + 16], claim)])
        print(f"{len(raw)}/{len(asked_texts)} posts, {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
    results["teacher_seconds_per_post"] = round((time.perf_counter() - start) / len(asked), 2)

    sizes = sorted({k for k in (16, 32, 48, 64, 96, 128, len(asked)) if k <= len(asked)})
    variants = {}
    for k in sizes:
        for calibrated in (True, False):
            for half in (True, False):
                keep, labels = variant_labels(raw, k, calibrated, half)
                name = f"sample {k}, {'calibrated' if calibrated else 'raw'}, " \
                       f"{'confident half' if half else 'all answers'}"
                gold = rows.labels[asked[keep]]
                adapted = default.adapt([asked_texts[i] for i in keep], [BUCKETS[b] for b in labels],
                                        claim)
                out = scored(y, adapted.predict_proba(held_texts, claim).argmax(1))
                out["labels"] = len(keep)
                out["label_accuracy"] = round(float(np.mean(gold == np.array(labels))), 3)
                variants[name] = out
                print(f"{name:45} accuracy {out['accuracy']:.3f}  macro-F1 {out['macro_f1']:.3f}  "
                      f"F_avg {out['f_avg']:.3f}  (its {len(keep)} labels: "
                      f"{out['label_accuracy']:.2f} right)", flush=True)
    results["variants"] = variants
    for name in ("majority", "no_labels"):
        r = results[name]
        print(f"{name:45} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  "
              f"F_avg {r['f_avg']:.3f}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
