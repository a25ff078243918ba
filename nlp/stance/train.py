"""Training and scoring stance classifiers on labelled CSVs, and simulating an editor.

CSV files have `target,text,label` (labels favor/against/none or bucket names). The IBM
key-point arguments' shape (`argument,topic,stance` with stance 1/-1) is read too.

Scores are percentages: F_avg is the mean F1 of favor (supporters) and against (skeptics)
pooled over all rows, as in SemEval-2016 Task 6; macro-F1 also counts neutral.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nlp.stance.contract import target_key
from nlp.stance.data import StanceRows, read_rows
from nlp.stance.embedding import EmbeddingStanceClassifier
from nlp.stance.heads import (
    TARGET_CS,
    LinearHead,
    choose_C,
    fit_head,
    pick_for_labeling,
    scores,
    softmax,
)

# Rows, scores and the penalty search live beside the data and the heads (so that model
# code never imports this module); they are re-exported here where callers expect them.
__all__ = ["TARGET_CS", "StanceRows", "choose_C", "read_rows", "scores"]

#: Penalty of the general head (chosen by topic-grouped cross-validation on key-point data).
GENERAL_C = 0.05
class Embedded:
    """Rows with their embeddings computed once (texts deduplicated)."""

    def __init__(self, rows: StanceRows, encoder, progress: Callable[[int], None] | None = None):
        self.rows = rows
        unique = sorted(set(rows.texts))
        position = {t: i for i, t in enumerate(unique)}
        vectors = encoder.encode(unique, progress=progress) if unique else np.zeros((0, 1))
        self.X = vectors[[position[t] for t in rows.texts]] if rows.texts else vectors


def general_features(clf: EmbeddingStanceClassifier, X: np.ndarray, targets: Sequence[str]):
    from nlp.stance.heads import pair_features

    features = np.zeros((len(X), 0), dtype=np.float32)
    by_target: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        by_target.setdefault(t, []).append(i)
    for t, idx in by_target.items():
        block = pair_features(X[idx], clf.claim_vectors(t))
        if features.shape[1] == 0:
            features = np.zeros((len(X), block.shape[1]), dtype=np.float32)
        features[idx] = block
    return features


def train(
    rows: StanceRows,
    *,
    encoder=None,
    encoder_spec: str | None = None,
    min_target_rows: int = 100,
    general_C: float = GENERAL_C,
    embedded: Embedded | None = None,
    name: str = "stance",
    log: Callable[[str], None] = lambda message: None,
) -> EmbeddingStanceClassifier:
    """Fit the general head on every row, then a target head for each well-labelled target."""
    if encoder is None:
        from nlp.embed import load_encoder

        encoder = load_encoder(encoder_spec)
    embedded = embedded or Embedded(rows, encoder)
    placeholder = LinearHead(np.zeros((1, 3), np.float32), np.zeros(3, np.float32))
    clf = EmbeddingStanceClassifier(encoder, placeholder, name=name)
    log(f"general head: {len(rows)} rows, {len(set(rows.targets))} targets")
    features = general_features(clf, embedded.X, rows.targets)
    clf.general = fit_head(features, rows.labels, C=general_C, standardize=True)
    for target in sorted(set(rows.targets)):
        idx = np.array([i for i, t in enumerate(rows.targets) if t == target])
        y = rows.labels[idx]
        if len(idx) < min_target_rows or len(set(y.tolist())) < 3:
            continue
        # A target with this many labels does best with a head of its own (on SemEval,
        # 71-73 F_avg against 65 for a correction of the general head).
        best_C = choose_C(embedded.X[idx], y, None)
        head = fit_head(embedded.X[idx], y, C=best_C)
        head.standalone = True
        clf.targets[target_key(target)] = head
        log(f"target head: {target!r}, {len(idx)} rows, C={best_C}")
    clf.meta["trained_on"] = {"rows": len(rows), "targets": len(set(rows.targets))}
    return clf


def simulate_editor(
    clf: EmbeddingStanceClassifier,
    X: np.ndarray,
    y: np.ndarray,
    claim: str,
    n_labels: int,
    strategy: str = "active",
    *,
    batch: int = 1,
    seed: int = 0,
    texts: Sequence[str] | None = None,
) -> tuple[EmbeddingStanceClassifier, np.ndarray]:
    """Ask for n_labels gold labels on one target, adapting after each batch of `batch`
    answers: by default after every answer, as `reactions label` does.

    `texts` (the rows' texts) let a classifier with a pair model use it as the prior.

    Returns the adapted classifier and the indices that were labelled.
    """
    rng = np.random.default_rng(seed)
    labelled: list[int] = []
    current = clf
    if strategy == "random":
        labelled = rng.choice(len(y), size=min(n_labels, len(y)), replace=False).tolist()
    elif strategy == "active":
        while len(labelled) < min(n_labels, len(y)):
            probs = softmax(current.logits(X, claim, texts))
            ask = min(batch, n_labels - len(labelled))
            labelled += pick_for_labeling(X, probs, labelled, ask)
            current = clf.adapt(chosen(texts, labelled), bucket_labels(y[labelled]), claim,
                                embeddings=X[labelled])
    else:
        raise ValueError(f"strategy must be 'active' or 'random', not {strategy!r}")
    adapted = clf.adapt(chosen(texts, labelled), bucket_labels(y[labelled]), claim,
                        embeddings=X[labelled]) if labelled else clf
    return adapted, np.array(labelled, dtype=np.int64)


def chosen(texts: Sequence[str] | None, indices: Sequence[int]) -> list[str]:
    """The labelled rows' texts, or blanks (embeddings only) when the texts are unknown."""
    return [""] * len(indices) if texts is None else [texts[int(i)] for i in indices]


def bucket_labels(indices: np.ndarray) -> list[str]:
    from reactions.models import BUCKETS

    return [BUCKETS[int(i)] for i in indices]


def evaluate(
    clf: EmbeddingStanceClassifier,
    rows: StanceRows,
    *,
    labels_per_target: int = 0,
    strategy: str = "active",
    seed: int = 0,
    embedded: Embedded | None = None,
    batched: bool = True,
) -> dict:
    """Score a classifier on rows; with labels_per_target, simulate an editor per target first
    and score only the rows the editor did not label. `batched=False` reads one target at a
    time (the previous way, kept for the benchmark)."""
    if not hasattr(clf, "logits"):
        # Any other backend (Hugging Face stance or NLI, a chat model...): its probabilities.
        return _evaluate_proba(clf, rows, labels_per_target=labels_per_target,
                               strategy=strategy, seed=seed)
    X = (embedded or Embedded(rows, clf.encoder)).X
    if batched and hasattr(clf, "prefetch"):
        # One batched pass over every target's hypotheses and pairs, not one per target.
        # The pair model is read only where it is used: with labels, or as the prior.
        uses_pair = labels_per_target > 0 or getattr(clf, "general_model", None) is None
        clf.prefetch(rows.targets, list(zip(rows.targets, rows.texts)) if uses_pair else ())

    def ask(idx, texts, target):
        return simulate_editor(clf, X[idx], rows.labels[idx], target, labels_per_target,
                               strategy, seed=seed, texts=texts)

    return _score_by_target(clf, rows, labels_per_target, ask,
                            lambda model, idx, kept, target: model.logits(X[idx], target, kept))


def _evaluate_proba(clf, rows: StanceRows, *, labels_per_target: int = 0,
                    strategy: str = "active", seed: int = 0) -> dict:
    """Scores from `predict_proba`, one call per target, after a simulated editor's labels
    when `labels_per_target` is set (only the rows it did not label are scored)."""

    def ask(idx, texts, target):
        return simulate_editor_proba(clf, texts, rows.labels[idx], target, labels_per_target,
                                     strategy, seed=seed)

    return _score_by_target(clf, rows, labels_per_target, ask,
                            lambda model, idx, kept, target: model.predict_proba(kept, target))


def _score_by_target(clf, rows: StanceRows, labels_per_target: int, ask, predict) -> dict:
    """Scores per target and pooled. With `labels_per_target`, `ask(idx, texts, target)`
    plays the editor on a target's rows first (the adapted model and the positions it
    labelled) and only the rows it did not label are scored; `predict(model, idx, texts,
    target)` gives the logits or probabilities of the rows scored."""
    y_true, y_pred, per_target = [], [], {}
    for target in sorted(set(rows.targets)):
        idx = np.array([i for i, t in enumerate(rows.targets) if t == target])
        texts = [rows.texts[i] for i in idx]
        model, keep = clf, np.ones(len(idx), dtype=bool)
        if labels_per_target > 0:
            model, asked = ask(idx, texts, target)
            keep[asked] = False
        kept = [t for t, k in zip(texts, keep) if k]
        pred = (np.argmax(predict(model, idx[keep], kept, target), 1) if kept
                else np.zeros(0, int))
        per_target[target] = scores(rows.labels[idx][keep], pred)
        y_true.append(rows.labels[idx][keep])
        y_pred.append(pred)
    result = scores(np.concatenate(y_true), np.concatenate(y_pred)) if y_true else scores([], [])
    result["per_target"] = per_target
    return result


#: Rounds of questions a simulated editor asks a backend without embeddings: each round
#: re-reads every post, which costs a forward pass per post for those backends.
PROBA_ROUNDS = 4


def simulate_editor_proba(
    clf, texts: Sequence[str], y: np.ndarray, claim: str, n_labels: int,
    strategy: str = "active", *, seed: int = 0, rounds: int = PROBA_ROUNDS,
) -> tuple[object, np.ndarray]:
    """The simulated editor for any backend with `predict_proba` and `adapt`: active picks
    by uncertainty alone (one-hot stand-ins for embeddings, as `reactions label` does),
    adapting after each of `rounds` batches. Returns the adapted model and the asked rows."""
    n = min(n_labels, len(y))
    labelled: list[int] = []
    if strategy == "random":
        labelled = np.random.default_rng(seed).choice(len(y), size=n, replace=False).tolist()
    elif strategy == "active":
        stand_in = np.eye(len(texts), dtype=np.float32)
        batch = max(1, -(-n // rounds))
        current = clf
        while len(labelled) < n:
            probs = current.predict_proba(list(texts), claim)
            picks = pick_for_labeling(stand_in, probs, labelled, min(batch, n - len(labelled)))
            if not picks:
                break
            labelled += picks
            current = clf.adapt(chosen(texts, labelled), bucket_labels(y[labelled]), claim)
    else:
        raise ValueError(f"strategy must be 'active' or 'random', not {strategy!r}")
    adapted = (clf.adapt(chosen(texts, labelled), bucket_labels(y[labelled]), claim)
               if labelled else clf)
    return adapted, np.array(labelled, dtype=np.int64)
