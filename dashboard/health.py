"""Health page: is collection running, and per story and source the last run, its result and the next.

Whether the scheduler is alive is read from the runs it records: each says when that
source runs next, so a live scheduler always has a planned run that is not overdue. A source skipped for
missing credentials is "skipped", not failing: nothing is wrong until someone sets them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from dashboard import queries, ui
from reactions.models import utcnow

#: How late a planned run may start before the scheduler counts as stopped.
GRACE = timedelta(minutes=5)


def status_of(run: dict | None, active: bool) -> str:
    if not active:
        return "paused"
    if run is None:
        return "never run"
    if run["finished_at"] is None:
        return "running"
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


st.title("Health")
now = utcnow()
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
        rows.append({
            "story": story.slug, "source": source.name, "status": status_of(run, story.active),
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
    state, sentence = scheduler_state(all_runs, now)
    (st.success if state == "ok" else st.warning)(sentence)
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
        "last error": st.column_config.TextColumn(width=150),
    })
    st.caption("Times are UTC. A source skipped for missing credentials runs once they are "
               "set in the environment of `reactions run`.")
