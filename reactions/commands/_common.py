"""Helpers shared by the commands: opening the store, finding a story, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def open_store(settings: Any = None):
    from reactions.store import Store

    return Store.from_settings(settings)


def story_argument(parser, *, nargs=None) -> None:
    parser.add_argument("story", nargs=nargs, metavar="STORY", help="story slug (see `story list`)")


def stories_for(store, slug: str | None):
    """The named story, or every active story when no name is given."""
    if slug:
        return [store.get_story(slug)]
    return store.list_stories(active_only=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callback taking how many items were done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
