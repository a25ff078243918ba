"""The worker's tasks: the same pipeline functions `reactions run` calls in one process.

collect   pages one source (under its lease), then sends `classify` for the story when
          posts arrived, so collection never waits on the model;
classify  classifies all of a story's posts without a stance (one batch per story, under
          the story's classify lease), then sends `summarize`;
summarize writes the story's paragraph; digests and alerts send what is due.

Each worker process keeps one store, one collector per source and one classifier. A
shutdown (SIGTERM, Ctrl-C) sets STOP: collections end after the page in flight.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

from reactions.worker.app import app

log = logging.getLogger(__name__)

#: Set when the worker shuts down: rate-limit waits, backoffs and slow reads end at once.
STOP = threading.Event()
#: Seconds a classify task waits before trying again while another holds the story's lease.
CLASSIFY_RETRY = 3.0

_lock = threading.Lock()
_state: dict[str, Any] = {}


def store() -> Any:
    with _lock:
        if "store" not in _state:
            from reactions.store import Store

            _state["store"] = Store.from_settings()
        return _state["store"]


def collector(source: str) -> Any:
    from collectors.base import get_collector

    with _lock:
        collectors = _state.setdefault("collectors", {})
        if source not in collectors:
            collectors[source] = get_collector(source, stop=STOP)
        return collectors[source]


def classifier() -> Any:
    with _lock:
        if "classifier" not in _state:
            from nlp.stance import load_classifier
            from reactions.config import get_settings

            threads = os.environ.get("REACTIONS_WORKER_TORCH_THREADS")
            if threads:
                import torch

                torch.set_num_threads(int(threads))
            settings = get_settings()
            _state["classifier"] = load_classifier(settings.stance_model,
                                                   review_below=settings.review_threshold)
        return _state["classifier"]


def _story(slug: str) -> Any:
    from reactions.store import UnknownStory

    try:
        story = store().get_story(slug)
    except UnknownStory:
        log.info("story %s was deleted; nothing to do", slug)
        return None
    return story if story.active else None


@app.task(name="reactions.collect")
def collect(slug: str, source: str, next_run: str | None = None) -> dict[str, Any]:
    """Page one source of one story; sends `classify` when new posts arrived. A source
    waiting out a rate limit saved with its cursor is not called before that time."""
    from collectors.base import CollectorError
    from reactions import pipeline
    from reactions.pipeline import collect_source
    from reactions.schedule import _Failing

    story = _story(slug)
    options = next((s.options for s in story.sources if s.name == source), None) if story else None
    if options is None or STOP.is_set():
        return {"added": 0, "skipped": True}
    try:
        source_collector = collector(source)
    except CollectorError as exc:
        source_collector = _Failing(exc)
    when = datetime.fromisoformat(next_run) if next_run else None
    result = collect_source(store(), story, source, options=options, collector=source_collector,
                            stop=STOP, next_run=when)
    if result.added:
        classify.delay(slug)
    elif pipeline.summary_stale(store(), slug):  # a label or correction since the paragraph
        summarize.delay(slug)
    waiting = result.waiting_until.isoformat() if result.waiting_until else None
    return {"added": result.added, "pages": result.pages, "busy": result.busy,
            "error": result.error, "waiting_until": waiting}


@app.task(name="reactions.classify", bind=True, max_retries=200)
def classify(self, slug: str, redo: bool = False) -> dict[str, int]:
    """Classify every post of the story that has no stance yet (all of them with `redo`,
    after the teacher added labels), then send `summarize`, and `teach` if it is wanted."""
    from reactions import pipeline
    from reactions.leases import Lease

    story = _story(slug)
    if story is None:
        return {}
    with Lease(store(), f"classify:{slug}") as held:
        if not held:  # another worker is on it; its posts list may predate ours
            raise self.retry(countdown=CLASSIFY_RETRY)
        counts: dict[str, int] = {}
        while not STOP.is_set():
            done = pipeline.classify(store(), story, classifier=classifier(), redo=redo)
            redo = False
            if not done:
                break
            for label, n in done.items():
                counts[label] = counts.get(label, 0) + n
    if counts:
        summarize.delay(slug)
        from reactions.teach import wanted

        if wanted(store(), slug):
            teach.delay(slug)
    return counts


@app.task(name="reactions.teach")
def teach(slug: str) -> dict[str, Any]:
    """The stance teacher labels a sample of the story's posts (under the story's teach
    lease); when it stored labels, `classify` re-classifies the story with them."""
    from reactions.leases import Lease
    from reactions.teach import teach_story

    story = _story(slug)
    if story is None or STOP.is_set():
        return {"stored": 0}
    with Lease(store(), f"teach:{slug}") as held:
        if not held:  # another worker is teaching this story
            return {"stored": 0, "busy": True}
        try:
            result = teach_story(store(), story)
        except ValueError as exc:  # endpoint down, no logprobs, no key: said in one line
            log.warning("%s: the stance teacher failed: %s", slug, exc)
            return {"stored": 0, "error": str(exc)}
    if result.stored:
        classify.delay(slug, redo=True)
    return {"asked": result.asked, "stored": result.stored}


@app.task(name="reactions.summarize")
def summarize(slug: str) -> int | None:
    from reactions import pipeline

    story = _story(slug)
    if story is None or STOP.is_set():
        return None
    return pipeline.summarize(store(), story).id


@app.task(name="reactions.digests")
def digests() -> None:
    from reactions.digest import send_due_digests

    if not STOP.is_set():
        send_due_digests(store())


@app.task(name="reactions.alerts")
def alerts() -> None:
    from reactions.alerts import check_alerts

    if not STOP.is_set():
        check_alerts(store())
