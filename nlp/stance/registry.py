"""Stance backends by name, and `load_classifier(spec)`, the one way in.

* `None` (or "default"): the offline default, the packaged all-MiniLM-L6-v2 encoder with the
  small heads and the (claim, post) pair model's fine-tuned top layers in
  `nlp/weights/stance/` (no download, no data file needed);
* a folder written by `python -m reactions train-stance` (it has a `stance.json`);
* a Hugging Face model id or path: a 3-way stance / sequence-classification model whose
  labels map to buckets, or an NLI model (labels entailment/neutral/contradiction) used with
  a hypothesis built from the claim. Prefix "nli:" to force NLI use;
* "chat:MODEL" (an OpenAI-compatible endpoint from the teacher settings) or "chat-local:MODEL"
  (a local transformers model or GGUF file): a chat model's next-token choice among the
  bucket words, calibrated per claim.

Every backend keeps `nlp.stance.contract.StanceModel`. The registry is a plain dict filled
by explicit entries; each entry imports its backend only when it is used.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _default(rest: str, **options: Any):
    from nlp.stance.contract import DEFAULT_DIR
    from nlp.stance.embedding import EmbeddingStanceClassifier

    return EmbeddingStanceClassifier.load(DEFAULT_DIR, **options)


def _folder(rest: str, **options: Any):
    from nlp.stance.embedding import EmbeddingStanceClassifier

    return EmbeddingStanceClassifier.load(rest, **options)


def _hf(rest: str, **options: Any):
    from nlp.stance.transformers_backend import TransformersStanceClassifier

    return TransformersStanceClassifier(rest, **options)


def _nli(rest: str, **options: Any):
    from nlp.stance.transformers_backend import TransformersStanceClassifier

    return TransformersStanceClassifier(rest, nli=True, **options)


def _chat(rest: str, **options: Any):
    from nlp.stance.chat import ChatStanceClassifier, OpenAIScorer

    scorer = OpenAIScorer.from_settings(model=rest or None, client=options.pop("client", None))
    return ChatStanceClassifier(scorer, **options)


def _chat_local(rest: str, **options: Any):
    from nlp.stance.chat import ChatStanceClassifier, LocalScorer

    return ChatStanceClassifier(LocalScorer(rest or None), **options)


#: Stance backends by name: each takes the rest of the spec (a path or model id) and options.
#: `load_classifier` picks one from the spec; `backend:rest` names one explicitly.
BACKENDS: dict[str, Callable[..., Any]] = {
    "default": _default,
    "folder": _folder,
    "hf": _hf,
    "nli": _nli,
    "chat": _chat,
    "chat-local": _chat_local,
}

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


def backend_for(spec: str) -> tuple[str, str]:
    """(backend name, what it loads) for a spec: "default", "<backend>:<rest>", a folder with
    a stance.json, or else a Hugging Face id or path."""
    if spec == "default":
        return "default", ""
    name, sep, rest = spec.partition(":")
    if sep and name in BACKENDS:
        return name, rest
    if (Path(spec) / "stance.json").is_file():
        return "folder", spec
    return "hf", spec


def load_classifier(spec: Any = None, **options: Any):
    """A stance classifier from a spec: None/"default", a trained folder, an HF id or path,
    "nli:<id or path>", "chat:<model>" (any "<backend>:" of BACKENDS), or an object that
    already has `predict` (returned as is)."""
    if spec is not None and hasattr(spec, "predict"):
        return spec
    key = "default" if spec in (None, "", "default") else str(spec)
    cache_key = key + json.dumps(options, sort_keys=True, default=str)
    with _CACHE_LOCK:
        if cache_key in _CACHE:
            return _CACHE[cache_key]
    backend, rest = backend_for(key)
    classifier = BACKENDS[backend](rest, **options)
    with _CACHE_LOCK:
        _CACHE[cache_key] = classifier
    return classifier
