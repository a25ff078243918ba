"""The Story page's posts table: filters, paging over every post, corrections, download.

Rows come from `reactions.export`, the same query `reactions export` writes, so the
download holds exactly the filtered set the table pages through. An editor corrects a
post's bucket in the table itself: the "correct to" column starts empty on every row, so
no label is stored until one is picked and saved.
"""

from __future__ import annotations

import streamlit as st

from dashboard import queries, ui, writes
from reactions import export
from reactions.aggregates import Filters
from reactions.models import BUCKETS, UNCLASSIFIED

PAGE_SIZES = (25, 50, 100, 200)


def _table(rows: list[dict]) -> list[dict]:
    return [{
        "id": r["id"],
        "time": f"{r['created_at']:%Y-%m-%d %H:%M}" if r["created_at"] else "-",
        "platform": r["platform"], "author": r["author"], "text": r["text"],
        "bucket": r["bucket"],
        "confidence": round(100 * r["confidence"]) if r["confidence"] is not None else None,
        "review": r["needs_review"],
        "correct to": None,
        "by": r["label_source"] or "-",
        "link": r["url"] or None,
    } for r in rows]


COLUMNS = {
    "id": None,  # kept for saving corrections, not shown
    "time": st.column_config.TextColumn("time (UTC)", width=112),
    "platform": st.column_config.TextColumn("platform", width=68),
    "author": st.column_config.TextColumn("author", width=76),
    "text": st.column_config.TextColumn("text", width=160),
    "bucket": st.column_config.TextColumn("bucket", width=75),
    "confidence": st.column_config.ProgressColumn(
        "conf.", format="%d%%", min_value=0, max_value=100, width=52, color="#57606a",
        help="the model's probability for its bucket"),
    "review": st.column_config.CheckboxColumn(
        "review", width=50, help="the model is unsure: an editor should check this post"),
    "correct to": st.column_config.SelectboxColumn(
        "correct to", options=list(BUCKETS), width=92, required=False,
        help="pick the right bucket, then Save corrections"),
    "by": st.column_config.TextColumn("by", width=50, help="who decided the bucket"),
    "link": st.column_config.LinkColumn("link", display_text="open", width=42),
}


def render(slug: str, filters: Filters) -> None:
    st.subheader("Posts")
    search_col, bucket_col, review_col = st.columns([2, 2, 1])
    search = search_col.text_input("Search text or author", key="search")
    wanted = bucket_col.multiselect("Buckets", [*BUCKETS, UNCLASSIFIED, export.PENDING],
                                    key="buckets", placeholder="all buckets")
    review_col.write("")  # align the checkbox with the inputs
    review = review_col.checkbox("Needs review only", key="review_only")
    query = export.PostQuery(slug, filters, search, tuple(wanted), review)
    total = queries.count_post_rows(query)

    size_col, page_col, info_col = st.columns([1, 1, 3])
    size = size_col.selectbox("Rows per page", PAGE_SIZES, index=1, key="page_size")
    pages = max(1, -(-total // size))
    number = int(page_col.number_input(f"Page (of {pages})", min_value=1, max_value=pages,
                                       value=1, step=1, key="page"))
    offset = (number - 1) * size
    rows = queries.post_page(query, offset, size)
    info_col.write("")
    info_col.caption(f"Posts {offset + 1 if rows else 0}-{offset + len(rows)} of "
                     f"{ui.number(total)}, newest first." if total else
                     "No posts match these filters.")
    if not rows:
        return
    # A fresh editor after each save, and per page and filter, so no pick carries over.
    version = st.session_state.setdefault("corrections_saved", 0)
    key = f"posts_{version}_{hash((query, offset, size)) & 0xFFFFFFFF:x}"
    import pandas as pd

    edited = st.data_editor(
        pd.DataFrame(_table(rows)), key=key, hide_index=True, width="stretch", num_rows="fixed",
        column_config=COLUMNS, disabled=[c for c in COLUMNS if c != "correct to"])
    picks = [(int(r["id"]), r["correct to"], r["bucket"]) for r in edited.to_dict("records")
             if isinstance(r["correct to"], str) and r["correct to"]]
    editor_col, save_col = st.columns([3, 1])
    editor = editor_col.text_input("Your name (stored with corrections)", key="correct_editor")
    save_col.write("")
    if save_col.button(f"Save corrections ({len(picks)})", key="correct_save",
                       disabled=not picks, type="primary"):
        writes.save_corrections(slug, [(post_id, label) for post_id, label, _ in picks],
                                editor=editor.strip() or "dashboard")
        st.session_state["corrections_saved"] = version + 1
        st.session_state["saved_message"] = (
            f"Saved {len(picks)} correction{'s' * (len(picks) != 1)} as editor "
            f"label{'s' * (len(picks) != 1)}, kept apart from the model's. They count in the "
            "shares at once and teach the classifier at its next run.")
        st.rerun()
    if message := st.session_state.pop("saved_message", None):
        st.success(message)

    fmt_col, button_col = st.columns([1, 3])
    fmt = fmt_col.selectbox("Download format", export.FORMATS, key="download_format")
    button_col.write("")
    store = queries.get_store()
    button_col.download_button(
        f"Download all {ui.number(total)} matching posts",
        # Written when clicked, not on every rerun; the callable runs outside the script.
        data=lambda: export.export_bytes(store, query, fmt),
        file_name=f"{slug}-posts.{fmt}", mime=export.MIME[fmt], key="download_posts",
        on_click="ignore")
