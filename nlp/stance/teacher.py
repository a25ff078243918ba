"""A teacher for the per-story stance classifier: a larger chat model labels a sample of posts.

The teacher is any object with `complete(system, user) -> str` and a `name` (the summary
writers in nlp.writers: an OpenAI-compatible endpoint or a local chat model). Its labels are
stored apart from editors' (source "teacher"), and an editor's label for the same post wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reactions.models import normalize_label

SYSTEM = (
    "You label the stance of a social-media post toward a claim. Answer with exactly one "
    "word: supporters (the post agrees with the claim), skeptics (it disagrees or doubts "
    "it) or neutral (neither, or unrelated)."
)


def teacher_label(teacher: Any, text: str, claim: str) -> str | None:
    """The teacher's bucket for one post, or None when its answer is not a bucket."""
    answer = teacher.complete(SYSTEM, f"Claim: {claim}\nPost: {text}\nStance:")
    words = answer.strip().lower().replace(".", " ").replace(",", " ").split()
    for word in words[:3]:
        try:
            return normalize_label(word)
        except ValueError:
            continue
    return None


def teacher_labels(teacher: Any, texts: Sequence[str], claim: str) -> list[str | None]:
    return [teacher_label(teacher, text, claim) for text in texts]
