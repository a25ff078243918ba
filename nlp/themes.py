"""Themes: clusters of posts making the same point, each named by a short phrase.

Posts are clustered on their sentence embeddings with scikit-learn's KMeans, and the
number of themes is chosen from the data (the k with the best silhouette). Before
clustering, the bucket's mean is removed (every post is about the same story; what tells
points apart is how posts differ) and, for the default MiniLM encoder, the vectors are
projected onto directions that separate argument points: a linear discriminant analysis
fitted on ArgKP-2021 train key points (`benchmarks/fit_theme_projection.py`), shipped as a
small matrix. A cluster becomes a theme only when enough posts make the point; smaller
ones are left out (a newsroom would rather say nothing than name a point two people
made). Each theme gets a phrase (its most central short post, trimmed), keywords (class
TF-IDF) and its most representative posts: central, engaged, and not repeating one another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from nlp.embed import DEFAULT_ENCODER

#: Candidate numbers of themes per bucket; the silhouette picks one.
MIN_K, MAX_K = 2, 10
#: In buckets at least this large, two themes must beat three or more by this silhouette
#: margin (a large bucket rarely makes only two points; tuned on ArgKP train).
LARGE_BUCKET = 30
TWO_THEME_MARGIN = 0.1
#: The number of themes is chosen on at most this many posts (silhouette is quadratic).
SILHOUETTE_SAMPLE = 2000
#: The projection learned on ArgKP train, and the encoder whose vectors it projects.
PROJECTION_FILE = Path(__file__).resolve().parent / "data" / "theme_projection.npz"
#: A theme needs at least this many posts, and at least this share of the bucket's posts.
MIN_SIZE = 3
MIN_SHARE = 0.04
#: At most this many themes per bucket are kept (the largest).
MAX_THEMES = 8
#: Two representatives more similar than this count as the same post.
SAME_POST_SIMILARITY = 0.9
#: A phrase is cut to about this many words.
PHRASE_WORDS = 14

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<!\w)@[\w.]+")
_SPACE = re.compile(r"\s+")
_CLAUSE = re.compile(r"(?<=[.!?;])\s+")


@dataclass
class Theme:
    """One point several posts make: indices refer to the texts given to `extract_themes`."""

    phrase: str
    size: int
    members: list[int]
    representatives: list[int]
    keywords: list[str] = field(default_factory=list)
    #: Mean cosine similarity of the members to the theme's centre (how tight it is).
    cohesion: float = 0.0


def clean_phrase(text: str, max_words: int = PHRASE_WORDS) -> str:
    """A post's text as a short phrase: no links or mentions, first sentence, at most N words."""
    text = _SPACE.sub(" ", _MENTION.sub("", _URL.sub("", text))).strip(" \"'`“”")
    first = _CLAUSE.split(text, maxsplit=1)[0] if text else text
    words = first.split()
    if len(words) > max_words:
        return " ".join(words[:max_words]).rstrip(" .!?;:,-") + "..."
    return first.rstrip(" .!?;:,")


@lru_cache(maxsize=1)
def _projection_file() -> tuple[str, np.ndarray] | None:
    if not PROJECTION_FILE.is_file():
        return None
    with np.load(PROJECTION_FILE) as data:
        return str(data["encoder"]), np.asarray(data["matrix"], dtype=np.float32)


def projection_for(encoder: str | None, dim: int) -> np.ndarray | None:
    """The shipped projection when it was fitted for this encoder's vectors, else None."""
    found = _projection_file()
    if found is None or encoder is None:
        return None
    name, matrix = found
    return matrix if name == encoder and matrix.shape[0] == dim else None


def fit_projection(centred: np.ndarray, labels: np.ndarray, dims: int = 32,
                   shrinkage: float = 0.5) -> np.ndarray:
    """Directions that separate points: LDA of embeddings (each centred on its group's mean,
    as `theme_space` does) on their point labels."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    lda = LinearDiscriminantAnalysis(n_components=dims, solver="eigen", shrinkage=shrinkage)
    lda.fit(centred, labels)
    return lda.scalings_[:, :dims].astype(np.float32)


def theme_space(vectors: np.ndarray, projection: np.ndarray | None) -> np.ndarray:
    """Vectors centred on their mean, projected when a projection applies, unit length."""
    centred = vectors - vectors.mean(axis=0)
    if projection is not None:
        centred = centred @ projection
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12)


def cluster_labels(features: np.ndarray, *, min_size: int = MIN_SIZE, seed: int = 0) -> np.ndarray:
    """A cluster label per row: KMeans with the number of clusters of best silhouette.

    For big buckets the number is chosen on a sample, then one KMeans runs on every row.
    One thread: on a shared machine OpenMP's spinning threads cost more than they bring.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    n = len(features)
    distinct = len(np.unique(np.round(features, 5), axis=0))
    high = min(MAX_K, n // max(min_size, 1), distinct)
    if high < MIN_K:
        return np.zeros(n, dtype=int)
    rng = np.random.default_rng(seed)
    sample = (features if n <= SILHOUETTE_SAMPLE
              else features[rng.choice(n, SILHOUETTE_SAMPLE, replace=False)])
    best: tuple[float, int, np.ndarray] | None = None
    with threadpool_limits(1):
        for k in range(MIN_K, high + 1):
            labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(sample)
            if len(np.unique(labels)) < 2:
                continue
            score = silhouette_score(sample, labels, metric="cosine")
            if k == 2 and n >= LARGE_BUCKET:
                score -= TWO_THEME_MARGIN
            if best is None or score > best[0]:
                best = (score, k, labels)
        if best is None:
            return np.zeros(n, dtype=int)
        if sample is features:
            return best[2]
        return KMeans(n_clusters=best[1], n_init=3, random_state=seed).fit_predict(features)


def keywords_per_theme(texts_per_theme: Sequence[str], top: int = 4) -> list[list[str]]:
    """Words that set each theme apart from the others (class TF-IDF over joined texts)."""
    if not texts_per_theme:
        return []
    from sklearn.feature_extraction.text import CountVectorizer

    try:
        vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z]{3,}\b")
        counts = vectorizer.fit_transform(texts_per_theme).toarray().astype(float)
    except ValueError:  # nothing but stop words
        return [[] for _ in texts_per_theme]
    words = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum() / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    return [[words[j] for j in np.argsort(-row)[:top] if row[j] > 0] for row in scores]


def _representatives(
    members: np.ndarray, similarity: np.ndarray, engagement: np.ndarray, texts: Sequence[str],
    embeddings: np.ndarray, k: int,
) -> list[int]:
    """Central and engaged members, skipping any that repeats one already picked."""
    boost = np.log1p(engagement[members])
    if boost.max() > 0:
        boost = boost / boost.max()
    score = similarity + 0.15 * boost
    order = [int(members[j]) for j in np.argsort(-score, kind="stable")]
    picked: list[int] = []
    seen_texts: set[str] = set()
    # First pass: posts that say it differently; second: fill up with any distinct text.
    for strict in (True, False):
        for index in order:
            key = " ".join(re.findall(r"\w+", texts[index].lower()))
            if len(picked) == k or key in seen_texts:
                continue
            if strict and picked and float(
                    np.max(embeddings[picked] @ embeddings[index])) > SAME_POST_SIMILARITY:
                continue
            picked.append(index)
            seen_texts.add(key)
    return picked


def _phrase(members: np.ndarray, similarity: np.ndarray, texts: Sequence[str]) -> str:
    """The most central member that is short enough to read as a phrase."""
    order = np.argsort(-similarity, kind="stable")
    top = order[: max(3, math.ceil(len(order) / 4))]
    short = [j for j in top if len(texts[members[j]].split()) <= 2 * PHRASE_WORDS]
    best = short[0] if short else order[0]
    return clean_phrase(texts[members[best]])


def extract_themes(
    texts: Sequence[str], embeddings: np.ndarray, *, engagement: Sequence[float] | None = None,
    encoder: str | None = DEFAULT_ENCODER, min_size: int = MIN_SIZE, min_share: float = MIN_SHARE,
    max_themes: int = MAX_THEMES, representatives: int = 3,
) -> list[Theme]:
    """The main points among the texts, largest first.

    `embeddings` holds one row per text, from the encoder named `encoder` (the shipped
    projection is used only for the encoder it was fitted on). A cluster is kept as a theme
    when it has at least `min_size` posts and `min_share` of all of them; posts in no kept
    cluster are left out rather than forced into a theme.
    """
    n = len(texts)
    if n < min_size:
        return []
    vectors = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    weights = np.asarray(engagement if engagement is not None else np.zeros(n), dtype=float)
    features = theme_space(vectors, projection_for(encoder, vectors.shape[1]))
    labels = cluster_labels(features, min_size=min_size)
    needed = max(min_size, math.ceil(min_share * n))
    clusters = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    clusters = [c for c in clusters if len(c) >= needed]
    clusters.sort(key=lambda c: (-len(c), int(c[0])))
    clusters = clusters[:max_themes]
    themes = []
    for members in clusters:
        centre = vectors[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        similarity = vectors[members] @ centre
        themes.append(Theme(
            phrase=_phrase(members, similarity, texts),
            size=len(members),
            members=[int(i) for i in members],
            representatives=_representatives(members, similarity, weights, texts, vectors,
                                              representatives),
            cohesion=round(float(similarity.mean()), 4),
        ))
    for theme, words in zip(themes, keywords_per_theme(
            [" ".join(texts[i] for i in t.members) for t in themes])):
        theme.keywords = words
    return themes
