"""Stance of posts toward a story's claim: supporters, skeptics or neutral, with probabilities.

`load_classifier(spec)` is the one way in:

* `None` (or "default"): the offline default, the packaged all-MiniLM-L6-v2 encoder with the
  small heads and the (claim, post) pair model's fine-tuned top layers in
  `nlp/weights/stance/` (no download, no data file needed);
* a folder written by `python -m reactions train-stance` (it has a `stance.json`);
* a Hugging Face model id or path: a 3-way stance / sequence-classification model whose
  labels map to buckets, or an NLI model (labels entailment/neutral/contradiction) used with
  a hypothesis built from the claim. Prefix "nli:" to force NLI use.

Every classifier has `name`, `languages`, `encoder`, `predict(texts, claim, embeddings=None)`
and `adapt(texts, labels, claim)`. Predictions whose top probability is below the
classifier's `review_below` are flagged `needs_review` rather than trusted.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nlp.stance_heads import LinearHead, fit_head, hypotheses, log_softmax, pair_features, softmax
from reactions.models import BUCKETS, UNCLASSIFIED, StancePrediction, normalize_label

DEFAULT_DIR = Path(__file__).parent / "weights" / "stance"
FORMAT = "reactions-stance/1"
#: A prediction whose top probability is below this is flagged "needs review".
REVIEW_BELOW = 0.5
#: Penalty of a story's correction head in adapt(), chosen on the key-point dev topics, not
#: on SemEval: 24 labels each, asked one at a time, pair model and general head trained
#: without those topics. Post and pair features (the default): F_avg 71.3 at C=1, 76.6 at 3,
#: 79.0 at 10, 81.1 at 30, 78.9 at 100. Post embedding only: 78.2 at 10, 78.7 at 30.
ADAPT_C = 30.0
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


def to_predictions(
    probs: np.ndarray, review_below: float, languages: Sequence[str | None] | None = None,
    handled: frozenset[str] | None = None, texts: Sequence[str] | None = None,
) -> list[StancePrediction]:
    """Probabilities (n, 3) to StancePredictions, gating empty texts and unhandled languages."""
    out = []
    for i, row in enumerate(probs):
        language = languages[i] if languages is not None else None
        if texts is not None and not str(texts[i]).strip():
            out.append(StancePrediction(UNCLASSIFIED, {}, False, "empty"))
            continue
        if language and handled and language not in handled:
            out.append(StancePrediction(UNCLASSIFIED, {}, False, f"language:{language}"))
            continue
        scores = {bucket: float(p) for bucket, p in zip(BUCKETS, row)}
        top = int(np.argmax(row))
        review = bool(row[top] < review_below)
        reason = f"low confidence ({row[top]:.2f})" if review else None
        out.append(StancePrediction(BUCKETS[top], scores, review, reason))
    return out


class EmbeddingStanceClassifier:
    """Linear heads on frozen sentence embeddings: a general prior for any claim, plus
    per-target heads (trained targets, or a story's editor labels via `adapt`).

    With no labels for a claim, the prior is the product of the pair model's probabilities
    (`nlp.stance_pair`, which reads claim and post together) and the general head's, where
    there is a pair model and the texts are known, else the general head's. A story's
    correction head (from `adapt`) is added to the pair model's logits.
    """

    def __init__(
        self,
        encoder: Any,
        general: LinearHead,
        targets: dict[str, LinearHead] | None = None,
        *,
        name: str = "stance",
        languages: frozenset[str] = ENGLISH,
        review_below: float = REVIEW_BELOW,
        adapt_C: float = ADAPT_C,
        standalone_from: int = 150,
        meta: dict[str, Any] | None = None,
        pair: Any = None,
        general_model: Any = None,
        multilingual: Any = None,
    ) -> None:
        self.encoder = encoder
        self.pair = pair
        #: nlp.stance_general.GeneralModel: the no-labels prior when present.
        self.general_model = general_model
        #: nlp.stance_multilingual.MultilingualStance: posts in other languages.
        self.multilingual = multilingual
        self.general = general
        self.targets = dict(targets or {})
        self.name = name
        self.languages = frozenset(languages) | (
            multilingual.languages if multilingual is not None else frozenset())
        self.review_below = review_below
        self.adapt_C = adapt_C
        self.standalone_from = standalone_from
        self.meta = dict(meta or {})
        self._claims: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # -- loading and saving ---------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | os.PathLike, *, encoder: Any = None,
             review_below: float | None = None) -> EmbeddingStanceClassifier:
        directory = Path(directory)
        meta = json.loads((directory / "stance.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{directory} is not a stance model folder (format {meta.get('format')!r})")
        with np.load(directory / "heads.npz") as arrays:
            arrays = dict(arrays)
        general = LinearHead.from_arrays(arrays, "general")
        targets = {key: LinearHead.from_arrays(arrays, prefix)
                   for key, prefix in meta.get("targets", {}).items()}
        if encoder is None:
            from nlp.embed import load_encoder

            encoder = load_encoder(meta.get("encoder"))
        pair = None
        if meta.get("pair"):
            from nlp.stance_pair import PairModel

            pair = PairModel.load(directory, meta["pair"])
        general_model = multilingual = None
        if meta.get("general_model"):
            from nlp.stance_general import FILE, GeneralModel

            general_model = GeneralModel.load(directory / meta["general_model"].get("file", FILE))
        if meta.get("multilingual"):
            from nlp.stance_multilingual import MultilingualStance

            multilingual = MultilingualStance.load(directory, meta["multilingual"])
        return cls(encoder, general, targets, name=meta.get("name", directory.name), pair=pair,
                   general_model=general_model, multilingual=multilingual,
                   languages=frozenset(meta.get("languages", ["en"])),
                   review_below=float(review_below if review_below is not None
                                      else meta.get("review_below", REVIEW_BELOW)),
                   adapt_C=float(meta.get("adapt_C", ADAPT_C)), meta=meta)

    def save(self, directory: str | os.PathLike, *, encoder_spec: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = self.general.to_arrays("general")
        prefixes = {}
        for i, (key, head) in enumerate(sorted(self.targets.items())):
            prefixes[key] = f"target{i}"
            arrays.update(head.to_arrays(prefixes[key]))
        # fp16 halves the file; the heads lose nothing measurable at that precision.
        np.savez_compressed(directory / "heads.npz",
                            **{k: v.astype(np.float16) for k, v in arrays.items()})
        meta = {**self.meta, "format": FORMAT, "name": self.name, "encoder": encoder_spec,
                "pair": self.pair.save(directory) if self.pair is not None else None,
                "general_model": self._save_general(directory),
                "multilingual": self._save_multilingual(directory),
                "languages": sorted(self.languages - (self.multilingual.languages
                                                      if self.multilingual else frozenset())),
                "review_below": self.review_below,
                "adapt_C": self.adapt_C, "targets": prefixes}
        (directory / "stance.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    def _save_general(self, directory: Path) -> dict | None:
        if self.general_model is None:
            return None
        from nlp.stance_general import FILE

        self.general_model.save(directory / FILE)
        return {**self.meta.get("general_model", {}), "file": FILE}

    def _save_multilingual(self, directory: Path) -> dict | None:
        if self.multilingual is None:
            return None
        from nlp.stance_multilingual import FILE

        self.multilingual.model.save(directory / FILE)
        return {**self.meta.get("multilingual", {}), "file": FILE,
                "languages": sorted(self.multilingual.languages)}

    # -- prediction ---------------------------------------------------------------------------

    def prefetch(self, claims: Sequence[str], pairs: Sequence[tuple[str, str]] = ()) -> None:
        """Embed many claims' hypotheses in one batched pass (and read many (claim, text)
        pairs with the pair model, when it is used), so that scoring a file with hundreds of
        targets does not pay one small encoder call per target."""
        todo = list(dict.fromkeys(target_key(c) for c in claims))
        with self._lock:
            todo = [k for k in todo if k not in self._claims]
        originals = {target_key(c): c for c in claims}
        sentences = [h for k in todo for h in hypotheses(originals[k])]
        if sentences:
            vectors = self.encoder.encode(sentences)
            width = len(vectors) // len(todo)
            with self._lock:
                for i, k in enumerate(todo):
                    self._claims[k] = vectors[i * width : (i + 1) * width]
        if pairs and self.pair is not None:
            self.pair.read_pairs(pairs)

    def claim_vectors(self, claim: str) -> np.ndarray:
        key = target_key(claim)
        with self._lock:
            vectors = self._claims.get(key)
        if vectors is None:
            vectors = self.encoder.encode(hypotheses(claim))
            with self._lock:
                self._claims[key] = vectors
        return vectors

    def embed(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
            if embeddings.shape[0] != len(texts):
                raise ValueError(f"{embeddings.shape[0]} embeddings for {len(texts)} texts")
            return embeddings
        return self.encoder.encode(list(texts))

    def general_logits(self, embeddings: np.ndarray, claim: str,
                       texts: Sequence[str] | None = None) -> np.ndarray:
        """The prior for a claim with no labels. With the pair model and the texts at hand it
        is the product of the pair model's and the general head's probabilities (log-
        probabilities added, equal weights, nothing tuned): on SemEval targets held out in
        turn, F_avg 46.7 and macro-F1 51.7 against 45.4 / 48.5 for the pair model alone and
        41.9 / 46.3 for the general head alone. Without the texts, the general head's logits."""
        if self.general_model is not None:
            from nlp.stance_general import pair_inputs

            return self.general_model.logits(pair_inputs(embeddings, self.claim_vectors(claim)))
        general = self.general_head_logits(embeddings, claim)
        if self.pair is not None and texts is not None:
            return log_softmax(self.pair.logits(list(texts), claim)) + log_softmax(general)
        return general

    def general_head_logits(self, embeddings: np.ndarray, claim: str) -> np.ndarray:
        return self.general.logits(pair_features(embeddings, self.claim_vectors(claim)))

    def corrected_logits(self, embeddings: np.ndarray, claim: str,
                         texts: Sequence[str] | None = None) -> np.ndarray:
        """What a story's correction head is added to: the pair model's logits (the general
        head's without the texts). For one claim the general head is a linear function of
        the post embedding, which the correction also reads, so once there are labels the
        correction takes its part from the story's own labels: with 24 active labels per
        held-out SemEval target, F_avg 61.7 / macro-F1 62.3 against 59.6 / 58.5 when the
        general head stays in the prior."""
        if self.pair is not None and texts is not None:
            return self.pair.logits(list(texts), claim)
        return self.general_head_logits(embeddings, claim)

    def head_inputs(self, inputs: str, embeddings: np.ndarray, claim: str,
                    texts: Sequence[str] | None) -> np.ndarray:
        """What a target head reads (its `inputs`): the post embeddings, and for "post+pair"
        the pair model's pooled vectors beside them when the texts are known."""
        if inputs == "post+pair" and self.pair is not None and texts is not None:
            return np.hstack([embeddings, self.pair.features(list(texts), claim)])
        return embeddings

    def logits(self, embeddings: np.ndarray, claim: str,
               texts: Sequence[str] | None = None) -> np.ndarray:
        """The claim's logits: its own head if it has a standalone one, the prior corrected by
        its correction head if it has labels, else the no-labels prior."""
        head = self.targets.get(target_key(claim))
        if head is None:
            return self.general_logits(embeddings, claim, texts)
        features = self.head_inputs(head.inputs, embeddings, claim, texts)
        if head.standalone:
            return head.logits(features)
        return self.corrected_logits(embeddings, claim, texts) + head.logits(features)

    def predict_proba(self, texts: Sequence[str], claim: str, *,
                      embeddings: np.ndarray | None = None) -> np.ndarray:
        """(len(texts), 3) probabilities in BUCKETS order."""
        if len(texts) == 0:
            return np.zeros((0, 3), dtype=np.float32)
        return softmax(self.logits(self.embed(texts, embeddings), claim, texts))

    def predict(
        self, texts: Sequence[str], claim: str, embeddings: np.ndarray | None = None, *,
        languages: Sequence[str | None] | None = None,
    ) -> list[StancePrediction]:
        """One StancePrediction per text. `languages`, if given, gates unhandled languages."""
        other = self.multilingual_rows(languages)
        if other is None:
            probs = self.predict_proba(texts, claim, embeddings=embeddings)
        else:
            probs = np.zeros((len(texts), 3), dtype=np.float32)
            english = np.setdiff1d(np.arange(len(texts)), other)
            if len(english):
                probs[english] = self.predict_proba(
                    [texts[i] for i in english], claim,
                    embeddings=None if embeddings is None else np.asarray(embeddings)[english])
            probs[other] = softmax(self.multilingual.logits([texts[i] for i in other], claim))
        return to_predictions(probs, self.review_below, languages, self.languages, texts)

    def multilingual_rows(self, languages: Sequence[str | None] | None) -> np.ndarray | None:
        """Indices of the posts the multilingual model reads (its languages, not English)."""
        if self.multilingual is None or languages is None:
            return None
        rows = [i for i, lang in enumerate(languages)
                if lang and lang not in ENGLISH and lang in self.multilingual.languages]
        return np.array(rows, dtype=np.int64) if rows else None

    # -- adaptation -----------------------------------------------------------------------------

    def adapt(
        self, texts: Sequence[str], labels: Sequence[str], claim: str, *,
        embeddings: np.ndarray | None = None, C: float | None = None,
    ) -> EmbeddingStanceClassifier:
        """A classifier for this story that also learns from the editor's labels.

        With fewer than `standalone_from` labels it fits a softmax regression on the post
        embeddings as a correction to the current logits for the claim, so a few labels
        nudge the prior rather than overrule it. With more (and all three buckets present),
        a head of its own, its penalty chosen by cross-validation, replaces the prior: on
        SemEval that is 6-8 F_avg better than correcting the general head. Takes about a
        second for hundreds of labels once the texts are embedded.
        """
        clone = EmbeddingStanceClassifier(
            self.encoder, self.general, self.targets, name=self.name, languages=self.languages,
            review_below=self.review_below, adapt_C=self.adapt_C,
            standalone_from=self.standalone_from, meta=self.meta, pair=self.pair,
            general_model=self.general_model, multilingual=self.multilingual)
        clone.languages = self.languages
        clone._claims = self._claims
        if len(texts) == 0:
            return clone
        y = bucket_index(labels)
        emb = self.embed(texts, embeddings)
        key = target_key(claim)
        if len(y) >= self.standalone_from and len(set(y.tolist())) == 3:
            from nlp.stance_train import choose_C

            best = choose_C(emb, y, None) if C is None else C
            head = fit_head(emb, y, C=best)
            head.standalone = True
        else:
            # Blank texts (embeddings only, as in simulations) fall back to the general head.
            known = list(texts) if any(str(t).strip() for t in texts) else None
            base = self.targets.get(key)
            prior = (self.logits(emb, claim, known) if base is not None
                     else self.corrected_logits(emb, claim, known))
            # With the pair model at hand the correction also reads its pooled (claim, post)
            # vector, which knows the claim. Held-out SemEval targets, 24 active labels each,
            # pooled over rows: F_avg 61.7 / 61.4 against 61.2 / 58.6 on the post embedding
            # alone (pair model trained without the held-out target / without any SemEval).
            inputs = "post+pair" if self.pair is not None and known is not None else "post"
            features = self.head_inputs(inputs, emb, claim, known)
            head = fit_head(features, y, C=self.adapt_C if C is None else C, offset=prior)
            head.inputs = inputs
            if base is not None:
                longer = head if len(head.weight) >= len(base.weight) else base
                weight = longer.weight.copy()
                other = base if longer is head else head
                weight[: len(other.weight)] += other.weight
                head = LinearHead(weight, base.bias + head.bias, standalone=base.standalone,
                                  inputs=longer.inputs)
        clone.targets = {**self.targets, key: head}
        clone.name = f"{self.name}+labels"
        return clone


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


_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


#: Stance backends by name: each takes the rest of the spec (a path or model id) and options.
#: `load_classifier` picks one from the spec; `backend:rest` names one explicitly.
BACKENDS: dict[str, Callable[..., Any]] = {
    "default": lambda rest, **options: EmbeddingStanceClassifier.load(DEFAULT_DIR, **options),
    "folder": lambda rest, **options: EmbeddingStanceClassifier.load(rest, **options),
    "hf": lambda rest, **options: TransformersStanceClassifier(rest, **options),
    "nli": lambda rest, **options: TransformersStanceClassifier(rest, nli=True, **options),
}


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
    "nli:<id or path>" (any "<backend>:" of BACKENDS), or an object that already has
    `predict` (returned as is)."""
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
