"""The general stance model itself: pair features of (post, claim) and a small MLP ensemble
on them, numpy at prediction time. Training runs and validation are in `nlp.stance.general`,
which re-exports these names; model code (the default backend) imports only this module."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from nlp.stance.heads import N_FOR, TEMPLATES

FILE = "general.npz"
HIDDEN = 256
BATCH = 1024
EPOCHS = 8
WEIGHT_DECAY = 0.01
DROPOUT = 0.2
SEEDS = (0,)


def pair_inputs(posts: np.ndarray, claim_vectors: np.ndarray) -> np.ndarray:
    """Features of (post, claim) pairs for one claim: posts (n, d); claim_vectors the
    embeddings of `hypotheses(claim)` (templates then the bare claim)."""
    sims = posts @ claim_vectors[: len(TEMPLATES)].T
    diff = sims[:, :N_FOR] - sims[:, N_FOR : 2 * N_FOR]
    claim = claim_vectors[-1]
    return np.hstack([posts, posts * claim, np.abs(posts - claim), sims, diff,
                      diff.mean(1, keepdims=True)]).astype(np.float32)


def features_for(X: np.ndarray, targets: Sequence[str], claim_vectors) -> np.ndarray:
    """pair_inputs for rows with many targets; claim_vectors(target) -> (len(TEMPLATES)+1, d)."""
    out = None
    by_target: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        by_target.setdefault(t, []).append(i)
    for t, idx in by_target.items():
        block = pair_inputs(X[idx], claim_vectors(t))
        if out is None:
            out = np.zeros((len(X), block.shape[1]), dtype=np.float32)
        out[idx] = block
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def balance(sets: Sequence[str], y: np.ndarray) -> np.ndarray:
    """Row weights: each data set the same total, classes even within a set and overall."""
    sets = np.asarray(sets)
    w = np.zeros(len(y), dtype=np.float64)
    for name in np.unique(sets):
        rows = np.flatnonzero(sets == name)
        present = np.unique(y[rows])
        for c in present:
            idx = rows[y[rows] == c]
            w[idx] = 1.0 / (len(present) * len(idx))
    totals = np.array([w[y == c].sum() for c in range(3)])
    scale = np.where(totals > 0, totals.sum() / (3 * np.maximum(totals, 1e-12)), 0.0)
    w = w * scale[y]
    return w * len(y) / w.sum()


class GeneralModel:
    """An ensemble of one-hidden-layer MLPs: logits(features) -> (n, 3) in BUCKETS order."""

    def __init__(self, layers: list[dict[str, np.ndarray]], mean: np.ndarray,
                 scale: np.ndarray) -> None:
        self.layers = layers
        self.mean = mean
        self.scale = scale

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        out = np.zeros((len(x), 3), dtype=np.float32)
        for layer in self.layers:
            h = np.maximum(x @ layer["w1"] + layer["b1"], 0.0)
            z = h @ layer["w2"] + layer["b2"]
            z = z - z.max(1, keepdims=True)
            out += z - np.log(np.exp(z).sum(1, keepdims=True))
        return out / max(len(self.layers), 1)

    def save(self, path: str | os.PathLike) -> None:
        arrays = {"mean": self.mean, "scale": self.scale}
        for i, layer in enumerate(self.layers):
            arrays.update({f"{i}.{k}": v for k, v in layer.items()})
        np.savez_compressed(path, **{k: np.asarray(v, np.float16) for k, v in arrays.items()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> GeneralModel:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k], np.float32) for k in data.files}
        count = len({k.split(".")[0] for k in arrays if "." in k})
        layers = [{k: arrays[f"{i}.{k}"] for k in ("w1", "b1", "w2", "b2")} for i in range(count)]
        return cls(layers, arrays["mean"], arrays["scale"])


def fit_general(features: np.ndarray, y: np.ndarray, weights: np.ndarray, *,
                hidden: int = HIDDEN, epochs: int = EPOCHS, weight_decay: float = WEIGHT_DECAY,
                dropout: float = DROPOUT, seeds: Sequence[int] = SEEDS) -> GeneralModel:
    """Train the MLP ensemble (torch, a few seconds per member on 2 threads)."""
    import torch

    mean = features.mean(0).astype(np.float32)
    scale = (features.std(0) + 1e-4).astype(np.float32)
    x = torch.as_tensor((features - mean) / scale, dtype=torch.float32)
    target = torch.as_tensor(y, dtype=torch.long)
    w = torch.as_tensor(weights, dtype=torch.float32)
    layers = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(x.shape[1], hidden),
                                  torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                  torch.nn.Linear(hidden, 3))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed)
        steps = epochs * ((len(y) + BATCH - 1) // BATCH)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y), generator=generator)
            for start in range(0, len(y), BATCH):
                b = perm[start : start + BATCH]
                loss = (torch.nn.functional.cross_entropy(net(x[b]), target[b], reduction="none")
                        * w[b]).sum() / w[b].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        layers.append({"w1": net[1].weight.detach().numpy().T.copy(),
                       "b1": net[1].bias.detach().numpy().copy(),
                       "w2": net[4].weight.detach().numpy().T.copy(),
                       "b2": net[4].bias.detach().numpy().copy()})
    return GeneralModel(layers, mean, scale)


def fit_linear(features: np.ndarray, y: np.ndarray, weights: np.ndarray, C: float):
    """The frozen-encoder + logistic-regression baseline on the same features and weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=200))
    model.fit(features, y, logisticregression__sample_weight=weights)
    return model
