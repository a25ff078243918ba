"""The README and the docs site are part of the product: their commands must be the ones CI
and users run, and every command and setting must be documented."""

import re
import tomllib

import pytest

from reactions.cli import COMMANDS
from reactions.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert len(command) == 1, "the .ci/run command line must start with python3 -m venv"
    assert command[0] in README


def test_ci_builds_the_docs_strictly_and_installs_the_console_script():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    line = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert "mkdocs build --strict" in line
    assert re.search(r"pip install [^&]*-e \.", line), "the test setup must install `reactions`"


def test_readme_quick_start_runs_the_demo():
    # `-e .` installs the `reactions` console script that the README and the hints use.
    assert re.search(r"python3 -m venv .venv && \. \.venv/bin/activate && pip install -r "
                     r"requirements\.txt[^&]* -e \. && (python -m )?reactions demo", README)


def test_every_command_is_documented():
    for name in COMMANDS:
        assert f"reactions {name}" in README, f"README does not mention `reactions {name}`"


def test_every_story_action_is_documented():
    from reactions.cli import build_parser

    parser = build_parser()
    story = parser._subparsers._group_actions[0].choices["story"]
    actions = story._subparsers._group_actions[0].choices
    assert {"add", "list", "show", "pause", "resume", "delete"} <= set(actions)
    for action in actions:
        assert re.search(rf"(story|/) `?{action}\b", README), f"README lacks `story {action}`"


def test_every_setting_is_documented():
    # The configuration page has every setting; the README the main ones and a link to it.
    configuration = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = f"REACTIONS_{name.upper()}"
        assert f"| `{variable}` |" in configuration, f"docs/configuration.md lacks {variable}"
    for variable in ("REACTIONS_DATABASE_URL", "REACTIONS_STANCE_MODEL", "REACTIONS_BROKER_URL"):
        assert variable in README
    assert "(docs/configuration.md)" in README


def test_every_credential_variable_is_documented():
    # Collectors read their credentials from the environment by name; each name must be in
    # the credentials guide.
    credentials = (DOCS / "credentials.md").read_text(encoding="utf-8")
    names = set()
    for path in (ROOT / "collectors").glob("*.py"):
        names |= set(re.findall(r"REACTIONS_[A-Z_]+", path.read_text(encoding="utf-8")))
    assert names, "no credential variables found in collectors/"
    for name in sorted(names):
        assert name in credentials, f"docs/credentials.md does not document {name}"


def test_docs_site_nav_names_existing_pages():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["name"] == "material"

    def pages(nav):
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                yield from pages(value)
            else:
                yield value

    listed = list(pages(config["nav"]))
    for page in listed:
        assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which does not exist"
    for page in ("index.md", "credentials.md", "deployment.md", "architecture.md",
                 "experiments.md", "stance.md", "sources.md"):
        assert page in listed, f"{page} is missing from mkdocs.yml's nav"


def test_readme_links_and_images_resolve():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert "docs/img/story-page.png" in local
    for target in local:
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    assert (ROOT / "docs/img/story-page.png").stat().st_size < 200 * 1024


def test_readme_stays_short():
    # About 10-12 KB: what it is, the two commands, a tour, configuration, commands, links.
    # Everything else belongs in docs/.
    assert len(README.encode("utf-8")) < 12_500, "move detail from the README into docs/"


def test_license_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "reactions contributors" in license_text


def test_every_command_has_a_docs_row():
    commands_page = (DOCS / "commands.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"| `reactions {name}" in commands_page, f"docs/commands.md lacks `reactions {name}`"
