"""The collector seam: the protocol every platform implements, its errors, and the registry.

A collector yields `Page`s. Each page carries the posts of one API response and the cursor
to save once those posts are committed, so a run that is killed between two pages resumes
from the last committed page: at most one page is fetched again, none is skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from reactions.models import Post, Story


class CollectorError(Exception):
    """Base of every error a collector raises; `source` names the collector."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class MissingCredentials(CollectorError):
    """A credential the source needs is not set; the message names the environment variables."""

    def __init__(self, source: str, variables: list[str]) -> None:
        names = ", ".join(variables)
        super().__init__(
            f"{source}: skipped, credentials missing: set {names} in the environment",
            source=source,
        )
        self.variables = variables


class AuthError(CollectorError, PermissionError):
    """The platform refused the credentials (wrong, revoked or expired)."""


class RateLimited(CollectorError):
    """The platform asked us to slow down; `retry_after` is the wait it asked for, in seconds."""

    def __init__(self, message: str, *, source: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, source=source)
        self.retry_after = retry_after


class TransientError(CollectorError):
    """A failure worth retrying: a 5xx answer, a timeout, a dropped connection."""


class MalformedResponse(CollectorError, ValueError):
    """The platform answered with something that is not the documented shape."""


class UnknownCollector(CollectorError, KeyError):
    """No collector is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(slots=True)
class Page:
    """The posts of one API response, and where to resume after they are committed."""

    posts: list[Post]
    cursor: str | None
    #: Items of the response that could not be parsed, with the reason (logged, not fatal).
    skipped: list[str] = field(default_factory=list)


class Collector(Protocol):
    """What every platform module provides. `pages` is lazy: one request per page."""

    name: str

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        """Yield pages of new posts for the story, starting from the saved cursor."""
        ...


#: Collector name -> "module:Class". Built-ins register through the same table as any addition.
REGISTRY: dict[str, str] = {
    "file": "collectors.file:FileCollector",
    "hackernews": "collectors.hackernews:HackerNewsCollector",
}


def collector_class(name: str) -> type:
    """The collector class registered under `name` (imported on first use)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownCollector(f"unknown source {name!r}; known sources: {known}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_collector(name: str, **kwargs: Any) -> Collector:
    """Build the collector registered under `name`; kwargs (e.g. `client=`) go to its constructor."""
    return collector_class(name)(**kwargs)
