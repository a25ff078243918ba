"""Choose the theme encoder's training settings without touching dev: leave-topics-out CV.

ArgKP train's topics are split into 3 folds. For each fold a theme encoder is trained
(`nlp.theme_encoder.train`) on the other folds' arguments and key points, and themes are
extracted from the held-out topics with the shipped clustering in its vectors. The baseline,
scored in the same run on the same topics, is what shipped before: the packaged MiniLM's
vectors projected by an LDA refitted on the other folds (`nlp.themes.fit_projection`).

    python benchmarks/theme_encoder.py [--setting '{"layers": 3, "epochs": 2, "lr": 5e-5}' ...]

Each setting trains three encoders (about 2 minutes each on 2 cores). The last line printed
is one JSON object: the best setting against the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nlp.theme_encoder as theme_encoder  # noqa: E402
import nlp.themes as themes  # noqa: E402
from benchmarks.theme_cv import score_held as score  # noqa: E402
from nlp.argkp import DEFAULT_DATA, groups, load_split, projection_rows  # noqa: E402

FOLDS = 3


def main(argv=None) -> int:
    from nlp.embed import Encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setting", action="append", type=json.loads,
                        help='training settings as JSON: layers, epochs, lr, projection (bool)')
    args = parser.parse_args(argv)
    if not (args.data / "arguments_train.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message="Only one sample available")
    settings = args.setting or [{"layers": theme_encoder.TOP_LAYERS,
                                 "epochs": theme_encoder.EPOCHS, "lr": theme_encoder.LR,
                                 "projection": False}]
    arguments, key_points, matches = load_split(args.data, "train")
    groups_ = groups(arguments, key_points, matches)
    texts = [a["argument"] for a in arguments]
    frozen = Encoder(None).encode(texts)
    topics = sorted({topic for topic, _ in groups_})
    totals = {"baseline": [0.0, 0.0, 0]} | {json.dumps(s): [0.0, 0.0, 0] for s in settings}
    start = time.perf_counter()
    for f in range(FOLDS):
        held = set(topics[f::FOLDS])
        keys = sorted(k for k in groups_ if k[0] in held)
        projection = themes.fit_projection(*projection_rows(groups_, frozen, held))
        for i, value in enumerate(score(arguments, frozen, groups_, keys, projection)):
            totals["baseline"][i] += value
        pairs = theme_encoder.training_pairs(arguments, key_points, groups_, held)
        for setting in settings:
            state = theme_encoder.train(pairs, layers=setting["layers"],
                                        epochs=setting["epochs"], lr=setting["lr"])
            path = Path(f"/tmp/theme_encoder_cv_{f}.safetensors")
            theme_encoder.save(state, path, layers=setting["layers"])
            vectors = theme_encoder.load(path)[0].encode(texts)
            path.unlink()
            projection = (themes.fit_projection(*projection_rows(groups_, vectors, held))
                          if setting.get("projection") else None)
            for i, value in enumerate(score(arguments, vectors, groups_, keys, projection)):
                totals[json.dumps(setting)][i] += value
        print(f"fold {f + 1}/{FOLDS} done in {time.perf_counter() - start:.0f}s", flush=True)
    results = {name: w / t for name, (w, t, _) in totals.items()}
    for name, (_, _, n) in totals.items():
        label = "frozen MiniLM + LDA (before)" if name == "baseline" else name
        print(f"{label:60s} KP-F1 {results[name]:.4f}  themes {n}")
    best = max((n for n in results if n != "baseline"), key=results.get)
    print(json.dumps({
        "metric": f"KP-F1, {FOLDS}-fold leave-topics-out on ArgKP train", "unit": "F1",
        "ours": round(results[best], 4), "ours_setting": json.loads(best),
        "baseline": round(results["baseline"], 4),
        "baseline_name": "frozen MiniLM + LDA refitted per fold",
        "speedup": round(results[best] / results["baseline"], 3),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
