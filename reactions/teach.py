"""The stance teacher's background step: a chat model labels a sample of a story's posts.

`teach_story` asks the teacher (REACTIONS_TEACHER, apart from the summary writer) about a
random sample of the story's posts that have no label from anyone yet, and stores its
confident half as labels with source "teacher". The caller then re-classifies the story:
`pipeline.classify` adapts the classifier to editors' and teacher labels (an editor's label
wins for the same post). `wanted` says whether a story still needs the teacher: it stops
once the story holds half a sample of teacher labels, so a story is taught about once.

The scheduler (`reactions run`) runs it as a job of its own after a story is classified;
with workers, the `reactions.teach` task does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from reactions.models import Story

log = logging.getLogger(__name__)

_teacher: dict[str, Any] = {}
_teacher_lock = threading.Lock()


@dataclass(frozen=True)
class TeachResult:
    asked: int
    stored: int
    teacher: str | None = None


def teacher(settings: Any = None) -> Any | None:
    """The process's teacher from the settings (built once), or None when it is off."""
    from nlp.stance.chat import teacher_from_settings
    from reactions.config import get_settings

    with _teacher_lock:
        if "model" in _teacher:
            return _teacher["model"]
        settings = settings or get_settings()
        if settings.teacher == "off":
            return None
        _teacher["model"] = teacher_from_settings(settings)
        return _teacher["model"]


def wanted(store: Any, slug: str, settings: Any = None, *, on: bool | None = None) -> bool:
    """Whether the teacher is on (`on`, else REACTIONS_TEACHER) and the story holds fewer
    than half a sample of its labels."""
    from reactions.config import get_settings

    settings = settings or get_settings()
    if not (settings.teacher != "off" if on is None else on):
        return False
    return store.label_counts(slug).get("teacher", 0) < settings.teacher_sample // 2


def teach_story(store: Any, story: Story, model: Any = None, *, sample: int | None = None) -> TeachResult:
    """Ask the teacher about up to `sample` unlabelled posts; store its confident half."""
    from nlp.stance.contract import skip_reason
    from nlp.stance.teacher import MIN_POSTS, choose_sample, teacher_labels
    from reactions.config import get_settings

    model = model if model is not None else teacher()
    if model is None:
        raise ValueError("no stance teacher: set REACTIONS_TEACHER to openai or local")
    size = sample or get_settings().teacher_sample
    labelled = {pid for pid, *_ in store.labels(story.slug)}
    candidates = [p for p in store.posts(story.slug)
                  if p.id not in labelled and p.duplicate_of is None
                  and skip_reason(p.text, p.language, model.languages) is None]
    candidates.sort(key=lambda p: p.id)
    if len(candidates) < MIN_POSTS:
        return TeachResult(0, 0, model.name)
    chosen = [candidates[i] for i in choose_sample(len(candidates), size,
                                                   f"{story.slug}:{len(labelled)}")]
    kept = teacher_labels(model, [p.text for p in chosen], story.claim)
    for item in kept:
        store.add_label(story.slug, chosen[item.index].id, item.label, source="teacher",
                        labeller=model.name)
    log.info("%s: the teacher %s labelled %d of %d posts asked (its confident half)",
             story.slug, model.name, len(kept), len(chosen))
    return TeachResult(len(chosen), len(kept), model.name)
