"""Two stance model folders side by side on the sets a newsroom's cold start resembles.

    python benchmarks/default_compare.py OLD_DIR NEW_DIR [--sets NAME ...]

Scores each folder's no-labels prior on: SemEval-2016 val (both defaults train on SemEval
train), VAST dev, the research-only election-2020 Biden tweets, three tweet sets the issue
names (COVID-19, P-Stance, multi-target) and three training-only sets (COVID-CQ,
VaccineLies, RumourEval replies), each a seeded sample of at most 3,000 rows. A folder's
model may have trained on a set (the earlier default on VAST dev) or on claims close to a
set's; `trained_on` in each folder's stance.json says what it learned from. Prints one JSON
line per folder and set; the last line compares the two means over the sets both never
trained on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETS = ("covid19", "pstance", "multitarget", "election2020_biden", "covid_cq", "vaccinelies",
        "rumoureval")


def main(argv=None) -> None:
    import argparse

    import torch

    from nlp.stance.data import SHARED_DATA, read_rows, sample
    from nlp.stance.registry import load_classifier
    from nlp.stance.train import evaluate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS),
                        help="score only these (with SemEval val and VAST dev left out)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    old, new = args.old, args.new
    rows = {} if args.sets != list(SETS) else {
        "semeval_val": read_rows([SHARED_DATA / "stance" / "semeval2016_val.csv"]),
        "vast_dev": sample("vast_dev", 10**9)}
    rows.update({name: sample(name, 3000) for name in args.sets})
    means = {}
    for label, folder in (("old", old), ("new", new)):
        clf = load_classifier(folder)
        got = {}
        for name, r in rows.items():
            result = evaluate(clf, r)
            got[name] = {k: result[k] for k in ("F_avg", "macro_f1", "accuracy", "n")}
            print(json.dumps({"model": label, "set": name, **got[name]}), flush=True)
        means[label] = round(float(np.mean([got[n]["macro_f1"] for n in args.sets])), 2)
    print(json.dumps({"metric": f"mean macro-F1 over {', '.join(args.sets)}",
                      "unit": "macro-F1", "ours": means["new"], "baseline": means["old"]}))


if __name__ == "__main__":
    main()
