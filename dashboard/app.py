"""Dashboard entry point: `streamlit run dashboard/app.py` (or `python -m reactions dashboard`).

Every page has its own URL (/live, /story, /stories, /digests, /health). Streamlit serves
its default page at "/" only, so "/" is a tiny page that moves on to /live, and the menu
is drawn here (the generated one would list that redirect too).
"""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit runs this file as a script
    sys.path.insert(0, str(ROOT))

PAGES = ROOT / "dashboard"

st.set_page_config(page_title="reactions", layout="wide")
st.set_option("client.toolbarMode", "viewer")  # no Deploy button: this is not a Cloud app
pages = [
    st.Page(str(PAGES / "live.py"), title="Live", url_path="live"),
    st.Page(str(PAGES / "story.py"), title="Story", url_path="story"),
    st.Page(str(PAGES / "stories.py"), title="Stories", url_path="stories"),
    st.Page(str(PAGES / "digests.py"), title="Digests and alerts", url_path="digests"),
    st.Page(str(PAGES / "health.py"), title="Health", url_path="health"),
]


def _home() -> None:
    st.switch_page(pages[0])


page = st.navigation([st.Page(_home, title="Home", url_path="home", default=True), *pages],
                     position="hidden")
with st.sidebar:
    for item in pages:
        st.page_link(item)
page.run()
