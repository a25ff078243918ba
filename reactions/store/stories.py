"""Stories: their definitions, activity and deletion with everything filed under them."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from reactions import schema as t
from reactions.models import SourceConfig, Story, utcnow
from reactions.store.engine import CHUNK, UnknownStory


def story_to_definition(story: Story) -> dict[str, Any]:
    return dataclasses.asdict(story)


def definition_to_story(data: dict[str, Any]) -> Story:
    data = dict(data)
    data["sources"] = [SourceConfig(**s) for s in data.get("sources", [])]
    return Story(**data)


class StoriesMixin:
    """The stories table (and the cascade when a story is deleted)."""

    def save_story(self, story: Story) -> None:
        """Insert or replace a story's definition (keeping its posts)."""
        now = utcnow()
        values = {
            "title": story.title, "claim": story.claim, "active": story.active,
            "definition": story_to_definition(story), "updated_at": now,
        }
        with self.begin() as conn:
            updated = conn.execute(
                sa.update(t.stories).where(t.stories.c.slug == story.slug).values(**values)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(t.stories).values(slug=story.slug, created_at=now, **values))

    def get_story(self, slug: str) -> Story:
        """The story with this slug, or UnknownStory naming the ones that exist."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.stories).where(t.stories.c.slug == slug)).first()
        if row is None:
            known = ", ".join(s.slug for s in self.list_stories()) or "none yet"
            raise UnknownStory(
                f"unknown story {slug!r} (stories: {known}); add one with `reactions story add FILE`"
            )
        story = definition_to_story(row.definition)
        story.active = row.active
        return story

    def list_stories(self, *, active_only: bool = False) -> list[Story]:
        query = sa.select(t.stories).order_by(t.stories.c.created_at, t.stories.c.slug)
        if active_only:
            query = query.where(t.stories.c.active.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        result = []
        for row in rows:
            story = definition_to_story(row.definition)
            story.active = row.active
            result.append(story)
        return result

    def set_story_active(self, slug: str, active: bool) -> None:
        self.get_story(slug)
        with self.begin() as conn:
            conn.execute(
                sa.update(t.stories).where(t.stories.c.slug == slug)
                .values(active=active, updated_at=utcnow())
            )

    def delete_story(self, slug: str) -> dict[str, int]:
        """Delete a story and everything filed under it, in one transaction.

        Its stances, labels, summaries, cursors, runs, subscriptions (with their digests),
        alert rules and alerts go; posts go too unless another story also holds them.
        Returns how many posts were in the story and how many were deleted with it.
        """
        self.get_story(slug)
        in_story = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story == slug)
        elsewhere = sa.select(t.story_posts.c.post_id).where(t.story_posts.c.story != slug)
        with self.begin() as conn:
            post_ids = set(conn.execute(in_story).scalars())
            shared = set(conn.execute(elsewhere.where(t.story_posts.c.post_id.in_(in_story)))
                         .scalars())
            orphans = sorted(post_ids - shared)
            subscriptions = sa.select(t.subscriptions.c.id).where(t.subscriptions.c.story == slug)
            conn.execute(sa.delete(t.digests).where(t.digests.c.subscription_id.in_(subscriptions)))
            for table in (t.subscriptions, t.alerts, t.alert_rules, t.dedup_keys, t.runs,
                          t.cursors, t.summaries, t.labels, t.stances, t.story_posts):
                conn.execute(sa.delete(table).where(table.c.story == slug))
            for start in range(0, len(orphans), CHUNK):
                chunk = orphans[start : start + CHUNK]
                conn.execute(sa.update(t.posts).where(t.posts.c.duplicate_of.in_(chunk))
                             .values(duplicate_of=None))
                conn.execute(sa.delete(t.dedup_keys).where(t.dedup_keys.c.post_id.in_(chunk)))
                conn.execute(sa.delete(t.embeddings).where(t.embeddings.c.post_id.in_(chunk)))
                conn.execute(sa.delete(t.posts).where(t.posts.c.id.in_(chunk)))
            # Tables added later that reference the story are cleared by ON DELETE CASCADE.
            conn.execute(sa.delete(t.stories).where(t.stories.c.slug == slug))
        return {"posts": len(post_ids), "posts_deleted": len(orphans)}
