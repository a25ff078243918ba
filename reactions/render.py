"""Rendering a summary for people: text, Markdown, HTML and JSON, with post text escaped."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

from reactions.models import BUCKETS, Story, Summary

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#|<>~])")
_MD_LINE_START = re.compile(r"^(\s*)([-+>#]|\d+\.)", re.M)


def escape_markdown(text: str) -> str:
    """Text safe to put in Markdown: no formatting, links or raw HTML survive.

    Brackets, emphasis, code and HTML characters are escaped everywhere; parentheses only
    where they would make a link (after a bracket), and list or heading markers only at the
    start of a line, so ordinary prose "(like this)" reads as written.
    """
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("](", "]\\(")
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def counts_line(summary: Summary) -> str:
    from nlp.summarize import largest_remainder

    counts = summary.counts
    total = sum(counts.get(b, 0) for b in BUCKETS)
    percents = largest_remainder({b: counts.get(b, 0) for b in BUCKETS})
    parts = []
    for bucket in BUCKETS:
        n = counts.get(bucket, 0)
        share = f" ({percents[bucket]}%)" if total else ""
        parts.append(f"{bucket} {n}{share}")
    if counts.get("unclassified"):
        parts.append(f"unclassified {counts['unclassified']}")
    return ", ".join(parts)


def stance_caveat(summary: Summary) -> str | None:
    """What a reader should know about the buckets' reliability, or None.

    With no label for the story the buckets are the model's cold-start guess: on claims it
    had not seen it put about half of posts in the right bucket (docs/stance.md, Quality), and
    posts whose stance is implied rather than said fare worst. Summaries written before the
    label count was stored say nothing.
    """
    if "caveat" in (summary.payload or {}):  # set by its writer (e.g. summarize-file)
        return summary.payload["caveat"]
    labels = (summary.payload or {}).get("labels")
    if not isinstance(labels, dict):
        return None
    human, teacher = int(labels.get("human") or 0), int(labels.get("teacher") or 0)
    if human:
        return None
    how = (f"adapted to {teacher} teacher-model labels, none from an editor yet" if teacher
           else "no post of this story has been labelled yet, so they are the model's "
                "cold-start guess, right for about half of posts on claims it has not seen")
    return (f"Shares are a rough estimate: {how}. Label a few posts (dashboard, or "
            f"`python -m reactions label {summary.story}`) to make them reliable.")


def safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link with a host, else None (no javascript:, data:
    and the like, nothing with spaces, quotes or angle brackets)."""
    url = (url or "").strip()
    if not re.match(r"^https?://[^\s\"'<>]+$", url, re.I):
        return None
    try:
        host = urlsplit(url).netloc  # the pattern admits only http(s); a host is still needed
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return url if host else None


def _numbers(summary: Summary) -> dict[int, int]:
    """Post id -> citation number, continuous across the paragraph and its evidence."""
    payload = summary.payload or {}
    if payload.get("citations"):
        return {c["post_id"]: c["n"] for c in payload["citations"]}
    numbers: dict[int, int] = {}
    for sentence in payload.get("sentences") or []:
        for pid in sentence.get("post_ids") or []:
            numbers.setdefault(pid, len(numbers) + 1)
    return numbers


def _cited(sentence: dict[str, Any], numbers: dict[int, int], escape, mark) -> str:
    """The sentence escaped with `escape`, each quote followed by `mark(n, url)` of the post it
    cites (a sentence that cites without quoting gets its marks at the end)."""
    text = sentence.get("text", "")
    ids = sentence.get("post_ids") or []
    urls = list(sentence.get("urls") or []) + [None] * len(ids)
    quotes = sentence.get("quotes") or []
    out, cursor, tail = [], 0, []
    for i, pid in enumerate(ids):
        marker = mark(numbers.get(pid), urls[i]) if numbers.get(pid) else ""
        span = f"\u201c{quotes[i]}\u201d" if i < len(quotes) else None
        at = text.find(span, cursor) if span else -1
        if at < 0:
            tail.append(marker)
            continue
        end = at + len(span)
        out.append(escape(text[cursor:end]) + marker)
        cursor = end
    out.append(escape(text[cursor:]))
    return "".join(out) + "".join(tail)


def _text_mark(n: int, url: str | None) -> str:
    return f"[{n}]"


def _html_mark(n: int, url: str | None) -> str:
    link = safe_url(url)
    if not link:
        return f"<sup>[{n}]</sup>"
    return (f'<sup><a href="{html.escape(link, quote=True)}" rel="nofollow noopener">'
            f"[{n}]</a></sup>")


def summary_json(summary: Summary, story: Story) -> dict[str, Any]:
    payload = summary.payload or {}
    return {
        "story": story.slug,
        "paragraph": summary.paragraph,
        "period": payload.get("period"),
        "style": payload.get("style"),
        "sentences": payload.get("sentences", []),
        "evidence": payload.get("evidence", []),
        "citations": payload.get("citations", []),
        "buckets": payload.get("buckets") or {b: {"count": summary.counts.get(b, 0),
                                                  "share": payload.get("shares", {}).get(b, 0.0)}
                                              for b in BUCKETS},
        "counts": summary.counts,
        "writer": summary.writer,
        "replaced": payload.get("replaced", []),
        "created_at": summary.created_at.isoformat(),
        "window_start": summary.window_start.isoformat() if summary.window_start else None,
        "window_end": summary.window_end.isoformat() if summary.window_end else None,
        "labels": payload.get("labels"),
        "caveat": stance_caveat(summary),
    }


def _sentences(summary: Summary, key: str, escape, mark) -> list[str]:
    numbers = _numbers(summary)
    return [_cited(sentence, numbers, escape, mark)
            for sentence in (summary.payload or {}).get(key) or []]


def _sources(summary: Summary) -> list[tuple[int, str]]:
    """(number, URL) of every cited post that has a plain http(s) link."""
    out = []
    for c in (summary.payload or {}).get("citations") or []:
        if url := safe_url(c.get("url")):
            out.append((c["n"], url))
    return out


def cited_sources(summary: Summary) -> list[tuple[int, str | None]]:
    """(number, URL or None) of every cited post, in citation order: None where the post's
    link is not a plain http(s) address (it is then never shown as a link)."""
    return [(c["n"], safe_url(c.get("url")))
            for c in (summary.payload or {}).get("citations") or []]


def summary_parts(summary: Summary, fmt: str = "text") -> dict[str, Any]:
    """The pieces every surface shows, in "text" (as is) or "html" (escaped, citation marks
    linked): the paragraph, the evidence lines, the counts line, the caveat and the cited
    sources [(n, safe URL or None)], numbered continuously across paragraph and evidence."""
    escape, mark = (html.escape, _html_mark) if fmt == "html" else (str, _text_mark)
    has_sentences = bool((summary.payload or {}).get("sentences"))
    paragraph = (" ".join(_sentences(summary, "sentences", escape, mark))
                 if has_sentences else escape(summary.paragraph))
    caveat = stance_caveat(summary)
    return {
        "paragraph": paragraph,
        "evidence": _sentences(summary, "evidence", escape, mark),
        "counts": escape(counts_line(summary)),
        "caveat": escape(caveat) if caveat else None,
        "sources": cited_sources(summary),
    }


def render_summary(summary: Summary, story: Story, fmt: str = "text") -> str:
    """The paragraph in the given format, then its evidence (counts, shares, quotes) and the
    cited posts' links, numbered continuously; text is shown as is, other formats escape it."""
    if fmt == "json":
        return json.dumps(summary_json(summary, story), ensure_ascii=False, indent=2)
    if fmt == "markdown":
        caveat = stance_caveat(summary)
        has_sentences = bool((summary.payload or {}).get("sentences"))
        paragraph = (" ".join(_sentences(summary, "sentences", escape_markdown, _text_mark))
                     if has_sentences else escape_markdown(summary.paragraph))
        lines = [f"- {line}" for line in _sentences(summary, "evidence", escape_markdown,
                                                     _text_mark)]
        sources = [f"[{n}]: <{url}>" for n, url in _sources(summary)]
        parts = ["**What people are saying**", paragraph]
        if lines:
            parts.append("\n".join(lines))
        parts.append(f"_{escape_markdown(counts_line(summary))}_")
        if caveat:
            parts.append(f"_{escape_markdown(caveat)}_")
        if sources:
            parts.append("\n".join(sources))
        return "\n\n".join(parts)
    if fmt == "html":
        parts = summary_parts(summary, "html")
        lines = parts["evidence"]
        evidence = ("\n<ul>\n" + "\n".join(f"<li>{line}</li>" for line in lines) + "\n</ul>"
                    if lines else "")
        note = f"\n<p><small>{parts['caveat']}</small></p>" if parts["caveat"] else ""
        return (f"<h3>What people are saying</h3>\n<p>{parts['paragraph']}</p>{evidence}\n"
                f"<p><small>{parts['counts']}</small></p>{note}")
    parts = summary_parts(summary, "text")
    out = ["What people are saying", parts["paragraph"]]
    if parts["evidence"]:
        out.append("\n".join(f"- {line}" for line in parts["evidence"]))
    out.append(parts["counts"] + (f"\n{parts['caveat']}" if parts["caveat"] else ""))
    sources = _sources(summary)
    if sources:
        out.append("Sources:\n" + "\n".join(f"[{n}] {url}" for n, url in sources))
    return "\n\n".join(out)
