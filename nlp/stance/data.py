"""The stance data sets in ../shared/data, their licences, and an on-disk embedding cache.

Every data set has a name, its files, whether its licence lets the project train shipped
weights on it (`train_ok`), and a kind (tweets, comments, ...). Rows are sampled per data
set (`sample`, seeded) so that no large set dominates and embedding them stays bounded.

The cache keeps each text's embedding under ~/.cache/reactions/stance-embeddings/<encoder>/
(never inside the repository: the texts are not the project's to redistribute), in
append-only chunk files, so an interrupted run keeps what it embedded.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.stance.contract import bucket_index
from reactions.models import normalize_label

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CACHE_DIR = Path(os.environ.get("REACTIONS_STANCE_CACHE",
                                Path.home() / ".cache" / "reactions" / "stance-embeddings"))


@dataclass(frozen=True)
class DataSet:
    name: str
    files: tuple[str, ...]  # relative to SHARED_DATA
    train_ok: bool  # may train shipped weights (licence allows it)
    kind: str
    language: str = "en"
    #: Rows sampled from it (see SAMPLE); training-only sets take fewer to bound embedding.
    cap: int = 3000


#: The licence column of ../shared/data/stance/extra/README.md: the non-commercial sets
#: (Catalonia, CC BY-NC-SA; Kawintiranon, "research purposes only") only ever evaluate.
DATASETS: tuple[DataSet, ...] = (
    DataSet("semeval2016", ("stance/semeval2016_train.csv", "stance/semeval2016_val.csv"), True, "tweets"),
    DataSet("vast_dev", ("stance/vast_dev.csv",), True, "comments"),
    DataSet("argkp", ("keypoints/arguments_train.csv", "keypoints/arguments_dev.csv"), True, "arguments"),
    DataSet("vast_train", ("stance/extra/vast_train.csv",), True, "comments"),
    DataSet("covid19", ("stance/extra/covid19_glandt.csv",), True, "tweets"),
    DataSet("pstance", ("stance/extra/pstance_biden_sanders.csv",), True, "tweets"),
    DataSet("multitarget", ("stance/extra/multitarget_sobhani2017.csv",), True, "tweets"),
    DataSet("ukp_argmin", ("stance/extra/ukp_argmin.csv",), True, "web sentences", cap=1500),
    DataSet("perspectrum", ("stance/extra/perspectrum.csv",), True, "arguments", cap=1500),
    DataSet("ibm_claims", ("stance/extra/ibm_claim_stance.csv",), True, "claims", cap=1500),
    DataSet("emergent", ("stance/extra/emergent.csv",), True, "headlines", cap=1500),
    DataSet("covid_cq", ("stance/extra/covid_cq_hydroxychloroquine.csv",), True, "tweets", cap=1500),
    DataSet("vaccinelies", ("stance/extra/vaccinelies.csv",), True, "tweets", cap=1500),
    DataSet("gwsd", ("stance/extra/gwsd_global_warming.csv",), True, "news sentences", cap=1500),
    DataSet("rumoureval", ("stance/extra/rumoureval2017_replies.csv",), True, "tweet replies", cap=1500),
    DataSet("election2020_biden", ("stance/extra/election2020_biden_kawintiranon.csv",), False, "tweets"),
    DataSet("catalonia_es", ("stance/extra/catalonia_independence_es.csv",), False, "tweets", "es"),
    DataSet("catalonia_ca", ("stance/extra/catalonia_independence_ca.csv",), False, "tweets", "ca"),
)
BY_NAME = {d.name: d for d in DATASETS}
#: Rows sampled per data set at most (all rows of smaller sets); a set's `cap` may lower it.
SAMPLE = 3000


@dataclass
class StanceRows:
    targets: list[str]
    texts: list[str]
    labels: np.ndarray  # indices into BUCKETS

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask) -> StanceRows:
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return StanceRows([self.targets[i] for i in idx], [self.texts[i] for i in idx],
                          self.labels[idx])

    @classmethod
    def concat(cls, parts: Sequence[StanceRows]) -> StanceRows:
        return cls([t for p in parts for t in p.targets], [t for p in parts for t in p.texts],
                   np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, int))


def read_rows(paths: Sequence[str | os.PathLike]) -> StanceRows:
    """Read one or more stance CSVs into rows; raises ValueError on an unknown shape."""
    targets, texts, labels = [], [], []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = set(reader.fieldnames or ())
            if {"target", "text", "label"} <= fields:
                columns = ("target", "text", "label")
            elif {"topic", "argument", "stance"} <= fields:
                columns = ("topic", "argument", "stance")
            else:
                raise ValueError(f"{path}: expected columns target,text,label (got {sorted(fields)})")
            for row in reader:
                targets.append(row[columns[0]].strip())
                texts.append(row[columns[1]])
                labels.append(normalize_label(row[columns[2]]))
    return StanceRows(targets, texts, bucket_index(labels))


def available(root: Path = SHARED_DATA) -> list[DataSet]:
    return [d for d in DATASETS if all((root / f).is_file() for f in d.files)]


def sample(name: str, n: int | None = None, *, root: Path = SHARED_DATA, seed: int = 0):
    """Up to n rows of a data set (its cap by default; a seeded random sample, in file
    order), as StanceRows."""

    n = min(SAMPLE, BY_NAME[name].cap) if n is None else n
    rows = read_rows([root / f for f in BY_NAME[name].files])
    if len(rows) <= n:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))
    return rows.subset(keep)


#: Argument-like sets, 1,500 seeded rows each, that `benchmarks/pair_recipe.py` measured as
#: extra training data for the default (measured, not shipped: docs/stance.md).
ARGUMENT_SETS = ("ukp_argmin", "perspectrum", "ibm_claims", "emergent", "gwsd")

#: Permitted, training-only sets that choose between training recipes in the benchmarks
#: (`benchmarks/pair_recipe.py`, `benchmarks/pair_multilingual.py`); no target of #15.
SELECTION_SETS = ("covid_cq", "vaccinelies", "rumoureval")


def default_rows(root: Path = SHARED_DATA, *, semeval: bool = True) -> tuple[StanceRows, StanceRows]:
    """(labelled rows, key-point arguments) that the shipped default trains on: SemEval-2016
    train (its val split stays out, to score on; `semeval=False` leaves train out too) and
    VAST dev; ArgKP train+dev apart, since the pair model samples it."""
    parts = [read_rows([root / "stance" / "semeval2016_train.csv"])] if semeval else []
    labelled = StanceRows.concat(parts + [read_rows([root / "stance" / "vast_dev.csv"])])
    return labelled, sample("argkp", 10**9, root=root)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """encode(texts) through an on-disk cache of this encoder's vectors."""

    def __init__(self, encoder, name: str | None = None, directory: Path | None = None,
                 chunk: int = 2000) -> None:
        self.encoder = encoder
        label = name or getattr(encoder, "name", "encoder")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
        self.directory = (directory or CACHE_DIR) / safe
        self.directory.mkdir(parents=True, exist_ok=True)
        self.chunk = chunk
        self.vectors: dict[str, np.ndarray] = {}
        for path in sorted(self.directory.glob("chunk-*.npz")):
            with np.load(path) as part:
                self.vectors.update(zip(part["keys"].tolist(), part["vectors"]))

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None
               ) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self.vectors))
        for start in range(0, len(missing), self.chunk):
            part = missing[start : start + self.chunk]
            vectors = np.asarray(self.encoder.encode(part), dtype=np.float32)
            part_keys = [_key(t) for t in part]
            self.vectors.update(zip(part_keys, vectors))
            count = len(list(self.directory.glob("chunk-*.npz")))
            np.savez(self.directory / f"chunk-{count:05d}-{os.getpid()}.npz",
                     keys=np.array(part_keys), vectors=vectors)
            if progress is not None:
                progress(len(part))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self.vectors[k] for k in keys])


def main() -> None:
    """Fill the cache for every sampled row and claim: python -m nlp.stance.data."""
    import sys
    import time

    import torch

    from nlp.embed import load_encoder
    from nlp.stance.heads import hypotheses

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    names = sys.argv[1:] or [d.name for d in available() if d.language == "en"]
    cache = EmbeddingCache(load_encoder(None))
    started = time.perf_counter()
    for name in names:
        rows = sample(name)
        claims = sorted({h for t in set(rows.targets) for h in hypotheses(t)})
        cache.encode(claims)
        cache.encode(rows.texts)
        print(f"{name}: {len(rows)} rows, {len(claims)} claim sentences, "
              f"{time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
