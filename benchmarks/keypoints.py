"""Score the theme extractor against expert key points (ArgKP-2021), with baselines in the same run.

For each topic and stance, themes are extracted from the arguments (their stance given) and
matched one-to-one to the expert key points of that topic and stance: a Hungarian
assignment on the F1 between a key point's matching arguments and a theme's members, so one
catch-all theme earns one match, not all. KP-F1 averages the matched F1s (0 for an
unmatched key point) weighted by how many arguments each key point has. Also reported: the
mean cosine similarity between each matched theme's phrase and its key point's text.

Baselines, on the same embeddings: one theme per stance holding every argument, and KMeans
told the true number of key points. Ours is not told k; it clusters in the theme encoder's
vectors (`nlp.theme_encoder`, trained on train). On dev, the extractor as it was before the
theme encoder (MiniLM's vectors in an LDA projection fitted on train) is scored too.

    python benchmarks/keypoints.py [--split dev] [--data ../shared/data/keypoints]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.argkp import DEFAULT_DATA, groups, load_split, projection_rows  # noqa: E402
from nlp.themes import Theme, extract_themes  # noqa: E402


def f1(a: set[int], b: set[int]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def match(gold, themes: list[list[int]]):
    """Hungarian assignment of key points to themes on F1; returns [(gold index, theme index, f1)]."""
    from scipy.optimize import linear_sum_assignment

    if not gold or not themes:
        return []
    scores = np.array([[f1(set(g), set(t)) for t in themes] for _, g in gold])
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return [(int(r), int(c), float(scores[r, c])) for r, c in zip(rows, cols)]


def kmeans_themes(texts, vectors, k, seed=0) -> list[Theme]:
    from sklearn.cluster import KMeans

    from nlp.themes import _phrase

    labels = KMeans(n_clusters=min(k, len(texts)), n_init=10, random_state=seed).fit_predict(vectors)
    themes = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centre = vectors[members].mean(axis=0)
        sim = vectors[members] @ (centre / np.linalg.norm(centre))
        themes.append(Theme(_phrase(members, sim, texts), len(members), members.tolist(), []))
    return themes


def one_theme(texts, vectors) -> list[Theme]:
    from nlp.themes import _phrase

    members = np.arange(len(texts))
    centre = vectors.mean(axis=0)
    sim = vectors @ (centre / np.linalg.norm(centre))
    return [Theme(_phrase(members, sim, texts), len(texts), members.tolist(), [])]


def score(method, arguments, key_points, groups_, arg_vectors, encoder, kp_vectors):
    """KP-F1 and mean phrase similarity of one method over every topic and stance."""
    weighted = total = 0.0
    similarities = []
    n_themes = 0
    seconds = 0.0
    for _, (members, gold) in sorted(groups_.items()):
        texts = [arguments[i]["argument"] for i in members]
        vectors = arg_vectors[members]
        start = time.perf_counter()
        themes = method(texts, vectors, len(gold))
        seconds += time.perf_counter() - start
        n_themes += len(themes)
        local = [(k, [members.index(i) for i in g]) for k, g in gold]
        for g, t, value in match(local, [th.members for th in themes]):
            weighted += value * len(local[g][1])
            if value > 0:
                phrase = encoder([themes[t].phrase])[0]
                similarities.append(float(phrase @ kp_vectors[local[g][0]]))
        total += sum(len(g) for _, g in local)
    return {
        "kp_f1": weighted / total if total else 0.0,
        "phrase_similarity": float(np.mean(similarities)) if similarities else 0.0,
        "themes": n_themes, "seconds": seconds,
    }


def ours_method(arguments, encoder):
    """The shipped extractor: clusters in the theme encoder's vectors (when it is shipped)."""
    from nlp.theme_encoder import for_encoder

    model = for_encoder(encoder.name)
    if model is None:
        return lambda texts, vectors, k: extract_themes(texts, vectors)
    texts = [a["argument"] for a in arguments]
    point_of = dict(zip(texts, model.encode(texts)))
    return lambda texts, vectors, k: extract_themes(
        texts, vectors, points=np.stack([point_of[t] for t in texts]))


def before_theme_encoder(data: Path, encoder):
    """The extractor as it shipped before the theme encoder: the packaged MiniLM's own
    vectors, projected by an LDA fitted on ArgKP train's key points."""
    from unittest import mock

    import nlp.themes as themes

    arguments, key_points, matches = load_split(data, "train")
    vectors = encoder.encode([a["argument"] for a in arguments])
    projection = themes.fit_projection(*projection_rows(groups(arguments, key_points, matches),
                                                        vectors))

    def method(texts, vectors, k):
        with mock.patch.object(themes, "projection_for", lambda name, dim: projection):
            return extract_themes(texts, vectors, encoder="before")
    return method


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="dev", choices=("train", "dev"))
    args = parser.parse_args(argv)
    if not (args.data / f"arguments_{args.split}.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2

    from nlp.embed import load_encoder

    arguments, key_points, matches = load_split(args.data, args.split)
    encoder = load_encoder(None)
    start = time.perf_counter()
    arg_vectors = encoder.encode([a["argument"] for a in arguments])
    kp_vectors = encoder.encode([k["key_point"] for k in key_points])
    encode_seconds = time.perf_counter() - start
    groups_ = groups(arguments, key_points, matches)
    n_kp = sum(len(g) for _, g in groups_.values())
    print(f"ArgKP {args.split}: {len(arguments)} arguments, {len(groups_)} topic-stances, "
          f"{n_kp} key points with matches; encoded in {encode_seconds:.1f}s")

    methods = {
        "one theme per stance": lambda texts, vectors, k: one_theme(texts, vectors),
        "KMeans, true k": lambda texts, vectors, k: kmeans_themes(texts, vectors, k),
        "ours (k from data)": ours_method(arguments, encoder),
    }
    if args.split != "train" and (args.data / "arguments_train.csv").is_file():
        methods["before (MiniLM + LDA)"] = before_theme_encoder(args.data, encoder)
    results = {}
    for name, method in methods.items():
        results[name] = score(method, arguments, key_points, groups_, arg_vectors,
                              encoder.encode, kp_vectors)
        r = results[name]
        print(f"{name:24s} KP-F1 {r['kp_f1']:.3f}  phrase similarity {r['phrase_similarity']:.3f}"
              f"  themes {r['themes']:3d}  {r['seconds']:.2f}s")
    ours, kmeans, single = (results["ours (k from data)"], results["KMeans, true k"],
                            results["one theme per stance"])
    print(json.dumps({
        "metric": "KP-F1", "unit": "F1 (weighted by key point size)", "split": args.split,
        "ours": round(ours["kp_f1"], 4), "baseline": round(kmeans["kp_f1"], 4),
        "baseline_name": "KMeans told the true k",
        "baseline_one_theme": round(single["kp_f1"], 4),
        "speedup": round(ours["kp_f1"] / kmeans["kp_f1"], 3) if kmeans["kp_f1"] else None,
        "phrase_similarity": round(ours["phrase_similarity"], 4),
        "phrase_similarity_kmeans": round(kmeans["phrase_similarity"], 4),
        "themes": ours["themes"], "key_points": n_kp,
        "before_theme_encoder": (round(results["before (MiniLM + LDA)"]["kp_f1"], 4)
                                 if "before (MiniLM + LDA)" in results else None),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
