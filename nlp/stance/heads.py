"""Small linear heads on frozen sentence embeddings: the maths behind nlp.stance.

Everything here is numpy (and scipy for fitting), so predicting needs no torch beyond the
encoder, and a head is a few kilobytes in an .npz file.

Two kinds of head:

* the *general* head scores a post against any claim from features that describe the pair
  (similarity to "I support {claim}" / "I oppose {claim}" and friends, and the element-wise
  product of post and claim). It is trained across hundreds of targets so that it learns
  stance, not the targets.
* a *target* head is a softmax regression on the post embedding alone, fitted on one
  story's labels as a correction on top of a prior (the general head's logits). With few
  labels the L2 penalty keeps it close to the prior; with hundreds it takes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Hypotheses built from the claim. The first four say "for", the next four "against".
TEMPLATES: tuple[str, ...] = (
    "I support {claim}.",
    "I am in favor of {claim}.",
    "{claim} is good.",
    "I agree with {claim}.",
    "I oppose {claim}.",
    "I am against {claim}.",
    "{claim} is bad.",
    "I disagree with {claim}.",
    "{claim}.",
    "This has nothing to do with {claim}.",
)
N_FOR = 4


def hypotheses(claim: str) -> list[str]:
    """The template sentences for one claim, in TEMPLATES order; the last is the bare claim."""
    claim = " ".join(claim.split()).rstrip(".!?")
    return [template.format(claim=claim) for template in TEMPLATES] + [claim]


def pair_features(posts: np.ndarray, claim_vectors: np.ndarray) -> np.ndarray:
    """Features of (post, claim) pairs for the general head.

    `posts` is (n, d) unit rows; `claim_vectors` is (len(TEMPLATES) + 1, d): the template
    sentences' embeddings then the bare claim's, as `hypotheses()` orders them.
    """
    sims = posts @ claim_vectors[: len(TEMPLATES)].T
    diff = sims[:, :N_FOR] - sims[:, N_FOR : 2 * N_FOR]
    claim = claim_vectors[-1]
    return np.hstack([sims, diff, diff.mean(1, keepdims=True), posts * claim]).astype(np.float32)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LinearHead:
    """logits = ((x - mean) / scale) @ weight + bias; three columns in BUCKETS order."""

    weight: np.ndarray  # (d, 3)
    bias: np.ndarray  # (3,)
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    #: A target head that replaces the general head's logits instead of correcting them.
    standalone: bool = False
    #: What it reads: "post" (the post embedding) or "post+pair" (that, then the pair
    #: model's pooled vector for the claim).
    inputs: str = "post"

    def logits(self, features: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            features = (features - self.mean) / self.scale
        weight = self.weight
        if features.shape[1] < weight.shape[0]:
            # The pair part is unknown (no texts): the post part of the head still applies.
            weight = weight[: features.shape[1]]
        return features @ weight + self.bias

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        arrays = {f"{prefix}.weight": self.weight, f"{prefix}.bias": self.bias}
        if self.mean is not None:
            arrays[f"{prefix}.mean"] = self.mean
            arrays[f"{prefix}.scale"] = self.scale
        arrays[f"{prefix}.standalone"] = np.array([float(self.standalone)])
        arrays[f"{prefix}.pair_inputs"] = np.array([float(self.inputs == "post+pair")])
        return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> LinearHead:
        get = lambda name: np.asarray(arrays[f"{prefix}.{name}"], dtype=np.float32)  # noqa: E731
        has_scale = f"{prefix}.mean" in arrays
        standalone = f"{prefix}.standalone" in arrays and bool(get("standalone")[0])
        pair_inputs = f"{prefix}.pair_inputs" in arrays and bool(get("pair_inputs")[0])
        return cls(get("weight"), get("bias"), get("mean") if has_scale else None,
                   get("scale") if has_scale else None, standalone,
                   "post+pair" if pair_inputs else "post")


def balanced_weights(y: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Per-row weights so that each class present counts the same in total."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    per_class = np.zeros(n_classes)
    per_class[present] = len(y) / (present.sum() * counts[present])
    return per_class[y]


def fit_head(
    features: np.ndarray,
    y: np.ndarray,
    *,
    C: float = 1.0,
    offset: np.ndarray | None = None,
    standardize: bool = False,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 500,
) -> LinearHead:
    """Fit a multinomial logistic regression, optionally as a correction to prior logits.

    Minimises 0.5 * ||W||^2 + C * sum_i w_i * cross_entropy(x_i W + b + offset_i, y_i),
    with class-balanced w_i. The bias is not penalised. With an offset the head learns only
    what the labels say beyond the prior, so a handful of labels cannot wreck it.
    """
    from scipy.optimize import minimize

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n, d = x.shape
    mean = scale = None
    if standardize:
        mean = x.mean(0)
        scale = x.std(0) + 1e-6
        x = (x - mean) / scale
    w = balanced_weights(y) if sample_weight is None else np.asarray(sample_weight, float)
    w = w * C
    prior = np.zeros((n, 3)) if offset is None else np.asarray(offset, dtype=np.float64)
    onehot = np.eye(3)[y]

    def loss_and_grad(theta):
        weight = theta[: d * 3].reshape(d, 3)
        bias = theta[d * 3 :]
        logits = x @ weight + bias + prior
        logits -= logits.max(1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(1, keepdims=True))
        log_p = logits - log_norm
        loss = -(w * (onehot * log_p).sum(1)).sum() + 0.5 * (weight**2).sum()
        delta = (np.exp(log_p) - onehot) * w[:, None]
        grad_w = x.T @ delta + weight
        grad_b = delta.sum(0)
        return loss, np.concatenate([grad_w.ravel(), grad_b])

    result = minimize(loss_and_grad, np.zeros(d * 3 + 3), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    theta = result.x
    return LinearHead(
        theta[: d * 3].reshape(d, 3).astype(np.float32),
        theta[d * 3 :].astype(np.float32),
        None if mean is None else mean.astype(np.float32),
        None if scale is None else scale.astype(np.float32),
    )


def entropy(probs: np.ndarray) -> np.ndarray:
    return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1)


def pick_for_labeling(
    embeddings: np.ndarray,
    probs: np.ndarray,
    labelled: Sequence[int],
    k: int,
    *,
    seed_size: int = 6,
) -> list[int]:
    """Indices of the k unlabelled posts whose labels should teach the classifier most.

    Until `seed_size` posts are labelled, pick spread-out posts (farthest-point sampling
    from the densest post) so the first labels cover the story's kinds of post. After
    that, pick by uncertainty (entropy of the current probabilities) weighted by how
    typical the post is (mean similarity to its 10 nearest posts), skipping posts too
    similar to ones already chosen in this round.
    """
    n = len(embeddings)
    taken = set(int(i) for i in labelled)
    free = np.array([i for i in range(n) if i not in taken], dtype=np.int64)
    if k <= 0 or len(free) == 0:
        return []
    k = min(k, len(free))
    sims = embeddings[free] @ embeddings[free].T
    nearest = min(10, len(free) - 1) or 1
    density = np.sort(sims, axis=1)[:, -nearest - 1 : -1].mean(1) if len(free) > 1 else np.ones(1)
    chosen: list[int] = []
    if len(taken) < seed_size:
        reference = embeddings[sorted(taken)] if taken else None
        for _ in range(min(k, seed_size - len(taken))):
            if reference is None or len(reference) == 0:
                pos = int(np.argmax(density))
            else:
                closeness = (embeddings[free] @ reference.T).max(1)
                score = -closeness + 0.5 * density
                score[[np.where(free == c)[0][0] for c in chosen]] = -np.inf
                pos = int(np.argmax(score))
            chosen.append(int(free[pos]))
            ref_rows = embeddings[[free[pos]]]
            reference = ref_rows if reference is None else np.vstack([reference, ref_rows])
    score = entropy(probs[free]) * np.clip(density, 0.0, None)
    for pos in np.argsort(-score):
        if len(chosen) >= k:
            break
        index = int(free[pos])
        if index in chosen:
            continue
        if chosen and (embeddings[chosen] @ embeddings[index]).max() > 0.9:
            continue
        chosen.append(index)
    return chosen


#: Candidate penalties for a trained target head, chosen by cross-validation on its rows.
TARGET_CS = (0.1, 0.3, 1.0, 3.0)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """F_avg, macro_f1 and accuracy in percent, and n."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return {"F_avg": 0.0, "macro_f1": 0.0, "accuracy": 0.0, "n": 0}
    per_class = f1_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    return {
        "F_avg": round(100 * float(per_class[:2].mean()), 2),
        "macro_f1": round(100 * float(per_class.mean()), 2),
        "accuracy": round(100 * float(accuracy_score(y_true, y_pred)), 2),
        "n": int(len(y_true)),
    }


def choose_C(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None, folds: int = 5) -> float:
    """The target-head penalty with the best cross-validated macro-F1 on these rows only."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y, minlength=3)
    folds = int(min(folds, counts[counts > 0].min()))
    if folds < 2:
        return 1.0
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    best = (-1.0, 1.0)
    for C in TARGET_CS:
        pred = np.zeros(len(y), dtype=np.int64)
        for a, b in splitter.split(X, y):
            prior = None if offset is None else offset[a]
            head = fit_head(X[a], y[a], C=C, offset=prior)
            pred[b] = np.argmax(head.logits(X[b]) + (0 if offset is None else offset[b]), 1)
        score = scores(y, pred)["macro_f1"]
        if score > best[0]:
            best = (score, C)
    return best[1]
