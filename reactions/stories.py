"""Story definitions in TOML: parsing and validation, with the line and reason of any error."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collectors.base import REGISTRY
from collectors.options import MAX_QUERY_CHARS, option_problems
from reactions.models import SourceConfig, Story

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


class StoryFileError(ValueError):
    """A story file that cannot be used; the message gives the file, line and reason."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    interval_minutes: int = Field(30, ge=1, le=7 * 24 * 60)


class _Story(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str
    title: str = Field(min_length=1)
    claim: str = Field(min_length=5)
    queries: list[Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]] = Field(
        default_factory=list)
    hashtags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    description: str = ""
    active: bool = True
    sources: list[_Source] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("use lower-case letters, digits and dashes (e.g. 'trump-maduro-call')")
        return value

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, value: list[str]) -> list[str]:
        return [h.lstrip("#") for h in value]


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _source_line(text: str, index: int, key: str | None) -> int | None:
    """The line of `key` in the story's `index`-th [[sources]] block (its header when the
    key is not written there, or `key` is None)."""
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines, 1) if re.match(r"\s*\[\[\s*sources\s*\]\]", line)]
    if index >= len(headers):
        return _line_of(text, key) if key else None
    start = headers[index]
    end = next((n for n, line in enumerate(lines, 1)
                if n > start and re.match(r"\s*\[", line)), len(lines) + 1)
    if key is not None:
        for number in range(start + 1, end):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[number - 1]):
                return number
    return start


def parse_story(text: str, *, origin: str = "<story>", base_dir: Path | None = None) -> Story:
    """Parse and validate a story definition; raises StoryFileError naming the line and reason."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StoryFileError(f"{origin}: not valid TOML: {exc}") from None
    try:
        model = _Story.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            field = next((p for p in reversed(loc) if not p.isdigit()), loc[0] if loc else "?")
            line = _line_of(text, field)
            where = f"line {line}" if line else "missing" if err["type"] == "missing" else "file"
            problems.append(f"{origin}: {where}: {'.'.join(loc)}: {err['msg']}")
        raise StoryFileError("\n".join(problems)) from None
    problems = []
    for index, source in enumerate(model.sources):
        options = dict(source.model_extra or {})
        if source.name not in REGISTRY:
            line = _source_line(text, index, "name")
            problems.append(f"{origin}: line {line}: unknown source {source.name}; known "
                            f"sources: {', '.join(sorted(REGISTRY))}")
            continue
        for key, reason in option_problems(source.name, options):
            line = _source_line(text, index, key)
            where = f"line {line}" if line else f"line {_source_line(text, index, None)}"
            problems.append(f"{origin}: {where}: sources[{index}] ({source.name}): {reason}")
    if problems:
        raise StoryFileError("\n".join(problems))
    sources = []
    for source in model.sources:
        options = dict(source.model_extra or {})
        if "path" in options and base_dir is not None and not Path(options["path"]).is_absolute():
            options["path"] = str((base_dir / options["path"]).resolve())
        sources.append(SourceConfig(source.name, source.interval_minutes, options))
    fields = model.model_dump(exclude={"sources"})
    return Story(sources=sources, **fields)


def load_story_file(path: str | Path) -> Story:
    """Read a story file; relative source paths are resolved against the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoryFileError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_story(text, origin=str(path), base_dir=path.parent)


def seed_story_files(seeds_dir: Path) -> list[Path]:
    return sorted(seeds_dir.glob("*.toml"))
