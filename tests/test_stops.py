"""Clean stops with real processes: `reactions run` and `reactions dashboard` exit within
10 s of SIGTERM whatever is in flight, and a run left open by a killed process is closed
as interrupted at the next start. The API is a misbehaving fake on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reactions.leases import INTERRUPTED
from reactions.store import Store
from reactions.stories import parse_story
from tests.fake_hn import FakeHackerNews, hn_story_toml

ROOT = Path(__file__).resolve().parent.parent
EXIT_WITHIN = 10.0


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", REACTIONS_DATA_DIR=str(tmp_path / "data"),
               REACTIONS_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}", **extra)
    return env


def _start(args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reactions", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop_in_time(process: subprocess.Popen, sig=signal.SIGTERM) -> float:
    started = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        out = process.communicate()[0]
        raise AssertionError(
            f"still running {EXIT_WITHIN:.0f}s after the signal:\n{out}") from None
    return time.monotonic() - started


def _store_with_story(tmp_path, url: str) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.save_story(parse_story(hn_story_toml("slow", url)))
    return store


@pytest.mark.parametrize("mode", ["trickle", "ratelimit", "backoff"])
def test_run_stops_within_ten_seconds_mid_request(tmp_path, mode):
    """A body trickling one byte every 2 s, a 200 s Retry-After, a 503 backoff: SIGTERM
    ends the run at once, and the run row is closed without an error."""
    with FakeHackerNews(150, mode=mode) as fake:
        store = _store_with_story(tmp_path, fake.url)
        process = _start(["run"], _env(tmp_path))
        _wait_for(lambda: fake.requests, 60, "the first request")
        time.sleep(1.5)  # well inside the trickle, the rate-limit wait or the backoff
        _stop_in_time(process)
        out = process.communicate()[0]
    assert process.returncode == 0, out
    assert "stopped" in out
    runs = store.last_runs()
    assert len(runs) == 1 and runs[0]["finished_at"] is not None, runs
    assert runs[0]["error"] is None and runs[0]["pages"] == 0
    store.close()


def test_killed_run_is_closed_at_next_start_and_a_silent_server_cannot_hold_a_stop(tmp_path):
    """kill -9 leaves the run row open; the next start closes it as interrupted. That start
    then meets a server that sent its headers and nothing more: SIGTERM still ends it."""
    with FakeHackerNews(150, mode="silent") as fake:
        store = _store_with_story(tmp_path, fake.url)
        first = _start(["run"], _env(tmp_path))
        _wait_for(lambda: fake.requests, 60, "the first request")
        first.kill()
        first.communicate()
        (run,) = store.last_runs()
        assert run["finished_at"] is None  # left "running" by the killed process

        second = _start(["run"], _env(tmp_path))
        _wait_for(lambda: len(fake.requests) >= 2, 60, "the second process's request")
        closed = next(r for r in store.last_runs())
        runs = {r["id"]: r for r in _all_runs(store)}
        assert runs[run["id"]]["finished_at"] is not None
        assert runs[run["id"]]["error"] == INTERRUPTED
        assert closed["id"] != run["id"]  # the second process started a run of its own
        took = _stop_in_time(second)
        second.communicate()
    assert took < EXIT_WITHIN
    store.close()


def _all_runs(store: Store) -> list[dict]:
    import sqlalchemy as sa

    from reactions import schema as t

    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t.runs))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dashboard_stops_its_streamlit_server(tmp_path):
    port = _free_port()
    process = _start(["dashboard", "--port", str(port)], _env(tmp_path))
    health = f"http://127.0.0.1:{port}/_stcore/health"

    def answers() -> bool:
        try:
            return httpx.get(health, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_for(answers, 90, "the Streamlit server")
    finally:
        if process.poll() is None:
            _stop_in_time(process)
    process.communicate()
    # The server went with the command: nothing listens on the port any more.
    _wait_for(lambda: not answers(), 5, "the Streamlit server to stop")
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_worker_without_a_broker_says_what_to_set(capsys):
    from reactions.cli import main

    assert main(["worker"]) == 2
    assert "REACTIONS_BROKER_URL" in capsys.readouterr().err


def test_broker_passwords_are_masked():
    from reactions.worker import safe_broker_url

    assert safe_broker_url("amqp://desk:s3cret@mq.example:5672/news") == \
        "amqp://desk:***@mq.example:5672/news"
    assert safe_broker_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_trickling_answer_meets_the_overall_deadline(monkeypatch):
    """Each byte arrives well within the read timeout; the whole answer does not arrive
    within the deadline, so the attempt fails as a timeout (and is retried like one)."""
    from collectors import http
    from collectors.base import TransientError

    monkeypatch.setattr(http, "REQUEST_DEADLINE", 1.0)
    with FakeHackerNews(20, mode="trickle", trickle_every=0.2) as fake:
        client = http.make_client()
        started = time.monotonic()
        with pytest.raises(TransientError, match="timed out"):
            http.get_json(client, f"{fake.url}/search_by_date", source="hackernews", attempts=1)
        took = time.monotonic() - started
        client.close()
    assert 1.0 <= took < 3.0


def test_two_schedulers_never_page_one_source_at_once(tmp_path):
    """Two `reactions run` on one database: the source's lease lets one page it, the other
    skips it, so the API never sees two requests for it at once."""
    with FakeHackerNews(0, delay=8.0) as fake:  # slow answers, nothing to classify
        store = _store_with_story(tmp_path, fake.url)
        first = _start(["run"], _env(tmp_path))
        second = _start(["run"], _env(tmp_path))
        try:
            _wait_for(lambda: fake.requests, 60, "the first request")
            time.sleep(4)  # both schedulers' first runs are due at once
            assert fake.most_in_flight == 1
        finally:
            for process in (first, second):
                _stop_in_time(process)
        out = first.communicate()[0] + second.communicate()[0]
    assert "another process is collecting it" in out
    assert len(fake.requests) == 1
    store.close()
