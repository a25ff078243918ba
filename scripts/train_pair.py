"""Fine-tune the (claim, post) pair model on a bundle from `python -m nlp.stance.corpus`.

Stand-alone (torch, transformers, safetensors and numpy only), so it runs on a bare GPU
machine; on a CPU it is correct but takes hours. It trains, in this order, the first fold
(`--folds`), the shipped model, then the other folds, and after each one writes into OUT:

* folds.npz: per fold, the held-out rows' ids, logits and (first fold) pooled pair vectors,
  which `python -m nlp.stance.general --loo --pair-folds OUT` scores beside the baselines;
* pair-0.safetensors, pair-1.safetensors: the shipped model's trained layers and head in
  fp16 (two files, so that none passes 16 MB), in `nlp.stance.pair.PairModel`'s layout;
* shipped.npz: the shipped model's logits on the scored-only sets (VAST dev, demo).

    python scripts/train_pair.py --bundle B/bundle.json.gz --base B/minilm --out OUT

Hyper-parameters are fixed in advance (the pair model's CPU recipe, with every layer
trained): no held-out score chooses them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Pair(torch.nn.Module):
    def __init__(self, base: str, top_layers: int) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(base, dtype=torch.float32)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 3)
        self.first = self.encoder.config.num_hidden_layers - top_layers
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        for layer in self.encoder.encoder.layer[self.first:]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def trained(self) -> torch.nn.ModuleList:
        return torch.nn.ModuleList([*self.encoder.encoder.layer[self.first:], self.head])

    def forward(self, input_ids, token_type_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, token_type_ids=token_type_ids,
                              attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).float()
        return self.head(pooled), pooled


def encode(tokenizer, rows, max_length: int):
    claims = [r[0] for r in rows]
    texts = [r[1] or " " for r in rows]
    enc = tokenizer(claims, texts, truncation="only_second", max_length=max_length)
    return enc["input_ids"], enc["token_type_ids"]


def collate(ids, types, idx, device):
    width = max(len(ids[i]) for i in idx)
    x = torch.zeros(len(idx), width, dtype=torch.long)
    t = torch.zeros(len(idx), width, dtype=torch.long)
    m = torch.zeros(len(idx), width, dtype=torch.long)
    for j, i in enumerate(idx):
        n = len(ids[i])
        x[j, :n] = torch.tensor(ids[i])
        t[j, :n] = torch.tensor(types[i])
        m[j, :n] = 1
    return x.to(device), t.to(device), m.to(device)


def batches(order, lengths, batch_size, rng):
    out = []
    for c in range(0, len(order), batch_size * 50):
        chunk = sorted(order[c : c + batch_size * 50], key=lambda i: lengths[i])
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def train(args, ids, types, labels, train_idx, device):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = Pair(args.base, args.top_layers).to(device)
    y = torch.as_tensor(labels, dtype=torch.long)
    counts = np.bincount(labels[train_idx], minlength=3).clip(min=1)
    weight = torch.tensor(len(train_idx) / (3 * counts), dtype=torch.float32, device=device)
    layers = [p for layer in model.encoder.encoder.layer[model.first:] for p in layer.parameters()]
    opt = torch.optim.AdamW([{"params": layers, "lr": args.lr},
                             {"params": list(model.head.parameters()), "lr": args.lr * 20}],
                            weight_decay=0.01)
    per_epoch = math.ceil(len(train_idx) / args.batch)
    steps = args.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / max(1.0, 0.06 * steps)) * max(0.0, (steps - s) / steps))
    lengths = [len(i) for i in ids]
    model.train()
    for epoch in range(args.epochs):
        order = list(train_idx)
        rng.shuffle(order)
        total, started = 0.0, time.perf_counter()
        for b in batches(order, lengths, args.batch, rng):
            x, t, m = collate(ids, types, b, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits, _ = model(x, t, m)
            loss = torch.nn.functional.cross_entropy(logits.float(), y[b].to(device), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.trained().parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
        log(f"  epoch {epoch}: loss {total / per_epoch:.3f} ({time.perf_counter() - started:.0f} s)")
    model.eval()
    return model


@torch.inference_mode()
def score(model, ids, types, idx, device, batch: int = 256):
    logits = np.zeros((len(idx), 3), dtype=np.float32)
    vectors = np.zeros((len(idx), model.head.in_features), dtype=np.float16)
    order = sorted(range(len(idx)), key=lambda j: len(ids[idx[j]]))
    for s in range(0, len(order), batch):
        part = order[s : s + batch]
        x, t, m = collate(ids, types, [idx[j] for j in part], device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out, pooled = model(x, t, m)
        logits[part] = out.float().cpu().numpy()
        vectors[part] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
    return logits, vectors


def save_state(model, out: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.float16).cpu().contiguous()
             for k, v in model.trained().state_dict().items()}
    keys = sorted(state, key=lambda k: (int(k.split(".")[0]), k))
    half = len(keys) // 2
    for part, chunk in enumerate((keys[:half], keys[half:])):
        save_file({k: state[k] for k in chunk}, str(out / f"pair-{part}.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--base", required=True, help="the encoder folder (config, tokenizer, weights)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--folds", default="semeval2016,shipped,covid19,pstance,multitarget",
                        help="what to train, in order ('shipped' is the shipped model)")
    parser.add_argument("--top-layers", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--limit", type=int, default=0, help="rows per fold at most (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.bundle, "rt", encoding="utf-8") as handle:
        bundle = json.load(handle)
    rows = bundle["rows"]
    labels = np.array([r[2] for r in rows], dtype=np.int64)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    started = time.perf_counter()
    ids, types = encode(tokenizer, rows, args.max_length)
    log(f"{device}: {len(rows)} rows tokenized in {time.perf_counter() - started:.0f} s; "
        f"params {vars(args)}")
    results: dict[str, np.ndarray] = {}
    cut = (lambda idx: idx[: args.limit]) if args.limit else (lambda idx: idx)
    for name in args.folds.split(","):
        started = time.perf_counter()
        if name == "shipped":
            train_idx = cut(bundle["shipped"])
            log(f"shipped: {len(train_idx)} training rows")
            model = train(args, ids, types, labels, train_idx, device)
            save_state(model, out)
            shipped = {}
            for set_name, idx in bundle["eval"].items():
                idx = cut(idx)
                logits, _ = score(model, ids, types, idx, device)
                shipped[f"{set_name}.ids"] = np.array(idx)
                shipped[f"{set_name}.logits"] = logits
                acc = float((logits.argmax(1) == labels[idx]).mean())
                log(f"  shipped on {set_name}: accuracy {acc:.3f}")
            np.savez(out / "shipped.npz", **shipped)
        else:
            fold = bundle["folds"].get(name)
            if fold is None:
                log(f"{name}: no such fold in the bundle, skipped")
                continue
            train_idx, eval_idx = cut(fold["train"]), cut(fold["eval"])
            log(f"fold {name}: {len(train_idx)} training rows, {len(eval_idx)} held out")
            model = train(args, ids, types, labels, train_idx, device)
            logits, vectors = score(model, ids, types, eval_idx, device)
            results[f"{name}.ids"] = np.array(eval_idx)
            results[f"{name}.logits"] = logits
            if name == "semeval2016":
                results[f"{name}.vectors"] = vectors
            acc = float((logits.argmax(1) == labels[eval_idx]).mean())
            log(f"  {name} held out: accuracy {acc:.3f}")
            np.savez(out / "folds.npz", **results)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        log(f"{name} done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
