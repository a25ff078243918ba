"""What every dashboard page shows the same way: bucket colours, numbers, times, post text.

One palette for the buckets (tables, charts, tiles), one way to write a count, a share or a
time, and one way to put untrusted post text into Markdown with its links working. No
Streamlit import at module level, so these are plain functions the tests call directly.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from reactions.models import BUCKETS, UNCLASSIFIED, utcnow
from reactions.render import escape_markdown, safe_url

#: Bucket -> colour, the same on every page (colour-blind safe: blue / orange / grey).
BUCKET_COLORS: dict[str, str] = {
    "supporters": "#1f77b4",
    "skeptics": "#e8710a",
    "neutral": "#8c959f",
    UNCLASSIFIED: "#d0d7de",
}
#: Streamlit's Markdown colour names closest to BUCKET_COLORS (for labels in text).
BUCKET_MARKDOWN = {"supporters": "blue", "skeptics": "orange", "neutral": "gray",
                   UNCLASSIFIED: "gray"}

COLD_START_CAVEAT = (
    "Shares are the model's estimate. Until an editor labels a few posts of a story they "
    "are its cold-start guess, right for about half of posts on claims it has not seen.")


def bucket_label(bucket: str) -> str:
    """A bucket name in its colour, for Markdown (st.markdown, captions, metric labels)."""
    return f":{BUCKET_MARKDOWN.get(bucket, 'gray')}[{bucket.capitalize()}]"


def altair_scale(buckets=BUCKETS):
    import altair as alt

    return alt.Scale(domain=list(buckets), range=[BUCKET_COLORS[b] for b in buckets])


def number(value: float | int | None) -> str:
    """12, 3.5, 1,204: whole numbers without decimals, others with as few as needed."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def share(part: int, total: int) -> str:
    """'48%', or '-' when there is nothing to share (never a 0% that looks like data)."""
    return f"{round(100 * part / total)}%" if total else "-"


def when(value: datetime | None, *, now: datetime | None = None) -> str:
    """'2026-11-27 19:04 UTC (3 min ago)', or '-' for no time."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return f"{value:%Y-%m-%d %H:%M} UTC ({ago(value, now=now)})"


def short_when(value: datetime | None, *, now: datetime | None = None) -> str:
    """'19:04 (3 min ago)' today or within 6 hours (so 23:55 still reads '10 min ago' just
    after midnight), '2026-11-25 19:04' otherwise: for narrow table cells (UTC)."""
    if value is None:
        return "-"
    now = now or utcnow()
    value = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if (value.date() == now.astimezone(timezone.utc).date()
            or abs(now - value) < timedelta(hours=6)):
        return f"{value:%H:%M} ({ago(value, now=now)})"
    return f"{value:%Y-%m-%d %H:%M}"


def ago(value: datetime | None, *, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or utcnow()) - value).total_seconds()
    if seconds < 0:
        minutes = int(-seconds // 60)
        return "in under a minute" if minutes < 1 else f"in {_span(minutes)}"
    minutes = int(seconds // 60)
    return "just now" if minutes < 1 else f"{_span(minutes)} ago"


def _span(minutes: int) -> str:
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def escape_text(text: str) -> str:
    """`escape_markdown` for text that holds no http(s) or www. address (see post_markdown)."""
    return escape_markdown(text)


# A URL inside post text: http(s) or www., up to whitespace or a character that cannot end one.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?)]}"


def post_markdown(text: str) -> str:
    """Untrusted post text as Markdown: everything escaped, its http(s) links working.

    Streamlit's Markdown links bare http(s) and www. addresses by itself, backslashes
    included (an escaped "_" in a link becomes %5C), so each such address becomes an
    explicit link to itself, with the escaped address as its text (www. ones to http://,
    as Markdown would).
    """
    parts, last = [], 0
    for match in _URL.finditer(text):
        url = match.group(0)
        # Punctuation after a URL ends the sentence, not the URL; a closing bracket that
        # closes one opened in the URL (Wikipedia's "(disambiguation)") stays.
        while url and url[-1] in _TRAILING:
            closing = {")": "(", "]": "[", "}": "{"}.get(url[-1])
            if closing and url.count(closing) >= url.count(url[-1]):
                break
            url = url[:-1]
        start, end = match.start(), match.start() + len(url)
        parts.append(escape_text(text[last:start]))
        safe = safe_url(url if "://" in url[:8] else "http://" + url)
        if safe:
            target = safe.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
            parts.append(f"[{escape_text(url)}](<{target}>)")
        else:  # shown as text; "www\." keeps Markdown from linking it anyway
            parts.append(re.sub(r"^(www)\.", r"\1\\.", escape_text(url), flags=re.I))
        last = end
    parts.append(escape_text(text[last:]))
    return "".join(parts)
