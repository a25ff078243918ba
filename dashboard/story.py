"""Story page: the paragraph to copy, stance and volume over time, themes and quotes, the posts.

Post text is untrusted: it is shown with st.text, in tables, or as escaped Markdown, never
as HTML. The only write here is an editor's correction of a post's bucket, stored as a
human label apart from the model's.
"""


import altair as alt
import streamlit as st

from dashboard import posts_table, queries, ui
from nlp.summarize import largest_remainder
from reactions.models import BUCKETS
from reactions.render import counts_line, escape_markdown, render_summary, safe_url, stance_caveat

COLORS = ui.altair_scale()

st.title("What people are saying")
stories = queries.list_stories()
if not stories:
    st.info("No stories yet. Run `python -m reactions demo` or `python -m reactions init`.")
    st.stop()

titles = {s.slug: s.title for s in stories}
wanted = st.query_params.get("story")
if wanted in titles and "story" not in st.session_state:
    st.session_state["story"] = wanted
slug = st.selectbox("Story", list(titles), format_func=lambda s: f"{titles[s]} ({s})", key="story")
story = next(s for s in stories if s.slug == slug)
st.caption("Claim: " + escape_markdown(story.claim))

options = queries.filter_options(slug)
left, middle, right = st.columns(3)
# All time by default: the story's whole period, so a past story is not shown as empty.
window = left.selectbox("Window", list(queries.WINDOWS), index=list(queries.WINDOWS).index("all time"),
                        key="window")
# By platform, not by collector: the demo's `file` source holds Bluesky, Reddit, ... posts.
platforms = middle.multiselect("Platforms", options["platforms"], key="platforms",
                               placeholder="all platforms")
languages = right.multiselect("Languages", options["languages"], key="languages",
                              placeholder="all languages")
filters = queries.filters_for(window, platforms, languages)
step = queries.step_for(window)
overview = queries.breakdown(slug, filters, step)

counts = overview["counts"]
total = sum(counts[b] for b in BUCKETS)
# The tiles, charts, quotes and posts count the filtered posts; the paragraph is written for
# the whole window, so when a filter is on the tiles say so and the paragraph shows its own.
filtered = bool(platforms or languages)
if filtered:
    scope = " and ".join(escape_markdown(", ".join(chosen)) for chosen in (platforms, languages)
                         if chosen)
    st.caption(f"**Filtered to {scope}** ({window}): the tiles, charts, quotes and posts "
               "below count only these posts. The paragraph covers every platform and "
               "language of the window; its own numbers are beside it.")
tile_columns = st.columns(len(BUCKETS) + 1)
suffix = " (filtered)" if filtered else ""
percents = largest_remainder({b: counts[b] for b in BUCKETS})  # they sum to 100, as in the paragraph
for column, bucket in zip(tile_columns, BUCKETS):
    column.metric(ui.bucket_label(bucket) + suffix, ui.number(counts[bucket]),
                  f"{percents[bucket]}%" if total else None,
                  delta_color="off", delta_arrow="off")
tile_columns[-1].metric(ui.bucket_label("unclassified") + suffix,
                        ui.number(counts.get("unclassified", 0)))
if not queries.count_posts(slug):
    st.info("Nothing has been collected for this story yet: `python -m reactions collect "
            f"{slug}` fetches posts once, `python -m reactions run` keeps collecting.")
elif not total:
    st.info("No classified posts in this window: pick a longer window or other platforms.")
elif not queries.human_labels(slug):
    st.caption(ui.COLD_START_CAVEAT)


# The paragraph of the window the tiles show, so both state the same numbers.
summary, stale = queries.window_summary(slug, window)
since = {"last 6 hours": "6h", "last 24 hours": "1d", "last 7 days": "7d", "last 30 days": "30d"}
command = f"python -m reactions blurb {slug}" + (f" --since {since[window]}" if window in since else "")
st.subheader("The paragraph")
if summary is None:
    st.info(f"No paragraph for the {window} yet: run `{command}`.")
else:
    if stale:
        rewrite = ("the scheduler rewrites it on its next run, or run" if window == "all time"
                   else "run")
        st.warning("Posts were classified or corrected after this paragraph was written, or its "
                   "window has moved on, so its numbers may differ from the tiles; "
                   f"{rewrite} `{command}`.")
    text_column, numbers_column = st.columns([3, 1])
    # The paragraph quotes posts: plain text, never markup.
    text_column.text(summary.paragraph)
    # Beside it, the numbers it was written from: the same window, every platform and language.
    written = summary.counts
    written_total = sum(written.get(b, 0) for b in BUCKETS)
    written_percents = largest_remainder({b: written.get(b, 0) for b in BUCKETS})
    lines = [f"{ui.bucket_label(bucket)} **{ui.number(written.get(bucket, 0))}**"
             + (f" · {written_percents[bucket]}%" if written_total else "") for bucket in BUCKETS]
    numbers_column.markdown("The paragraph's posts" + (" (unfiltered)" if filtered else "")
                            + ":  \n" + "  \n".join(lines))
    if caveat := stance_caveat(summary):
        st.warning(caveat)  # our own words, not post text
    period = ((summary.payload or {}).get("period") or {}).get("words")
    st.caption(escape_markdown(
        (f"{period} · " if period else "") + f"Written by {summary.writer}, {ui.ago(summary.created_at)} "
        f"({summary.created_at:%Y-%m-%d %H:%M} UTC) · {counts_line(summary)}"))
    st.caption("Copy it with the button at the top right of each box.")
    for tab, fmt, language in zip(st.tabs(["Text", "Markdown", "HTML"]),
                                  ("text", "markdown", "html"), (None, "markdown", "html")):
        with tab:
            st.code(render_summary(summary, story, fmt), language=language, wrap_lines=True)

chart_left, chart_right = st.columns(2)
with chart_left:
    st.subheader("Stance shares over time")
    series = overview["stance"]
    if series:
        chart = alt.Chart(alt.Data(values=[{**r, "time": r["time"].isoformat()} for r in series]))
        st.altair_chart(chart.mark_area().encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("posts:Q", stack="normalize", title="share", axis=alt.Axis(format="%")),
            color=alt.Color("bucket:N", scale=COLORS, title=None),
            order=alt.Order("bucket:N"),
            tooltip=["time:T", "bucket:N", "posts:Q"],
        ).properties(height=260), width="stretch")
    else:
        st.write("No classified posts in this window.")
with chart_right:
    st.subheader("Volume by platform")
    volume = overview["volume"]
    if volume:
        chart = alt.Chart(alt.Data(values=[{**r, "time": r["time"].isoformat()} for r in volume]))
        st.altair_chart(chart.mark_bar().encode(
            x=alt.X("time:T", title=None), y=alt.Y("posts:Q", title="posts"),
            color=alt.Color("platform:N", title=None),
            tooltip=["time:T", "platform:N", "posts:Q"],
        ).properties(height=260), width="stretch")
    else:
        st.write("No posts in this window.")


def _quote(post: dict) -> str:
    """One quote as Markdown: the text escaped, the link only when it is plain http(s)."""
    who = ui.escape_text(post["author"] or post["platform"])
    line = f"> {ui.post_markdown(' '.join(post['text'].split()))}\n>\n> — {who} on {post['platform']}"
    url = safe_url(post["url"])
    if url:
        line += f" · [original post](<{url.replace('>', '%3E').replace('<', '%3C')}>)"
    return line


st.subheader("Themes and quotes")
# Themes come from the stored summary's evidence (payload["buckets"][bucket]["themes"]).
evidence = (summary.payload or {}).get("buckets", {}) if summary else {}
top = queries.top_posts_by_bucket(slug, filters)
for column, bucket in zip(st.columns(len(BUCKETS)), BUCKETS):
    with column:
        st.markdown(f"**{bucket.capitalize()}**")
        themes = evidence.get(bucket, {}).get("themes", []) if isinstance(evidence, dict) else []
        for theme in themes:
            phrase = " ".join(str(theme.get("phrase", "")).split())[:90]
            with st.expander(escape_markdown(f"Theme ({theme.get('size', 0)} posts): {phrase}")):
                for quote in theme.get("quotes", []):
                    st.markdown(_quote({"author": quote.get("author"), "url": quote.get("url"),
                                        "platform": quote.get("platform") or "",
                                        "text": quote.get("text") or ""}))
        quotes = top[bucket]
        if not quotes:
            st.write("No posts.")
        for post in quotes:
            st.markdown(_quote(post))

posts_table.render(slug, filters)
