"""Dashboard entry point: `streamlit run dashboard/app.py` (or `python -m reactions dashboard`)."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit runs this file as a script
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="reactions", layout="wide")
pages = [
    st.Page(str(ROOT / "dashboard" / "story.py"), title="Story", url_path="story", default=True),
]
st.navigation(pages).run()
