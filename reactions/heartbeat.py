"""Heartbeats: each `reactions run` scheduler and `reactions worker` process renews a row in
the `heartbeats` table while it is alive, so the Health page can say whether the scheduler
runs and how many workers are up, which the run rows alone cannot tell with Celery workers.

A row is renewed every `BEAT_SECONDS`; a process counts as alive while its last beat is less
than `ALIVE_SECONDS` old and it has not marked itself stopped. A clean stop marks the row
stopped at once; a killed process simply stops beating. Rows of processes stopped for more
than `KEEP` are removed by the next beat of any process.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from reactions.models import utcnow

log = logging.getLogger(__name__)

SCHEDULER, WORKER = "scheduler", "worker"
#: Seconds between two beats of a live process.
BEAT_SECONDS = 20.0
#: A process whose last beat is older than this counts as gone.
ALIVE_SECONDS = 3 * BEAT_SECONDS
#: How long rows of stopped processes are kept (the Health page shows the last ones).
KEEP = timedelta(days=7)


def beat(store: Any, name: str, role: str, *, started_at: datetime | None = None) -> None:
    """Record that `name` is alive now (one upsert)."""
    store.beat(name, role, started_at=started_at or utcnow(), keep=KEEP)


def stopped(store: Any, name: str) -> None:
    """Mark `name` as stopped (a clean exit)."""
    store.mark_stopped(name)


def processes(store: Any, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every process that beat within `KEEP`, newest beat first, each with `alive`."""
    now = now or utcnow()
    rows = store.heartbeats()
    for row in rows:
        row["alive"] = (row["stopped_at"] is None
                        and now - row["beat_at"] < timedelta(seconds=ALIVE_SECONDS))
    return rows


class Heartbeat:
    """`with Heartbeat(store, "worker", name):` beats at once, then every `every` seconds
    in a daemon thread, and marks the process stopped when the block ends."""

    def __init__(self, store: Any, role: str, name: str, *, every: float = BEAT_SECONDS) -> None:
        self.store, self.role, self.name, self.every = store, role, name, every
        self.started_at = utcnow()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        beat(self.store, self.name, self.role, started_at=self.started_at)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"heartbeat {self.name}")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.every):
            try:
                beat(self.store, self.name, self.role, started_at=self.started_at)
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("could not record the heartbeat of %s", self.name)

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            stopped(self.store, self.name)
        except Exception:  # it counts as gone after ALIVE_SECONDS anyway
            log.exception("could not mark %s stopped", self.name)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
