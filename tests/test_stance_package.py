"""The nlp/stance/ package: no import cycles, the public names where callers expect them,
and the registry's backends all importable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nlp" / "stance"


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The nlp.stance.* modules a module imports (at import time, or anywhere)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[2] for n in names
                  if n.startswith("nlp.stance.") and (PACKAGE / f"{n.split('.')[2]}.py").is_file()}
    return found - {path.stem}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_inside_the_package():
    modules = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(modules) >= 10
    # Neither at import time nor inside functions: model code never reaches back into the
    # training and evaluation modules that use it.
    for top_level_only in (True, False):
        graph = {p.stem: _imports(p, top_level_only=top_level_only) for p in modules}
        assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
    # Inside the package, modules import each other by submodule, never through the package
    # (its __init__ imports them all).
    for path in modules:
        source = path.read_text(encoding="utf-8")
        assert "from nlp.stance import" not in source, f"{path.name} imports the package"


def test_the_cycle_check_can_fail():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["contract", "registry", "chat", "teacher", "train"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    root = PACKAGE.parent.parent
    done = subprocess.run([sys.executable, "-c", f"import nlp.stance.{module}"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_public_names_and_registry():
    import nlp.stance as stance

    for name in stance.__all__:
        assert hasattr(stance, name), name
    assert set(stance.BACKENDS) == {"default", "folder", "hf", "nli", "chat", "chat-local"}
    assert stance.backend_for("chat:qwen") == ("chat", "qwen")
    assert stance.backend_for("chat-local:/models/x.gguf") == ("chat-local", "/models/x.gguf")
    assert stance.backend_for("nli:roberta") == ("nli", "roberta")


def test_loading_the_package_imports_no_torch():
    root = PACKAGE.parent.parent
    code = "import sys, nlp.stance; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
