"""Alerts: volume spikes and stance shifts, checked on a schedule, rate-limited, delivered.

- A **volume spike** compares the posts of the latest interval with the intervals before
  it using a robust score (distance from the median in units of the median absolute
  deviation, floored by Poisson noise), so one noisy hour in the baseline does not move
  the bar and steady traffic never fires.
- A **stance shift** compares each bucket's share in the latest window with the window
  before it, and fires only when both windows have enough classified posts behind them.

Every alert is stored (the dashboard shows it) and sent to the rule's channel: email,
webhook (Slack-compatible JSON) or dashboard only. A rule fires at most once per
cooldown for a story, so a story that stays hot does not flood anyone.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from reactions import aggregates
from reactions.models import BUCKETS, Story, utcnow
from reactions.notify import DeliveryError, InvalidAddress, Mailer, post_webhook, validate_address
from reactions.render import safe_url
from reactions.store import Store

log = logging.getLogger(__name__)

KINDS = ("volume_spike", "stance_shift")
CHANNELS = ("dashboard", "email", "webhook")
DEFAULTS: dict[str, dict[str, float]] = {
    "volume_spike": {"interval_minutes": 60, "baseline_intervals": 24, "threshold": 3.5,
                     "min_posts": 10, "cooldown_minutes": 180},
    "stance_shift": {"window_minutes": 360, "points": 10, "min_posts": 30, "cooldown_minutes": 180},
}


class AlertRuleError(ValueError):
    """An alert rule that cannot be used; the message says which setting and why."""


# -- detection (pure functions on numbers) --------------------------------------------------


def robust_score(value: float, baseline: Sequence[float]) -> float:
    """How unusual `value` is against `baseline`: (value - median) / robust spread.

    The spread is 1.4826 x MAD (the standard deviation for normal data), but never below
    the Poisson noise of counts around the median, sqrt(median), nor below 1: a perfectly
    steady baseline (MAD 0) must not make one extra post look infinite.
    """
    if not baseline:
        return 0.0
    median = statistics.median(baseline)
    mad = statistics.median(abs(x - median) for x in baseline)
    spread = max(1.4826 * mad, math.sqrt(max(median, 0.0)), 1.0)
    return (value - median) / spread


def detect_volume_spike(series: Sequence[int], *, threshold: float = 3.5,
                        min_posts: int = 10) -> dict[str, Any] | None:
    """The spike in the last value of `series` against the values before it, if any."""
    if len(series) < 3:
        return None
    latest, baseline = series[-1], list(series[:-1])
    score = robust_score(latest, baseline)
    if latest < min_posts or score < threshold:
        return None
    return {"posts": int(latest), "baseline_median": statistics.median(baseline),
            "score": round(score, 2)}


def detect_stance_shift(before: dict[str, int], after: dict[str, int], *, points: float = 10,
                        min_posts: int = 30) -> dict[str, Any] | None:
    """The bucket whose share moved most between two windows, if it moved `points` or more."""
    before_total = sum(before.get(b, 0) for b in BUCKETS)
    after_total = sum(after.get(b, 0) for b in BUCKETS)
    if before_total < min_posts or after_total < min_posts:
        return None
    moves = {b: 100 * (after.get(b, 0) / after_total - before.get(b, 0) / before_total)
             for b in BUCKETS}
    bucket = max(moves, key=lambda b: abs(moves[b]))
    if abs(moves[bucket]) < points:
        return None
    return {"bucket": bucket, "points": round(moves[bucket], 1),
            "before_share": round(before.get(bucket, 0) / before_total, 3),
            "after_share": round(after.get(bucket, 0) / after_total, 3),
            "before_posts": before_total, "after_posts": after_total}


# -- rules ----------------------------------------------------------------------------------


def validate_rule(kind: str, params: dict[str, Any] | None, channel: str,
                  target: str | None) -> tuple[dict[str, float], str | None]:
    """The rule's full parameters (defaults filled in) and target, or AlertRuleError."""
    if kind not in KINDS:
        raise AlertRuleError(f"alert kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if channel not in CHANNELS:
        raise AlertRuleError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    merged = dict(DEFAULTS[kind])
    for name, value in (params or {}).items():
        if name not in merged:
            raise AlertRuleError(f"{kind} has no setting {name!r}; it has {', '.join(merged)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AlertRuleError(f"{name} must be a number, not {value!r}") from None
        if not number > 0 or math.isinf(number):
            raise AlertRuleError(f"{name} must be a positive number, not {value!r}")
        merged[name] = number
    if kind == "volume_spike" and merged["baseline_intervals"] < 2:
        raise AlertRuleError("baseline_intervals must be at least 2")
    target = (target or "").strip() or None
    if channel == "email":
        try:
            target = validate_address(target or "")
        except InvalidAddress as exc:
            raise AlertRuleError(f"email alerts need an address: {exc}") from None
    elif channel == "webhook":
        if not safe_url(target):
            raise AlertRuleError(f"webhook alerts need an http(s) URL, not {target!r}")
    else:
        target = None
    return merged, target


def add_rule(store: Store, kind: str, *, channel: str = "dashboard", target: str | None = None,
             story: str | None = None, params: dict[str, Any] | None = None,
             active: bool = True) -> int:
    """Store an alert rule (for one story, or every story when `story` is None)."""
    if story:
        store.get_story(story)
    merged, target = validate_rule(kind, params, channel, target)
    return store.save_alert_rule(story=story or None, kind=kind, params=merged, channel=channel,
                                 target=target, active=active)


def list_rules(store: Store, *, active_only: bool = False) -> list[dict[str, Any]]:
    return store.alert_rules(active_only=active_only)


def set_rule_active(store: Store, rule_id: int, active: bool) -> None:
    store.set_alert_rule_active(rule_id, active)


def delete_rule(store: Store, rule_id: int) -> None:
    store.delete_alert_rule(rule_id)


# -- checking -------------------------------------------------------------------------------


def evaluate(store: Store, rule: dict[str, Any], story: Story, now: datetime) -> dict | None:
    """What the rule finds for the story at `now`: {message, details}, or None."""
    p = rule["params"]
    if rule["kind"] == "volume_spike":
        step = timedelta(minutes=p["interval_minutes"])
        series = aggregates.volume_counts(store, story.slug, end=now, step=step,
                                          intervals=int(p["baseline_intervals"]) + 1)
        found = detect_volume_spike(series, threshold=p["threshold"], min_posts=int(p["min_posts"]))
        if found is None:
            return None
        message = (f"Volume spike on “{story.title}”: {found['posts']} posts in the last "
                   f"{_minutes(p['interval_minutes'])}, against a usual "
                   f"{found['baseline_median']:g} (robust score {found['score']}).")
        return {"message": message, "details": {**found, "series": series}}
    window = timedelta(minutes=p["window_minutes"])
    after = aggregates.bucket_counts(store, story.slug, aggregates.Filters(since=now - window,
                                                                           until=now))
    before = aggregates.bucket_counts(store, story.slug, aggregates.Filters(
        since=now - 2 * window, until=now - window))
    found = detect_stance_shift(before, after, points=p["points"], min_posts=int(p["min_posts"]))
    if found is None:
        return None
    direction = "up" if found["points"] > 0 else "down"
    message = (f"Stance shift on “{story.title}”: {found['bucket']} {direction} "
               f"{abs(found['points']):g} points to {round(100 * found['after_share'])}% over the "
               f"last {_minutes(p['window_minutes'])} ({found['after_posts']} posts, "
               f"{found['before_posts']} in the window before).")
    return {"message": message, "details": found}


def _minutes(value: float) -> str:
    value = int(value)
    if value % 60 == 0:
        hours = value // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{value} minutes"


def _in_cooldown(store: Store, rule: dict[str, Any], story: str, now: datetime) -> bool:
    since = now - timedelta(minutes=rule["params"]["cooldown_minutes"])
    return store.alerts_fired_since(rule["id"], story, since) > 0


def check_alerts(
    store: Store, *, now: datetime | None = None, settings: Any = None, mailer: Any = None,
    http_client: Any = None,
) -> list[dict[str, Any]]:
    """Evaluate every active rule on its stories; store, deliver and return what fired."""
    now = now or utcnow()
    fired = []
    stories = {s.slug: s for s in store.list_stories(active_only=True)}
    for rule in list_rules(store, active_only=True):
        targets = [stories[rule["story"]]] if rule["story"] in stories else (
            list(stories.values()) if rule["story"] is None else [])
        for story in targets:
            if _in_cooldown(store, rule, story.slug, now):
                continue
            found = evaluate(store, rule, story, now)
            if found is None:
                continue
            delivered = deliver(rule, story, found["message"], settings=settings, mailer=mailer,
                                http_client=http_client)
            alert = {"rule_id": rule["id"], "story": story.slug, "kind": rule["kind"],
                     "fired_at": now, "message": found["message"], "details": found["details"],
                     "delivered": delivered, "acknowledged": False}
            alert["id"] = store.save_alert(dict(alert))
            log.warning("alert: %s", found["message"])
            fired.append(alert)
    return fired


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def deliver(rule: dict[str, Any], story: Story, message: str, *, settings: Any = None,
            mailer: Any = None, http_client: Any = None) -> dict[str, Any]:
    """Send the alert to the rule's channel; returns {channel, ok, error} (error is safe)."""
    channel = rule["channel"]
    try:
        if channel == "webhook":
            post_webhook(rule["target"], {"text": _slack_escape(message)}, client=http_client)
        elif channel == "email":
            mail = EmailMessage()
            mail["Subject"] = " ".join(f"[reactions alert] {message}".split())[:200]
            mail["To"] = rule["target"]
            mail.set_content(f"{message}\n\nStory: {story.title} ({story.slug})\n")
            (mailer or Mailer(settings)).send(mail)
    except DeliveryError as exc:
        log.error("alert for %s could not be delivered by %s: %s", story.slug, channel, exc)
        return {"channel": channel, "ok": False, "error": str(exc)}
    return {"channel": channel, "ok": True, "error": None}
