"""Story page: bucket counts and shares, the paragraph, and the posts of each bucket."""

import streamlit as st

from dashboard import queries
from reactions.models import BUCKETS
from reactions.render import counts_line, escape_markdown

st.title("What people are saying")
stories = queries.list_stories()
if not stories:
    st.info("No stories yet. Run `python -m reactions demo` or `python -m reactions init`.")
    st.stop()

titles = {s.slug: s.title for s in stories}
slug = st.selectbox("Story", list(titles), format_func=lambda s: f"{titles[s]} ({s})", key="story")
story = next(s for s in stories if s.slug == slug)
st.caption("Claim: " + escape_markdown(story.claim))

counts = queries.bucket_counts(slug)
total = sum(counts[b] for b in BUCKETS)
columns = st.columns(len(BUCKETS) + 1)
for column, bucket in zip(columns, BUCKETS):
    share = f"{round(100 * counts[bucket] / total)}%" if total else "-"
    column.metric(bucket.capitalize(), counts[bucket], share, delta_color="off")
columns[-1].metric("Unclassified", counts.get("unclassified", 0))

summary = queries.latest_summary(slug)
st.subheader("The paragraph")
if summary is None:
    st.info("No paragraph yet: run `python -m reactions summarize " + slug + "`.")
else:
    # Post text can be quoted in the paragraph: render it as plain text, never as markup.
    st.text(summary.paragraph)
    st.caption(escape_markdown(f"{counts_line(summary)} · written by {summary.writer} at "
                               f"{summary.created_at:%Y-%m-%d %H:%M} UTC"))

st.subheader("Posts by bucket")
rows = queries.classified_rows(slug)
tabs = st.tabs([b.capitalize() for b in BUCKETS] + ["Unclassified"])
for tab, bucket in zip(tabs, [*BUCKETS, "unclassified"]):
    with tab:
        subset = [r for r in rows if r["bucket"] == bucket]
        if not subset:
            st.write("No posts.")
            continue
        st.dataframe(
            subset, hide_index=True, use_container_width=True, key=f"posts-{bucket}",
            column_config={"url": st.column_config.LinkColumn("link"),
                           "text": st.column_config.TextColumn("text", width="large")},
        )
