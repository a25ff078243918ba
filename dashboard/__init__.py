"""The Streamlit dashboard. It reads the store and writes editors' edits only through
`dashboard.writes`; it never collects or classifies."""
