"""Health page: is collection running, and per story and source the last run, its result and the next.

Whether the scheduler is alive, and how many workers are, is read from the heartbeats each
`reactions run` and `reactions worker` process renews (`reactions.heartbeat`). For a store
with no heartbeat yet it is read from the runs the scheduler records: each says when that
source runs next, so a live scheduler always has a planned run that is not overdue. A source
skipped for missing credentials is "skipped", not failing: nothing is wrong until someone
sets them; one waiting out a rate limit the platform asked for is "waiting", not failing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from dashboard import queries, ui
from reactions.heartbeat import SCHEDULER, WORKER
from reactions.models import utcnow

#: How late a planned run may start before the scheduler counts as stopped.
GRACE = timedelta(minutes=5)


def status_of(run: dict | None, active: bool, waiting_until: datetime | None = None) -> str:
    if not active:
        return "paused"
    if run is not None and run["finished_at"] is None:
        return "running"
    if waiting_until is not None:
        return f"waiting until {waiting_until:%H:%M}"
    if run is None:
        return "never run"
    error = run["error"] or ""
    if "credentials missing" in error:
        return "skipped (no credentials)"
    return "failing" if error else "ok"


def scheduler_state(runs: list[dict], now: datetime) -> tuple[str, str]:
    """('ok' | 'stopped', a sentence) from the runs the scheduler recorded.

    Each run the scheduler makes records when that source runs next; one-off commands
    (`collect`, `demo`) record none. The scheduler is alive while some planned next run
    is not overdue, or while a run is in progress.
    """
    planned = [r for r in runs if r["next_run"] is not None]
    in_flight = [r["started_at"] for r in runs if r["finished_at"] is None]
    if not planned and not in_flight:
        return "stopped", ("The scheduler has not run: posts so far came from one-off commands "
                           "(`collect`, `demo`, `import`). Start it with `python -m reactions run`.")
    upcoming = [r["next_run"] for r in planned if r["next_run"] + GRACE >= now]
    latest = max(r["started_at"] for r in runs)
    if upcoming:
        return "ok", (f"The scheduler is running: its last run started {ui.ago(latest, now=now)}, "
                      f"the next is due {ui.ago(min(upcoming), now=now)}.")
    if in_flight:
        return "ok", f"Collection is running: a run started {ui.ago(max(in_flight), now=now)}."
    due = max(r["next_run"] for r in planned)
    return "stopped", (f"The scheduler looks stopped: a run was due {ui.ago(due, now=now)} and "
                       "none has started since. Is `python -m reactions run` running?")


def liveness(processes: list[dict], runs: list[dict], now: datetime) -> tuple[str, str]:
    """('ok' | 'stopped', a sentence) about the scheduler: from its heartbeats, or from the
    runs it recorded when no scheduler has beaten in this store yet."""
    schedulers = [p for p in processes if p["role"] == SCHEDULER]
    if not schedulers:
        return scheduler_state(runs, now)
    alive = [p for p in schedulers if p["alive"]]
    if alive:
        latest = max(p["beat_at"] for p in alive)
        since = ui.short_when(alive[0]["started_at"], now=now)
        return "ok", (f"The scheduler is running (since {since}; "
                      f"last heartbeat {ui.ago(latest, now=now)}).")
    last = schedulers[0]
    if last["stopped_at"] is not None:
        return "stopped", ("The scheduler is not running: it stopped "
                           f"{ui.ago(last['stopped_at'], now=now)}. "
                           "Start it with `python -m reactions run`.")
    return "stopped", (f"The scheduler is not running: its last heartbeat was "
                       f"{ui.ago(last['beat_at'], now=now)} and it did not stop cleanly. "
                       "Is `python -m reactions run` running?")


def show_workers(processes: list[dict], now: datetime) -> None:
    """'N workers alive' and, when any worker has beaten lately, one line per worker."""
    workers = [p for p in processes if p["role"] == WORKER]
    if not workers:
        return
    alive = sum(p["alive"] for p in workers)
    text = f"{alive} worker{'' if alive == 1 else 's'} alive"
    (st.success if alive else st.warning)(text + (
        "." if alive else ": tasks wait in the queue until `python -m reactions worker` runs."))
    st.dataframe([{
        "worker": p["name"],
        "status": "alive" if p["alive"] else ("stopped" if p["stopped_at"] else "not responding"),
        "started": ui.short_when(p["started_at"], now=now),
        "last heartbeat": ui.short_when(p["beat_at"], now=now),
    } for p in workers], hide_index=True, width="stretch", key="workers")


st.title("Health")
now = utcnow()
processes = queries.heartbeats()
waits = queries.saved_waits()
all_runs = queries.last_runs()
runs = {(r["story"], r["source"]): r for r in all_runs}
rows = []
for story in queries.list_stories():
    for source in story.sources:
        run = runs.get((story.slug, source.name))
        finished = run["finished_at"] if run else None
        # Only the scheduler plans a next run; after a one-off `collect` there is none.
        next_run = run["next_run"] if run else None
        took = (finished - run["started_at"]).total_seconds() if run and finished else None
        status = status_of(run, story.active, waits.get((story.slug, source.name)))
        rows.append({
            "story": story.slug, "source": source.name, "status": status,
            "every": f"{source.interval_minutes} min",
            "last run": ui.short_when(run["started_at"], now=now) if run else "never",
            "took": f"{ui.number(round(took))} s" if took is not None else "-",
            "posts added": ui.number(run["added"]) if run else "-",
            "next run": ui.short_when(next_run, now=now) if story.active and next_run else "-",
            "last error": (run["error"] or "") if run else "",
        })
if not rows:
    st.info("No sources configured yet.")
else:
    state, sentence = liveness(processes, all_runs, now)
    (st.success if state == "ok" else st.warning)(sentence)
    show_workers(processes, now)
    counts = {s: sum(r["status"] == s for r in rows)
              for s in ("ok", "failing", "skipped (no credentials)", "never run")}
    for column, (label, n) in zip(st.columns(4), counts.items()):
        column.metric(f"Sources {label}", n)
    st.dataframe(rows, hide_index=True, width="stretch", key="health", column_config={
        "story": st.column_config.TextColumn(width=110),
        "source": st.column_config.TextColumn(width=80),
        "status": st.column_config.TextColumn(width=95),
        "every": st.column_config.TextColumn(width=55),
        "last run": st.column_config.TextColumn(width=115),
        "took": st.column_config.TextColumn(width=40),
        "posts added": st.column_config.TextColumn("added", width=45),
        "next run": st.column_config.TextColumn(width=115),
        "last error": st.column_config.TextColumn(width=140),
    })
    st.caption("Times are UTC. A source skipped for missing credentials runs once they are "
               "set in the environment of `reactions run`.")
