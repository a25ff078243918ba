"""Live page: every active story at a glance, refreshed on its own without waiting on collection."""

import streamlit as st

from dashboard import queries, ui, writes
from reactions.config import get_settings
from reactions.models import BUCKETS
from reactions.render import escape_markdown

st.title("Live")
period = get_settings().dashboard_refresh_seconds
st.caption(f"Refreshes every {period} s. The dashboard only reads: collection runs in "
           "`reactions run`.")


@st.fragment(run_every=period)
def live_region() -> None:
    rows = queries.live_overview()
    if not rows:
        st.info("No active stories. Add one on the Stories page or run `python -m reactions demo`.")
        return
    table = []
    for row in rows:
        usual = row["usual_hour"]
        classified = sum(row["counts"].get(b, 0) for b in BUCKETS)
        table.append({
            # A relative link: the browser resolves it against this page's address.
            "story": f"story?story={row['slug']}",
            # No posts, no shares: an empty cell, not a 0% bar that looks like data.
            **{b: (round(100 * row["shares"][b]) if classified else None) for b in BUCKETS},
            "posts": classified + row["counts"].get("unclassified", 0),
            "last hour": (f"{row['last_hour']} ({row['last_hour'] / usual:.1f}x)" if usual
                          else str(row["last_hour"])),
            "last 24 h": row["sparkline"],
            "collected": ui.ago(row["last_collected"]),
            "alerts": row["open_alerts"],
        })
    titles = {f"story?story={r['slug']}": r["title"] for r in rows}
    st.dataframe(table, hide_index=True, width="stretch", key="live_table", column_config={
        "story": st.column_config.LinkColumn(
            "story", width=170, help="open the story",
            # LinkColumn shows one text for all rows or a regex group of the URL: the slug.
            display_text=r"story\?story=(.*)"),
        **{b: st.column_config.ProgressColumn(b, format="%d%%", min_value=0, max_value=100,
                                              color=ui.BUCKET_COLORS[b], width=88)
           for b in BUCKETS},
        "posts": st.column_config.NumberColumn("posts", width=60),
        "last hour": st.column_config.TextColumn(
            "last hour", width=75,
            help="posts in the last hour, and against the median hour of the day before"),
        "last 24 h": st.column_config.LineChartColumn("last 24 h", width=85, color="#57606a"),
        "collected": st.column_config.TextColumn("collected", width=85),
        "alerts": st.column_config.NumberColumn("alerts", width=55, help="open alerts"),
    })
    st.caption("Shares of classified posts: " + ", ".join(ui.bucket_label(b) for b in BUCKETS)
               + ". " + ui.COLD_START_CAVEAT)
    for link, title in titles.items():
        slug = link.split("=", 1)[1]
        st.page_link("story.py", label=escape_markdown(f"{title} ({slug})"),
                     query_params={"story": slug}, icon=":material/article:")
    open_alerts = queries.alerts(open_only=True)
    st.subheader(f"Open alerts ({len(open_alerts)})")
    if not open_alerts:
        st.write("None.")
    for alert in open_alerts:
        left, right = st.columns([5, 1])
        left.markdown(escape_markdown(f"{alert['fired_at']:%Y-%m-%d %H:%M} UTC · {alert['message']}"))
        if right.button("Acknowledge", key=f"ack-{alert['id']}"):
            writes.acknowledge_alert(alert["id"])
            st.rerun()


live_region()
