"""Email digests: subscriptions, building the message, and sending each one once per period.

A digest is HTML (Jinja2, CSS inlined for mail clients) with a plain-text alternative and
the stance chart as an inline PNG. The `digests` table has one row per subscription and
period key (unique), so a digest goes out at most once per subscriber and period, even
across restarts and between processes: the send is claimed in that row before any SMTP
traffic, and every attempt carries the Message-ID stored there. A send refused before the
server took the message is recorded with its reason and retried on the next check, up to
`MAX_ATTEMPTS` times; one whose outcome is unknown (the connection dropped after the
message was handed over, or the process died mid-send) is recorded as "unknown", shown on
the dashboard and never resent blindly (`resolve_unknown`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from reactions import aggregates
from reactions.models import BUCKETS, Story, utcnow
from reactions.notify import (
    ConfigurationMissing,
    DeliveryError,
    InvalidAddress,
    Mailer,
    OutcomeUnknown,
    validate_address,
)
from reactions.pipeline import current_summary
from reactions.render import safe_url, summary_parts
from reactions.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
PERIODS: dict[str, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
#: When a subscription without its own cron expression goes out (UTC).
DEFAULT_CRON = {"daily": "0 7 * * *", "weekly": "0 7 * * mon"}
MAX_ATTEMPTS = 5


class DigestError(ValueError):
    """A subscription or digest request that cannot be used; the message says what to fix."""


# -- validation and subscriptions -----------------------------------------------------------


def validate_period(period: str) -> str:
    if period not in PERIODS:
        raise DigestError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    return period


def validate_cron(expression: str | None) -> str | None:
    """A five-field crontab expression (minute hour day month weekday), or None."""
    if not expression or not expression.strip():
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression.strip(), timezone="UTC")
    except ValueError as exc:
        raise DigestError(f"cron {expression!r} is not a crontab expression like '0 7 * * *' "
                          f"(minute hour day month weekday): {exc}") from None
    return expression.strip()


def add_subscription(
    store: Store, story: str, address: str, period: str = "daily", *, cron: str | None = None,
    active: bool = True,
) -> int:
    """Subscribe an address to a story's digests (or update the existing subscription)."""
    store.get_story(story)  # UnknownStory lists the ones that exist
    try:
        address = validate_address(address)
    except InvalidAddress as exc:
        raise DigestError(str(exc)) from None
    period, cron = validate_period(period), validate_cron(cron)
    return store.save_subscription(story, address, period, cron=cron, active=active)


def list_subscriptions(store: Store, *, story: str | None = None,
                       active_only: bool = False) -> list[dict[str, Any]]:
    return store.subscriptions(story=story, active_only=active_only)


def set_subscription_active(store: Store, subscription_id: int, active: bool) -> None:
    store.set_subscription_active(subscription_id, active)


def delete_subscription(store: Store, subscription_id: int) -> None:
    store.delete_subscription(subscription_id)


def digest_history(store: Store, subscription_id: int | None = None, limit: int = 50) -> list[dict]:
    return store.digest_history(subscription_id, limit)


# -- periods --------------------------------------------------------------------------------


def period_key(period: str, when: datetime) -> str:
    """The period a moment falls in: the UTC date for daily, the ISO week for weekly."""
    if period == "weekly":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    return when.strftime("%Y-%m-%d")


def last_fire_time(cron: str, now: datetime, lookback: timedelta) -> datetime | None:
    """The latest moment at or before `now` (within `lookback`) that the cron expression names."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    fire = trigger.get_next_fire_time(None, now - lookback)
    last = None
    for _ in range(100_000):  # every-minute crons over a week stay well under this
        if fire is None or fire > now:
            break
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


# -- building -------------------------------------------------------------------------------


@dataclass
class Digest:
    """A built digest: the message, and the shares to remember for the next one."""

    message: EmailMessage
    shares: dict[str, float]
    counts: dict[str, int]


def _environment(*, html: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=html,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def previous_shares(store: Store, subscription_id: int | None, before_key: str) -> dict | None:
    """The shares recorded with the last digest sent to this subscription before this period."""
    if subscription_id is None:
        return None
    summary = store.last_sent_digest_summary(subscription_id, before_key)
    return (summary or {}).get("shares") if summary else None


def chart_png(store: Store, story: str, since: datetime, until: datetime,
              step_seconds: int) -> bytes | None:
    """The stance shares over the window as a stacked area PNG (None when there is no data)."""
    rows = aggregates.stance_series(store, story, aggregates.Filters(since=since, until=until),
                                    step_seconds=step_seconds)
    if not rows:
        return None
    import altair as alt
    import vl_convert

    values = [{"time": r["time"].isoformat(), "bucket": r["bucket"], "posts": r["posts"]}
              for r in rows]
    chart = alt.Chart(alt.Data(values=values)).mark_area().encode(
        x=alt.X("time:T", title=None),
        y=alt.Y("posts:Q", stack="normalize", title="share", axis=alt.Axis(format="%")),
        color=alt.Color("bucket:N", sort=list(BUCKETS), title=None,
                        scale=alt.Scale(domain=list(BUCKETS),
                                        range=["#2da44e", "#cf222e", "#8c959f"])),
        order=alt.Order("bucket:N"),
    ).properties(width=560, height=200)
    return vl_convert.vegalite_to_png(chart.to_json(), scale=1)


def _share_rows(counts: dict[str, int], before: dict | None) -> list[dict]:
    from nlp.summarize import largest_remainder

    percents = largest_remainder({b: counts.get(b, 0) for b in BUCKETS})  # they sum to 100
    rows = []
    for bucket in BUCKETS:
        percent = percents[bucket]
        if before is None or bucket not in before:
            change, direction, text = None, "same", "first digest"
        else:
            change = percent - round(100 * float(before[bucket]))
            direction = "up" if change > 0 else "down" if change < 0 else "same"
            text = f"{change:+d} points" if change else "no change"
        rows.append({"bucket": bucket, "posts": counts.get(bucket, 0), "percent": percent,
                     "change": change, "direction": direction, "change_text": text})
    return rows


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def build_digest(
    store: Store, story: Story, address: str, period: str = "daily", *,
    now: datetime | None = None, subscription_id: int | None = None, settings: Any = None,
    save: bool = True,
) -> Digest:
    """Build the digest mail for a story, address and period (nothing is sent). A paragraph
    written for its period is stored for reuse unless `save` is false (a preview)."""
    import css_inline

    if settings is None:
        from reactions.config import get_settings

        settings = get_settings()
    now = now or utcnow()
    start = now - PERIODS[period]
    key = period_key(period, now)
    filters = aggregates.Filters(since=start, until=now)
    counts = aggregates.bucket_counts(store, story.slug, filters)
    shares = aggregates.shares(counts)
    before = previous_shares(store, subscription_id, key)
    quotes = []
    for bucket in BUCKETS:
        posts = aggregates.top_posts(store, story.slug, bucket, filters, limit=3)
        for post in posts:
            post["safe_url"] = safe_url(post["url"])
        quotes.append({"bucket": bucket, "posts": posts})
    failed = [
        {"source": r["source"], "error": _one_line(r["error"]),
         "when": f"{(r['finished_at'] or r['started_at']):%Y-%m-%d %H:%M} UTC"}
        for r in store.last_runs() if r["story"] == story.slug and r["error"]
    ]
    # The paragraph of the digest's own period, so its numbers are the ones beside it.
    summary = summary_for_digest(store, story, PERIODS[period], now, save=save)
    png = chart_png(store, story.slug, start, now, 3600 if period == "daily" else 6 * 3600)
    chart_cid = make_msgid(domain="reactions.local") if png else None
    subject = _one_line(f"What people are saying: {story.title} ({period} digest, {key})")
    context = {
        "subject": subject, "story": story, "address": address,
        "period_label": period.capitalize(), "period_noun": "day" if period == "daily" else "week",
        "window_start": start, "window_end": now,
        # The paragraph, its evidence and its numbered sources, as `blurb --since` shows them.
        "summary": summary_parts(summary, "text") if summary else None,
        "writer": summary.writer if summary else None,
        "written_at": summary.created_at if summary else None,
        "shares": _share_rows(counts, before), "quotes": quotes,
        "failed_sources": failed, "dashboard_url": safe_url(settings.dashboard_url),
        "chart_cid": chart_cid[1:-1] if chart_cid else None,
    }
    text = _environment(html=False).get_template("digest.txt.j2").render(**context)
    if summary:  # escaped and linked by reactions.render; marked safe for autoescaping
        from markupsafe import Markup

        parts = summary_parts(summary, "html")
        context["summary"] = {**parts, **{k: Markup(parts[k]) for k in ("paragraph", "counts")},
                              "evidence": [Markup(line) for line in parts["evidence"]],
                              "caveat": Markup(parts["caveat"]) if parts["caveat"] else None}
    html = css_inline.inline(_environment(html=True).get_template("digest.html.j2").render(**context))

    message = EmailMessage()
    message["Subject"] = subject
    message["To"] = address
    if settings.smtp_from:
        message["From"] = settings.smtp_from
    message["Date"] = formatdate(now.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain="reactions.local")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if png:
        html_part = message.get_payload()[1]
        html_part.add_related(png, maintype="image", subtype="png", cid=chart_cid,
                              filename="stance-shares.png")
    return Digest(message=message, shares=shares, counts=counts)


def summary_for_digest(store: Store, story: Any, window: Any, now: datetime, *,
                       save: bool = True) -> Any:
    """The story's summary of the digest's period (stored if up to date, else written now);
    None when it cannot be written (the digest then says no paragraph was written)."""
    try:
        return current_summary(store, story, since=window, now=now, save=save)
    except Exception:  # noqa: BLE001 - a digest still goes out with its numbers
        log.exception("digest %s: the paragraph for the period could not be written", story.slug)
        return None


# -- sending once ---------------------------------------------------------------------------

#: A digest row left in "sending" for longer than this belongs to a process that died while
#: (or after) handing the message to SMTP: its outcome is unknown, and it is not resent.
#: Far above the Mailer's worst case (3 attempts, 30 s timeouts, capped backoff).
SENDING_TIMEOUT = timedelta(minutes=15)
UNKNOWN_HELP = ("the message may or may not have reached the mail server; check the "
                "recipient's mailbox for its Message-ID, then mark it sent or resend it "
                "(`reactions digest --resolve ID --arrived yes|no`, ID from `reactions status`)")


def _message_id(sub_id: int, key: str) -> str:
    return make_msgid(idstring=f"digest.{sub_id}.{key}", domain="reactions.local")


def _claim(store: Store, sub_id: int, key: str, now: datetime) -> tuple[str, str]:
    """Claim the (subscription, period) row for one send attempt before any SMTP traffic.

    Returns (outcome, Message-ID): outcome "claimed" when this process may send, else what
    stops it: "already sent", "gave up", "unknown" (a send whose outcome is unknown; a
    "sending" row older than SENDING_TIMEOUT is turned into one here) or "in progress"
    (another process is sending it now). The Message-ID is made once per row and kept, so
    every attempt at the same digest carries the same one.
    """
    return store.claim_digest(
        sub_id, key, now, message_id=_message_id(sub_id, key), max_attempts=MAX_ATTEMPTS,
        sending_timeout=SENDING_TIMEOUT,
        unknown_error=f"the sending process stopped mid-send; {UNKNOWN_HELP}")


def send_digest(
    store: Store, subscription: dict[str, Any], *, now: datetime | None = None,
    mailer: Any = None, settings: Any = None, key: str | None = None,
) -> str:
    """Send a subscription's digest for a period (default: the one `now` falls in), at most once.

    The send is claimed in the store ("sending", committed) before any SMTP traffic, with
    a Message-ID kept for every attempt. Returns "sent", "already sent", "gave up" (too many
    failed attempts), "failed" (refused before the server took the message; the reason is
    stored and the next check tries again), "unknown" (the connection dropped or the
    process died after the message was handed over: recorded, shown, never resent blindly)
    or "in progress" (another process holds the claim).
    """
    now = now or utcnow()
    key = key or period_key(subscription["period"], now)
    sub_id = subscription["id"]
    claim, message_id = _claim(store, sub_id, key, utcnow())
    if claim != "claimed":
        if claim == "unknown":
            log.warning("digest %s to %s for %s: %s", subscription["story"],
                        subscription["address"], key, UNKNOWN_HELP)
        return claim
    story = store.get_story(subscription["story"])
    try:
        mailer = mailer or Mailer(settings)
        digest = build_digest(store, story, subscription["address"], subscription["period"],
                              now=now, subscription_id=sub_id, settings=settings)
        digest.message.replace_header("Message-ID", message_id)
        mailer.send(digest.message)
    except OutcomeUnknown as exc:
        log.error("digest %s to %s for %s: %s", story.slug, subscription["address"], key, exc)
        _record(store, sub_id, key, status="unknown", error=f"{exc}; {UNKNOWN_HELP}")
        return "unknown"
    except Exception as exc:  # nothing reached the server: the next check may try again
        if not isinstance(exc, DeliveryError):
            log.exception("digest %s to %s for %s could not be built", story.slug,
                          subscription["address"], key)
        else:
            log.error("digest %s to %s for %s failed: %s", story.slug, subscription["address"],
                      key, exc)
        _record(store, sub_id, key, status="failed", error=str(exc) or type(exc).__name__)
        return "failed"
    _record(store, sub_id, key, status="sent", error=None, sent_at=utcnow(),
            summary={"shares": digest.shares, "counts": digest.counts})
    log.info("digest %s sent to %s for %s", story.slug, subscription["address"], key)
    return "sent"


def _record(store: Store, sub_id: int, key: str, **values: Any) -> None:
    store.record_digest(sub_id, key, **values)


def unknown_digests(store: Store, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Digests whose outcome is unknown (recorded so, or left "sending" by a dead process
    for longer than SENDING_TIMEOUT), oldest first, with their subscription: for the
    dashboard and `status`. Nothing is resent until someone resolves them."""
    return store.unknown_digests(now=now or utcnow(), sending_timeout=SENDING_TIMEOUT)


def resolve_unknown(store: Store, digest_id: int, *, arrived: bool) -> None:
    """Settle a digest whose outcome was unknown: it arrived (recorded as sent), or it did
    not (recorded as failed, so the next check sends it again with the same Message-ID)."""
    values = ({"status": "sent", "error": None} if arrived
              else {"status": "failed", "error": "not received (resolved by an editor)"})
    if not store.settle_digest(digest_id, **values):
        raise DigestError(f"digest {digest_id} has no unknown outcome to resolve")


def due_subscriptions(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Active subscriptions whose latest scheduled time has passed and whose digest is unsent."""
    due = []
    for sub in list_subscriptions(store, active_only=True):
        cron = sub["cron"] or DEFAULT_CRON[sub["period"]]
        fired = last_fire_time(cron, now, PERIODS[sub["period"]])
        if fired is None or fired < sub["created_at"]:
            continue
        # The period is the one the scheduled time belongs to, not the one `now` is in.
        sub["period_key"] = period_key(sub["period"], fired)
        row = store.digest_state(sub["id"], sub["period_key"])
        # A "sending" row is passed on too: send_digest says whether it is in progress or
        # was left by a dead process (then it is recorded as unknown, and not resent).
        if row is None or row.status == "sending" or (
                row.status in ("pending", "failed") and row.attempts < MAX_ATTEMPTS):
            due.append(sub)
    return due


def send_due_digests(store: Store, *, now: datetime | None = None, mailer: Any = None,
                     settings: Any = None) -> dict[str, str]:
    """Send every due digest once; returns {"story/address/period": outcome}."""
    now = now or utcnow()
    due = due_subscriptions(store, now)
    if not due:
        return {}
    if mailer is None:
        try:
            mailer = Mailer(settings)
        except ConfigurationMissing as exc:
            log.warning("%d digests are due but cannot be sent: %s", len(due), exc)
            return {}
    outcomes = {}
    for sub in due:
        outcomes[f"{sub['story']}/{sub['address']}/{sub['period']}"] = send_digest(
            store, sub, now=now, mailer=mailer, settings=settings, key=sub["period_key"])
    return outcomes
