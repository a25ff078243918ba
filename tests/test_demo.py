"""The main job as a user runs it: `python -m reactions demo`, twice, on the real packaged model."""

import json
import os
import sqlite3
import subprocess
import sys
import time

from tests.conftest import ROOT


def run_demo(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(REACTIONS_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "reactions", "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, time.perf_counter() - started


def test_demo_end_to_end_twice(tmp_path):
    out, seconds = run_demo(tmp_path)
    assert seconds < 120, f"demo took {seconds:.0f} s"
    assert "What people are saying" in out and "posts on" in out
    assert "supporters" in out and "skeptics" in out and "neutral" in out
    assert "python -m reactions dashboard" in out

    db = tmp_path / "reactions.db"
    with sqlite3.connect(db) as conn:
        posts = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        stances = dict(conn.execute("SELECT label, count(*) FROM stances GROUP BY label").fetchall())
        spanish = conn.execute("SELECT count(*) FROM posts WHERE language = 'es'").fetchone()[0]
        script_post = conn.execute(
            "SELECT text FROM posts WHERE text LIKE '%<script>%'").fetchone()[0]
    sample = [json.loads(line) for line in (ROOT / "seeds" / "trump-maduro-call.posts.jsonl")
              .read_text(encoding="utf-8").splitlines() if line.strip()]
    assert posts == len(sample)
    assert sum(stances.values()) == posts  # every post has a stance or an explicit unclassified
    assert stances.get("unclassified", 0) >= spanish > 0  # Spanish posts are not forced into a bucket
    assert "<script>" in script_post  # stored as the text it is; escaped where shown
    with sqlite3.connect(db) as conn:
        taught = conn.execute(
            "SELECT l.label, p.raw FROM labels l JOIN posts p ON p.id = l.post_id "
            "WHERE l.source = 'human' AND l.labeller = 'demo: team labels'").fetchall()
    # the demo plays the editor: active learning picks 48 posts, the team's labels answer
    assert len(taught) == 48
    assert all(label == json.loads(raw)["label"] for label, raw in taught)
    assert "an editor's 48 answers" in out

    out_again, _ = run_demo(tmp_path)
    assert "ingested 0 new posts" in out_again
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == posts
