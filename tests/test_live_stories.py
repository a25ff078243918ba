"""Stories change live: a running scheduler picks up stories added, edited, paused, resumed
and deleted in the store, without a restart (collecting from a fake API on 127.0.0.1)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from reactions import schema as t
from reactions.schedule import Runner, build_scheduler
from reactions.stories import parse_story
from tests.fake_hn import FakeHackerNews, hn_story_toml


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _interval_minutes(scheduler, job_id: str) -> float | None:
    job = scheduler.get_job(job_id)
    return job.trigger.interval.total_seconds() / 60 if job is not None else None


def test_scheduler_follows_story_changes_in_the_store(sqlite_store, keyword_classifier):
    store = sqlite_store
    with FakeHackerNews(120) as fake:
        runner = Runner(store, classifier=keyword_classifier)
        scheduler = build_scheduler(runner, [], refresh_seconds=0.3)
        scheduler.start()
        try:
            assert scheduler.get_job("policy:hackernews") is None
            # Added while running: scheduled and collected, classified, summarized.
            store.save_story(parse_story(hn_story_toml("policy", fake.url, interval=30)))
            # (the summary's themes load the sentence encoder: slow on a busy machine)
            assert _wait_for(lambda: store.latest_summary("policy") is not None, 180)
            assert store.count_posts("policy") == 120
            assert _interval_minutes(scheduler, "policy:hackernews") == 30
            # Edited: the new interval is the job's.
            store.save_story(parse_story(hn_story_toml("policy", fake.url, interval=90)))
            assert _wait_for(lambda: _interval_minutes(scheduler, "policy:hackernews") == 90)
            # Paused, then resumed.
            store.set_story_active("policy", False)
            assert _wait_for(lambda: scheduler.get_job("policy:hackernews") is None)
            store.set_story_active("policy", True)
            assert _wait_for(lambda: scheduler.get_job("policy:hackernews") is not None)
            # Deleted.
            with store.begin() as conn:
                conn.execute(sa.delete(t.stories).where(t.stories.c.slug == "policy"))
            assert _wait_for(lambda: scheduler.get_job("policy:hackernews") is None)
            assert "policy:hackernews" not in runner.jobs
        finally:
            runner.stop.set()
            scheduler.shutdown(wait=False)
            runner.wait_idle(10)
    # Every page was fetched once: the resumed story's first run started from the cursor.
    pages = [f for f in fake.served if "<" in f]
    assert len(pages) == len(set(pages))


def test_a_deleted_story_job_in_flight_does_nothing(sqlite_store, keyword_classifier):
    runner = Runner(sqlite_store, classifier=keyword_classifier)
    runner.collect_job("gone", "hackernews")  # no such story: no error, no run row
    assert sqlite_store.last_runs() == []


def test_posts_a_stopped_process_left_unclassified_are_classified_on_the_next_start(
        sqlite_store, keyword_classifier):
    from reactions.models import Post

    with FakeHackerNews(0) as fake:  # nothing new to collect
        story = parse_story(hn_story_toml("policy", fake.url))
        sqlite_store.save_story(story)
        sqlite_store.upsert_posts("policy", [Post("hackernews", str(i), f"policy post {i}")
                                             for i in range(5)], source="hackernews")
        runner = Runner(sqlite_store, classifier=keyword_classifier)
        runner.collect_job("policy", "hackernews")
        assert sqlite_store.posts_without_stance("policy") == []
        assert sqlite_store.latest_summary("policy") is not None
        # Later runs with nothing new do not classify or summarize again.
        first = sqlite_store.latest_summary("policy").id
        runner.collect_job("policy", "hackernews")
        assert sqlite_store.latest_summary("policy").id == first
