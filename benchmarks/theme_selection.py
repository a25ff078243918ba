"""Key-point selection instead of clustering, scored beside the shipped themes (ArgKP-2021 KP-F1).

The way the KPA-2021 shared-task systems found key points: candidates are short arguments
(3 to 25 words), ranked greedily by how much of the topic-stance they cover (the summed
similarity of the not yet covered arguments at least `cover` alike), a candidate too
similar to one already picked (above `redundant`) is skipped, and picking stops at
`nlp.themes.MAX_THEMES` or when a candidate would cover fewer than a theme's minimum size.
Each argument then joins the candidate it is most similar to; with `refine` a KMeans run
starts from the candidates (they choose k and the starting centres). Similarities are
cosines in the shipped theme space (`nlp.themes.theme_space`).

Settings are chosen on ArgKP train only, by 3-fold leave-topics-out cross-validation with
the projection refitted per fold (as `benchmarks/theme_cv.py` does); dev is then scored once,
for the chosen setting and the shipped method in the same run. Nothing is chosen by dev.

    python benchmarks/theme_selection.py [--data ../shared/data/keypoints]
        [--vectors /tmp/train.npy] [--dev-vectors /tmp/dev.npy]

The last line printed is one JSON object: selection against the shipped method on dev.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nlp.themes as themes  # noqa: E402
from benchmarks.theme_alternatives import kp_f1, units  # noqa: E402
from nlp.argkp import DEFAULT_DATA, groups, load_split  # noqa: E402

GRID = {"cover": (0.2, 0.35, 0.45, 0.5, 0.55), "redundant": (0.1, 0.2, 0.3, 0.5),
        "mode": ("count", "sum"), "refine": (False, True)}
MIN_WORDS, MAX_WORDS = 3, 25


def select_labels(texts, features, *, cover: float, redundant: float, mode: str,
                  refine: bool) -> np.ndarray:
    """A theme label per argument (-1: none) from greedily selected key-point candidates."""
    n = len(texts)
    similarity = features @ features.T
    words = np.array([len(t.split()) for t in texts])
    candidates = np.flatnonzero((words >= MIN_WORDS) & (words <= MAX_WORDS))
    if not len(candidates):
        candidates = np.arange(n)
    needed = max(themes.MIN_SIZE, math.ceil(themes.MIN_SHARE * n))
    covered = np.zeros(n, dtype=bool)
    picked: list[int] = []
    while len(picked) < themes.MAX_THEMES:
        best, best_gain = None, 0.0
        for c in candidates:
            if picked and similarity[c, picked].max() > redundant:
                continue
            new = (similarity[c] >= cover) & ~covered
            gain = new.sum() if mode == "count" else similarity[c, new].sum()
            if gain > best_gain:
                best, best_gain = int(c), float(gain)
        if best is None or best_gain < needed:
            break
        picked.append(best)
        covered |= similarity[best] >= cover
    if not picked:
        return -np.ones(n, dtype=int)
    if refine and len(picked) >= 2:
        from sklearn.cluster import KMeans

        return KMeans(len(picked), init=features[picked], n_init=1).fit_predict(features)
    return similarity[:, picked].argmax(axis=1)


def load(data: Path, split: str, cache: Path | None):
    arguments, key_points, matches = load_split(data, split)
    if cache and cache.is_file():
        vectors = np.load(cache)
    else:
        from nlp.embed import load_encoder

        vectors = load_encoder(None).encode([a["argument"] for a in arguments])
        if cache:
            np.save(cache, vectors)
    return units(arguments, vectors, groups(arguments, key_points, matches), split)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vectors", type=Path, help="cache of the train embeddings (.npy)")
    parser.add_argument("--dev-vectors", type=Path, help="cache of the dev embeddings (.npy)")
    args = parser.parse_args(argv)
    if not (args.data / "arguments_train.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=UserWarning)
    shipped = lambda t, f, k, s: themes.cluster_labels(f, seed=s)  # noqa: E731
    with threadpool_limits(1):
        train = load(args.data, "train", args.vectors)
        baseline, n = kp_f1(train, shipped, 0)
        print(f"CV on train: {'shipped (KMeans, k by silhouette)':48s} KP-F1 {baseline:.4f}  themes {n}")
        best = None
        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values))
            start = time.perf_counter()
            score, n = kp_f1(train, lambda t, f, k, s, p=setting: select_labels(t, f, **p), 0)
            print(f"CV on train: {json.dumps(setting):48s} KP-F1 {score:.4f}  themes {n}  "
                  f"{time.perf_counter() - start:.1f}s", flush=True)
            if best is None or score > best[1]:
                best = (setting, score)
        dev = load(args.data, "dev", args.dev_vectors)
        dev_shipped, n_shipped = kp_f1(dev, shipped, 0)
        dev_selected, n_selected = kp_f1(dev, lambda t, f, k, s: select_labels(t, f, **best[0]), 0)
    print(f"dev: shipped KP-F1 {dev_shipped:.4f} ({n_shipped} themes); selection "
          f"{json.dumps(best[0])} KP-F1 {dev_selected:.4f} ({n_selected} themes)")
    print(json.dumps({
        "metric": "KP-F1, ArgKP dev (setting chosen by 3-fold CV on train)", "unit": "F1",
        "ours": round(dev_shipped, 4), "baseline": round(dev_selected, 4),
        "baseline_name": f"key-point selection {json.dumps(best[0])}",
        "cv_train_shipped": round(baseline, 4), "cv_train_selection": round(best[1], 4),
        "speedup": round(dev_shipped / dev_selected, 3) if dev_selected else None,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
