"""The Celery app the scheduler sends to and `reactions worker` runs.

Tasks are acknowledged after they finish (`acks_late`), so a task whose worker is killed
is delivered again (on Redis after REACTIONS_TASK_VISIBILITY_SECONDS; a task running longer
than that is delivered twice, which the leases make harmless); every task is safe to run twice: collection holds the source's lease
and resumes from the saved cursor, classification only does posts without a stance.
"""

from __future__ import annotations

from celery import Celery

#: The queue every task goes to (one deployment per broker database or vhost).
QUEUE = "reactions"

app = Celery("reactions", include=["reactions.worker.tasks"])
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def configure(broker_url: str, *, queue: str = QUEUE,
              visibility_timeout: float = 3600.0) -> Celery:
    """Point the app at the broker (REACTIONS_BROKER_URL) and queue (REACTIONS_BROKER_QUEUE)."""
    app.conf.broker_url = broker_url
    app.conf.task_default_queue = queue
    # A short visibility timeout needs the unacked sweep to run as often.
    sweep = max(1, min(10, int(visibility_timeout // 4)))
    app.conf.broker_transport_options = {
        "visibility_timeout": visibility_timeout, "unacked_restore_interval": sweep,
        "unacked_restore_throttle": 1 if visibility_timeout < 600 else 10,
    }
    return app


def configure_from_settings(settings) -> Celery:
    return configure(settings.broker_url, queue=settings.broker_queue,
                     visibility_timeout=settings.task_visibility_seconds)
