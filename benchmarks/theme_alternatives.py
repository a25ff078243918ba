"""Other ways to cluster themes, scored beside the shipped one (ArgKP-2021 KP-F1).

Each method turns a topic-stance's arguments into clusters; clusters then pass the same
filter `nlp.themes.extract_themes` applies (at least `MIN_SIZE` posts and `MIN_SHARE` of
them, the `MAX_THEMES` largest) and are scored with the KP-F1 of `benchmarks/keypoints.py`.
Seeded methods run with seeds 0, 1 and 2 and report the mean and the spread (a difference
smaller than the spread is noise).

By default the score is 3-fold leave-topics-out cross-validation on ArgKP train, the
projection refitted per fold (as `benchmarks/theme_cv.py` does): this is where settings are
chosen. `--split dev` scores on dev with the shipped projection (report it, never tune on it).

    python benchmarks/theme_alternatives.py [--split dev] [--vectors /tmp/train.npy]
        [--data ../shared/data/keypoints]

Methods:
  shipped          KMeans, k of best silhouette (nlp.themes.cluster_labels)
  true-k           KMeans told the true number of key points (a ceiling, not usable)
  ward+kmeans      Ward tree cut at 0.3*sqrt(n), then KMeans from the Ward centres
  gmm-bic          spherical Gaussian mixture, k (1..10) of lowest BIC
  lex+silhouette   the projected embedding joined with 30 TF-IDF/LSA dimensions (weight
                   0.35), KMeans with k of best silhouette
  lex+gmm-bic      the same joined features, spherical Gaussian mixture, k of lowest BIC
  hdbscan          HDBSCAN, min_cluster_size 5 (its noise left out)
  calinski         KMeans, k (2..10) of best Calinski-Harabasz score
  max-k-5          the shipped method with at most 5 themes per bucket (nlp.themes.MAX_K 5)

The last line printed is one JSON object: the best alternative (by mean) against shipped.
"""

from __future__ import annotations

import argparse
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
from benchmarks.keypoints import match  # noqa: E402
from nlp.argkp import DEFAULT_DATA, groups, load_split, projection_rows  # noqa: E402

SEEDS = (0, 1, 2)
MAX_K = 10


def units(arguments, vectors, groups_, split: str):
    """(texts, theme-space features, gold key points as local indices) per topic-stance."""
    out = []
    if split == "dev":
        projection = themes.projection_for(themes.DEFAULT_ENCODER, vectors.shape[1])
        folds = [(set(), projection)]
    else:
        topics = sorted({topic for topic, _ in groups_})
        folds = []
        for f in range(3):
            held = set(topics[f::3])
            folds.append((held, themes.fit_projection(*projection_rows(groups_, vectors, held))))
    for held, projection in folds:
        for key, (members, gold) in sorted(groups_.items()):
            if split != "dev" and key[0] not in held:
                continue
            v = vectors[members] / np.linalg.norm(vectors[members], axis=1, keepdims=True)
            out.append(([arguments[i]["argument"] for i in members],
                        themes.theme_space(v, projection),
                        [(k, [members.index(i) for i in g]) for k, g in gold]))
    return out


def lexical(texts, features, weight=0.35, dims=30):
    """Features joined with the texts' TF-IDF reduced by LSA, centred, unit length."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2).fit_transform(texts)
    d = min(dims, x.shape[1] - 1, x.shape[0] - 1)
    if d < 1:
        return features
    lsa = TruncatedSVD(d, random_state=0).fit_transform(x)
    lsa -= lsa.mean(axis=0)
    lsa /= np.maximum(np.linalg.norm(lsa, axis=1, keepdims=True), 1e-12)
    return np.hstack([math.sqrt(1 - weight) * features, math.sqrt(weight) * lsa])


def gmm_bic(features, seed):
    from sklearn.mixture import GaussianMixture

    best = None
    for k in range(1, min(MAX_K, len(features) // themes.MIN_SIZE) + 1):
        model = GaussianMixture(k, covariance_type="spherical", random_state=seed,
                                n_init=3).fit(features)
        bic = model.bic(features)
        if best is None or bic < best[0]:
            best = (bic, model.predict(features))
    return best[1]


def kmeans_by(score, features, seed):
    from sklearn.cluster import KMeans

    best = None
    for k in range(2, min(MAX_K, len(features) // themes.MIN_SIZE) + 1):
        labels = KMeans(k, n_init=3, random_state=seed).fit_predict(features)
        s = score(features, labels)
        if best is None or s > best[0]:
            best = (s, labels)
    return best[1] if best else np.zeros(len(features), dtype=int)


def ward_kmeans(features, seed, scale=0.3):
    from sklearn.cluster import AgglomerativeClustering, KMeans

    labels = AgglomerativeClustering(n_clusters=None, linkage="ward",
                                     distance_threshold=scale * math.sqrt(len(features))
                                     ).fit_predict(features)
    k = len(np.unique(labels))
    if k < 2:
        return labels
    centres = np.array([features[labels == j].mean(axis=0) for j in range(k)])
    return KMeans(k, init=centres, n_init=1, random_state=seed).fit_predict(features)


def at_most(max_k, features, seed):
    """The shipped clustering with `nlp.themes.MAX_K` set to `max_k` for this call."""
    shipped = themes.MAX_K
    themes.MAX_K = max_k
    try:
        return themes.cluster_labels(features, seed=seed)
    finally:
        themes.MAX_K = shipped


def methods():
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.metrics import calinski_harabasz_score

    return {
        "shipped": (True, lambda t, f, k, s: themes.cluster_labels(f, seed=s)),
        "true-k": (True, lambda t, f, k, s: KMeans(min(k, len(f)), n_init=3,
                                                   random_state=s).fit_predict(f)),
        "ward+kmeans": (False, lambda t, f, k, s: ward_kmeans(f, s)),
        "gmm-bic": (True, lambda t, f, k, s: gmm_bic(f, s)),
        "lex+silhouette": (True, lambda t, f, k, s: themes.cluster_labels(lexical(t, f), seed=s)),
        "lex+gmm-bic": (True, lambda t, f, k, s: gmm_bic(lexical(t, f), s)),
        "hdbscan": (False, lambda t, f, k, s: HDBSCAN(min_cluster_size=5,
                                                      copy=True).fit_predict(f)),
        "calinski": (True, lambda t, f, k, s: kmeans_by(calinski_harabasz_score, f, s)),
        "max-k-5": (True, lambda t, f, k, s: at_most(5, f, s)),
    }


def kp_f1(units_, method, seed) -> tuple[float, int]:
    weighted = total = 0.0
    count = 0
    for texts, features, gold in units_:
        labels = method(texts, features, len(gold), seed)
        n = len(texts)
        needed = max(themes.MIN_SIZE, math.ceil(themes.MIN_SHARE * n))
        clusters = [np.flatnonzero(labels == j) for j in np.unique(labels) if j >= 0]
        clusters = [c for c in clusters if len(c) >= needed]
        clusters.sort(key=lambda c: (-len(c), int(c[0])))
        clusters = clusters[: themes.MAX_THEMES]
        count += len(clusters)
        for g, _, value in match(gold, [c.tolist() for c in clusters]):
            weighted += value * len(gold[g][1])
        total += sum(len(g) for _, g in gold)
    return (weighted / total if total else 0.0), count


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train", choices=("train", "dev"))
    parser.add_argument("--vectors", type=Path, help="cache of the split's embeddings (.npy)")
    args = parser.parse_args(argv)
    if not (args.data / f"arguments_{args.split}.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=UserWarning)
    arguments, key_points, matches = load_split(args.data, args.split)
    if args.vectors and args.vectors.is_file():
        vectors = np.load(args.vectors)
    else:
        from nlp.embed import load_encoder

        vectors = load_encoder(None).encode([a["argument"] for a in arguments])
        if args.vectors:
            np.save(args.vectors, vectors)
    units_ = units(arguments, vectors, groups(arguments, key_points, matches), args.split)
    where = "dev" if args.split == "dev" else "3-fold leave-topics-out CV on train"
    print(f"ArgKP {where}: {len(units_)} topic-stances")
    results = {}
    with threadpool_limits(1):
        for name, (seeded, method) in methods().items():
            start = time.perf_counter()
            runs = [kp_f1(units_, method, s) for s in (SEEDS if seeded else SEEDS[:1])]
            scores = [r[0] for r in runs]
            results[name] = float(np.mean(scores))
            spread = f"{min(scores):.4f}..{max(scores):.4f}" if seeded else "(not seeded)"
            print(f"{name:16s} KP-F1 {results[name]:.4f}  seeds {spread:16s} "
                  f"themes {runs[0][1]:4d}  {time.perf_counter() - start:.1f}s", flush=True)
    best = max((n for n in results if n not in ("shipped", "true-k")), key=results.get)
    print(json.dumps({
        "metric": f"KP-F1, ArgKP {where}, mean over seeds", "unit": "F1",
        "ours": round(results["shipped"], 4), "baseline": round(results[best], 4),
        "baseline_name": f"best alternative: {best}", "true_k_ceiling": round(results["true-k"], 4),
        "speedup": round(results["shipped"] / results[best], 3) if results[best] else None,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
