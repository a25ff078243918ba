"""A (claim, post) pair classifier for cold start: all-MiniLM-L6-v2 with its top layers fine-tuned.

The frozen sentence embeddings behind the general head place a post only a little better
than chance for a claim nobody has labelled. Reading the claim and the post together lets
attention compare them, which transfers much better to new targets when it is trained
across hundreds of them (VAST's topics, the key-point arguments' debates, SemEval's five).

Only the top `top_layers` transformer layers and a 3-way head are trained; the lower layers
are the packaged encoder's own, so the shipped file holds just the trained layers (fp16).
Training caches the frozen layers' output once per pair and trains the rest in float32,
about a minute per epoch on 5,000 pairs with 2 CPU threads.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: Trained top layers (of 6). Two were 5 F_avg worse on held-out SemEval targets.
TOP_LAYERS = 3
MAX_LENGTH = 128
FILE = "pair.safetensors"


def _masks(model, attention_mask, hidden):
    """The attention mask the encoder's layers take, as BertModel builds it."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=model.config, inputs_embeds=hidden,
                                     attention_mask=attention_mask)


def _layer_args(model, hidden) -> dict:
    """What else the encoder hands each layer: MPNet's relative position bias, which its
    encoder computes once per forward pass. BERT and XLM-R layers need nothing more."""
    bias = getattr(model.encoder, "compute_position_bias", None)
    return {"position_bias": bias(hidden)} if bias is not None else {}


class PairModel:
    """logits(texts, claim) -> (n, 3) in BUCKETS order, from one forward pass per pair."""

    def __init__(self, state: dict | None = None, *, top_layers: int = TOP_LAYERS,
                 max_length: int = MAX_LENGTH, batch_size: int = 64, dtype: str = "auto",
                 base: str | None = None, device: str = "cpu") -> None:
        import torch
        from transformers import AutoTokenizer

        from nlp.embed import cpu_has_bf16, resolve_model

        #: The encoder it reads with, as given (None: the packaged MiniLM); saved with it.
        self.base = None if base is None else str(base)
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(base))
        #: Where it trains and scores: the CPU (the product), or "cuda" for a GPU run.
        self.device = torch.device(device)
        self.model = self._float32_encoder()
        self.head = torch.nn.Linear(int(self.model.config.hidden_size), 3).to(self.device)
        self.top_layers = top_layers
        self._state: dict | None = None
        self.max_length = max_length
        self.batch_size = batch_size
        if state is not None:
            self.load_state(state)
        bf16 = cpu_has_bf16() or self.device.type == "cuda"
        self.dtype = ("bfloat16" if bf16 else "float32") if dtype == "auto" else dtype
        self._memo: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def _float32_encoder(self):
        """The encoder's packaged weights in float32, on this model's device."""
        import torch
        from transformers import AutoModel

        from nlp.embed import resolve_model

        return AutoModel.from_pretrained(resolve_model(self.base),
                                         dtype=torch.float32).eval().to(self.device)

    @property
    def first_trained(self) -> int:
        return int(self.model.config.num_hidden_layers) - self.top_layers

    def trained_modules(self):
        import torch

        return torch.nn.ModuleList([*self.model.encoder.layer[self.first_trained:], self.head])

    def state(self) -> dict:
        """The trained layers and head in fp16: all that differs from the packaged encoder.
        Kept from loading or training, since scoring may have put the weights in bf16."""
        import torch

        if self._state is None:
            self._state = {k: v.detach().to("cpu", torch.float16).contiguous()
                           for k, v in self.trained_modules().state_dict().items()}
        return self._state

    def load_state(self, state: dict) -> None:
        import torch

        self.trained_modules().load_state_dict({k: v.float() for k, v in state.items()})
        self._state = {k: v.to(torch.float16) for k, v in state.items()}

    def save(self, directory: str | os.PathLike) -> dict:
        from safetensors.torch import save_file

        save_file(self.state(), str(Path(directory) / FILE))
        meta = {"file": FILE, "top_layers": self.top_layers, "max_length": self.max_length}
        return meta if self.base is None else {**meta, "base": self.base}

    @classmethod
    def load(cls, directory: str | os.PathLike, meta: dict) -> PairModel:
        from safetensors.torch import load_file

        base = meta.get("base")
        if base is not None and (Path(base).is_absolute() or str(base).startswith(".")) \
                and not Path(base).is_dir():
            raise FileNotFoundError(
                f"the pair model in {directory} reads the encoder {base}, which is not on this "
                "machine: put it there, or use another stance model (REACTIONS_STANCE_MODEL)")
        state = load_file(str(Path(directory) / meta.get("file", FILE)))
        return cls(state, top_layers=int(meta["top_layers"]),
                   max_length=int(meta.get("max_length", MAX_LENGTH)), base=base)

    # -- scoring ----------------------------------------------------------------------------

    def _batch(self, claims: Sequence[str], texts: Sequence[str]):
        return self.tokenizer(list(claims), [t or " " for t in texts], padding=True,
                              truncation="only_second", max_length=self.max_length,
                              return_tensors="pt").to(self.device)

    def _pool(self, hidden, mask):
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).float()

    def _pool_head(self, hidden, mask):
        return self.head(self._pool(hidden, mask))

    def _scoring_dtype(self) -> None:
        """Score with the encoder's weights in bf16 where the CPU has it: 13% faster than
        autocast over float32 weights (which casts them on every call), 99% same buckets.
        `fit` puts them back in float32 for training."""
        import torch

        want = torch.bfloat16 if self.dtype == "bfloat16" else torch.float32
        if self.model.dtype != want:
            self.model.to(want)

    def _read(self, texts: Sequence[str], claim: str) -> None:
        """Run the pairs not yet memoised: each (claim, text) keeps its logits and its pooled
        vector (the pair's representation, which a story's correction head can use)."""
        self.read_pairs([(claim, t) for t in texts])

    def read_pairs(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Read many (claim, text) pairs, whatever their claims, in batches of similar length:
        a file with hundreds of targets costs what one target with as many rows does."""
        import torch

        missing = list(dict.fromkeys(p for p in pairs if p not in self._memo))
        if len(self._memo) + len(missing) > 50_000:  # a long-running monitor keeps it bounded
            self._memo.clear()
            missing = list(dict.fromkeys(pairs))
        order = sorted(missing, key=lambda p: len(p[0]) + len(p[1]))
        self._scoring_dtype()
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                batch = self._batch([c for c, _ in chunk], [t for _, t in chunk])
                pooled = self._pool(self.model(**batch).last_hidden_state, batch["attention_mask"])
                rows = self.head(pooled).float().cpu().numpy()
                vectors = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
                for pair, row, vector in zip(chunk, rows, vectors):
                    self._memo[pair] = (row, vector.astype(np.float32))

    def pair_logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """(len(pairs), 3) logits in BUCKETS order for (claim, text) pairs of any claims."""
        self.read_pairs(pairs)
        out = np.zeros((len(pairs), 3), dtype=np.float32)
        for i, pair in enumerate(pairs):
            out[i] = self._memo[pair][0]
        return out

    def logits(self, texts: Sequence[str], claim: str) -> np.ndarray:
        """(len(texts), 3) logits in BUCKETS order."""
        return self.pair_logits([(claim, text) for text in texts])

    def features(self, texts: Sequence[str], claim: str) -> np.ndarray:
        """(len(texts), hidden) unit vectors: the pooled pair representation, for story heads."""
        self._read(texts, claim)
        if not texts:
            return np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float32)
        return np.stack([self._memo[(claim, text)][1] for text in texts])

    # -- training ---------------------------------------------------------------------------

    def _frozen_states(self, claims, texts, batch_size: int = 64) -> list:
        """Each pair's hidden states after the frozen layers (bf16 tensors, unpadded)."""
        import torch

        out: list = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self._batch([claims[i] for i in idx], [texts[i] for i in idx])
                hidden = self.model.embeddings(input_ids=batch["input_ids"],
                                               token_type_ids=batch.get("token_type_ids"))
                mask = _masks(self.model, batch["attention_mask"], hidden)
                extra = _layer_args(self.model, hidden)
                for layer in self.model.encoder.layer[: self.first_trained]:
                    hidden = layer(hidden, attention_mask=mask, **extra)
                    hidden = hidden[0] if isinstance(hidden, tuple) else hidden
                for j, i in enumerate(idx):
                    n = int(batch["attention_mask"][j].sum())
                    out[i] = hidden[j, :n].to(torch.bfloat16).clone()
        return out

    def _top_logits(self, states):
        import torch

        width = max(s.shape[0] for s in states)
        hidden = torch.zeros(len(states), width, states[0].shape[1], device=self.device)
        mask = torch.zeros(len(states), width, dtype=torch.long, device=self.device)
        for j, s in enumerate(states):
            hidden[j, : len(s)] = s.float()
            mask[j, : len(s)] = 1
        attention = _masks(self.model, mask, hidden)
        extra = _layer_args(self.model, hidden)
        for layer in self.model.encoder.layer[self.first_trained:]:
            hidden = layer(hidden, attention_mask=attention, **extra)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return self._pool_head(hidden, mask)

    def fit(self, claims: Sequence[str], texts: Sequence[str], labels: np.ndarray, *,
            epochs: int = 2, lr: float = 1e-4, batch_size: int = 32, seed: int = 0,
            bf16: bool = False, teacher: np.ndarray | None = None, distil: float = 0.5,
            temperature: float = 2.0,
            log: Callable[[str], None] = lambda message: None) -> PairModel:
        """Train the top layers and head on (claim, text) pairs, class-balanced, AdamW.
        `bf16`: the top layers' forward pass under bf16 autocast (twice as fast on a CPU with
        bf16; the weights and optimizer stay float32). Off in the shipped recipe, whose
        weights and quality figures were made in float32.

        `teacher`: (n, 3) logits of another pair model for the same pairs, to distil: the
        loss is then (1 - `distil`) x the labels' cross-entropy + `distil` x temperature^2 x
        the KL divergence from the teacher's probabilities at `temperature` (Hinton et al.,
        2015). A label of -1 marks a pair that only the teacher teaches."""
        import torch
        import torch.nn.functional as F

        torch.manual_seed(seed)
        rng = random.Random(seed)
        self._memo.clear()
        if self.model.dtype != torch.float32:
            # Scoring put the weights in bf16: train from the stored ones, not their rounding.
            kept = self.state()
            self.model = self._float32_encoder()
            self.load_state(kept)
        self._state = None
        states = self._frozen_states(claims, texts)
        labels = np.asarray(labels)
        y = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        gold = labels[labels >= 0]
        counts = np.bincount(gold, minlength=3).clip(min=1)
        weight = torch.tensor(len(gold) / (3 * counts), dtype=torch.float32, device=self.device)
        if teacher is None and len(gold) < len(labels):
            raise ValueError("pairs without a label (-1) need teacher logits")
        soft = (None if teacher is None else
                F.softmax(torch.as_tensor(np.asarray(teacher), dtype=torch.float32,
                                          device=self.device) / temperature, dim=-1))
        trained = self.trained_modules()
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in trained.parameters():
            p.requires_grad_(True)
        layers = list(self.model.encoder.layer[self.first_trained:].parameters())
        opt = torch.optim.AdamW([{"params": layers, "lr": lr},
                                 {"params": list(self.head.parameters()), "lr": lr * 20}],
                                weight_decay=0.01)
        steps = epochs * ((len(y) + batch_size - 1) // batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, s / max(1.0, 0.06 * steps)) * max(0.0, (steps - s) / steps))
        mixed = bf16 and self.dtype == "bfloat16"
        trained.train()
        for epoch in range(epochs):
            perm = list(range(len(y)))
            rng.shuffle(perm)
            batches = []
            # Similar lengths together (within chunks of 50 batches) keep padding small.
            for c in range(0, len(perm), batch_size * 50):
                chunk = sorted(perm[c : c + batch_size * 50], key=lambda i: len(states[i]))
                batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            rng.shuffle(batches)
            total = 0.0
            for b in batches:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=mixed):
                    logits = self._top_logits([states[i] for i in b])
                loss = self._loss(logits.float(), y[b], weight,
                                  None if soft is None else soft[b], distil, temperature)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trained.parameters(), 1.0)
                opt.step()
                sched.step()
                total += loss.item()
            log(f"pair epoch {epoch}: loss {total / max(len(batches), 1):.3f}")
        trained.eval()
        for p in trained.parameters():
            p.requires_grad_(False)
        self.state()  # kept while the weights are still float32
        return self

    @staticmethod
    def _loss(logits, y, weight, soft, distil: float, temperature: float):
        import torch.nn.functional as F

        labelled = y >= 0
        any_gold = bool(labelled.any())
        hard = (F.cross_entropy(logits[labelled], y[labelled], weight=weight) if any_gold
                else logits.sum() * 0.0)
        if soft is None:
            return hard
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=-1), soft, reduction="batchmean")
        share = distil if any_gold else 1.0  # a batch of unlabelled pairs: the teacher alone
        return (1.0 - share) * hard + share * temperature**2 * kl


def offtopic_negatives(targets: Sequence[str], texts: Sequence[str], fraction: float,
                       seed: int = 0) -> tuple[list[str], list[str]]:
    """(claims, texts) pairing a `fraction` of the texts with another target's claim: "none"
    examples like VAST's topic-irrelevant ones, for data that has only for/against."""
    rng = random.Random(seed)
    topics = sorted(set(targets))
    picked = rng.sample(range(len(texts)), int(len(texts) * fraction))
    claims = [rng.choice([t for t in topics if t != targets[i]]) for i in picked]
    return claims, [texts[i] for i in picked]


def training_pairs(labelled, keypoints=None, *, keypoint_fraction: float = 0.3,
                   negatives: float = 0.5, seed: int = 0):
    """The recipe: every labelled row (StanceRows with favor/against/none), plus a sample of
    the key-point arguments (they would otherwise outnumber the rest 3 to 1, which was 7
    F_avg worse on held-out SemEval targets) with off-topic "none" pairs for half of them."""
    claims, texts, labels = list(labelled.targets), list(labelled.texts), list(labelled.labels)
    if keypoints is not None and len(keypoints):
        rng = random.Random(seed)
        keep = sorted(rng.sample(range(len(keypoints)), int(len(keypoints) * keypoint_fraction)))
        kp = keypoints.subset(np.array(keep, dtype=np.int64))
        claims += kp.targets
        texts += kp.texts
        labels += kp.labels.tolist()
        none_claims, none_texts = offtopic_negatives(kp.targets, kp.texts, negatives, seed)
        claims += none_claims
        texts += none_texts
        labels += [2] * len(none_texts)
    return claims, texts, np.array(labels, dtype=np.int64)


def train_pair(labelled, keypoints=None, *, seed: int = 0, epochs: int = 2, bf16: bool = False,
               teacher: PairModel | None = None,
               transfer: tuple[Sequence[str], Sequence[str]] | None = None,
               log: Callable[[str], None] = lambda message: None, **model_args) -> PairModel:
    """A pair model trained by the recipe above (4-6 minutes on 2 CPU threads: 4,573 pairs
    took 237 s and the shipped 7,613 took 348 s on one machine). `model_args` go to
    PairModel (`base`, `device`, `top_layers`).

    With a `teacher` (a trained pair model, usually on a larger encoder) it is distilled:
    it also learns the teacher's probabilities for every pair, and for the `transfer`
    (claims, texts) pairs, which have no label, from the teacher alone."""
    import torch

    claims, texts, labels = training_pairs(labelled, keypoints, seed=seed)
    log(f"pair model: {len(labels)} pairs, {len(set(claims))} claims, "
        f"classes {np.bincount(labels, minlength=3).tolist()}")
    if transfer is not None:
        if teacher is None:
            raise ValueError("transfer pairs have no labels: they need a teacher")
        claims, texts = claims + list(transfer[0]), texts + list(transfer[1])
        labels = np.concatenate([labels, np.full(len(transfer[1]), -1, dtype=np.int64)])
    soft = None
    if teacher is not None:
        soft = teacher.pair_logits(list(zip(claims, texts)))
        log(f"teacher read {len(soft)} pairs")
    # The head's initial weights come from the seed too, so a seed gives the same model
    # whatever ran before in the process (they were drawn from the global generator).
    torch.manual_seed(seed)
    return PairModel(**model_args).fit(claims, texts, labels, epochs=epochs, seed=seed, bf16=bf16,
                                       teacher=soft, log=log)
