"""Text helpers of the collectors: HTML to text, entities, feed boilerplate, and the text cap.

They live here (not in nlp/) so that collectors depend on nothing of ours but
`reactions.models`: a collector's `parse` turns an API answer into posts and stops there.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

#: The longest post text kept, in characters. Longer texts (a pasted article, a 10 MB
#: field in a hostile feed) are cut here and flagged with `text_truncated` in the post's
#: raw record (the original length), so classification and storage stay bounded.
MAX_TEXT_CHARS = 10_000

#: A byte that is not UTF-8, read with `errors="surrogateescape"`, becomes one of these
#: characters (a JSON "\\udcff" escape too); no database can store them.
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_BLOCK_TAGS = {"p", "br", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "tr"}
_SKIP_TAGS = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
#: Lines feeds add around the content: Reddit's "submitted by /u/X [link] [comments]",
#: "The post X appeared first on Y.", "Continue reading...", "Read more".
_BOILERPLATE = [
    re.compile(r"\s*submitted by\s+/?u/[\w-]+(\s+to\s+/?r/\w+)?\s*(\[link\])?\s*(\[comments\])?\s*$",
               re.IGNORECASE),
    re.compile(r"\s*\[link\]\s*\[comments\]\s*$", re.IGNORECASE),
    re.compile(r"\s*The post .{1,300} appeared first on .{1,200}\.?\s*$", re.IGNORECASE),
    re.compile(r"\s*(Continue reading|Read more)\s*(\.\.\.|…|»|→)?\s*$", re.IGNORECASE),
]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def normalize_space(text: str) -> str:
    """Runs of spaces to one, blank lines and edge spaces dropped."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment (e.g. a Mastodon status); scripts and styles dropped.

    Links and mentions keep their visible text, so "@user" and URLs survive as text.
    """
    if "<" not in markup and "&" not in markup:
        return normalize_space(markup)
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return normalize_space("".join(parser.parts))


def unescape(text: str) -> str:
    """Undo HTML entities that some APIs leave in plain-text fields (e.g. "&amp;")."""
    return html.unescape(text)


def strip_boilerplate(text: str) -> str:
    """Drop the lines feeds wrap around content ("submitted by /u/X [link] [comments]")."""
    lines = text.splitlines()
    while lines and any(p.fullmatch(lines[-1]) for p in _BOILERPLATE):
        lines.pop()
    kept = [line for line in lines if not any(p.fullmatch(line) for p in _BOILERPLATE[:2])]
    return "\n".join(kept).strip()


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, int | None]:
    """The text cut to `limit` characters, and its original length when it was cut."""
    if len(text) <= limit:
        return text, None
    return text[:limit], len(text)


def bad_byte(text: str) -> str | None:
    """Where the first byte that is not UTF-8 sits in text read with surrogateescape
    (column in bytes, from 1), or None when the text is clean."""
    match = _BAD_BYTE.search(text)
    if match is None:
        return None
    byte = ord(match.group()) - 0xDC00
    column = len(text[: match.start()].encode("utf-8", "surrogateescape")) + 1
    return f"byte 0x{byte:02x} at column {column} is not UTF-8"
