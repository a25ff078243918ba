"""Score a GPU-trained pair model's leave-one-data-set-out folds, with a baseline in the same run.

`scripts/train_pair.py` writes each fold's held-out logits (folds.npz) and the shipped
candidate's logits on VAST dev and the demo story (shipped.npz). This scores them on the
bundle's labels beside a majority-class baseline (each fold's most common training label)
scored here on the same rows, and prints the committed leave-one-data-set-out table's
figures for the same seeded rows (general model, frozen MiniLM + LR, today's default) for
reference.

    python benchmarks/pair_folds.py --bundle .gpu/bundle.json.gz RUN_DIR [RUN_DIR ...]

The last line printed is one JSON object (mean macro-F1 over the held-out tweet sets).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.stance.heads import scores  # noqa: E402

TWEETS = ("semeval2016", "covid19", "pstance", "multitarget")


def load_runs(paths) -> tuple[dict, dict]:
    """Held-out logits by fold and the shipped candidate's by set, from one or more runs."""
    folds, shipped = {}, {}
    for path in paths:
        for name, into in (("folds.npz", folds), ("shipped.npz", shipped)):
            file = Path(path) / name
            if file.is_file():
                with np.load(file) as data:
                    for key in {k.rsplit(".", 1)[0] for k in data.files}:
                        into[key] = (data[f"{key}.ids"], data[f"{key}.logits"])
    return folds, shipped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / ".gpu" / "bundle.json.gz"))
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args(argv)
    with gzip.open(args.bundle, "rt", encoding="utf-8") as handle:
        bundle = json.load(handle)
    labels = np.array([r[2] for r in bundle["rows"]], dtype=np.int64)
    folds, shipped = load_runs(args.runs)
    quality = json.loads((ROOT / "nlp" / "weights" / "stance" / "quality.json").read_text("utf-8"))
    committed = quality["leave_one_data_set_out"]["table"]
    cell = lambda r: f"{r['F_avg']:5.1f} / {r['macro_f1']:5.1f} / {r['accuracy']:5.1f}"  # noqa: E731
    print("F_avg / macro-F1 / accuracy; held-out rows as in `python -m nlp.stance.general --loo`")
    table = {}
    for name in TWEETS:
        if name not in folds:
            continue
        ids, logits = folds[name]
        train = bundle["folds"][name]["train"]
        majority = int(np.bincount(labels[train], minlength=3).argmax())
        if not np.array_equal(np.sort(ids), np.sort(bundle["folds"][name]["eval"])):
            raise SystemExit(f"{name}: the run's rows are not the bundle's held-out rows")
        table[name] = {"pair_gpu": scores(labels[ids], logits.argmax(1)),
                       "majority": scores(labels[ids], np.full(len(ids), majority))}
        ref = committed.get(name, {})
        print(f"{name:12s} pair (GPU) {cell(table[name]['pair_gpu'])}   majority "
              f"{cell(table[name]['majority'])}   committed: general "
              f"{cell(ref['ours']) if ref else '-'}, frozen+LR "
              f"{cell(ref['frozen_lr']) if ref else '-'}, default {cell(ref['default']) if ref else '-'}")
    for name, (ids, logits) in sorted(shipped.items()):
        majority = int(np.bincount(labels[bundle["shipped"]], minlength=3).argmax())
        table[f"shipped_on_{name}"] = {
            "pair_gpu": scores(labels[ids], logits.argmax(1)),
            "majority": scores(labels[ids], np.full(len(ids), majority))}
        print(f"shipped candidate on {name}: {cell(table[f'shipped_on_{name}']['pair_gpu'])}   "
              f"majority {cell(table[f'shipped_on_{name}']['majority'])}")
    held = [n for n in TWEETS if n in table]
    mean = {m: round(float(np.mean([table[n][m]["macro_f1"] for n in held])), 2) if held else 0.0
            for m in ("pair_gpu", "majority")}
    print(json.dumps({"metric": "macro-F1, mean over held-out tweet sets", "unit": "percent",
                      "sets": held, "ours": mean["pair_gpu"], "baseline": mean["majority"],
                      "baseline_name": "majority class of each fold's training rows",
                      "speedup": round(mean["pair_gpu"] / mean["majority"], 3)
                      if mean["majority"] else None, "table": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
