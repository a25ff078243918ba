"""Notifications: digest subscriptions and sends, alert rules and the alerts they fired.

Only rows live here; what is due, what a digest says and how it is delivered are in
`reactions.digest`, `reactions.alerts` and `reactions.notify`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from reactions import schema as t
from reactions.models import utcnow


class NotificationsMixin:
    """The subscriptions, digests, alert_rules and alerts tables."""

    # -- subscriptions -------------------------------------------------------------------

    def save_subscription(self, story: str, address: str, period: str, *, cron: str | None,
                          active: bool) -> int:
        """Insert the subscription, or update the cron and activity of the existing one
        for (story, address, period); returns its id."""
        with self.begin() as conn:
            existing = conn.execute(sa.select(t.subscriptions.c.id).where(
                t.subscriptions.c.story == story, t.subscriptions.c.address == address,
                t.subscriptions.c.period == period)).scalar_one_or_none()
            if existing is not None:
                conn.execute(sa.update(t.subscriptions).where(t.subscriptions.c.id == existing)
                             .values(cron=cron, active=active))
                return existing
            return conn.execute(sa.insert(t.subscriptions).values(
                story=story, address=address, period=period, cron=cron, active=active,
                created_at=utcnow())).inserted_primary_key[0]

    def subscriptions(self, *, story: str | None = None,
                      active_only: bool = False) -> list[dict[str, Any]]:
        query = sa.select(t.subscriptions).order_by(t.subscriptions.c.story,
                                                    t.subscriptions.c.address)
        if story:
            query = query.where(t.subscriptions.c.story == story)
        if active_only:
            query = query.where(t.subscriptions.c.active.is_(True))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def set_subscription_active(self, subscription_id: int, active: bool) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(t.subscriptions).where(t.subscriptions.c.id == subscription_id)
                         .values(active=active))

    def delete_subscription(self, subscription_id: int) -> None:
        with self.begin() as conn:
            conn.execute(sa.delete(t.subscriptions)
                         .where(t.subscriptions.c.id == subscription_id))

    # -- digests -------------------------------------------------------------------------

    def digest_history(self, subscription_id: int | None = None,
                       limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(t.digests).order_by(t.digests.c.id.desc()).limit(limit)
        if subscription_id is not None:
            query = query.where(t.digests.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def last_sent_digest_summary(self, subscription_id: int, before_key: str) -> dict | None:
        """The summary stored with the last digest sent to the subscription for another period."""
        query = (sa.select(t.digests.c.summary).where(
            t.digests.c.subscription_id == subscription_id, t.digests.c.status == "sent",
            t.digests.c.period_key != before_key,
        ).order_by(t.digests.c.sent_at.desc()).limit(1))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def digest_state(self, subscription_id: int, key: str) -> Any:
        """The (status, attempts) row of a subscription's digest for a period, or None."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.digests.c.status, t.digests.c.attempts).where(
                t.digests.c.subscription_id == subscription_id,
                t.digests.c.period_key == key)).first()

    def claim_digest(self, subscription_id: int, key: str, now: datetime, *, message_id: str,
                     max_attempts: int, sending_timeout: timedelta,
                     unknown_error: str) -> tuple[str, str]:
        """Claim the (subscription, period) row for one send attempt, in one transaction.

        Returns (outcome, Message-ID): "claimed" when the caller may send, else "already
        sent", "gave up", "unknown" (a "sending" row older than `sending_timeout` is turned
        into one here, with `unknown_error`) or "in progress". The Message-ID is made once
        per row (`message_id`) and kept for every attempt.
        """
        with self.begin() as conn:
            conn.execute(self._insert(t.digests).values(
                subscription_id=subscription_id, period_key=key, status="pending", attempts=0,
                message_id=message_id,
            ).on_conflict_do_nothing())
            where = (t.digests.c.subscription_id == subscription_id,
                     t.digests.c.period_key == key)
            # Only one sender moves the row from an unsent state to "sending".
            claimed = conn.execute(sa.update(t.digests).where(
                *where, t.digests.c.status.in_(("pending", "failed")),
                t.digests.c.attempts < max_attempts,
            ).values(attempts=t.digests.c.attempts + 1, status="sending", claimed_at=now,
                     message_id=sa.func.coalesce(t.digests.c.message_id, message_id))).rowcount
            row = conn.execute(sa.select(t.digests.c.status, t.digests.c.claimed_at,
                                         t.digests.c.message_id).where(*where)).one()
            if claimed:
                return "claimed", row.message_id
            if row.status == "sending":
                if row.claimed_at is not None and now - row.claimed_at < sending_timeout:
                    return "in progress", row.message_id
                conn.execute(sa.update(t.digests).where(*where, t.digests.c.status == "sending")
                             .values(status="unknown", error=unknown_error))
                return "unknown", row.message_id
            outcome = {"sent": "already sent", "unknown": "unknown"}.get(row.status, "gave up")
            return outcome, row.message_id

    def record_digest(self, subscription_id: int, key: str, **values: Any) -> None:
        """Update the digest row of (subscription, period) with `values` (status, error...)."""
        with self.begin() as conn:
            conn.execute(sa.update(t.digests).where(
                t.digests.c.subscription_id == subscription_id,
                t.digests.c.period_key == key).values(**values))

    def unknown_digests(self, *, now: datetime,
                        sending_timeout: timedelta) -> list[dict[str, Any]]:
        """Digests recorded "unknown", or left "sending" for longer than `sending_timeout`,
        oldest first, with their subscription's story, address and period."""
        query = (
            sa.select(t.digests.c.id, t.subscriptions.c.story, t.subscriptions.c.address,
                      t.subscriptions.c.period, t.digests.c.period_key, t.digests.c.status,
                      t.digests.c.message_id, t.digests.c.claimed_at, t.digests.c.attempts,
                      t.digests.c.error)
            .join(t.subscriptions, t.subscriptions.c.id == t.digests.c.subscription_id)
            .where(sa.or_(t.digests.c.status == "unknown", sa.and_(
                t.digests.c.status == "sending",
                t.digests.c.claimed_at < now - sending_timeout)))
            .order_by(t.digests.c.claimed_at, t.digests.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def settle_digest(self, digest_id: int, **values: Any) -> bool:
        """Update a digest whose outcome is unknown (or still "sending"); False when there
        is no such digest."""
        with self.begin() as conn:
            return bool(conn.execute(sa.update(t.digests).where(
                t.digests.c.id == digest_id, t.digests.c.status.in_(("unknown", "sending")),
            ).values(**values)).rowcount)

    # -- alert rules and alerts ----------------------------------------------------------

    def save_alert_rule(self, *, story: str | None, kind: str, params: dict[str, Any],
                        channel: str, target: str | None, active: bool) -> int:
        with self.begin() as conn:
            return conn.execute(sa.insert(t.alert_rules).values(
                story=story, kind=kind, params=params, channel=channel, target=target,
                active=active, created_at=utcnow())).inserted_primary_key[0]

    def alert_rules(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        query = sa.select(t.alert_rules).order_by(t.alert_rules.c.id)
        if active_only:
            query = query.where(t.alert_rules.c.active.is_(True))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def set_alert_rule_active(self, rule_id: int, active: bool) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(t.alert_rules).where(t.alert_rules.c.id == rule_id)
                         .values(active=active))

    def delete_alert_rule(self, rule_id: int) -> None:
        with self.begin() as conn:
            conn.execute(sa.delete(t.alert_rules).where(t.alert_rules.c.id == rule_id))

    def alerts_fired_since(self, rule_id: int, story: str, since: datetime) -> int:
        """How many alerts the rule fired for the story after `since`."""
        query = sa.select(sa.func.count()).select_from(t.alerts).where(
            t.alerts.c.rule_id == rule_id, t.alerts.c.story == story, t.alerts.c.fired_at > since)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def save_alert(self, alert: dict[str, Any]) -> int:
        """Store a fired alert (the columns of the alerts table); returns its id."""
        with self.begin() as conn:
            return conn.execute(sa.insert(t.alerts).values(**alert)).inserted_primary_key[0]

    def alerts(self, *, story: str | None = None, open_only: bool = False,
               limit: int = 50) -> list[dict[str, Any]]:
        """Fired alerts, newest first."""
        query = sa.select(t.alerts).order_by(t.alerts.c.fired_at.desc(), t.alerts.c.id.desc())
        if story is not None:
            query = query.where(t.alerts.c.story == story)
        if open_only:
            query = query.where(t.alerts.c.acknowledged.is_(False))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.limit(limit))]

    def acknowledge_alert(self, alert_id: int) -> None:
        """Mark an alert as seen, so it leaves the Live page's open alerts."""
        with self.begin() as conn:
            conn.execute(sa.update(t.alerts).where(t.alerts.c.id == alert_id)
                         .values(acknowledged=True))
