"""Waits the platforms asked for, read from the saved cursors (`~resume_at`, see
`collectors.base.CursorState`), so the scheduler, the workers, `status` and the Health page
can tell a source that is waiting out a rate limit from one that is failing.

A collector that hits a long `Retry-After` or a spent rate-limit window saves the time with
the source's cursor; `reactions.pipeline.collect_source` then skips the source until that
time (no request, no run recorded), and the scheduler moves the source's next run to it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reactions.models import utcnow

#: The key of the resume time in a cursor's JSON (`collectors.base.CursorState.RESUME_KEY`).
RESUME_KEY = "~resume_at"


def resume_time(cursor: str | None) -> datetime | None:
    """The resume time saved in this cursor, if any (past or future)."""
    if not cursor or RESUME_KEY not in cursor:  # most cursors: no JSON parsing at all
        return None
    from collectors.base import parse_timestamp

    try:
        data = json.loads(cursor)
        return parse_timestamp(data.get(RESUME_KEY)) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def saved_wait(store: Any, story: str, source: str, *,
               now: datetime | None = None) -> datetime | None:
    """When this source may call its platform again, if that is still ahead."""
    moment = resume_time(store.get_cursor(story, source))
    return moment if moment is not None and moment > (now or utcnow()) else None


def saved_waits(store: Any, *, now: datetime | None = None) -> dict[tuple[str, str], datetime]:
    """(story, source) -> resume time, for every source still waiting; one query."""
    now = now or utcnow()
    waits = {}
    for story, source, cursor in store.cursors_containing(RESUME_KEY):
        moment = resume_time(cursor)
        if moment is not None and moment > now:
            waits[(story, source)] = moment
    return waits
