"""Heartbeats: a scheduler or worker is alive while it renews its row, stopped once it says
so, and gone when it stops beating; `reactions run` (run_forever) beats while it runs."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

from reactions import heartbeat
from reactions import schema as t
from reactions.heartbeat import SCHEDULER, WORKER, Heartbeat, processes
from reactions.models import utcnow
from reactions.schedule import Runner, run_forever


def _by_name(store) -> dict:
    return {p["name"]: p for p in processes(store)}


def test_a_heartbeat_renews_while_alive_and_is_marked_stopped(store):
    with Heartbeat(store, WORKER, "reactions@a", every=0.05):
        first = _by_name(store)["reactions@a"]
        assert first["alive"] and first["role"] == WORKER and first["stopped_at"] is None
        deadline = time.monotonic() + 10
        while _by_name(store)["reactions@a"]["beat_at"] <= first["beat_at"]:
            assert time.monotonic() < deadline, "the heartbeat was not renewed"
            time.sleep(0.05)
        assert _by_name(store)["reactions@a"]["started_at"] == first["started_at"]
    gone = _by_name(store)["reactions@a"]
    assert gone["stopped_at"] is not None and not gone["alive"]


def test_a_process_that_stops_beating_counts_as_gone(store):
    heartbeat.beat(store, "reactions@b", WORKER)
    assert _by_name(store)["reactions@b"]["alive"]
    later = utcnow() + timedelta(seconds=heartbeat.ALIVE_SECONDS + 1)
    assert not {p["name"]: p for p in processes(store, now=later)}["reactions@b"]["alive"]
    with store.begin() as conn:  # a row older than KEEP is dropped by the next beat
        conn.execute(t.heartbeats.update().values(beat_at=utcnow() - heartbeat.KEEP * 2))
    heartbeat.beat(store, "reactions@c", WORKER)
    assert set(_by_name(store)) == {"reactions@c"}


def test_the_scheduler_beats_while_it_runs(sqlite_store):
    seen = {}

    def stop_once_alive():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = [p for p in processes(sqlite_store) if p["role"] == SCHEDULER and p["alive"]]
            if alive:
                seen.update(alive[0])
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_once_alive, daemon=True)
    watcher.start()
    assert run_forever(Runner(sqlite_store), [])
    watcher.join(5)
    assert seen["name"].endswith(f"-{os.getpid()}")
    after = _by_name(sqlite_store)[seen["name"]]
    assert after["stopped_at"] is not None and not after["alive"]
