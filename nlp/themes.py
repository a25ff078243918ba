"""Themes: clusters of posts making the same point, each named by a short phrase.

Posts are clustered with scikit-learn's KMeans, and the number of themes is chosen from the
data (the k with the best silhouette). They are clustered in the theme encoder's vectors
(`nlp.theme_encoder`: MiniLM with its top layers trained on ArgKP-2021 train so that
arguments making the same point lie close), with the bucket's mean removed (every post is
about the same story; what tells points apart is how posts differ). Where no theme encoder
applies (another encoder's embeddings), the embeddings are clustered instead, projected for
the default MiniLM onto directions that separate argument points (a linear discriminant
analysis fitted on ArgKP train, `benchmarks/fit_theme_projection.py`). A cluster becomes a
theme only when enough posts make the point; smaller ones are left out (a newsroom would
rather say nothing than name a point two people made). Each theme gets a phrase (its most
central short post, trimmed), keywords (class TF-IDF) and its most representative posts:
central in the space the theme was found in, engaged, and not repeating one another.
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
#: The largest number of themes whose silhouette is within this of the best is chosen.
#: 0: the best. Measured in 3-fold leave-topics-out cross-validation on ArgKP train (the
#: projection refitted per fold): 0.01 and 0.02 lose 0.008 and 0.025 KP-F1 against 0.
SILHOUETTE_TOLERANCE = 0.0
#: KMeans restarts per candidate number of themes (10 gained 0.002 KP-F1 in that
#: cross-validation, not worth three times the time).
N_INIT = 3
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
    #: Short word sequences that set the theme apart, each as written in some member post.
    keyphrases: list[str] = field(default_factory=list)


def strip_links(text: str) -> str:
    """A post's text without links or mentions, spaces collapsed."""
    return _SPACE.sub(" ", _MENTION.sub("", _URL.sub("", text))).strip()


def clean_phrase(text: str, max_words: int = PHRASE_WORDS) -> str:
    """A post's text as a short phrase: no links or mentions, its first sentence (abbreviations
    such as "U.S." do not end it), cut at a clause boundary when longer than N words."""
    from nlp.text import clause_cut

    phrase = clause_cut(strip_links(text), max_words)
    ellipsis = phrase.endswith("...")
    phrase = phrase.removesuffix("...").strip(" \"'`“”").rstrip(" .!?;:,\u2014\u2013-")
    if phrase.count('"') % 2:  # a quotation opened and not closed within the phrase
        phrase = phrase.replace('"', "")
    return phrase + ("..." if ellipsis else "")


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
    candidates: list[tuple[float, int, np.ndarray]] = []
    with threadpool_limits(1):
        for k in range(MIN_K, high + 1):
            labels = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit_predict(sample)
            if len(np.unique(labels)) < 2:
                continue
            score = silhouette_score(sample, labels, metric="cosine")
            if k == 2 and n >= LARGE_BUCKET:
                score -= TWO_THEME_MARGIN
            candidates.append((score, k, labels))
        if not candidates:
            return np.zeros(n, dtype=int)
        top = max(score for score, _, _ in candidates)
        best = max((c for c in candidates if c[0] >= top - SILHOUETTE_TOLERANCE),
                   key=lambda c: c[1])
        if sample is features:
            return best[2]
        return KMeans(n_clusters=best[1], n_init=N_INIT, random_state=seed).fit_predict(features)


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
    embeddings: np.ndarray, k: int, confident: np.ndarray | None = None,
) -> list[int]:
    """Central and engaged members, skipping any that repeats one already picked.

    The first is the theme's lead (its phrase is cut from it): a central member short enough
    to read as a phrase. Only confident members are picked (the classifier unsure of a post
    must not have it speak for the bucket); with `confident` None every member is.
    """
    if confident is not None:
        keep = confident[members]
        members, similarity = members[keep], similarity[keep]
        if not len(members):
            return []
    boost = np.log1p(engagement[members])
    if boost.max() > 0:
        boost = boost / boost.max()
    score = similarity + 0.15 * boost
    order = [int(members[j]) for j in np.argsort(-score, kind="stable")]
    lead = _lead(members, similarity, texts)
    order.remove(lead)
    order.insert(0, lead)
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


def _lead(members: np.ndarray, similarity: np.ndarray, texts: Sequence[str]) -> int:
    """The most central member whose first sentence reads as a phrase (4 to 2N words)."""
    from nlp.text import split_sentences

    order = np.argsort(-similarity, kind="stable")
    top = order[: max(3, math.ceil(len(order) / 4))]

    def words(j):
        sentences = split_sentences(strip_links(texts[members[j]]))
        return len(sentences[0].split()) if sentences else 0

    short = [j for j in top if 4 <= words(j) <= 2 * PHRASE_WORDS]
    best = short[0] if short else order[0]
    return int(members[best])


_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]|[A-Za-z]|\d+")
#: Words a keyphrase may hold but not start or end with, beyond English stop words
#: (contractions, and the Spanish articles of names such as "Cartel de los Soles").
_EDGE_WORDS = frozenset("""
de del la las los el y en que por para un una don't doesn't isn't it's that's there's
what's he's she's they're we're you're i'm i've i'd can't won't didn't wasn't aren't
let's who's just like really actually literally yes yeah lol ok okay
""".split())


#: Lower-case words that join the capitalised words of one name ("Cartel de los Soles",
#: "Department of Justice").
_NAME_JOINERS = frozenset("de del la las los el y da di van von der al bin of the".split())


def is_name_word(token: str) -> bool:
    """A capitalised word that is not a stop word ("Soles", "FTO"; not "The", "I")."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return token[:1].isupper() and token.lower() not in ENGLISH_STOP_WORDS | _EDGE_WORDS


def name_runs(tokens: Sequence[str]) -> list[int | None]:
    """Per token, the index of the first token of the name it belongs to, or None: a name is
    a run of capitalised words, joined by at most two joiners ("de los")."""
    run: list[int | None] = [None] * len(tokens)
    i = 0
    while i < len(tokens):
        if not is_name_word(tokens[i]):
            i += 1
            continue
        start, end = i, i + 1
        while end < len(tokens):
            if is_name_word(tokens[end]):
                end += 1
                continue
            j = end
            while j < len(tokens) and j - end < 2 and tokens[j] in _NAME_JOINERS:
                j += 1
            if j > end and j < len(tokens) and is_name_word(tokens[j]):
                end = j + 1
                continue
            break
        for k in range(start, end):
            run[k] = start
        i = end
    return run


def _grams(text: str, max_words: int) -> dict[str, str]:
    """Word sequences of 2..max_words words of a text: lower-case key -> as written."""
    return {key: written for key, (written, _) in _grams_as_written(text, max_words).items()}


def _grams_as_written(text: str, max_words: int) -> dict[str, tuple[str, bool]]:
    """Word sequences of 2..max_words words of a text: lower-case key -> (as written, whether
    at a clause's start), the mid-clause spelling preferred.

    A sequence never starts or ends inside a name ("Soles designation" is not cut from
    "Cartel de los Soles designation")."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out: dict[str, tuple[str, bool]] = {}
    for part in re.split(r"[.!?;:,()\"\u201c\u201d\u2014\u2013]+|\s-\s", strip_links(text)):
        tokens = _TOKEN.findall(part)
        lower = [t.lower().replace("\u2019", "'") for t in tokens]
        runs = name_runs(tokens)
        for n in range(2, max_words + 1):
            for i in range(len(tokens) - n + 1):
                gram = lower[i : i + n]
                if any(g in ENGLISH_STOP_WORDS or g in _EDGE_WORDS or len(g) < 3 or g.isdigit()
                       for g in (gram[0], gram[-1])):
                    continue
                last = i + n - 1
                if (runs[i] is not None and runs[i] != i) or (
                        last + 1 < len(tokens) and runs[last] is not None
                        and runs[last + 1] == runs[last]):
                    continue  # starts or ends inside a name
                key, written = " ".join(gram), " ".join(tokens[i : i + n])
                # "Blowing up boats" at a sentence's start reads wrong inside another
                # sentence; "blowing up boats" written mid-sentence does not.
                if key not in out or (i > 0 and out[key][1]):
                    out[key] = (written, i == 0)
    return out


def keyphrases_per_theme(texts_per_theme: Sequence[Sequence[str]], top: int = 3,
                         max_words: int = 4, background: Sequence[str] | None = None,
                         min_posts: int = 2) -> list[list[str]]:
    """Word sequences (2 to `max_words` words, not starting or ending with a stop word nor
    inside a name) that set each theme apart, as written mid-sentence in a member post where
    one does, else as in the first member post that uses them.

    A phrase scores by the share of the theme's posts using it, times how much more often
    they use it than the `background` posts do (default: every theme's posts together), so
    words the whole story shares ("Maduro") lose to what one theme says. A phrase one post
    alone uses is never picked from a theme of three or more posts (nor, with `min_posts`
    2, from any group).
    """
    per_theme: list[dict[str, int]] = []
    surface: dict[str, tuple[str, bool]] = {}
    for texts in texts_per_theme:
        counts: dict[str, int] = {}
        for text in texts:
            for key, written in _grams_as_written(text, max_words).items():
                counts[key] = counts.get(key, 0) + 1
                if key not in surface or (surface[key][1] and not written[1]):
                    surface[key] = written  # as written mid-sentence, when a post does
        per_theme.append(counts)
    if background is None:
        background_counts: dict[str, int] = {}
        for counts in per_theme:
            for key, c in counts.items():
                background_counts[key] = background_counts.get(key, 0) + c
        n_background = sum(len(t) for t in texts_per_theme)
    else:
        background_counts = {}
        for text in background:
            for key in _grams(text, max_words):
                background_counts[key] = background_counts.get(key, 0) + 1
        n_background = len(background)
    out = []
    for counts, texts in zip(per_theme, texts_per_theme):
        size = max(len(texts), 1)
        scored = []
        for key, c in counts.items():
            if c < min(min_posts, size - 1 if size > 2 else 1):
                continue  # said by one post only: that post's words, not the theme's point
            share = c / size
            ratio = share / max(background_counts.get(key, c) / max(n_background, 1), 1e-9)
            lift = math.log(1 + ratio) if len(texts_per_theme) > 1 or background else 1.0
            scored.append((-share * lift * (1 + 0.2 * (len(key.split()) - 2)), key))
        picked: list[str] = []
        for _, key in sorted(scored):
            if any(key in p or p in key for p in picked):
                continue
            picked.append(key)
            if len(picked) == top:
                break
        out.append([surface[k][0] for k in picked])
    return out


def extract_themes(
    texts: Sequence[str], embeddings: np.ndarray, *, points: np.ndarray | None = None,
    engagement: Sequence[float] | None = None,
    encoder: str | None = DEFAULT_ENCODER, min_size: int = MIN_SIZE, min_share: float = MIN_SHARE,
    max_themes: int = MAX_THEMES, representatives: int = 3,
    confident: Sequence[bool] | None = None, background: Sequence[str] | None = None,
) -> list[Theme]:
    """The main points among the texts, largest first.

    `embeddings` holds one row per text, from the encoder named `encoder`. `points`, one row
    per text from the theme encoder (`nlp.theme_encoder`), is where clusters are found and
    central posts measured when given; else the embeddings are, projected when the shipped
    projection was fitted for their encoder. The embeddings also tell near-repeats apart
    among representatives. A cluster is kept as a theme when it has at least `min_size`
    posts and `min_share` of all of them; posts in no kept cluster are left out rather than
    forced into a theme. `confident` (one flag per text)
    marks the posts the classifier is sure of: only those represent a theme and give its
    phrase; a theme with none has no representatives and an empty phrase. `background`
    (texts, e.g. the whole story's posts) is what keyphrases are set apart from. The result depends
    only on the input (KMeans and sampling are seeded), so the same posts give the same themes.
    """
    n = len(texts)
    if n < min_size:
        return []
    vectors = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    weights = np.asarray(engagement if engagement is not None else np.zeros(n), dtype=float)
    sure = np.asarray(confident, dtype=bool) if confident is not None else None
    if points is not None:  # the theme encoder's vectors, trained to tell points apart
        features = theme_space(np.asarray(points, dtype=np.float32), None)
    else:
        features = theme_space(vectors, projection_for(encoder, vectors.shape[1]))
    labels = cluster_labels(features, min_size=min_size)
    needed = max(min_size, math.ceil(min_share * n))
    clusters = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    clusters = [c for c in clusters if len(c) >= needed]
    clusters.sort(key=lambda c: (-len(c), int(c[0])))
    clusters = clusters[:max_themes]
    themes = []
    space = features if points is not None else vectors  # where centrality is measured
    for members in clusters:
        centre = space[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        similarity = space[members] @ centre
        picked = _representatives(members, similarity, weights, texts, vectors,
                                  representatives, sure)
        themes.append(Theme(
            phrase=clean_phrase(texts[picked[0]]) if picked else "",
            size=len(members),
            members=[int(i) for i in members],
            representatives=picked,
            cohesion=round(float(similarity.mean()), 4),
        ))
    for theme, words in zip(themes, keywords_per_theme(
            [" ".join(texts[i] for i in t.members) for t in themes])):
        theme.keywords = words
    sure_members = [[texts[i] for i in t.members if sure is None or sure[i]] for t in themes]
    for theme, phrases in zip(themes, keyphrases_per_theme(sure_members, background=background)):
        theme.keyphrases = phrases
    return themes


def _phrase(members: np.ndarray, similarity: np.ndarray, texts: Sequence[str]) -> str:
    """The phrase `extract_themes` gives a cluster (its lead's first clause), for benchmarks."""
    return clean_phrase(texts[_lead(members, similarity, texts)])
