"""A teacher for a new story: a chat model labels a sample of its posts, keeping its confident half.

The teacher is a `nlp.stance.chat.ChatStanceClassifier` (an OpenAI-compatible endpoint or a
local model, from the REACTIONS_TEACHER_* settings). It is asked about a random sample of
the story's posts that carry no label yet; its answers are calibrated over that sample (a
random sample of the story, so its mean is the story's mean), and only the half with the
widest margin between the best and second answer is kept. The store keeps those as labels
with source "teacher", apart from editors'; an editor's label for the same post wins, and
the story's classifier adapts to both (`reactions.pipeline.classify`).

This module knows nothing of the store: `reactions.teach` wires it in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A story needs this many unlabelled posts before the teacher is asked: calibration
#: subtracts their mean, which a handful of posts does not estimate.
MIN_POSTS = 8


@dataclass(frozen=True)
class TeacherLabel:
    index: int  # into the texts asked about
    label: str
    margin: float


def choose_sample(n_candidates: int, size: int, seed: str | int) -> list[int]:
    """Up to `size` indices of the candidates, at random but the same for the same seed."""
    indices = list(range(n_candidates))
    if n_candidates <= size:
        return indices
    return sorted(random.Random(seed).sample(indices, size))


def confident_half(margins: np.ndarray) -> list[int]:
    """Indices of the half (rounded up) with the widest margins, widest first."""
    margins = np.asarray(margins, dtype=np.float64)
    keep = (len(margins) + 1) // 2
    return [int(i) for i in np.argsort(-margins, kind="stable")[:keep]]


def teacher_labels(teacher: Any, texts: Sequence[str], claim: str) -> list[TeacherLabel]:
    """The teacher's confident half of labels for these posts (calibrated over them)."""
    if len(texts) < 1:
        return []
    labels, margins = teacher.label_with_margin(list(texts), claim)
    return [TeacherLabel(i, labels[i], float(margins[i])) for i in confident_half(margins)]
