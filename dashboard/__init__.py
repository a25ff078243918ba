"""The Streamlit dashboard. It only reads the store: it never collects or classifies."""
