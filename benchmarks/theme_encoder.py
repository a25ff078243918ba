"""Choose the theme encoder's training settings without touching dev: leave-topics-out CV.

ArgKP train's topics are split into 3 folds. For each setting and fold a theme encoder is
trained (`nlp.theme_encoder.train`) on the other folds' arguments and key points, and themes
are extracted from the held-out topics with the shipped clustering in its vectors. The
baseline, scored in the same run on the same topics, is what shipped before the theme
encoder: the packaged MiniLM's vectors projected by an LDA refitted on the other folds
(`nlp.themes.fit_projection`).

    python benchmarks/theme_encoder.py [--setting '{"layers": 3, "epochs": 4, "lr": 5e-5,
        "by": "topic"}' ...] [--log cv.jsonl] [--final DIR] [--base PATH]

Each setting trains three encoders (about 2 minutes each on 2 cores; seconds on a GPU,
which is used where there is one). `--final DIR` then trains the best setting on all of
train and writes it to DIR (in parts of under 16 MB, which `python -m nlp.theme_encoder
--join` puts together). The last line printed is one JSON object: the best setting against
the baseline.
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
KEYS = ("layers", "epochs", "lr", "batch", "by")


def shipped_setting() -> dict:
    return {"layers": theme_encoder.TOP_LAYERS, "epochs": theme_encoder.EPOCHS,
            "lr": theme_encoder.LR, "batch": theme_encoder.BATCH, "by": theme_encoder.BATCHING}


def vectors_of(encoder, texts, device):
    encoder.model.to(device)
    return encoder.encode(texts)


def main(argv=None) -> int:
    import torch

    from nlp.embed import Encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setting", action="append", type=json.loads,
                        help="training settings as JSON (any of layers, epochs, lr, batch, "
                             "by, projection); the shipped ones fill the rest")
    parser.add_argument("--base", help="the encoder to train on (default: the packaged one)")
    parser.add_argument("--log", type=Path, help="append each setting's result here (JSON lines)")
    parser.add_argument("--final", type=Path, help="train the best setting on all of train "
                                                   "and write it to this folder")
    args = parser.parse_args(argv)
    if not (args.data / "arguments_train.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message="Only one sample available")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = [shipped_setting() | s for s in (args.setting or [{}])]
    arguments, key_points, matches = load_split(args.data, "train")
    groups_ = groups(arguments, key_points, matches)
    texts = [a["argument"] for a in arguments]
    frozen = vectors_of(Encoder(args.base), texts, device)
    topics = sorted({topic for topic, _ in groups_})
    folds = [set(topics[f::FOLDS]) for f in range(FOLDS)]
    keys = [sorted(k for k in groups_ if k[0] in held) for held in folds]
    start = time.perf_counter()
    results = {}

    def record(name, totals):
        weighted, total, count = (sum(t[i] for t in totals) for i in range(3))
        results[name] = weighted / total
        line = {"setting": name, "kp_f1": round(results[name], 4), "themes": count,
                "seconds": round(time.perf_counter() - start)}
        print(json.dumps(line), flush=True)
        if args.log:
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")

    record("baseline", [score(arguments, frozen, groups_, keys[f], themes.fit_projection(
        *projection_rows(groups_, frozen, folds[f]))) for f in range(FOLDS)])
    for setting in settings:
        totals = []
        for f in range(FOLDS):
            pairs = theme_encoder.training_pairs(arguments, key_points, groups_, folds[f])
            state = theme_encoder.train(pairs, base=args.base, device=device,
                                        **{k: setting[k] for k in KEYS})
            # Through fp16, as shipped.
            vectors = vectors_of(theme_encoder.with_top(state, setting["layers"], args.base),
                                 texts, device)
            projection = (themes.fit_projection(*projection_rows(groups_, vectors, folds[f]))
                          if setting.get("projection") else None)
            totals.append(score(arguments, vectors, groups_, keys[f], projection))
        record(json.dumps(setting), totals)
    best = max((n for n in results if n != "baseline"), key=results.get)
    if args.final:
        setting = json.loads(best)
        pairs = theme_encoder.training_pairs(arguments, key_points, groups_)
        state = theme_encoder.train(pairs, base=args.base, device=device,
                                    **{k: setting[k] for k in KEYS})
        written = theme_encoder.save_parts(state, args.final, layers=setting["layers"])
        print(f"final: {best} -> {', '.join(str(p) for p in written)}", flush=True)
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
