"""The theme encoder: all-MiniLM-L6-v2 fine-tuned so that posts making the same point lie close.

The packaged encoder places posts by what they are about, so two posts on one story sit
close whatever point each makes, and the themes' clusters mix points. Fine-tuned on
ArgKP-2021 train (CDLA-Sharing-1.0), each argument is pulled toward the expert key point it
makes and toward the other arguments of the batch that make it, and pushed from the rest
of the batch (a contrastive loss with in-batch negatives). Each batch is drawn from one
topic and stance, so the points it is pushed from are the ones a bucket's clustering must
tell apart, not points on other topics. Only the top `TOP_LAYERS` layers are trained, so
the shipped file holds just those (fp16) and the lower layers are the packaged encoder's
own.

    python -m nlp.theme_encoder [--data ../shared/data/keypoints] [--out FILE]

rebuilds `nlp/data/theme_encoder.safetensors` from train (dev is never read).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from nlp.embed import DEFAULT_ENCODER

FILE = Path(__file__).resolve().parent / "data" / "theme_encoder.safetensors"
#: Trained top layers (of 6), and the training settings, chosen by 3-fold leave-topics-out
#: cross-validation on ArgKP train (`benchmarks/theme_encoder.py`); dev was not used.
TOP_LAYERS = 3
EPOCHS = 4
LR = 5e-5
BATCH = 32
BATCHING = "topic"
#: Inverse temperature of the contrastive loss (cosine similarities times this).
SCALE = 20.0
MAX_LENGTH = 64


def training_pairs(arguments, key_points, groups_, held=frozenset()):
    """(argument, key point text, key point index, (topic, stance)) for each argument that
    makes exactly one key point, topics in `held` left out."""
    from nlp.argkp import single_point_arguments

    return [(arguments[i]["argument"], key_points[k]["key_point"], k,
             (key_points[k]["topic"], key_points[k]["stance"]))
            for i, k in single_point_arguments(groups_, held)]


def batches(pairs: Sequence[tuple], batch: int, rng: random.Random, by: str) -> list[list[int]]:
    """One epoch's batches of pair indices. "random": shuffled across topics. "topic": each
    batch drawn from one topic-stance (the pair's fourth element), so the other key points
    in a batch are those the clustering must tell apart; the batches' order is shuffled."""
    if by == "random":
        order = list(range(len(pairs)))
        rng.shuffle(order)
        return [order[i:i + batch] for i in range(0, len(order), batch)]
    if by != "topic":
        raise ValueError(f"unknown batching {by!r}: random or topic")
    if any(len(pair) < 4 for pair in pairs):
        raise ValueError("topic batching needs each pair's topic-stance (training_pairs)")
    by_group: dict = {}
    for i, pair in enumerate(pairs):
        by_group.setdefault(pair[3], []).append(i)
    out = []
    for members in by_group.values():
        rng.shuffle(members)
        out += [members[i:i + batch] for i in range(0, len(members), batch)]
    rng.shuffle(out)
    return out


def _top(model, layers: int):
    import torch

    return torch.nn.ModuleList(model.encoder.layer[-layers:])


def train(pairs: Sequence[tuple], *, layers: int = TOP_LAYERS,
          epochs: int = EPOCHS, lr: float = LR, batch: int = BATCH, by: str = BATCHING,
          seed: int = 0, base: str | None = None, device: str | None = None) -> dict:
    """Fine-tune the top `layers` of the packaged encoder on (argument, key point, label[,
    topic-stance]) pairs, batched as `batches(by=...)` says; returns their weights in fp16.
    `device`: a torch device (default: CUDA where there is one, else the CPU)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from nlp.embed import resolve_model

    if not pairs:
        raise ValueError("no training pairs: is the ArgKP data present?")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    path = resolve_model(base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModel.from_pretrained(path, dtype=torch.float32).to(device).train()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    top = _top(model, layers)
    for parameter in top.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(top.parameters(), lr=lr, weight_decay=0.01)
    plan = [batches(pairs, batch, rng, by) for _ in range(epochs)]
    steps = sum(map(len, plan))
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))

    def embed(texts):
        inputs = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_LENGTH,
                           return_tensors="pt").to(device)
        hidden = model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def positives_loss(logits, positive):
        """-log of the probability mass on the positives, per row with any."""
        has = positive.any(1)
        loss = torch.logsumexp(logits, 1) - torch.logsumexp(
            logits.masked_fill(~positive, float("-inf")), 1)
        return loss[has].mean() if has.any() else logits.sum() * 0

    for epoch in plan:
        for indices in epoch:
            chunk = [pairs[i] for i in indices]
            arguments = embed([c[0] for c in chunk])
            points = embed([c[1] for c in chunk])
            labels = torch.tensor([c[2] for c in chunk], device=device)
            same = labels[:, None] == labels[None, :]
            own = torch.eye(len(chunk), dtype=torch.bool, device=device)
            # argument -> its key point, and argument -> the batch's other arguments making it
            loss = positives_loss(SCALE * arguments @ points.T, same)
            loss = loss + positives_loss(
                (SCALE * arguments @ arguments.T).masked_fill(own, float("-inf")), same & ~own)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    return {k: v.detach().to("cpu", torch.float16).contiguous()
            for k, v in top.state_dict().items()}


def save(state: dict, path: str | Path, *, layers: int = TOP_LAYERS,
         base: str = DEFAULT_ENCODER) -> None:
    from safetensors.torch import save_file

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"base": base, "top_layers": str(layers)})


def save_parts(state: dict, folder: str | Path, *, layers: int = TOP_LAYERS,
               limit: int = 15 << 20) -> list[Path]:
    """`save` in parts of at most `limit` bytes each (a GPU machine returns files of under
    16 MB); `join` puts them together."""
    folder = Path(folder)
    parts: list[dict] = [{}]
    size = 0
    for key, value in state.items():
        nbytes = value.numel() * value.element_size()
        if parts[-1] and size + nbytes > limit:
            parts.append({})
            size = 0
        parts[-1][key] = value
        size += nbytes
    paths = [folder / f"theme_encoder.part{i}.safetensors" for i in range(len(parts))]
    for part, path in zip(parts, paths):
        save(part, path, layers=layers)
    return paths


def join(folder: str | Path, out: str | Path = FILE) -> None:
    """Write the parts in `folder` (from `save_parts`) as one file."""
    from safetensors import safe_open

    state, layers = {}, None
    paths = sorted(Path(folder).glob("theme_encoder.part*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no theme_encoder.part*.safetensors in {folder}")
    for path in paths:
        with safe_open(str(path), framework="pt") as f:
            layers = int((f.metadata() or {}).get("top_layers", TOP_LAYERS))
            state |= {k: f.get_tensor(k) for k in f.keys()}
    save(state, out, layers=layers)


def with_top(state: dict, layers: int, base: str | None = None, tag: str = ""):
    """An `nlp.embed.Encoder` of `base` whose top `layers` are `state`'s; its vectors go by
    the base's name + "+themes" + `tag`."""
    import torch

    from nlp.embed import Encoder

    encoder = Encoder(base)
    top = _top(encoder.model, layers)
    dtype = next(encoder.model.parameters()).dtype
    with torch.no_grad():
        top.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    encoder.name = f"{encoder.name}+themes{tag}"
    return encoder


def load(path: str | Path = FILE):
    """An `nlp.embed.Encoder` whose top layers are the trained ones, and the base encoder's
    name; None when the file is absent. The encoder's name ends in a digest of the file, so
    vectors stored from other weights are never taken for its own."""
    import hashlib

    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    base = meta.get("base", DEFAULT_ENCODER)
    tag = "-" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    return with_top(state, int(meta.get("top_layers", TOP_LAYERS)), base, tag), base


@lru_cache(maxsize=1)
def _shipped():
    return load(FILE)


def for_encoder(encoder: str | None):
    """The shipped theme encoder when it was trained on top of `encoder` (the encoder a
    store's embeddings come from), else None. Its vectors go by `.name`."""
    shipped = _shipped()
    return shipped[0] if shipped is not None and encoder and shipped[1] == encoder else None


def main(argv=None) -> int:
    from nlp.argkp import DEFAULT_DATA, groups, load_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=FILE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--join", type=Path, metavar="DIR",
                        help="write the parts that benchmarks/theme_encoder.py --final left "
                             "in DIR as one file, instead of training")
    args = parser.parse_args(argv)
    if args.join:
        join(args.join, args.out)
        print(f"wrote {args.out} from the parts in {args.join}")
        return 0
    if not (args.data / "arguments_train.csv").is_file():
        print(f"no ArgKP data at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 2
    arguments, key_points, matches = load_split(args.data, "train")
    pairs = training_pairs(arguments, key_points, groups(arguments, key_points, matches))
    start = time.perf_counter()
    save(train(pairs, seed=args.seed), args.out)
    print(f"wrote {args.out} from {len(pairs)} ArgKP train arguments "
          f"in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
