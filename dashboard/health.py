"""Health page: per story and source, the last run, posts added, last error and next run."""

from datetime import timedelta

import streamlit as st

from dashboard import queries

st.title("Health")
runs = {(r["story"], r["source"]): r for r in queries.last_runs()}
rows = []
for story in queries.list_stories():
    for source in story.sources:
        run = runs.get((story.slug, source.name))
        finished = run["finished_at"] if run else None
        next_run = (run["next_run"] if run and run["next_run"] else
                    finished + timedelta(minutes=source.interval_minutes) if finished else None)
        status = ("paused" if not story.active else "never run" if run is None else
                  "running" if finished is None else "failing" if run["error"] else "ok")
        rows.append({
            "story": story.slug, "source": source.name, "status": status,
            "every (min)": source.interval_minutes,
            "last run": run["started_at"] if run else None, "finished": finished,
            "posts added": run["added"] if run else None, "pages": run["pages"] if run else None,
            "last error": (run["error"] or "") if run else "",
            "next run": next_run if story.active else None,
        })
if not rows:
    st.info("No sources configured yet.")
else:
    failing = sum(r["status"] == "failing" for r in rows)
    st.metric("Sources failing", failing)
    st.dataframe(rows, hide_index=True, width="stretch", key="health",
                 column_config={"last error": st.column_config.TextColumn(width="large")})
