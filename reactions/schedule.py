"""APScheduler wiring for `reactions run`: one job per story and source, on the story's interval.

Jobs coalesce and never overlap themselves; a lease in the store (`reactions.leases`)
keeps other processes off a source while it is paged. A refresh job rereads the stories
from the store every `story_refresh_seconds`, so stories added, edited, paused or deleted
(on the dashboard or with `reactions story`) are picked up without a restart.

Without a broker, a source that got new posts triggers classification and a fresh summary
in this process. With one (`REACTIONS_BROKER_URL`), each job only sends a Celery task and
`reactions worker` processes do the work (`reactions.worker`).

A source whose platform asked us to wait (a long `Retry-After` or rate-limit reset, saved
with its cursor: `reactions.waits`) is not run, nor sent to a worker, before that time: its
job's next run is moved to the saved time, also when the scheduler starts again.

SIGTERM or Ctrl-C sets the stop event: collectors stop after the page in flight (a
rate-limit or backoff wait, or a slowly trickling answer, ends at once), the scheduler is
shut down without waiting under its lock, and `run_forever` waits at most `grace` seconds
for jobs in flight.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from reactions.models import Story, utcnow
from reactions.store import Store

log = logging.getLogger(__name__)

#: Seconds `run_forever` waits for jobs in flight after a stop before giving up on them.
GRACE = 6.0


class Runner:
    """Holds what the jobs share: the store, one classifier, a lock per story, the stop event.

    `dispatch`, when given (see `reactions.worker.dispatch`), sends each job to the workers
    instead of running it here. `only` limits the stories scheduled (`run --story`).
    """

    def __init__(self, store: Store, *, classifier: Any = None, model: str | None = None,
                 clients: dict[str, Any] | None = None, dispatch: Any = None,
                 only: Iterable[str] | None = None, teacher: Any = None) -> None:
        self.store = store
        self._teacher = teacher  # the stance teacher; None: from REACTIONS_TEACHER
        self.stop = threading.Event()
        self.dispatch = dispatch
        self.only = set(only) if only else None
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
        #: collect job id -> interval in minutes, as scheduled now
        self.jobs: dict[str, int] = {}
        self._in_flight = 0
        self._resumed: set[str] = set()  # stories checked for posts left unclassified
        self._idle = threading.Condition()

    def collector(self, source: str) -> Any:
        from collectors.base import get_collector

        with self._collectors_lock:
            if source not in self._collectors:
                kwargs = {"client": self._clients[source]} if source in self._clients else {}
                # rate-limit and backoff waits end at once on SIGTERM/Ctrl-C
                kwargs["stop"] = self.stop
                self._collectors[source] = get_collector(source, **kwargs)
            return self._collectors[source]

    def next_run(self, slug: str, source: str) -> datetime | None:
        """When the scheduler will run this job next (None outside the scheduler or once
        stopping: the job store's lock may then be held by the shutdown)."""
        if self.scheduler is None or self.stop.is_set() or not self.scheduler.running:
            return None
        job = self.scheduler.get_job(f"{slug}:{source}")
        return job.next_run_time if job is not None else None

    def defer(self, slug: str, source: str, until: datetime) -> None:
        """Move this job's next run to `until` (a wait the platform asked for); the job
        keeps its interval after that."""
        if self.scheduler is None or self.stop.is_set() or not self.scheduler.running:
            return
        job = self.scheduler.get_job(f"{slug}:{source}")
        if job is not None and (job.next_run_time is None or job.next_run_time < until):
            self.scheduler.modify_job(job.id, next_run_time=until)
            log.info("%s/%s: next run moved to %s, when the platform allows it", slug, source,
                     f"{until:%Y-%m-%d %H:%M:%S} UTC")

    def classifier(self) -> Any:
        with self._classifier_lock:
            if self._classifier is None:
                from nlp.stance import load_classifier
                from reactions.config import get_settings

                self._classifier = load_classifier(
                    self._model, review_below=get_settings().review_threshold)
            return self._classifier

    def _tracked(self, work, *args: Any) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            work(*args)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs (True), or `timeout` seconds (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def collect_job(self, slug: str, source: str) -> None:
        """One scheduled run of one source; classifies and summarizes when posts arrived."""
        self._tracked(self._collect, slug, source)

    def _collect(self, slug: str, source: str) -> None:
        from collectors.base import CollectorError
        from reactions.pipeline import classify, collect_source, summarize, summary_stale
        from reactions.store import UnknownStory
        from reactions.waits import saved_wait

        if self.stop.is_set():
            return
        if self.dispatch is not None:
            wait = saved_wait(self.store, slug, source)
            if wait is not None:  # no task until the platform allows a call
                self.defer(slug, source, wait)
                return
            self.dispatch.collect(slug, source, self.next_run(slug, source))
            return
        try:
            story = self.store.get_story(slug)
        except UnknownStory:  # deleted since the last refresh
            return
        if not story.active:
            return
        options = next((s.options for s in story.sources if s.name == source), None)
        if options is None:  # the source was removed from the story since the last refresh
            return
        try:
            collector = self.collector(source)
        except CollectorError as exc:  # unknown source: recorded like any failed run
            collector = _Failing(exc)
        result = collect_source(self.store, story, source, options=options, collector=collector,
                                stop=self.stop, next_run=lambda: self.next_run(slug, source))
        log.info("%s/%s: %d new posts", slug, source, result.added)
        if result.waiting_until is not None:
            self.defer(slug, source, result.waiting_until)
        # The first run of a story in this process also classifies posts a stopped process
        # left without a stance (a stop abandons classification in flight).
        leftovers = slug not in self._resumed and bool(self.store.posts_without_stance(slug))
        self._resumed.add(slug)
        # An editor's label or correction since the last paragraph also rewrites it.
        if (result.added or leftovers or summary_stale(self.store, slug)) \
                and not self.stop.is_set():
            with self._story_locks.setdefault(slug, threading.Lock()):
                classify(self.store, story, classifier=self.classifier())
                summarize(self.store, story)
            self.schedule_teach(slug)

    # -- the stance teacher (#15): its own job, so collection never waits on it --------------

    def schedule_teach(self, slug: str) -> None:
        """Run the teacher for the story as a job of its own, if the story still needs it."""
        from reactions import teach

        on = True if self._teacher is not None else None
        if self.stop.is_set() or not teach.wanted(self.store, slug, on=on):
            return
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.add_job(self.teach_job, args=(slug,), id=f"teach:{slug}",
                                   name=f"teach {slug}", replace_existing=True)
        else:
            self.teach_job(slug)

    def teach_job(self, slug: str) -> None:
        """The teacher labels a sample of the story's posts; the story is then re-classified
        (the classifier adapts to them) and its paragraph rewritten."""
        self._tracked(self._teach, slug)

    def _teach(self, slug: str) -> None:
        from reactions.pipeline import classify, summarize
        from reactions.store import UnknownStory
        from reactions.teach import teach_story

        try:
            story = self.store.get_story(slug)
        except UnknownStory:
            return
        try:
            result = teach_story(self.store, story, self._teacher)
        except ValueError as exc:  # endpoint down, no logprobs, no key: said in one line
            log.warning("%s: the stance teacher failed: %s", slug, exc)
            return
        if result.stored and not self.stop.is_set():
            with self._story_locks.setdefault(slug, threading.Lock()):
                classify(self.store, story, classifier=self.classifier(), redo=True)
                summarize(self.store, story)

    def refresh_job(self) -> None:
        """Reread the stories from the store and bring the collect jobs in line with them;
        close runs left open by processes that died."""
        self._tracked(self._refresh)

    def _refresh(self) -> None:
        from reactions.leases import close_interrupted_runs

        if self.stop.is_set() or self.scheduler is None:
            return
        try:
            stories = self.store.list_stories(active_only=True)
            if self.only is not None:
                stories = [s for s in stories if s.slug in self.only]
            sync_jobs(self, stories)
            close_interrupted_runs(self.store)
        except Exception:  # a database hiccup: the next refresh tries again
            log.exception("could not refresh the stories")


class _Failing:
    """Stands in for a collector that could not be built, so the run records why."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def pages(self, *_: Any):
        raise self.error


def _wanted_jobs(stories: Iterable[Story]) -> dict[str, tuple[str, str, int]]:
    return {f"{story.slug}:{source.name}": (story.slug, source.name, source.interval_minutes)
            for story in stories if story.active for source in story.sources}


def sync_jobs(runner: Runner, stories: Iterable[Story], *, first_run_now: bool = True) -> dict:
    """Add, reschedule and remove collect jobs so that they match these stories.

    Returns the job ids {"added": [...], "changed": [...], "removed": [...]}.
    """
    from reactions.waits import saved_waits

    scheduler = runner.scheduler
    wanted = _wanted_jobs(stories)
    new = [job_id for job_id in wanted if job_id not in runner.jobs]
    # A source still waiting out a rate limit (saved before a restart) starts then.
    waits = saved_waits(runner.store) if new else {}
    changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
    for job_id in [j for j in runner.jobs if j not in wanted]:
        if scheduler.get_job(job_id) is not None:
            scheduler.remove_job(job_id)
        del runner.jobs[job_id]
        changes["removed"].append(job_id)
    for job_id, (slug, source, minutes) in wanted.items():
        if job_id not in runner.jobs:
            first = utcnow() if first_run_now else utcnow() + timedelta(minutes=minutes)
            wait = waits.get((slug, source))
            scheduler.add_job(
                runner.collect_job, "interval", args=(slug, source), id=job_id,
                name=f"collect {slug}/{source}", minutes=minutes, jitter=min(60, minutes * 6),
                next_run_time=max(first, wait) if wait else first, replace_existing=True,
            )
            changes["added"].append(job_id)
        elif runner.jobs[job_id] != minutes:
            scheduler.reschedule_job(job_id, trigger="interval", minutes=minutes,
                                     jitter=min(60, minutes * 6))
            changes["changed"].append(job_id)
        runner.jobs[job_id] = minutes
    if any(changes.values()):
        log.info("stories changed: %s", {k: v for k, v in changes.items() if v})
    return changes


def build_scheduler(runner: Runner, stories: list[Story], *, first_run_now: bool = True,
                    refresh_seconds: float | None = None):
    """A BackgroundScheduler with a job per (story, source), jittered, coalescing, no overlap,
    plus the story refresh, digest and alert jobs."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from reactions.config import get_settings

    settings = get_settings()
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300,
    })
    runner.scheduler = scheduler
    runner.jobs.clear()
    sync_jobs(runner, stories, first_run_now=first_run_now)
    scheduler.add_job(runner.refresh_job, "interval", id="stories", name="reread stories",
                      seconds=refresh_seconds or settings.story_refresh_seconds)
    if runner.dispatch is not None:
        minutes = {"digests": settings.digest_check_minutes,
                   "alerts": settings.alert_check_minutes}
        for name, every in minutes.items():
            scheduler.add_job(runner.dispatch.send, "interval", args=(name,), id=name,
                              name=f"send the {name} task", minutes=every)
        return scheduler
    add_notification_jobs(scheduler, runner.store, stop=runner.stop)  # digests and alerts (#6)
    return scheduler


def add_notification_jobs(scheduler: Any, store: Any, *, settings: Any = None,
                          stop: Any = None) -> None:
    """Add the digest and alert jobs to `reactions run`'s scheduler (the workers' beat sends
    the same two tasks instead: `reactions.worker.tasks`).

    Both run on a short interval and decide for themselves what is due, so subscriptions
    and rules added on the dashboard are picked up without a restart, and a digest missed
    while the scheduler was down goes out when it comes back (once: see `reactions.digest`).
    """
    if settings is None:
        from reactions.config import get_settings

        settings = get_settings()

    def digests_job() -> None:
        from reactions.digest import send_due_digests

        if stop is None or not stop.is_set():
            send_due_digests(store, settings=settings)

    def alerts_job() -> None:
        from reactions.alerts import check_alerts

        if stop is None or not stop.is_set():
            check_alerts(store, settings=settings)

    scheduler.add_job(digests_job, "interval", id="digests", name="send due digests",
                      minutes=settings.digest_check_minutes)
    scheduler.add_job(alerts_job, "interval", id="alerts", name="check alert rules",
                      minutes=settings.alert_check_minutes)


def run_forever(runner: Runner, stories: list[Story], *, grace: float = GRACE) -> bool:
    """Run until SIGTERM or Ctrl-C, then let jobs in flight finish their page and return.

    Returns False when jobs were still running `grace` seconds after the stop (a request
    that neither answers nor times out yet): the caller should then exit anyway; their runs
    are closed as interrupted at the next start.
    """
    import os
    import socket

    from reactions.heartbeat import SCHEDULER, Heartbeat
    from reactions.leases import close_interrupted_runs

    close_interrupted_runs(runner.store)
    scheduler = build_scheduler(runner, stories)
    # Tells the Health page this scheduler is alive (with workers, run rows cannot).
    heartbeat = Heartbeat(runner.store, SCHEDULER,
                          f"scheduler@{socket.gethostname()}-{os.getpid()}")

    def _stop(signum, _frame):
        log.warning("signal %s: finishing the pages in flight, then stopping", signum)
        runner.stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    heartbeat.start()
    try:
        while not runner.stop.wait(1.0):
            pass
    finally:
        runner.stop.set()
        heartbeat.stop()
        # Not shutdown(wait=True): it holds the job store's lock while it waits, and a job
        # asking for its next run time would wait for that lock forever.
        scheduler.shutdown(wait=False)
        clean = runner.wait_idle(grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not clean:
        log.warning("jobs still running %.0fs after the stop; leaving them", grace)
    return clean
