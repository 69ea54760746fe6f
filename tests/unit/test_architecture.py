"""The house rules of src/dbtscaffold, read from the code's own imports (see docs/architecture.md).

- no module imports one that imports it back (no cycles, however long);
- runtime/ imports nothing from the rest of dbtscaffold (it is copied into generated projects);
- the layers point one way: cli -> commands -> dagster_project / dbt / changes / runtime -> leaves;
- every module says its job in a docstring and stays under about 400 lines.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PKG = SRC / "dbtscaffold"
LEAVES = {"console", "dagster_private", "errors", "proc", "resources"}
# Which top-level part may import which (a part may always import itself).
ALLOWED = {
    "cli": {"cli_group", "cli_options", "commands", "console", "errors", "runtime"},
    "cli_group": set(),
    "cli_options": {"commands"},
    "commands": {"dagster_project", "dbt", "changes", "runtime", *LEAVES},
    "dagster_project": {"dbt", "changes", "runtime", *LEAVES},
    "dbt": {"runtime", *LEAVES},
    "changes": {"errors"},
    "runtime": set(),
    "console": set(),
    "errors": set(),
    "proc": {"errors", "proctree"},
    "proctree": set(),
    "resources": set(),
    "dagster_private": set(),
    "__init__": {"runtime"},
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py") if "example" not in p.parts}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The dbtscaffold modules NAME imports (at any depth of the file: lazy imports count)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = ".".join(base[: len(base) - node.level + 1])
                mod = f"{prefix}.{node.module}" if node.module else prefix
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("dbtscaffold"):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {n: _imports(n, p, known) for n, p in mods.items()}
    # Importing a submodule runs its package's __init__ first: that is not an edge back.
    return {n: {t for t in deps if not n.startswith(t + ".")} for n, deps in graph.items()}


def _part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m) :] + [m] if m in stack else [n, m])
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_layers_point_one_way():
    wrong = []
    for name, deps in _graph().items():
        part = _part(name)
        for dep in deps:
            other = _part(dep)
            if other != part and other not in ALLOWED[part]:
                wrong.append(f"{name} -> {dep}")
    assert wrong == []


def test_runtime_imports_only_itself_and_light_modules():
    for name, deps in _graph().items():
        if _part(name) == "runtime":
            assert all(_part(d) == "runtime" for d in deps), (name, deps)
    # Importing the package costs nothing: its functions load their modules on first use.
    code = (
        "import sys; import dbtscaffold.runtime as r; "
        "print(sorted(m for m in sys.modules if m.startswith('dbtscaffold.runtime.')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_has_one_job_and_stays_small(name):
    path = _modules()[name]
    text = path.read_text(encoding="utf-8")
    if path.name == "__init__.py" and not text.strip():
        return
    assert ast.get_docstring(ast.parse(text)), f"{name} says nothing of its job"
    assert len(text.splitlines()) <= 450, f"{name} has {len(text.splitlines())} lines"


def test_help_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from dbtscaffold.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('dagster', 'dagster_dbt', 'dbt', 'cookiecutter', 'ruamel', 'psutil', 'jinja2',\n"
        "         'yaml', 'duckdb')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _bad_convert_seed(before: str = "", after: str = "", env: dict | None = None):
    """Run `convert-seed not-a-name --dry-run` in a Python of its own, with BEFORE run first
    and AFTER's output printed last; (process, the last two lines of its stdout)."""
    code = (
        f"import sys\n{before}"
        "from dbtscaffold.cli import app\n"
        "try:\n"
        "    app(['convert-seed', 'not-a-name', '--dbt-project-dir', '.', '--dry-run'])\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code)\n"
        f"print({after})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return proc, proc.stdout.strip().splitlines()[-2:]


def _loaded(package: str) -> str:
    return f"sorted(m for m in sys.modules if m.split('.')[0] == {package!r})"


def test_a_command_imports_no_pydantic():
    # Typer 0.29 builds a Pydantic TypeAdapter for each value it coerces; cli_group gives
    # plain values a coercion of their own (Pydantic costs ~0.1 s of every command's start).
    proc, last = _bad_convert_seed(after=_loaded("pydantic"))
    assert last == ["exit 1", "[]"], proc.stdout + proc.stderr


def test_piped_output_imports_no_rich():
    # Rich goes plain when not on a terminal; console.py then writes the text itself and
    # spares the import (tens of ms of every piped command).
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc, last = _bad_convert_seed(after=_loaded("rich"), env=env)
    assert last == ["exit 1", "[]"], proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: Seed name `not-a-name` is not a plain name"), proc.stderr


def test_without_typer_internals_values_are_coerced_typers_way():
    # cli_group's plain coercion is built on typer._coercion's RuntimeParam (Typer 0.29);
    # in a Typer without it, Typer coerces every value its own way, and commands work alike.
    proc, last = _bad_convert_seed(
        before="import typer._coercion\ndel typer._coercion.RuntimeParam\n",
        after="__import__('dbtscaffold.cli_group').cli_group._plain_value_class()",
    )
    assert last == ["exit 1", "None"], proc.stdout + proc.stderr
    assert "is not a plain name" in proc.stderr
