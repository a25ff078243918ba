"""Shared fixtures: stores on SQLite and PostgreSQL, a fake classifier, the demo story."""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactions.models import BUCKETS, StancePrediction, Story
from reactions.store import Store
from reactions.stories import load_story_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_URL = os.environ.get("REACTIONS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


_PG = None


def postgres_available() -> bool:
    global _PG
    if _PG is None:
        _PG = _postgres_available()
    return _PG


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'reactions.db'}"


@pytest.fixture
def postgres_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if not postgres_available():
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(sqlite_url):
    s = Store(sqlite_url)
    yield s
    s.close()


@pytest.fixture
def demo_story() -> Story:
    return load_story_file(ROOT / "seeds" / "trump-maduro-call.toml")


@pytest.fixture
def story() -> Story:
    return Story(slug="test-story", title="Test story", claim="The policy is right.",
                 queries=["policy"], languages=["en"])


class KeywordClassifier:
    """A stand-in classifier for pipeline tests: bucket by keywords, English only."""

    name = "keyword-test"
    languages = frozenset({"en"})
    encoder = None

    def predict(self, texts, claim, embeddings=None):
        out = []
        for text in texts:
            low = text.lower()
            label = ("supporters" if "support" in low or "finally" in low
                     else "skeptics" if "illegal" in low or "against" in low else "neutral")
            scores = {b: (0.8 if b == label else 0.1) for b in BUCKETS}
            out.append(StancePrediction(label, scores, False))
        return out

    def adapt(self, texts, labels, claim):
        return self


@pytest.fixture
def keyword_classifier() -> KeywordClassifier:
    return KeywordClassifier()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own data dir and no stray config from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("REACTIONS_") and key != "REACTIONS_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("REACTIONS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from reactions.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@contextmanager
def local_http_server(handler):
    """Serve `handler` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
