"""The command line, in process (with a fake classifier) and as a subprocess where it matters."""

import json
import subprocess
import sys

import pytest

from reactions.cli import COMMANDS, main
from tests.conftest import ROOT, KeywordClassifier


@pytest.fixture
def fake_stance(monkeypatch):
    """Route `nlp.stance.load_classifier` to the keyword classifier (no model load). The
    package itself stays: the pipeline also uses its contract module."""
    import nlp.stance

    monkeypatch.setattr(nlp.stance, "load_classifier",
                        lambda spec=None, **_: KeywordClassifier())


@pytest.fixture
def story_file(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(json.dumps(r) for r in [
        {"platform": "bluesky", "native_id": "1", "text": "Finally, someone blowing up these narco boats",
         "created_at": "2025-11-24T10:00:00Z", "url": "https://bsky.app/profile/a/post/1"},
        {"platform": "reddit", "native_id": "2", "text": "This is illegal <script>alert('x')</script> *bold*",
         "created_at": "2025-11-24T11:00:00Z"},
        {"platform": "reddit", "native_id": "3", "text": "Axios says Trump wants to call Maduro",
         "created_at": "2025-11-24T12:00:00Z"},
    ]) + "\n", encoding="utf-8")
    path = tmp_path / "story.toml"
    path.write_text(f'''slug = "cli-story"
title = "Trump plans a call with Maduro"
claim = "The strikes on drug boats are the right approach."
[[sources]]
name = "file"
path = "{posts.name}"
''', encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_fast_and_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "reactions", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not imported & {"torch", "transformers", "sklearn", "streamlit"}


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: reactions " + name in capsys.readouterr().out


def test_init_loads_seed_stories(capsys):
    code, out, _ = run_cli(capsys, "init")
    assert code == 0 and "story loaded: trump-maduro-call" in out
    code, out, _ = run_cli(capsys, "story", "list")
    assert "trump-maduro-call\tactive\t0 posts" in out


def test_story_add_collect_classify_blurb(capsys, story_file, fake_stance):
    assert run_cli(capsys, "story", "add", str(story_file))[0] == 0
    code, out, _ = run_cli(capsys, "collect", "cli-story")
    assert code == 0 and "cli-story/file: 3 new posts" in out
    code, out, _ = run_cli(capsys, "classify", "cli-story")
    assert code == 0 and "supporters 1" in out and "skeptics 1" in out
    code, out, _ = run_cli(capsys, "summarize", "cli-story")
    assert code == 0 and "Bluesky" in out

    code, out, _ = run_cli(capsys, "blurb", "cli-story", "--format", "json")
    data = json.loads(out)
    assert data["counts"]["supporters"] == 1 and data["writer"] == "template"
    assert data["paragraph"].startswith("Since ") and ", posts on " in data["paragraph"]

    code, out, _ = run_cli(capsys, "blurb", "cli-story", "--format", "markdown")
    assert code == 0 and "<script>" not in out and "*bold*" not in out

    code, out, _ = run_cli(capsys, "status")
    assert "cli-story/file" in out and "3 added" in out

    code, out, _ = run_cli(capsys, "story", "pause", "cli-story")
    assert code == 0
    assert "paused" in run_cli(capsys, "story", "list")[1]


def test_unknown_story_is_a_clear_error(capsys):
    code, _, err = run_cli(capsys, "blurb", "no-such-story")
    assert code == 2 and "unknown story 'no-such-story'" in err and "Traceback" not in err


def test_invalid_story_file_names_line_and_reason(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('slug = "Bad Slug"\ntitle = "t"\nclaim = "a real claim"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "story", "add", str(bad))
    assert code == 2 and "line 1" in err and "slug" in err
    bad.write_text('slug = "ok"\ntitle = "t"\nclaim = "a claim"\n[[sources]]\nname = "myspace"\n')
    code, _, err = run_cli(capsys, "story", "add", str(bad))
    assert code == 2 and "unknown source myspace" in err


def test_corrupt_config_is_a_clear_error(capsys, tmp_path, monkeypatch):
    config = tmp_path / "reactions.toml"
    config.write_text("review_threshold = [oops\n", encoding="utf-8")
    monkeypatch.setenv("REACTIONS_CONFIG", str(config))
    code, _, err = run_cli(capsys, "story", "list")
    assert code == 2 and "not valid TOML" in err and str(config) in err
    config.write_text("openai_api_key = 'sk-secret'\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "story", "list")
    assert code == 2 and "REACTIONS_OPENAI_API_KEY" in err and "sk-secret" not in err


def test_bad_environment_value_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("REACTIONS_REVIEW_THRESHOLD", "high")
    code, _, err = run_cli(capsys, "init")
    assert code == 2 and "REACTIONS_REVIEW_THRESHOLD" in err
