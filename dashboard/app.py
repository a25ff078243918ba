"""Dashboard entry point: `streamlit run dashboard/app.py` (or `python -m reactions dashboard`)."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit runs this file as a script
    sys.path.insert(0, str(ROOT))

PAGES = ROOT / "dashboard"

st.set_page_config(page_title="reactions", layout="wide")
pages = [
    st.Page(str(PAGES / "live.py"), title="Live", url_path="live", default=True),
    st.Page(str(PAGES / "story.py"), title="Story", url_path="story"),
    st.Page(str(PAGES / "stories.py"), title="Stories", url_path="stories"),
    st.Page(str(PAGES / "digests.py"), title="Digests and alerts", url_path="digests"),
    st.Page(str(PAGES / "health.py"), title="Health", url_path="health"),
]
st.navigation(pages).run()
