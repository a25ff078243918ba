"""The stance contract every backend keeps, and the helpers all of them share.

A backend turns posts into probabilities over the three buckets (supporters, skeptics,
neutral) for a story's claim. `skip_reason` is the one place that decides which posts are
left unclassified (no text, or a language the backend does not read) and why; pipeline,
evaluation and every backend's `predict` go through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from reactions.models import BUCKETS, UNCLASSIFIED, StancePrediction, normalize_label

#: The packaged default model's folder (heads, pair model, general model).
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "weights" / "stance"
FORMAT = "reactions-stance/1"
#: A prediction whose top probability is below this is flagged "needs review".
REVIEW_BELOW = 0.5
#: Languages the packaged English encoder handles.
ENGLISH = frozenset({"en"})


@runtime_checkable
class StanceModel(Protocol):
    """What every stance backend offers: probabilities per post for a claim, predictions
    with needs-review and the reason a post is left unclassified, `adapt()` from a story's
    labels, and the languages it reads."""

    name: str
    languages: frozenset[str]
    review_below: float

    def predict_proba(self, texts: Sequence[str], claim: str, *,
                      embeddings: np.ndarray | None = None) -> np.ndarray: ...

    def predict(self, texts: Sequence[str], claim: str, embeddings: np.ndarray | None = None,
                *, languages: Sequence[str | None] | None = None) -> list[StancePrediction]: ...

    def adapt(self, texts: Sequence[str], labels: Sequence[str], claim: str,
              **options: Any) -> StanceModel: ...


def target_key(claim: str) -> str:
    """How a claim is matched to a trained target head: case and spacing do not matter."""
    return " ".join(str(claim).lower().split()).rstrip(".!?")


def bucket_index(labels: Sequence[str]) -> np.ndarray:
    """Bucket names (or favor/against/none aliases) to indices into BUCKETS."""
    return np.array([BUCKETS.index(normalize_label(label)) for label in labels], dtype=np.int64)


def skip_reason(text: str | None, language: str | None,
                handled: frozenset[str] | None) -> str | None:
    """Why a post is left unclassified ("empty", "language:xx"), or None when a backend that
    reads `handled` languages should classify it. A post with no detected language is read."""
    if text is None or not str(text).strip():
        return "empty"
    if language and handled and language not in handled:
        return f"language:{language}"
    return None


def skipped(reason: str) -> StancePrediction:
    """The prediction stored for a post left unclassified."""
    return StancePrediction(UNCLASSIFIED, {}, False, reason)


def to_predictions(
    probs: np.ndarray, review_below: float, languages: Sequence[str | None] | None = None,
    handled: frozenset[str] | None = None, texts: Sequence[str] | None = None,
) -> list[StancePrediction]:
    """Probabilities (n, 3) to StancePredictions, gating empty texts and unhandled languages."""
    out = []
    for i, row in enumerate(probs):
        language = languages[i] if languages is not None else None
        reason = skip_reason(texts[i] if texts is not None else "-", language, handled)
        if reason is not None:
            out.append(skipped(reason))
            continue
        scores = {bucket: float(p) for bucket, p in zip(BUCKETS, row)}
        top = int(np.argmax(row))
        review = bool(row[top] < review_below)
        why = f"low confidence ({row[top]:.2f})" if review else None
        out.append(StancePrediction(BUCKETS[top], scores, review, why))
    return out
