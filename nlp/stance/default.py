"""Rebuild the shipped default (`nlp/weights/stance/`): its heads and its pair model.

    python -m nlp.stance.default [--data DIR] [--out DIR] [--pair-only]
                                 [--pair-base ENCODER --top-layers N] [--bf16]

Both learn from `data.default_rows` (SemEval-2016 train, VAST dev and ArgKP); SemEval val
stays out so that the shipped model can be scored on it. About 4 minutes on 2 CPU threads,
most of it the pair model.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

TRAINED_ON = "SemEval-2016 train, VAST dev, ArgKP train+dev"


def main(argv: Sequence[str] | None = None) -> None:
    import torch

    from nlp.stance.contract import DEFAULT_DIR
    from nlp.stance.data import SHARED_DATA, StanceRows, default_rows
    from nlp.stance.embedding import EmbeddingStanceClassifier
    from nlp.stance.pair import train_pair, training_pairs
    from nlp.stance.train import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--pair-only", action="store_true", help="keep the heads, rebuild the pair model")
    parser.add_argument("--pair-base", help="the pair model's encoder, a folder or Hugging Face id "
                        "(default: the packaged MiniLM); the folder records it")
    parser.add_argument("--top-layers", type=int, help="encoder layers the pair model trains "
                        "(default: the recipe's 3)")
    parser.add_argument("--bf16", action="store_true", help="train the pair model under bf16 "
                        "autocast (twice as fast on a CPU with bf16; the shipped one is float32)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    labelled, keypoints = default_rows(args.data)
    started = time.perf_counter()
    if args.pair_only:
        clf = EmbeddingStanceClassifier.load(args.out)
    else:
        clf = train(StanceRows.concat([labelled, keypoints]), log=print)
        print(f"heads trained in {time.perf_counter() - started:.0f} s")
    meta = json.loads((args.out / "stance.json").read_text(encoding="utf-8")) if (args.out / "stance.json").is_file() else {}
    clf.name = meta.get("name", "default-stance-v1")
    clf.adapt_C = float(meta.get("adapt_C", clf.adapt_C))
    extra = {} if args.top_layers is None else {"top_layers": args.top_layers}
    clf.pair = train_pair(labelled, keypoints, log=print, base=args.pair_base, bf16=args.bf16,
                          **extra)
    print(f"trained in {time.perf_counter() - started:.0f} s")
    clf.meta["trained_on"] = {**clf.meta.get("trained_on", {}), "data": TRAINED_ON,
                              "pairs": len(training_pairs(labelled, keypoints)[2])}
    clf.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
