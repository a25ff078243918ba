"""Hugging Face backends: a 3-way stance sequence-classification model, or an NLI model
(entailment / neutral / contradiction) read against a hypothesis built from the claim."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from nlp.stance.contract import ENGLISH, REVIEW_BELOW, bucket_index, target_key, to_predictions
from nlp.stance.heads import LinearHead, fit_head, softmax
from reactions.models import BUCKETS, StancePrediction, normalize_label


class TransformersStanceClassifier:
    """A Hugging Face sequence-classification model: a 3-way stance model or an NLI model.

    Stance models see the post (and the claim as a second segment when `with_claim`);
    NLI models see (post, hypothesis) with the hypothesis built from the claim, one pair per
    post, batched, so each post costs one forward pass.
    """

    def __init__(
        self, model: str | os.PathLike, *, label_map: dict[str, str] | None = None,
        nli: bool | None = None, hypothesis: str = "{claim}", with_claim: bool = False,
        languages: frozenset[str] = ENGLISH, review_below: float = REVIEW_BELOW,
        batch_size: int = 32, max_length: int = 256,
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = str(model)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model)).eval()
        self._torch = torch
        id2label = {int(i): str(lab) for i, lab in self.model.config.id2label.items()}
        names = {lab.lower() for lab in id2label.values()}
        self.nli = ({"entailment", "contradiction"} <= names) if nli is None else nli
        if self.nli:
            nli_map = {"entailment": "supporters", "contradiction": "skeptics", "neutral": "neutral"}
            label_map = {**nli_map, **(label_map or {})}
        columns = []
        for index in range(len(id2label)):
            raw = id2label[index]
            mapped = (label_map or {}).get(raw) or (label_map or {}).get(raw.lower())
            try:
                columns.append(BUCKETS.index(normalize_label(mapped or raw)))
            except ValueError:
                raise ValueError(
                    f"{model}: cannot map label {raw!r} to a bucket; pass "
                    "label_map={'LABEL_0': 'skeptics', ...}") from None
        if sorted(columns) != [0, 1, 2]:
            raise ValueError(f"{model}: labels {id2label} do not cover the three buckets once each")
        self.columns = np.array(columns)
        self.hypothesis = hypothesis
        self.with_claim = with_claim
        self.languages = frozenset(languages)
        self.review_below = review_below
        self.batch_size = batch_size
        self.max_length = max_length
        self.encoder = None
        self.calibration: dict[str, LinearHead] = {}

    def _raw_logits(self, texts: Sequence[str], claim: str) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), 3), dtype=np.float32)
        second = None
        if self.nli:
            second = self.hypothesis.format(claim=claim)
        elif self.with_claim:
            second = claim
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch_texts = [texts[i] or " " for i in idx]
                pairs = [second] * len(idx) if second is not None else None
                batch = self.tokenizer(batch_texts, pairs, padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                logits = self.model(**batch).logits.float().numpy()
                ordered = np.zeros((len(idx), 3), dtype=np.float32)
                ordered[:, self.columns] = logits[:, : len(self.columns)]
                out[idx] = ordered
        return out

    def predict_proba(self, texts: Sequence[str], claim: str, *, embeddings=None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, 3), dtype=np.float32)
        logits = self._raw_logits(list(texts), claim)
        head = self.calibration.get(target_key(claim))
        if head is not None:
            logits = logits + head.logits(np.log(softmax(logits)))
        return softmax(logits)

    def predict(self, texts, claim, embeddings=None, *, languages=None) -> list[StancePrediction]:
        probs = self.predict_proba(texts, claim)
        return to_predictions(probs, self.review_below, languages, self.languages, texts)

    def adapt(self, texts, labels, claim, *, embeddings=None, C: float = 0.3):
        """Recalibrate the model's three outputs for this story from the editor's labels."""
        import copy

        clone = copy.copy(self)
        clone.calibration = dict(self.calibration)
        if len(texts):
            logits = self._raw_logits(list(texts), claim)
            clone.calibration[target_key(claim)] = fit_head(
                np.log(softmax(logits)), bucket_index(labels), C=C, offset=logits)
            clone.name = f"{self.name}+labels"
        return clone
