"""Stories page: add, edit, pause and resume the stories being monitored."""

import streamlit as st

from dashboard import queries, writes
from dashboard.forms import story_from_form
from reactions.render import escape_markdown
from reactions.stories import StoryFileError

st.title("Stories")
stories = queries.list_stories()
if stories:
    st.dataframe([{
        "slug": s.slug, "title": s.title, "state": "active" if s.active else "paused",
        "sources": ", ".join(f"{x.name} ({x.interval_minutes} min)" for x in s.sources),
        "queries": ", ".join(s.queries), "posts": queries.count_posts(s.slug),
    } for s in stories], hide_index=True, width="stretch", key="stories_table", column_config={
        "slug": st.column_config.TextColumn(width=130),
        "title": st.column_config.TextColumn(width=255),
        "state": st.column_config.TextColumn(width=60),
        "sources": st.column_config.TextColumn(width=170),
        "queries": st.column_config.TextColumn(width=125),
        "posts": st.column_config.NumberColumn(width=55),
    })
    by_slug = {s.slug: s for s in stories}
    left, middle, right = st.columns([3, 1, 1])
    chosen = left.selectbox("Story", list(by_slug), key="toggle_story")
    if middle.button("Pause", key="pause", disabled=not by_slug[chosen].active):
        writes.set_story_active(chosen, False)
        st.rerun()
    if right.button("Resume", key="resume", disabled=by_slug[chosen].active):
        writes.set_story_active(chosen, True)
        st.rerun()
else:
    by_slug = {}
    st.info("No stories yet.")

st.subheader("Add or edit a story")
from collectors.base import REGISTRY  # noqa: E402  (light: no collector is imported)

NEW = "(new story)"
editing = st.selectbox("Edit", [NEW, *by_slug], key="edit_story")
current = by_slug.get(editing)
suffix = editing  # fresh widgets when another story is picked
# Not an st.form: picking a source must show its own interval field at once.
with st.container(border=True):
    slug = st.text_input("Slug (lower-case letters, digits, dashes)",
                         value=current.slug if current else "", disabled=current is not None,
                         key=f"slug_{suffix}")
    title = st.text_input("Title", value=current.title if current else "", key=f"title_{suffix}")
    claim = st.text_area("Claim (what supporters support)", value=current.claim if current else "",
                         key=f"claim_{suffix}")
    queries_text = st.text_area("Search queries, one per line",
                                value="\n".join(current.queries) if current else "",
                                key=f"queries_{suffix}")
    hashtags = st.text_input("Hashtags", value=", ".join(current.hashtags) if current else "",
                             key=f"hashtags_{suffix}")
    languages = st.text_input("Languages", value=", ".join(current.languages) if current else "en",
                              key=f"languages_{suffix}")
    sources = st.multiselect("Sources", sorted(REGISTRY),
                             default=[s.name for s in current.sources] if current else [],
                             key=f"sources_{suffix}")
    configured = {s.name: s for s in current.sources} if current else {}
    intervals = {}
    if sources:
        st.caption("Collect every (minutes), per source. Options a source has in its story "
                   "file (a path, a subreddit) are kept.")
    for column, name in zip(st.columns(min(len(sources), 4) or 1) * len(sources), sources):
        intervals[name] = int(column.number_input(
            name, min_value=1, max_value=7 * 24 * 60, step=5,
            value=configured[name].interval_minutes if name in configured else 30,
            key=f"interval_{suffix}_{name}"))
        if name in configured and configured[name].options:
            column.caption(escape_markdown(", ".join(
                f"{k} = {v}" for k, v in configured[name].options.items())))
    submitted = st.button("Save story", key=f"save_{suffix}", type="primary")
if submitted:
    try:
        story = story_from_form(
            slug=current.slug if current else slug, title=title, claim=claim, queries=queries_text,
            sources=sources, interval_minutes=30, intervals=intervals, languages=languages,
            hashtags=hashtags, description=current.description if current else "",
            active=current.active if current else True, existing=current)
    except StoryFileError as exc:
        st.error(escape_markdown(str(exc)))
    else:
        writes.save_story(story)
        st.success(f"Story {story.slug} saved ({len(story.sources)} sources). "
                   "`reactions run` picks up new sources when it restarts.")
