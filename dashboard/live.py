"""Live page: every active story at a glance, refreshed on its own without waiting on collection."""

from datetime import datetime

import streamlit as st

from dashboard import queries
from reactions.config import get_settings
from reactions.models import BUCKETS, utcnow
from reactions.render import escape_markdown

st.title("Live")
period = get_settings().dashboard_refresh_seconds
st.caption(f"Refreshes every {period} s. The dashboard only reads: collection runs in "
           "`reactions run`.")


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    minutes = int((utcnow() - when).total_seconds() // 60)
    return "just now" if minutes < 1 else f"{minutes} min ago" if minutes < 120 else \
        f"{minutes // 60} h ago"


@st.fragment(run_every=period)
def live_region() -> None:
    rows = queries.live_overview()
    if not rows:
        st.info("No active stories. Add one on the Stories page or run `python -m reactions demo`.")
        return
    table = []
    for row in rows:
        usual = row["usual_hour"]
        ratio = f"{row['last_hour'] / usual:.1f}x usual" if usual else "no usual level yet"
        table.append({
            "story": row["title"], "slug": row["slug"],
            **{b: round(100 * row["shares"][b]) for b in BUCKETS},
            "last hour": row["last_hour"], "vs usual": ratio, "last 24 hours": row["sparkline"],
            "collected": _ago(row["last_collected"]), "open alerts": row["open_alerts"],
        })
    st.dataframe(table, hide_index=True, width="stretch", key="live_table",
                 column_config={
                     **{b: st.column_config.ProgressColumn(b, format="%d%%", min_value=0,
                                                           max_value=100) for b in BUCKETS},
                     "last 24 hours": st.column_config.LineChartColumn("last 24 hours (hourly)"),
                 })
    for row in rows:
        st.page_link("story.py", label=f"Open {row['title']}", query_params={"story": row["slug"]})
    open_alerts = queries.alerts(open_only=True)
    st.subheader(f"Open alerts ({len(open_alerts)})")
    if not open_alerts:
        st.write("None.")
    for alert in open_alerts:
        left, right = st.columns([5, 1])
        left.markdown(escape_markdown(f"{alert['fired_at']:%Y-%m-%d %H:%M} UTC · {alert['message']}"))
        if right.button("Acknowledge", key=f"ack-{alert['id']}"):
            from reactions.aggregates import acknowledge_alert

            acknowledge_alert(queries.get_store(), alert["id"])
            queries.clear()
            st.rerun()


live_region()
