"""Rendering a summary for people: text, Markdown, HTML and JSON, with post text escaped."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

from reactions.models import BUCKETS, Story, Summary

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>])")


def escape_markdown(text: str) -> str:
    """Text safe to put in Markdown: no formatting, links or raw HTML survive."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def counts_line(summary: Summary) -> str:
    counts = summary.counts
    total = sum(counts.get(b, 0) for b in BUCKETS)
    parts = []
    for bucket in BUCKETS:
        n = counts.get(bucket, 0)
        share = f" ({round(100 * n / total)}%)" if total else ""
        parts.append(f"{bucket} {n}{share}")
    if counts.get("unclassified"):
        parts.append(f"unclassified {counts['unclassified']}")
    return ", ".join(parts)


def stance_caveat(summary: Summary) -> str | None:
    """What a reader should know about the buckets' reliability, or None.

    With no label for the story the buckets are the model's cold-start guess: on claims it
    had not seen it put about half of posts in the right bucket (README, stance quality), and
    posts whose stance is implied rather than said fare worst. Summaries written before the
    label count was stored say nothing.
    """
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


def summary_json(summary: Summary, story: Story) -> dict[str, Any]:
    payload = summary.payload or {}
    return {
        "story": story.slug,
        "paragraph": summary.paragraph,
        "sentences": payload.get("sentences", []),
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


def _html_paragraph(summary: Summary) -> str:
    """Each sentence escaped, followed by numbered links to the posts it cites."""
    sentences = (summary.payload or {}).get("sentences") or []
    if not sentences:
        return html.escape(summary.paragraph)
    parts = []
    for sentence in sentences:
        text = html.escape(sentence.get("text", ""))
        links = [u for u in map(safe_url, sentence.get("urls") or []) if u]
        if links:
            text += "".join(f'<sup><a href="{html.escape(u, quote=True)}" rel="nofollow noopener">'
                            f"[{i}]</a></sup>" for i, u in enumerate(links, 1))
        parts.append(text)
    return " ".join(parts)


def render_summary(summary: Summary, story: Story, fmt: str = "text") -> str:
    """The paragraph in the given format; text is shown as is, every other format escapes it."""
    if fmt == "json":
        return json.dumps(summary_json(summary, story), ensure_ascii=False, indent=2)
    caveat = stance_caveat(summary)
    if fmt == "markdown":
        note = f"\n\n_{escape_markdown(caveat)}_" if caveat else ""
        return (f"**What people are saying**\n\n{escape_markdown(summary.paragraph)}\n\n"
                f"_{escape_markdown(counts_line(summary))}_{note}")
    if fmt == "html":
        note = f"\n<p><small>{html.escape(caveat)}</small></p>" if caveat else ""
        return (f"<h3>What people are saying</h3>\n<p>{_html_paragraph(summary)}</p>\n"
                f"<p><small>{html.escape(counts_line(summary))}</small></p>{note}")
    note = f"\n{caveat}" if caveat else ""
    return f"What people are saying\n\n{summary.paragraph}\n\n{counts_line(summary)}{note}"
