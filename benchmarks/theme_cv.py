"""Tune theme settings without touching dev: leave-topics-out cross-validation on ArgKP train.

Train topics are split into 3 folds; for each fold the projection is refitted on the other
folds' key points (as `fit_theme_projection.py` does on all of train) and themes are
extracted from the held-out topics, scored with the KP-F1 of `benchmarks/keypoints.py`.
The shipped settings are the baseline; each variant is printed beside it.

    python benchmarks/theme_cv.py [--data ../shared/data/keypoints] [--vectors train.npy]
        [--variant '{"SILHOUETTE_TOLERANCE": 0.02}' ...]

`--vectors` caches the train embeddings (written when missing). The last line printed is
one JSON object: the best variant against the shipped settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nlp.themes as themes  # noqa: E402
from benchmarks.keypoints import match  # noqa: E402
from nlp.argkp import DEFAULT_DATA, groups, load_split, projection_rows  # noqa: E402

DEFAULT_VARIANTS = [{"SILHOUETTE_TOLERANCE": 0.01}, {"SILHOUETTE_TOLERANCE": 0.02},
                    {"N_INIT": 10}, {"TWO_THEME_MARGIN": 0.0}, {"TWO_THEME_MARGIN": 0.2}]
SETTINGS = ("SILHOUETTE_TOLERANCE", "N_INIT", "TWO_THEME_MARGIN", "MIN_SHARE", "MAX_K")


def score_held(arguments, vectors, groups_, keys, projection) -> tuple[float, float, int]:
    """(weighted matched F1, total key point size, themes) over the topic-stances `keys`,
    themes extracted from `vectors` in `projection` (None: the vectors as they are)."""
    original = themes.projection_for
    themes.projection_for = lambda encoder, dim: projection
    weighted = total = 0.0
    count = 0
    try:
        for key in keys:
            members, gold = groups_[key]
            # MIN_SHARE is passed: extract_themes bound its default when it was defined.
            found = themes.extract_themes([arguments[i]["argument"] for i in members],
                                          vectors[members], encoder="cv",
                                          min_share=themes.MIN_SHARE)
            count += len(found)
            local = [(k, [members.index(i) for i in g]) for k, g in gold]
            for g, _, value in match(local, [t.members for t in found]):
                weighted += value * len(local[g][1])
            total += sum(len(g) for _, g in local)
    finally:
        themes.projection_for = original
    return weighted, total, count


def cross_validate(arguments, vectors, groups_, settings: dict, folds: int = 3) -> tuple[float, int]:
    """Pooled KP-F1 over the held-out folds, and how many themes were extracted."""
    shipped = {name: getattr(themes, name) for name in SETTINGS}
    topics = sorted({topic for topic, _ in groups_})
    weighted = total = 0.0
    count = 0
    try:
        for name, value in settings.items():
            setattr(themes, name, value)
        for f in range(folds):
            held = set(topics[f::folds])
            projection = themes.fit_projection(*projection_rows(groups_, vectors, held))
            keys = [key for key in groups_ if key[0] in held]
            w, t, n = score_held(arguments, vectors, groups_, keys, projection)
            weighted, total, count = weighted + w, total + t, count + n
    finally:
        for name, value in shipped.items():
            setattr(themes, name, value)
    return weighted / total if total else 0.0, count


def main(argv=None) -> int:
    import warnings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vectors", type=Path, help="cache of the train embeddings (.npy)")
    parser.add_argument("--variant", action="append", type=json.loads,
                        help="settings of nlp.themes to try, as JSON (repeatable)")
    args = parser.parse_args(argv)
    if not (args.data / "arguments_train.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    arguments, key_points, matches = load_split(args.data, "train")
    if args.vectors and args.vectors.is_file():
        vectors = np.load(args.vectors)
    else:
        from nlp.embed import load_encoder

        vectors = load_encoder(None).encode([a["argument"] for a in arguments])
        if args.vectors:
            np.save(args.vectors, vectors)
    groups_ = groups(arguments, key_points, matches)
    warnings.filterwarnings("ignore", message="Only one sample available")
    baseline, n = cross_validate(arguments, vectors, groups_, {})
    print(f"{'shipped settings':40s} KP-F1 {baseline:.4f}  themes {n}")
    best = ({}, baseline)
    for variant in args.variant or DEFAULT_VARIANTS:
        score, n = cross_validate(arguments, vectors, groups_, variant)
        print(f"{json.dumps(variant):40s} KP-F1 {score:.4f}  themes {n}")
        if score > best[1]:
            best = (variant, score)
    print(json.dumps({
        "metric": "KP-F1, 3-fold leave-topics-out on ArgKP train", "unit": "F1",
        "ours": round(baseline, 4), "baseline": round(best[1], 4),
        "baseline_name": f"best variant {json.dumps(best[0])}" if best[0] else "none better",
        "speedup": round(baseline / best[1], 3) if best[1] else None,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
