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


class Advance:
    """What `progress_bar` yields: call it with how many items were done; `describe(text)`
    changes the bar's label (a retry under way, the source being read)."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def __call__(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def describe(self, text: str) -> None:
        self._progress.update(self._task, description=text)


@contextmanager
def progress_bar(description: str, total: int | None = None,
                 unit: str | None = None) -> Iterator[Advance]:
    """A rich progress bar on stderr (only on a terminal; nothing in a pipe or a log).

    With no total it shows a spinner and the elapsed time, for steps of unknown length
    such as loading a model, and the count so far when `unit` names what is counted.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    columns = ([TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
               if total is not None else [SpinnerColumn(), TextColumn("{task.description}")])
    if total is None and unit:
        columns.append(TextColumn(f"{{task.completed:.0f}} {unit}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield Advance(progress, task)

def not_classified_yet(store, story) -> int:
    """How many of the story's posts have no stance yet (collected, not classified)."""
    return len(store.posts_without_stance(story.slug))


def explain_unclassified(summary, story, pending: int) -> bool:
    """Tell collected-but-unclassified apart from empty, on stderr (stdout keeps the paragraph).

    Returns True when the paragraph would say "no posts" although posts were collected: the
    caller then prints this explanation instead of the paragraph.
    """
    import sys

    if not pending:
        return False
    hint = f"run `reactions classify {story.slug}`"
    if not sum(summary.counts.values()):
        print(f"{story.slug}: {pending} posts collected but none classified yet: {hint} first",
              file=sys.stderr)
        return True
    print(f"note: {story.slug}: {pending} collected posts are not classified yet and are left "
          f"out of the paragraph; {hint}", file=sys.stderr)
    return False
