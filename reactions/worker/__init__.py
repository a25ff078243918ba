"""Celery workers: with a broker, `reactions run` only schedules and `reactions worker`
processes collect, classify, summarize, digest and alert tasks against a shared store.

This module stays light (Celery is imported on use); the Celery app is in
`reactions.worker.app` and the tasks in `reactions.worker.tasks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Dispatch:
    """What the scheduler calls in broker mode: sends tasks by name, runs nothing itself."""

    def __init__(self, settings: Any = None, app: Any = None) -> None:
        if app is None:
            from reactions.config import get_settings
            from reactions.worker.app import configure_from_settings

            app = configure_from_settings(settings or get_settings())
        self.app = app

    def collect(self, slug: str, source: str, next_run: datetime | None = None) -> None:
        self.app.send_task("reactions.collect",
                           args=(slug, source, next_run.isoformat() if next_run else None))

    def send(self, name: str, *args: Any) -> None:
        """Send the task `reactions.<name>` (classify, summarize, digests, alerts)."""
        self.app.send_task(f"reactions.{name}", args=args)


def safe_broker_url(url: str) -> str:
    """The broker URL with any password masked, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)
