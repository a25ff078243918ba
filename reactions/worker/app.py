"""The Celery app the scheduler sends to and `reactions worker` runs.

Tasks are acknowledged after they finish (`acks_late`), so a task whose worker is killed
is delivered again; every task is safe to run twice: collection holds the source's lease
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
    # A task whose worker died is delivered again after this (Redis); the leases keep a
    # redelivered collection from paging a source that another worker is still paging.
    broker_transport_options={"visibility_timeout": 3600},
)


def configure(broker_url: str, *, visibility_timeout: float | None = None) -> Celery:
    """Point the app at the broker (REACTIONS_BROKER_URL)."""
    app.conf.broker_url = broker_url
    if visibility_timeout is not None:
        app.conf.broker_transport_options = {"visibility_timeout": visibility_timeout}
    return app
