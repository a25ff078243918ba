"""The CLI a newcomer meets: the console script, pipes, story delete/show, status of every
source, honest messages when posts are not classified yet, and quiet retries."""

import json
import logging
import os
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
import sqlalchemy as sa
import stamina
import stamina.instrumentation as instrumentation

from reactions import schema as t
from reactions.cli import main
from reactions.models import utcnow
from reactions.store import Store
from tests import test_cli
from tests.conftest import ROOT
from tests.test_cli import run_cli

# The same fixtures as tests/test_cli.py: a story on a small posts file, a fake classifier.
story_file = test_cli.story_file
fake_stance = test_cli.fake_stance


def second_story(story_file, slug):
    """The same posts file under another slug: the two stories share their posts."""
    path = story_file.with_name(f"{slug}.toml")
    path.write_text(story_file.read_text(encoding="utf-8").replace("cli-story", slug),
                    encoding="utf-8")
    return path


def test_console_script_points_at_the_pipe_safe_entry():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"]
    target = project["project"]["scripts"]["reactions"]
    module, _, name = target.partition(":")
    assert (module, name) == ("reactions.cli", "entry")
    main_py = (ROOT / "reactions" / "__main__.py").read_text(encoding="utf-8")
    assert "entry()" in main_py


def test_status_json_in_a_closed_pipe_ends_quietly(tmp_path):
    # Enough rows that the output outgrows the pipe's buffer after the reader has gone.
    assert main(["init"]) == 0
    store = Store(f"sqlite:///{tmp_path / 'data' / 'reactions.db'}")
    now = utcnow()
    with store.begin() as conn:
        conn.execute(sa.insert(t.runs), [
            {"story": "trump-maduro-call", "source": f"old-source-{i}", "started_at": now,
             "finished_at": now, "added": i, "pages": 1} for i in range(2000)])
    store.close()
    proc = subprocess.Popen([sys.executable, "-m", "reactions", "status", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    assert proc.stdout.read(200).startswith(b"[")
    proc.stdout.close()  # what `| head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_status_lists_sources_that_never_ran(capsys, story_file):
    run_cli(capsys, "init")
    run_cli(capsys, "story", "add", str(story_file))
    code, out, _ = run_cli(capsys, "status")
    assert code == 0
    assert "trump-maduro-call/file: never run yet" in out
    assert "trump-maduro-call/hackernews: never run yet" in out
    assert "cli-story/file: never run yet" in out
    run_cli(capsys, "collect", "cli-story")
    code, out, _ = run_cli(capsys, "status", "--json")
    rows = {(r["story"], r["source"]): r for r in json.loads(out)}
    assert rows["cli-story", "file"]["state"] == "ok" and rows["cli-story", "file"]["added"] == 3
    assert rows["trump-maduro-call", "hackernews"]["state"] == "never run"
    assert rows["trump-maduro-call", "hackernews"]["finished_at"] is None


def test_story_show_prints_the_whole_definition(capsys):
    run_cli(capsys, "init")
    run_cli(capsys, "story", "pause", "trump-maduro-call")
    code, out, _ = run_cli(capsys, "story", "show", "trump-maduro-call")
    assert code == 0
    assert "state:       paused" in out
    assert "hashtags:    Maduro, Venezuela" in out
    assert "languages:   en, es" in out
    assert "hackernews every 30 min" in out
    assert 'path = "' in out and "trump-maduro-call.posts.jsonl" in out  # a source's options
    assert "posts:       0" in out


def test_story_delete_asks_and_keeps_posts_other_stories_hold(capsys, story_file, monkeypatch):
    run_cli(capsys, "story", "add", str(story_file))
    run_cli(capsys, "story", "add", str(second_story(story_file, "other-story")))
    run_cli(capsys, "collect")
    # No terminal to ask on, no --yes: nothing is deleted.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    code, _, err = run_cli(capsys, "story", "delete", "cli-story")
    assert code == 2 and "--yes" in err
    # On a terminal, a wrong answer keeps the story.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    code, out, _ = run_cli(capsys, "story", "delete", "cli-story")
    assert code == 1 and "not deleted" in out
    assert "cli-story" in run_cli(capsys, "story", "list")[1]
    # Typing the slug deletes it; the posts the other story holds stay.
    monkeypatch.setattr("builtins.input", lambda prompt: "cli-story")
    code, out, _ = run_cli(capsys, "story", "delete", "cli-story")
    assert code == 0 and "story deleted: cli-story (0 posts deleted, 3 kept" in out
    listed = run_cli(capsys, "story", "list")[1]
    assert "cli-story" not in listed and "other-story\tactive\t3 posts" in listed
    code, _, err = run_cli(capsys, "story", "show", "cli-story")
    assert code == 2 and "unknown story 'cli-story'" in err


def test_delete_story_removes_everything_filed_under_it(store, story):
    from reactions.models import Post, StancePrediction

    other = story.__class__(slug="other", title="Another story here", claim="Another claim here")
    store.save_story(story)
    store.save_story(other)
    now = utcnow()
    posts = [Post(platform="bluesky", native_id=str(i), text=f"post number {i}", created_at=now,
                  collected_at=now) for i in range(4)]
    store.upsert_posts(story.slug, posts, source="bluesky")
    store.upsert_posts(other.slug, posts[:1], source="bluesky")
    ids = [p.id for p in store.posts(story.slug)]
    store.save_stances(story.slug, [(pid, StancePrediction("supporters", {"supporters": 1.0}))
                                    for pid in ids], model="test")
    store.add_label(story.slug, ids[0], "skeptics", source="human")
    run_id = store.start_run(story.slug, "bluesky")
    store.finish_run(run_id, added=4, pages=1)
    store.save_embeddings("test-encoder", {pid: np.ones(4, dtype=np.float32) for pid in ids})
    with store.begin() as conn:
        sub = conn.execute(sa.insert(t.subscriptions).values(
            story=story.slug, address="desk@example.org", period="daily", active=True,
            created_at=now)).inserted_primary_key[0]
        conn.execute(sa.insert(t.digests).values(subscription_id=sub, period_key="2026-11-27",
                                                 status="sent", attempts=1))
        rule = conn.execute(sa.insert(t.alert_rules).values(
            story=story.slug, kind="volume_spike", params={}, channel="dashboard", active=True,
            created_at=now)).inserted_primary_key[0]
        conn.execute(sa.insert(t.alerts).values(
            rule_id=rule, story=story.slug, kind="volume_spike", fired_at=now, message="m",
            details={}, delivered={}))

    result = store.delete_story(story.slug)

    assert result == {"posts": 4, "posts_deleted": 3}
    assert [s.slug for s in store.list_stories()] == ["other"]
    assert store.count_posts("other") == 1 and store.count_posts() == 1
    assert store.last_runs() == [] and store.labels(story.slug) == []
    with store.engine.connect() as conn:
        for table in (t.stances, t.story_posts, t.runs, t.labels, t.subscriptions, t.alerts,
                      t.alert_rules, t.dedup_keys):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.story == story.slug)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.digests)).scalar_one() == 0
        kept = conn.execute(sa.select(t.embeddings.c.post_id)).scalars().all()
    assert kept == [p.id for p in store.posts("other")]  # only the shared post's embedding


def test_blurb_and_summarize_tell_unclassified_from_empty(capsys, story_file, fake_stance):
    run_cli(capsys, "story", "add", str(story_file))
    code, out, err = run_cli(capsys, "blurb", "cli-story")
    assert code == 0 and "have been collected yet" in out  # truly empty
    run_cli(capsys, "collect", "cli-story")
    for command in ("blurb", "summarize"):
        code, out, err = run_cli(capsys, command, "cli-story")
        assert code == 1 and out == ""
        assert "3 posts collected but none classified yet" in err
        assert "reactions classify cli-story" in err
    run_cli(capsys, "classify", "cli-story")
    code, out, err = run_cli(capsys, "blurb", "cli-story")
    assert code == 0 and "Supporters" in out and err == ""


def test_collect_without_credentials_skips_at_once_in_one_line(capsys, tmp_path, monkeypatch):
    for name in ("REACTIONS_BLUESKY_HANDLE", "REACTIONS_BLUESKY_APP_PASSWORD",
                 "REACTIONS_X_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "creds.toml"
    path.write_text('slug = "creds"\ntitle = "A story with credentials"\n'
                    'claim = "A claim that needs sources"\nqueries = ["boats"]\n'
                    '[[sources]]\nname = "bluesky"\n[[sources]]\nname = "x"\n', encoding="utf-8")
    run_cli(capsys, "story", "add", str(path))
    started = time.perf_counter()
    code, out, err = run_cli(capsys, "collect", "creds")
    assert time.perf_counter() - started < 5
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "creds/bluesky: skipped, credentials missing: set REACTIONS_BLUESKY_HANDLE, "
        "REACTIONS_BLUESKY_APP_PASSWORD in the environment",
        "creds/x: skipped, credentials missing: set REACTIONS_X_BEARER_TOKEN in the environment",
    ]
    code, out, _ = run_cli(capsys, "status")
    assert "creds/x: skipped, credentials missing" in out and "error:" not in out


def test_retries_are_counted_not_logged(caplog):
    from reactions.commands.collect import quiet_retries, source_line
    from reactions.pipeline import SourceResult

    before = instrumentation.get_on_retry_hooks()
    attempts = 0
    with caplog.at_level(logging.DEBUG), quiet_retries(verbose=False) as retries:
        with pytest.raises(ConnectionError):
            for attempt in stamina.retry_context(on=ConnectionError, attempts=3, wait_initial=0.001,
                                                 wait_max=0.002, wait_jitter=0):
                with attempt:
                    attempts += 1
                    raise ConnectionError("down")
        assert logging.getLogger("reactions.pipeline").level == logging.CRITICAL
    assert attempts == 3 and retries.count == 2
    assert not [r for r in caplog.records if r.name.startswith("stamina")]
    assert instrumentation.get_on_retry_hooks() == before  # restored for the rest of the process
    result = SourceResult("s", "hackernews")
    result.error = "hackernews: connection failed"
    assert source_line("s", result, retries) == (
        "s/hackernews: 0 new posts in 0 pages (2 retries); stopped: hackernews: connection failed")


def test_progress_bars_on_a_terminal_and_none_in_a_pipe(capsys, story_file, fake_stance,
                                                        monkeypatch):
    run_cli(capsys, "story", "add", str(story_file))
    code, _, err = run_cli(capsys, "collect", "cli-story")
    assert code == 0 and err == ""  # captured output is not a terminal: no bar, no noise
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    code, _, err = run_cli(capsys, "classify", "cli-story")
    assert code == 0 and "classifying cli-story" in err and "0/3" in err  # a bar with a total
    code, _, err = run_cli(capsys, "blurb", "cli-story", "--fresh")
    assert code == 0 and "writing the paragraph for cli-story" in err
