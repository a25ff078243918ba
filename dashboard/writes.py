"""Every write the dashboard makes, in one place: corrections, stories, subscriptions,
alert rules, acknowledging an alert and settling a digest whose outcome was unknown.

Pages call these and nothing else that writes (tests/test_architecture.py checks it). Each
write clears the cached reads (`queries.clear`), so the page shows it at once. Bad input
raises the application's own `ValueError`s (a bad label, address or rule), which the
pages show; nothing is half-written.
"""

from __future__ import annotations

from typing import Any

from dashboard import queries
from reactions import alerts, digest
from reactions.models import Story


def _store():
    return queries.get_store()


def save_corrections(story: str, picks: list[tuple[int, str]], *, editor: str) -> int:
    """Store an editor's bucket for each (post id, bucket); returns how many."""
    store = _store()
    for post_id, label in picks:
        store.add_label(story, post_id, label, source="human", labeller=editor)
    queries.clear()
    return len(picks)


def save_story(story: Story) -> None:
    """Add a story or replace its definition (its posts are kept)."""
    _store().save_story(story)
    queries.clear()


def set_story_active(slug: str, active: bool) -> None:
    """Pause or resume a story's collection."""
    _store().set_story_active(slug, active)
    queries.clear()


def acknowledge_alert(alert_id: int) -> None:
    """Mark an alert as seen, so it leaves the Live page's open alerts."""
    _store().acknowledge_alert(alert_id)
    queries.clear()


def add_subscription(story: str, address: str, period: str, *, cron: str | None) -> int:
    """Subscribe an address to a story's digests (DigestError names what is wrong)."""
    subscription_id = digest.add_subscription(_store(), story, address, period, cron=cron)
    queries.clear()
    return subscription_id


def set_subscription_active(subscription_id: int, active: bool) -> None:
    digest.set_subscription_active(_store(), subscription_id, active)
    queries.clear()


def delete_subscription(subscription_id: int) -> None:
    digest.delete_subscription(_store(), subscription_id)
    queries.clear()


def resolve_digest(digest_id: int, *, arrived: bool) -> None:
    """Settle a digest whose outcome was unknown: it arrived, or it is sent again."""
    digest.resolve_unknown(_store(), digest_id, arrived=arrived)
    queries.clear()


def add_rule(kind: str, *, channel: str, target: str | None, story: str | None,
             params: dict[str, Any]) -> int:
    """Store an alert rule (AlertRuleError names the setting that is wrong)."""
    rule_id = alerts.add_rule(_store(), kind, channel=channel, target=target, story=story,
                              params=params)
    queries.clear()
    return rule_id


def set_rule_active(rule_id: int, active: bool) -> None:
    alerts.set_rule_active(_store(), rule_id, active)
    queries.clear()


def delete_rule(rule_id: int) -> None:
    alerts.delete_rule(_store(), rule_id)
    queries.clear()
