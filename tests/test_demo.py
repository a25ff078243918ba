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
    assert "open the dashboard with: reactions dashboard" in out

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
    # it scores itself against the sample's labels and says what taught it (no teacher: off)
    assert "the team's labels in the sample file (taught by an editor's 48 labels):" in out
    assert "posts no label taught: accuracy" in out and "all labelled posts: accuracy" in out

    check_the_paragraph(tmp_path, out)

    out_again, _ = run_demo(tmp_path)
    assert "ingested 0 new posts" in out_again
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == posts


def check_the_paragraph(data_dir, out):
    """On the demo story: every quote is text of a post it cites, in the sentence's bucket;
    shares sum to 100; the brief paragraph states its period in at most 110 words."""
    import re

    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(REACTIONS_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "reactions", "blurb", "trump-maduro-call",
                             "--format", "json"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    # the stored paragraph the demo printed (with its citation marks), reused
    assert data["paragraph"] in re.sub(r"\[\d+\]", "", out)
    assert data["style"] == "brief"
    assert data["period"]["words"] in ("Since Nov 24", "Since Nov 24, 2025")  # the year: later
    assert data["paragraph"].startswith(data["period"]["words"] + ", ")
    assert len(data["paragraph"].split()) <= 110
    assert sum(b["percent"] for b in data["buckets"].values()) == 100

    def normal(text):
        return " ".join(re.findall(r"\w+", text.lower()))

    with sqlite3.connect(data_dir / "reactions.db") as conn:
        bucket_of = dict(conn.execute(
            "SELECT s.post_id, coalesce(l.label, s.label) FROM stances s LEFT JOIN labels l "
            "ON l.post_id = s.post_id AND l.source = 'human'").fetchall())
        text_of = dict(conn.execute("SELECT id, text FROM posts").fetchall())
    quotes = 0
    for sentence in data["sentences"] + data["evidence"]:
        for quote, pid in zip(sentence["quotes"], sentence["post_ids"]):
            assert normal(quote.removesuffix("...")) in normal(text_of[pid]), (quote, pid)
            quotes += 1
        if sentence["bucket"] in data["buckets"]:
            assert {bucket_of[pid] for pid in sentence["post_ids"]} <= {sentence["bucket"]}
    assert quotes >= 10
    check_the_phrases(data, text_of)
    numbers = [c["n"] for c in data["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))


def check_the_phrases(data, text_of):
    """Every quote is verbatim text of its post (capitals and all); a clause (a point, or any
    quote of the evidence block) starts where a sentence or clause starts and ends at a
    clause boundary or the post's end; no phrase is cut out of a capitalised name; and no
    bucket's keyphrase repeats a name the opening said."""
    import re

    from tests.test_summary_truth import _name_word, quote_problems

    opening, *said = data["sentences"]
    names = {w for q in opening["quotes"] for w in re.findall(r"[\w'-]+", q) if _name_word(w)}
    for sentence in data["sentences"] + data["evidence"]:
        in_paragraph = sentence in data["sentences"]
        for quote, pid in zip(sentence["quotes"], sentence["post_ids"]):
            clause = len(quote.split()) > 4 or not in_paragraph
            assert quote_problems(quote, text_of[pid], clause=clause) == [], (quote, pid)
            if sentence in said and not clause:
                assert not {w for w in re.findall(r"[\w'-]+", quote) if _name_word(w)} & names, quote
