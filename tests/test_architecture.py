"""The layering the architecture page promises, checked on the source (issue #17 part 7).

- Only the data layer (`reactions/store/`) talks SQL: no other module of the application
  imports SQLAlchemy, except the few listed in `SQL_ALLOWED` with the reason.
- The modules of `reactions`, `dashboard`, `nlp` and `collectors` import each other without
  a cycle, counting imports inside functions too (an import moved into a function to dodge
  a cycle is still one).
- Dashboard pages write only through `dashboard/writes.py`: no page calls a store method
  (or an application function) that writes.

Everything is read from the source with `ast`; nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reactions", "dashboard", "nlp", "collectors")
STORE = "reactions.store"
#: Modules outside the store that may import SQLAlchemy, and why. Keep this short.
SQL_ALLOWED = {
    # The table definitions the store queries and the migrations build; it executes nothing.
    "reactions.schema": "table definitions",
}
WRITES = "dashboard.writes"


#: Modules left out of the cycle check, and why; remove an entry once its cycle is gone.
CYCLE_EXEMPT: dict[str, str] = {}  # module prefix -> why its cycle is allowed (none today)


def _modules(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """module name -> file, for every Python file of the packages (migrations left out:
    Alembic's revision scripts are the schema's history, not application code)."""
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(module: str, path: Path, tree: ast.Module) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file, with
    `from package import name` resolved to the submodule when `name` is one."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((base, node.lineno))
            out.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
    return out


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines of imports under `if TYPE_CHECKING:` (never executed, so no cycle)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        lines.add(sub.lineno)
    return lines


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the application modules it imports (module level and inside functions)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = _tree(path)
        skip = _type_checking_lines(tree)
        graph[module] = {name for name, line in _imported(module, path, tree)
                         if name in modules and name != module and line not in skip}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colours)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return [*stack[stack.index(nxt):], nxt]
            if colour[nxt] == WHITE and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE and (found := visit(node)):
            return found
    return None


def sql_users(modules: dict[str, Path]) -> dict[str, list[int]]:
    """Modules outside the store that import SQLAlchemy (or a DB-API driver), with lines."""
    drivers = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")
    users: dict[str, list[int]] = {}
    for module, path in modules.items():
        if module == STORE or module.startswith(STORE + "."):
            continue
        for name, line in _imported(module, path, _tree(path)):
            if name.split(".")[0] in drivers:
                users.setdefault(module, []).append(line)
    return users


def store_writers() -> set[str]:
    """The store's methods that open a write transaction (`self.begin()`)."""
    names = set()
    for path in (ROOT / "reactions" / "store").glob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef) and "self.begin(" in ast.unparse(node):
                names.add(node.name)
    return names


def writer_methods() -> set[str]:
    """What only `dashboard/writes.py` may call: the names it calls on the store or on an
    application module, and every store method that writes."""
    names = set(store_writers())
    for node in ast.walk(_tree(ROOT / "dashboard" / "writes.py")):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(node.func.attr)
    return names - {"clear", "get_store"}  # the cache and the store itself are no writes


def write_calls(path: Path, writers: set[str]) -> list[str]:
    """Uses of a writer outside `writes`: `x.name` (a call, or a function handed on to be
    called later) and `from x import name`, as 'file:line name'."""
    found = []
    for node in ast.walk(_tree(path)):
        if (isinstance(node, ast.Attribute) and node.attr in writers
                and not (isinstance(node.value, ast.Name) and node.value.id == "writes")):
            found.append(f"{path.name}:{node.lineno} {node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module != WRITES:
            found.extend(f"{path.name}:{node.lineno} {a.name}" for a in node.names
                         if a.name in writers)
    return found


# -- the checks ------------------------------------------------------------------------------


def test_only_the_store_talks_sql():
    users = sql_users(_modules())
    unexpected = {m: lines for m, lines in users.items() if m not in SQL_ALLOWED}
    assert not unexpected, (
        "SQL outside reactions/store/ (move the query into the store package): "
        + "; ".join(f"{m} (lines {', '.join(map(str, lines))})" for m, lines in unexpected.items()))
    # An allowance that is no longer needed goes too, so the list stays honest.
    assert set(SQL_ALLOWED) <= set(users), set(SQL_ALLOWED) - set(users)


def _exempt(module: str) -> bool:
    return any(module == m or module.startswith(m) for m in CYCLE_EXEMPT)


def test_no_import_cycle():
    graph = import_graph(_modules())
    kept = {m: {n for n in deps if not _exempt(n)} for m, deps in graph.items() if not _exempt(m)}
    cycle = find_cycle(kept)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    # An exemption whose modules no longer form a cycle goes, so the list stays honest.
    if CYCLE_EXEMPT:
        exempt = {m: {n for n in deps if _exempt(n)} for m, deps in graph.items() if _exempt(m)}
        assert find_cycle(exempt) is not None, f"remove {sorted(CYCLE_EXEMPT)} from CYCLE_EXEMPT"


def test_dashboard_pages_write_only_through_the_writes_module():
    writers = writer_methods()
    # The dashboard's writes: labels, stories, alerts, subscriptions, rules, digests.
    assert {"add_label", "save_story", "set_story_active", "delete_story", "acknowledge_alert",
            "add_subscription", "add_rule", "resolve_unknown"} <= writers
    pages = [p for p in sorted((ROOT / "dashboard").glob("*.py")) if p.stem != "writes"]
    calls = [call for page in pages for call in write_calls(page, writers)]
    assert not calls, "dashboard writes outside dashboard/writes.py: " + ", ".join(calls)


# -- the checkers catch what they are for ------------------------------------------------------


def test_cycle_finder_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_function_level_imports_count(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import pkg.b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg import a\n")
    modules = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py",
               "pkg.c": pkg / "c.py"}
    graph = import_graph(modules)
    assert graph["pkg.b"] == {"pkg", "pkg.a"} and graph["pkg.c"] == set()
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_sql_finder_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "page.py"
    path.write_text("def newest():\n    import sqlalchemy as sa\n    return sa\n")
    assert sql_users({"dashboard.page": path}) == {"dashboard.page": [2]}


def test_write_finder_flags_a_direct_store_write(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("from reactions.aggregates import add_label\n"
                    "def f(store, writes, digests):\n    store.add_label('s', 1, 'agree')\n"
                    "    writes.add_label('s', 1, 'agree')\n    pick(digests.add_label)\n")
    assert write_calls(page, {"add_label"}) == [
        "page.py:1 add_label", "page.py:3 add_label", "page.py:5 add_label"]


@pytest.mark.parametrize("module", ["reactions.store", "reactions.store.posts"])
def test_store_modules_are_found(module):
    assert module in _modules()
