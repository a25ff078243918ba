"""Waits that survive a restart, in the scheduler and the worker: a source whose platform
answered 429 with a long Retry-After is not called (and records no failing run) until the
time saved with its cursor, also by a new Runner after a restart, and is called after it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import stamina

from collectors.base import CursorState
from collectors.http import make_client
from reactions.commands.status import source_statuses
from reactions.models import SourceConfig, Story, utcnow
from reactions.schedule import Runner, build_scheduler
from tests.replay import fixture

STORY = Story(slug="wait", title="Wait", claim="The claim holds.", queries=["maduro"],
              sources=[SourceConfig("x", 15)])


class FakeX:
    """X's recent search through httpx.MockTransport: a 429 asking for an hour, then pages."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            return httpx.Response(429, json={"title": "Too Many Requests"},
                                  headers={"Retry-After": "3600"})
        return httpx.Response(200, json=fixture("x", "search_recent_empty.json"))

    def client(self) -> httpx.Client:
        return make_client(transport=httpx.MockTransport(self))


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("REACTIONS_X_BEARER_TOKEN", "AAAA-bearer")
    with stamina.set_testing(True, attempts=3):
        yield


def _started(runner: Runner):
    """The scheduler with its jobs, paused: the test fires the job itself."""
    scheduler = build_scheduler(runner, [STORY])
    scheduler.start(paused=True)
    return scheduler


def _move_wait(store, moment) -> None:
    """Stand in for the clock reaching `moment`: rewrite the saved resume time."""
    state = CursorState(store.get_cursor("wait", "x"))
    state.wait_until(moment)
    with store.begin() as conn:
        store.save_cursor("wait", "x", state.dump(), conn=conn)


def test_a_saved_wait_holds_across_a_restart_without_failing_runs(sqlite_store,
                                                                   keyword_classifier):
    sqlite_store.save_story(STORY)
    fake = FakeX()
    runner = Runner(sqlite_store, classifier=keyword_classifier, clients={"x": fake.client()})
    scheduler = _started(runner)
    try:
        runner.collect_job("wait", "x")
        assert len(fake.requests) == 1
        (run,) = sqlite_store.last_runs()
        assert "rate limited (429)" in run["error"]
        resume = CursorState(sqlite_store.get_cursor("wait", "x")).resume_at()
        assert timedelta(minutes=59) < resume - utcnow() <= timedelta(hours=1)
        # the job and the run's planned next run both moved to the saved time
        assert scheduler.get_job("wait:x").next_run_time >= resume
        assert run["next_run"] >= resume
    finally:
        scheduler.shutdown(wait=False)

    # A restart: a new Runner and scheduler, new collectors, the same store.
    runner = Runner(sqlite_store, classifier=keyword_classifier, clients={"x": fake.client()})
    scheduler = _started(runner)
    try:
        assert scheduler.get_job("wait:x").next_run_time >= resume  # not "now"
        for _ in range(3):  # runs fired early (a manual trigger, a clock skew) are skipped
            runner.collect_job("wait", "x")
        assert len(fake.requests) == 1
        assert len(sqlite_store.last_runs()) == 1  # no run recorded for the skips
        (row,) = source_statuses(sqlite_store)
        assert row["state"] == "waiting" and row["waiting_until"] == resume

        _move_wait(sqlite_store, utcnow() - timedelta(seconds=1))  # the hour has passed
        runner.collect_job("wait", "x")
        assert len(fake.requests) == 2
        (row,) = source_statuses(sqlite_store)
        assert row["state"] == "ok" and row["waiting_until"] is None and row["error"] is None
        assert CursorState.RESUME_KEY not in sqlite_store.get_cursor("wait", "x")
    finally:
        scheduler.shutdown(wait=False)


def test_the_scheduler_sends_no_task_for_a_waiting_source(sqlite_store):
    sqlite_store.save_story(STORY)
    sent = []

    class Dispatch:
        def collect(self, slug, source, next_run=None):
            sent.append((slug, source))

        def send(self, name, *args):
            pass

    _move_wait(sqlite_store, utcnow() + timedelta(minutes=30))
    runner = Runner(sqlite_store, dispatch=Dispatch())
    scheduler = _started(runner)
    try:
        runner.collect_job("wait", "x")
        assert sent == []
        assert scheduler.get_job("wait:x").next_run_time >= utcnow() + timedelta(minutes=29)
        _move_wait(sqlite_store, None)
        runner.collect_job("wait", "x")
        assert sent == [("wait", "x")]
    finally:
        scheduler.shutdown(wait=False)


def test_a_worker_makes_no_request_for_a_waiting_source(sqlite_store, monkeypatch):
    from reactions.worker import tasks

    sqlite_store.save_story(STORY)
    fake = FakeX()
    from collectors.x import XCollector

    monkeypatch.setattr(tasks, "_state", {"store": sqlite_store,
                                          "collectors": {"x": XCollector(client=fake.client())}})
    monkeypatch.setattr(tasks.classify, "delay", lambda *a: None)
    first = tasks.collect("wait", "x")
    assert "rate limited" in first["error"] and first["waiting_until"]
    second = tasks.collect("wait", "x")
    assert second["waiting_until"] == first["waiting_until"] and second["error"] is None
    assert len(fake.requests) == 1 and len(sqlite_store.last_runs()) == 1
    _move_wait(sqlite_store, utcnow() - timedelta(seconds=1))
    third = tasks.collect("wait", "x")
    assert third["error"] is None and third["waiting_until"] is None and len(fake.requests) == 2


def test_status_and_collect_say_a_source_is_waiting(sqlite_url, monkeypatch, capsys):
    from reactions.cli import main
    from reactions.store import Store

    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    store.save_story(STORY)
    run = store.start_run("wait", "x")
    store.finish_run(run, added=0, pages=1, error="x: GET https://api.x.com/2/tweets/search/"
                     "recent: rate limited (429)")
    until = (utcnow() + timedelta(minutes=30)).replace(microsecond=0)
    _move_wait(store, until)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"wait/x: waiting until {until:%Y-%m-%d %H:%M:%S} UTC" in out
    assert "rate limited (429)" in out  # the reason, as the last error
    assert main(["collect", "wait"]) == 0  # nothing is called, nothing failed
    out = capsys.readouterr().out
    assert f"wait/x: skipped, the platform asked us to wait until {until:%Y-%m-%d %H:%M:%S}" in out
    assert len(store.last_runs()) == 1
    store.close()
