"""Celery workers against the real Redis and PostgreSQL on this machine (skipped when either
does not answer): a scheduler and workers process a story collected from a fake API on
127.0.0.1, one worker is killed mid-page, and nothing is lost, doubled or fetched twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactions import schema as t
from reactions.leases import INTERRUPTED
from reactions.store import Store
from reactions.stories import parse_story
from tests.fake_hn import FakeHackerNews, hn_story_toml

ROOT = Path(__file__).resolve().parent.parent
BROKER = os.environ.get("REACTIONS_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
POSTS = 250

pytestmark = pytest.mark.postgres


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=2).ping())
    except Exception:
        return False


@pytest.fixture
def broker_env(postgres_url, tmp_path):
    if not _redis_available():
        pytest.skip(f"no Redis server answers at {BROKER}")
    queue = f"reactions-test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", REACTIONS_DATA_DIR=str(tmp_path / "data"),
               REACTIONS_DATABASE_URL=postgres_url, REACTIONS_BROKER_URL=BROKER,
               REACTIONS_BROKER_QUEUE=queue, REACTIONS_LEASE_SECONDS="3",
               REACTIONS_TASK_VISIBILITY_SECONDS="12", TOKENIZERS_PARALLELISM="false")
    yield env
    import redis

    client = redis.Redis.from_url(BROKER)
    client.delete(queue)
    client.close()


def _start(args, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reactions", *args], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout: float, what: str, logs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _stop(process: subprocess.Popen) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("still running 10 s after SIGTERM") from None
    return time.monotonic() - started


def _done(store: Store) -> bool:
    return (store.count_posts("policy") == POSTS and not store.posts_without_stance("policy")
            and store.latest_summary("policy") is not None)


def test_two_workers_and_a_scheduler_lose_nothing_when_a_worker_dies(broker_env, postgres_url,
                                                                     tmp_path):
    store = Store(postgres_url)
    processes: list[subprocess.Popen] = []
    logs = [tmp_path / name for name in ("run.log", "a.log", "b.log", "c.log")]
    # The first request for the second page stalls: the worker that sent it dies there.
    with FakeHackerNews(POSTS, hang_page=1) as fake:
        store.save_story(parse_story(hn_story_toml("policy", fake.url)))
        try:
            worker_a = _start(["worker", "--concurrency", "1"], broker_env, logs[1])
            processes.append(worker_a)
            processes.append(_start(["run"], broker_env, logs[0]))
            _wait_for(lambda: any(fake.page_number(f) == 1 for f in fake.requests), 90,
                      "the second page's request", logs)
            assert store.count_posts("policy") == 100  # the first page is committed
            worker_a.kill()  # mid-page: its task was never acknowledged
            worker_a.wait()
            for log in logs[2:]:
                processes.append(_start(["worker", "--concurrency", "2", "--torch-threads", "1"],
                                        broker_env, log))
            _wait_for(lambda: _done(store), 240, "the story to be collected and classified",
                      logs)
            for process in processes[1:]:
                assert _stop(process) < 10
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
    # No post lost, none doubled.
    stored = sorted(p.native_id for p in store.posts("policy"))
    assert stored == sorted(h["objectID"] for h in fake.hits)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.posts)).scalar() == POSTS
        stances = conn.execute(sa.select(sa.func.count()).select_from(t.stances)).scalar()
        runs = [dict(r._mapping) for r in conn.execute(sa.select(t.runs).order_by(t.runs.c.id))]
    assert stances == POSTS
    # No page answered twice: the stalled request was never answered, the rest once each.
    assert len(fake.served) == len(set(fake.served)) == 3, fake.requests
    # The killed worker's run was closed as interrupted; the next one finished the story.
    assert runs[0]["error"] == INTERRUPTED and runs[0]["added"] == 0
    finished = [r for r in runs[1:] if r["added"]]
    assert len(finished) == 1 and finished[0]["added"] == POSTS - 100
    assert finished[0]["error"] is None
    store.close()


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_worker_stops_within_ten_seconds_mid_request(broker_env, postgres_url, tmp_path, mode):
    """SIGTERM while a task reads a trickling (or silent) answer: the worker exits in time."""
    store = Store(postgres_url)
    log = tmp_path / "worker.log"
    with FakeHackerNews(150, mode=mode) as fake:
        store.save_story(parse_story(hn_story_toml("policy", fake.url)))
        worker = _start(["worker", "--concurrency", "1"], broker_env, log)
        scheduler = _start(["run"], broker_env, tmp_path / "run.log")
        try:
            _wait_for(lambda: fake.requests, 90, "the first request", [log])
            time.sleep(1.0)
            assert _stop(worker) < 10
            assert _stop(scheduler) < 10
        finally:
            for process in (worker, scheduler):
                if process.poll() is None:
                    process.kill()
    store.close()


AMQP = os.environ.get("REACTIONS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def test_rabbitmq_works_as_the_broker_too(postgres_url, tmp_path):
    from kombu import Connection

    try:
        with Connection(AMQP, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:
        pytest.skip(f"no RabbitMQ server answers at {AMQP}")
    queue = f"reactions-test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", REACTIONS_DATA_DIR=str(tmp_path / "data"),
               REACTIONS_DATABASE_URL=postgres_url, REACTIONS_BROKER_URL=AMQP,
               REACTIONS_BROKER_QUEUE=queue)
    store = Store(postgres_url)
    logs = [tmp_path / "run.log", tmp_path / "worker.log"]
    with FakeHackerNews(150) as fake:
        store.save_story(parse_story(hn_story_toml("policy", fake.url)))
        processes = [_start(["worker", "--concurrency", "1"], env, logs[1]),
                     _start(["run"], env, logs[0])]
        try:
            _wait_for(lambda: store.count_posts("policy") == 150, 120, "the posts", logs)
            for process in processes:
                assert _stop(process) < 10
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
            with Connection(AMQP) as connection:
                channel = connection.channel()
                channel.queue_delete(queue)
                channel.close()
    assert "amqp://guest:***@127.0.0.1" in logs[1].read_text()  # the password is masked
    assert len(fake.served) == len(set(fake.served)) == 2
    store.close()


def test_a_worker_beats_while_alive_and_says_when_it_stops(broker_env, postgres_url, tmp_path):
    from reactions.heartbeat import WORKER, processes

    store = Store(postgres_url)
    log = tmp_path / "worker.log"
    name = f"reactions@beat-{uuid.uuid4().hex[:6]}"
    worker = _start(["worker", "--no-preload", "--concurrency", "1", "--name", name],
                    broker_env, log)
    try:
        _wait_for(lambda: any(p["name"] == name and p["role"] == WORKER and p["alive"]
                              for p in processes(store)), 90, "the worker's heartbeat", [log])
        assert _stop(worker) < 10
    finally:
        if worker.poll() is None:
            worker.kill()
    row = next(p for p in processes(store) if p["name"] == name)
    assert row["stopped_at"] is not None and not row["alive"], log.read_text()[-3000:]
    store.close()
