"""APScheduler wiring for `reactions run`: one job per story and source, on the story's interval.

Jobs coalesce and never overlap themselves. A source that got new posts triggers
classification and a fresh summary for its story. SIGTERM or Ctrl-C sets the stop event:
collectors finish the page in flight (a rate-limit or backoff wait ends at once), the
scheduler waits for running jobs, and we exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from reactions.models import Story, utcnow
from reactions.store import Store

log = logging.getLogger(__name__)


class Runner:
    """Holds what the jobs share: the store, one classifier, a lock per story, the stop event."""

    def __init__(self, store: Store, *, classifier: Any = None, model: str | None = None,
                 clients: dict[str, Any] | None = None) -> None:
        self.store = store
        self.stop = threading.Event()
        self._classifier = classifier
        self._model = model
        self._clients = clients or {}
        self._classifier_lock = threading.Lock()
        self._story_locks: dict[str, threading.Lock] = {}
        # One collector per source for the life of the process: one HTTP client, one
        # session (Bluesky) or token (Reddit), reused by every run.
        self._collectors: dict[str, Any] = {}
        self._collectors_lock = threading.Lock()
        self.scheduler: Any = None  # set by build_scheduler; tells each run its next run

    def collector(self, source: str) -> Any:
        from collectors.base import get_collector

        with self._collectors_lock:
            if source not in self._collectors:
                kwargs = {"client": self._clients[source]} if source in self._clients else {}
                # rate-limit and backoff waits end at once on SIGTERM/Ctrl-C
                kwargs["stop"] = self.stop
                self._collectors[source] = get_collector(source, **kwargs)
            return self._collectors[source]

    def next_run(self, slug: str, source: str):
        """When the scheduler will run this job next (None outside the scheduler)."""
        job = self.scheduler.get_job(f"{slug}:{source}") if self.scheduler is not None else None
        return job.next_run_time if job is not None else None

    def classifier(self) -> Any:
        with self._classifier_lock:
            if self._classifier is None:
                from nlp.stance import load_classifier
                from reactions.config import get_settings

                self._classifier = load_classifier(
                    self._model, review_below=get_settings().review_threshold)
            return self._classifier

    def collect_job(self, slug: str, source: str) -> None:
        """One scheduled run of one source; classifies and summarizes when posts arrived."""
        from collectors.base import CollectorError
        from reactions.pipeline import classify, collect_source, summarize

        if self.stop.is_set():
            return
        story = self.store.get_story(slug)
        if not story.active:
            return
        options = next((s.options for s in story.sources if s.name == source), {})
        try:
            collector = self.collector(source)
        except CollectorError as exc:  # unknown source: recorded like any failed run
            collector = _Failing(exc)
        result = collect_source(self.store, story, source, options=options, collector=collector,
                                stop=self.stop, next_run=lambda: self.next_run(slug, source))
        log.info("%s/%s: %d new posts", slug, source, result.added)
        if result.added and not self.stop.is_set():
            with self._story_locks.setdefault(slug, threading.Lock()):
                classify(self.store, story, classifier=self.classifier())
                summarize(self.store, story)


class _Failing:
    """Stands in for a collector that could not be built, so the run records why."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def pages(self, *_: Any):
        raise self.error


def build_scheduler(runner: Runner, stories: list[Story], *, first_run_now: bool = True):
    """A BackgroundScheduler with a job per (story, source), jittered, coalescing, no overlap."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300,
    })
    for story in stories:
        for source in story.sources:
            minutes = source.interval_minutes
            scheduler.add_job(
                runner.collect_job, "interval", args=(story.slug, source.name),
                id=f"{story.slug}:{source.name}", name=f"collect {story.slug}/{source.name}",
                minutes=minutes, jitter=min(60, minutes * 6),
                next_run_time=utcnow() if first_run_now else utcnow() + timedelta(minutes=minutes),
            )
    runner.scheduler = scheduler
    from reactions.notify import add_notification_jobs  # digests and alerts (#6)

    add_notification_jobs(scheduler, runner.store, stop=runner.stop)
    return scheduler


def run_forever(runner: Runner, stories: list[Story]) -> None:
    """Run until SIGTERM or Ctrl-C, then let jobs in flight finish their page and exit."""
    scheduler = build_scheduler(runner, stories)

    def _stop(signum, _frame):
        log.warning("signal %s: finishing the jobs in flight, then stopping", signum)
        runner.stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    try:
        while not runner.stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
