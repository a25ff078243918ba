"""The data layer: every read and write of the application's data, through SQLAlchemy Core.

SQLite (WAL) is the embedded default; any SQLAlchemy URL works, PostgreSQL is tested.
The schema lives in `reactions.schema` and is created and upgraded by Alembic migrations,
so a schema change never asks a user to delete their database.

`Store` is one object composed of one mixin per area (`stories`, `posts`, `stances`,
`summaries`, `runs`, `notifications`) on top of `engine.StoreBase`; the dashboard's and
digests' aggregates (`aggregates`) and the export query (`export`) are functions that take
the store. See docs/architecture.md.
"""

from __future__ import annotations

from reactions.store.engine import (
    MIGRATIONS,
    StoreBase,
    StoreError,
    UnknownStory,
    describe_error,
    make_engine,
)
from reactions.store.notifications import NotificationsMixin
from reactions.store.posts import PostsMixin, row_to_post
from reactions.store.runs import RunsMixin
from reactions.store.stances import StancesMixin
from reactions.store.stories import StoriesMixin, definition_to_story, story_to_definition
from reactions.store.summaries import SummariesMixin
from reactions.store.text import make_storable, storable_json, storable_text

__all__ = [
    "MIGRATIONS", "Store", "StoreError", "UnknownStory", "definition_to_story", "describe_error",
    "make_engine", "make_storable", "row_to_post", "storable_json", "storable_text",
    "story_to_definition",
]


class Store(StoriesMixin, PostsMixin, StancesMixin, SummariesMixin, RunsMixin,
            NotificationsMixin, StoreBase):
    """All reads and writes of the application's data. Thread-safe; one per process is enough."""
