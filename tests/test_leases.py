"""Leases in the store, on SQLite and PostgreSQL: one holder at a time, lapsing, renewal,
dead owners, open runs closed as interrupted, and a busy source left alone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import sqlalchemy as sa

from reactions import leases
from reactions import schema as t
from reactions.leases import INTERRUPTED, Lease, collect_lease_name, try_acquire
from reactions.models import Post
from reactions.pipeline import collect_source


def test_one_holder_at_a_time_until_it_lapses(store):
    assert try_acquire(store, "collect:s:x", "a", ttl=60)
    assert not try_acquire(store, "collect:s:x", "b", ttl=60)
    assert try_acquire(store, "collect:s:x", "a", ttl=60)  # the holder may take it again
    assert try_acquire(store, "collect:s:y", "b", ttl=60)  # another name is another lease
    assert leases.holder(store, "collect:s:x") == "a"
    leases.release(store, "collect:s:x", "b")  # not b's to give back
    assert leases.holder(store, "collect:s:x") == "a"
    leases.release(store, "collect:s:x", "a")
    assert try_acquire(store, "collect:s:x", "b", ttl=0.2)
    time.sleep(0.4)
    assert leases.holder(store, "collect:s:x") is None  # lapsed
    assert try_acquire(store, "collect:s:x", "c", ttl=60)
    assert not leases.renew(store, "collect:s:x", "b", ttl=60)  # b lost it
    assert leases.renew(store, "collect:s:x", "c", ttl=60)


def test_racing_owners_get_one_lease(store):
    wins: list[str] = []
    start = threading.Barrier(8)

    def race(owner: str) -> None:
        start.wait()
        if try_acquire(store, "classify:s", owner, ttl=60):
            wins.append(owner)

    threads = [threading.Thread(target=race, args=(f"owner{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert leases.holder(store, "classify:s") == wins[0]


def test_heartbeat_keeps_a_lease_past_its_ttl(store):
    with Lease(store, "collect:s:x", ttl=0.6) as held:
        assert held
        time.sleep(1.5)  # more than twice the ttl: renewed meanwhile
        assert not try_acquire(store, "collect:s:x", "other", ttl=60)
    assert try_acquire(store, "collect:s:x", "other", ttl=60)  # given back at the end


def _open_run(store, story, source: str) -> int:
    store.save_story(story)
    return store.start_run(story.slug, source)


def test_open_runs_are_closed_only_when_no_live_lease_covers_them(store, story):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = leases.new_owner().split(":")[0]
    orphan = _open_run(store, story, "rss")  # its process died: lease held by a dead pid
    assert try_acquire(store, collect_lease_name(story.slug, "rss"), f"{host}:{dead}:x", ttl=600)
    live = _open_run(store, story, "hackernews")  # held by this (living) process
    assert try_acquire(store, collect_lease_name(story.slug, "hackernews"), leases.new_owner(),
                       ttl=600)
    elsewhere = _open_run(store, story, "reddit")  # another machine's, still valid
    assert try_acquire(store, collect_lease_name(story.slug, "reddit"), "otherhost:1:x", ttl=600)
    lapsed = _open_run(store, story, "mastodon")  # no lease at all
    assert leases.close_interrupted_runs(store) == 2
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(t.runs))}
    assert rows[orphan].error == INTERRUPTED and rows[orphan].finished_at is not None
    assert rows[lapsed].error == INTERRUPTED
    assert rows[live].finished_at is None and rows[elsewhere].finished_at is None
    assert leases.holder(store, collect_lease_name(story.slug, "rss")) is None


class _CountingCollector:
    def __init__(self) -> None:
        self.calls = 0

    def pages(self, story, cursor, options):
        self.calls += 1
        return iter(())


def test_a_source_leased_elsewhere_is_not_paged(store, story):
    store.save_story(story)
    collector = _CountingCollector()
    name = collect_lease_name(story.slug, "rss")
    assert try_acquire(store, name, "otherhost:1:x", ttl=600)
    result = collect_source(store, story, "rss", options={}, collector=collector)
    assert result.busy and collector.calls == 0 and store.last_runs() == []
    leases.release(store, name, "otherhost:1:x")
    result = collect_source(store, story, "rss", options={}, collector=collector)
    assert not result.busy and collector.calls == 1
    (run,) = store.last_runs()
    assert run["finished_at"] is not None
    assert leases.holder(store, name) is None  # given back after the run


def test_two_threads_collecting_one_source_page_it_once(store, story):
    """Two collect_source calls at once (as two schedulers would): one pages, one is busy."""
    store.save_story(story)
    inside = threading.Event()
    release = threading.Event()

    class Slow:
        calls = 0

        def pages(self, story, cursor, options):
            Slow.calls += 1
            inside.set()
            release.wait(10)
            yield type("P", (), {"posts": [Post("rss", "1", "policy text")], "cursor": "c",
                                 "skipped": []})()

    results = []
    first = threading.Thread(target=lambda: results.append(
        collect_source(store, story, "rss", options={}, collector=Slow())))
    first.start()
    assert inside.wait(10)
    second = collect_source(store, story, "rss", options={}, collector=Slow())
    release.set()
    first.join(10)
    assert second.busy and Slow.calls == 1
    assert results[0].added == 1 and store.count_posts(story.slug) == 1
