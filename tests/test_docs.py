"""The README is part of the product: its commands must be the ones CI and users run."""

import re

from reactions.cli import COMMANDS
from reactions.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert len(command) == 1, "the .ci/run command line must start with python3 -m venv"
    assert command[0] in README


def test_readme_quick_start_runs_the_demo():
    assert re.search(r"python3 -m venv .venv && \. \.venv/bin/activate && pip install -r "
                     r"requirements\.txt.* && python -m reactions demo", README)


def test_every_command_is_documented():
    for name in COMMANDS:
        assert f"reactions {name}" in README, f"README does not mention `reactions {name}`"


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"REACTIONS_{name.upper()}" in README, f"README does not document REACTIONS_{name.upper()}"
