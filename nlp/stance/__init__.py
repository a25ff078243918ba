"""Stance of posts toward a story's claim: supporters, skeptics or neutral, with probabilities.

`load_classifier(spec)` (in `registry`) is the one way in; `contract.StanceModel` is what
every backend keeps. Modules: contract (protocol, shared helpers), registry (backends by
name), embedding (the default), transformers_backend (Hugging Face stance and NLI models),
chat (a chat model's next-token choice, calibrated per claim), teacher (a chat model labels
a sample of a story's posts), heads, pair, general, multilingual (model parts), data and
train (data sets, training and evaluation).
"""

from nlp.stance.contract import (
    DEFAULT_DIR,
    ENGLISH,
    FORMAT,
    REVIEW_BELOW,
    StanceModel,
    bucket_index,
    skip_reason,
    skipped,
    target_key,
    to_predictions,
)
from nlp.stance.embedding import ADAPT_C, EmbeddingStanceClassifier
from nlp.stance.registry import BACKENDS, backend_for, load_classifier
from nlp.stance.transformers_backend import TransformersStanceClassifier

__all__ = [
    "ADAPT_C", "BACKENDS", "DEFAULT_DIR", "ENGLISH", "FORMAT", "REVIEW_BELOW",
    "EmbeddingStanceClassifier", "StanceModel", "TransformersStanceClassifier",
    "backend_for", "bucket_index", "load_classifier", "skip_reason", "skipped", "target_key",
    "to_predictions",
]
