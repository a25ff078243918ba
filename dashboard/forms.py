"""Turning dashboard form fields into a validated Story, through the same checks as the CLI.

The fields are written out as a TOML story definition (with tomli-w) and parsed by
`reactions.stories.parse_story`, so a story added on the Stories page passes exactly the
validation `reactions story add FILE` applies, with the same error messages.
"""

from __future__ import annotations

from typing import Any

from reactions.models import Story
from reactions.stories import StoryFileError, parse_story


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def story_from_form(
    *, slug: str, title: str, claim: str, queries: str, sources: list[str], interval_minutes: int,
    languages: str = "en", hashtags: str = "", description: str = "", active: bool = True,
    existing: Story | None = None, intervals: dict[str, int] | None = None,
) -> Story:
    """A Story from form fields, or StoryFileError listing every problem.

    `intervals` gives a source its own interval; a source missing there keeps the one it
    has in `existing`, and a new source gets `interval_minutes`.
    """
    import tomli_w

    from collectors.base import REGISTRY

    unknown = [s for s in sources if s not in REGISTRY]
    if unknown:
        raise StoryFileError(f"form: unknown source {', '.join(unknown)}; known sources: "
                             f"{', '.join(sorted(REGISTRY))}")
    # Keep what the form does not show (e.g. a file source's path) from the stored story.
    kept = {s.name: s.options for s in existing.sources} if existing else {}
    every = {s.name: s.interval_minutes for s in existing.sources} if existing else {}
    every.update(intervals or {})
    data: dict[str, Any] = {
        "slug": slug.strip(), "title": title.strip(), "claim": claim.strip(),
        "queries": _lines(queries), "hashtags": _lines(hashtags),
        "languages": _lines(languages) or ["en"], "description": description.strip(),
        "active": bool(active),
        "sources": [{"name": s, "interval_minutes": int(every.get(s, interval_minutes)),
                     **kept.get(s, {})} for s in sources],
    }
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError) as exc:
        raise StoryFileError(f"form: cannot be saved: {exc}") from None
    return parse_story(text, origin="form")
