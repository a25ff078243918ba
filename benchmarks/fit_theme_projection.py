"""Fit the projection that `nlp.themes` clusters in, from ArgKP-2021 train key points.

Each training topic and stance is centred on its own mean; a linear discriminant analysis
then finds the directions of the default encoder's space that tell one key point's
arguments from another's (arguments matching exactly one key point are used). Only train
is read; dev stays for `benchmarks/keypoints.py`. The result, a 384 x 32 matrix, is written
to nlp/data/theme_projection.npz with the encoder's name.

    python benchmarks/fit_theme_projection.py [--data ../shared/data/keypoints]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.argkp import DEFAULT_DATA, groups, load_split, projection_rows  # noqa: E402
from nlp.themes import PROJECTION_FILE, fit_projection  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dims", type=int, default=32)
    parser.add_argument("--shrinkage", type=float, default=0.5)
    args = parser.parse_args(argv)
    from nlp.embed import DEFAULT_ENCODER, load_encoder

    arguments, key_points, matches = load_split(args.data, "train")
    vectors = load_encoder(None).encode([a["argument"] for a in arguments])
    rows, labels = projection_rows(groups(arguments, key_points, matches), vectors)
    matrix = fit_projection(rows, labels, dims=args.dims, shrinkage=args.shrinkage)
    PROJECTION_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(PROJECTION_FILE, matrix=matrix, encoder=np.array(DEFAULT_ENCODER))
    print(f"wrote {PROJECTION_FILE} ({matrix.shape[0]}x{matrix.shape[1]}) from "
          f"{len(rows)} arguments, {len(set(labels))} key points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
