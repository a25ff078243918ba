"""The quality tests' SemEval protocol with the pair model on another encoder, beside MiniLM.

`tests/test_stance_quality.py` scores the default's design on SemEval-2016 targets it never
saw: the general head trained without the held-out target, the pair model trained without
any SemEval target (VAST dev and ArgKP), then the no-labels prior (pair model x general
head), the pair model alone, and 24 labels per target asked one at a time by active
learning (and at random, three seeds), pooled over the rows no label taught. This runs that
protocol twice in one run, on the same rows and heads: with the shipped MiniLM pair model's
recipe and with the pair model on `--base` (all-mpnet-base-v2, top 6 layers).

    python benchmarks/larger_reader_semeval.py --base DIR/all-mpnet-base-v2 [--bf16]

The last line is one JSON object (F_avg pooled over rows, 24 active labels).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.stance.data import SHARED_DATA  # noqa: E402


def main(argv=None) -> None:
    import torch

    from nlp.embed import MemoEncoder, load_encoder
    from nlp.stance.pair import train_pair
    from nlp.stance.train import Embedded, StanceRows, read_rows, scores, simulate_editor, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--base", required=True, help="the larger encoder's folder")
    parser.add_argument("--top-layers", type=int, default=6)
    parser.add_argument("--bf16", action="store_true", help="train under bf16 autocast")
    parser.add_argument("--labels", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0, help="the pair models' training seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    stance, kp_dir = args.data / "stance", args.data / "keypoints"
    train_rows = read_rows([stance / "semeval2016_train.csv"])
    val_rows = read_rows([stance / "semeval2016_val.csv"])
    vast = read_rows([stance / "vast_dev.csv"])
    kp = read_rows([kp_dir / "arguments_train.csv", kp_dir / "arguments_dev.csv"])
    encoder = MemoEncoder(load_encoder(None))  # each text embedded once, as in the quality tests

    semeval = StanceRows.concat([train_rows, val_rows])
    held = {}
    for target in sorted(set(semeval.targets)):
        mask = np.array([t == target for t in semeval.targets])
        rows = semeval.subset(mask)
        clf = train(StanceRows.concat([semeval.subset(~mask), vast, kp]), encoder=encoder,
                    min_target_rows=10**9)
        held[target] = (clf, rows, Embedded(rows, encoder))

    def pooled(results):
        return scores(np.concatenate([r[0] for r in results]),
                      np.concatenate([r[1] for r in results]))

    def editor(design, strategy, seed=0):
        results = []
        for clf, rows, embedded in design.values():
            target = rows.targets[0]
            model, asked = simulate_editor(clf, embedded.X, rows.labels, target, args.labels,
                                           strategy, seed=seed, texts=rows.texts)
            keep = np.ones(len(rows), dtype=bool)
            keep[asked] = False
            texts = [t for t, k in zip(rows.texts, keep) if k]
            results.append((rows.labels[keep],
                            np.argmax(model.logits(embedded.X[keep], target, texts), 1)))
        return pooled(results)

    summary = {}
    for name, extra in (("minilm", {}), ("larger", {"base": args.base, "top_layers": args.top_layers})):
        started = time.perf_counter()
        pair = train_pair(vast, kp, seed=args.seed, bf16=args.bf16, **extra)
        trained = time.perf_counter() - started
        design = {}
        for target, (clf, rows, embedded) in held.items():
            with_pair = copy.copy(clf)
            with_pair.pair = pair
            design[target] = (with_pair, rows, embedded)
        prior, alone = [], []
        for clf, rows, embedded in design.values():
            target = rows.targets[0]
            prior.append((rows.labels, np.argmax(clf.logits(embedded.X, target, rows.texts), 1)))
            alone.append((rows.labels, np.argmax(clf.pair.logits(rows.texts, target), 1)))
        record = {"pair": name, "seed": args.seed, "train_s": round(trained, 1), "prior": pooled(prior),
                  "pair_alone": pooled(alone), "active": editor(design, "active"),
                  "random": [editor(design, "random", seed) for seed in range(3)]}
        record["random_mean_F_avg"] = round(float(np.mean([r["F_avg"] for r in record["random"]])), 2)
        print(json.dumps(record), flush=True)
        summary[name] = record
        del pair
    print(json.dumps({
        "metric": f"held-out SemEval targets, {args.labels} active labels each, F_avg pooled over rows",
        "unit": "F_avg", "ours": summary["larger"]["active"]["F_avg"],
        "baseline": summary["minilm"]["active"]["F_avg"],
        "speedup": round(summary["larger"]["active"]["F_avg"]
                         / max(summary["minilm"]["active"]["F_avg"], 1e-9), 3),
        "prior": {k: v["prior"] for k, v in summary.items()},
        "active_macro_f1": {k: v["active"]["macro_f1"] for k, v in summary.items()}}))


if __name__ == "__main__":
    main()
