"""The house rules of src/dbtscaffold, read from the code's own imports (see docs/architecture.md).

- no module imports one that imports it back (no cycles, however long);
- runtime/ imports nothing from the rest of dbtscaffold (it is copied into generated projects);
- the layers point one way: cli -> commands -> convert -> dagster_project / dbt / changes /
  runtime -> leaves;
- every module says its job in a docstring and stays under about 400 lines;
- only proc.py starts processes and only changes/ writes files (the exceptions are listed
  in PROCESS_EXCEPTIONS and WRITE_EXCEPTIONS, each with its reason);
- docs/architecture.md names every module, and names no module that does not exist;
- no file cites a DESIGN.md the repository does not have, and no test module imports
  another test module (shared code lives in tests/helpers).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PKG = SRC / "dbtscaffold"
LEAVES = {"console", "dagster_private", "errors", "proc", "resources"}
# Which top-level part may import which (a part may always import itself).
ALLOWED = {
    "cli": {"cli_group", "cli_options", "commands", "console", "errors", "runtime"},
    "cli_group": set(),
    "cli_options": {"commands"},
    "commands": {
        "check",
        "convert",
        "dagster_project",
        "dbt",
        "changes",
        "runtime",
        "workers",
        *LEAVES,
    },
    "check": {"dagster_project", "dbt", "runtime", *LEAVES},
    "convert": {"dagster_project", "dbt", "changes", "runtime", *LEAVES},
    "dagster_project": {"dbt", "changes", "runtime", *LEAVES},
    "dbt": {"runtime", *LEAVES},
    "changes": {"errors"},
    "runtime": set(),
    # The child processes' scripts: below the commands that start them, which share their
    # protocol (event lines, exit codes); materialize's worker reaches Dagster's internals.
    "workers": {"console", "dagster_private"},
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


def test_the_load_probe_imports_nothing_of_dbtscaffold():
    # check runs it as `python -c` source with the project's interpreter, where dbtscaffold
    # need not be installed.
    assert _graph()["dbtscaffold.workers.load_probe"] == set()


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


# --- who starts processes, who writes files ----------------------------------------------

# Modules (or packages, ending in ".") that may start processes, and why.
PROCESS_EXCEPTIONS = {
    "dbtscaffold.proc": "the one module that starts processes",
    # Copied into generated projects, where dbtscaffold (and so proc.py) is not installed.
    "dbtscaffold.runtime.": "runs `dbt parse` / `dbt seed` inside a generated project",
}
# Modules (or packages) that may write files outside changes/, and why.
WRITE_EXCEPTIONS = {
    "dbtscaffold.changes.": "writes users' files: plans applied all or nothing, undo",
    "dbtscaffold.runtime.": "the generated project's own state: manifest, fingerprint and "
    "locks in target/, the one-seed dbt project of a load in the temp folder",
    "dbtscaffold.commands.dev": "dbtscaffold's own state: the dagster.yaml of .dagster_home",
    "dbtscaffold.check.definitions": "a throw-away DAGSTER_HOME in a temp folder",
    "dbtscaffold.commands.package": "the build copy (temp) and the wheel's dist/ folder",
    "dbtscaffold.dagster_project.lockfile": "the planned pyproject.toml uv locks, in a temp folder",
}
_PROCESS_MODULES = {"subprocess", "multiprocessing", "pty", "asyncio.subprocess"}
_PROCESS_OS = {"system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp"}
_PROCESS_OS_PREFIXES = ("exec", "spawn")
_WRITE_METHODS = {"write_text", "write_bytes", "mkdir", "touch", "symlink_to", "unlink"}
_WRITE_FUNCS = {
    "os": {"replace", "rename", "remove", "unlink", "mkdir", "makedirs", "rmdir", "symlink"},
    "shutil": {"copy", "copy2", "copyfile", "copytree", "move", "rmtree"},
}


def _excepted(name: str, exceptions: dict[str, str]) -> bool:
    return any(name == k or (k.endswith(".") and name.startswith(k)) for k in exceptions)


def _starts_processes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in _PROCESS_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in _PROCESS_MODULES:
            found.append(node.module or "")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and (node.attr in _PROCESS_OS or node.attr.startswith(_PROCESS_OS_PREFIXES))
        ):
            found.append(f"os.{node.attr}")
    return found


def _open_mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else ""


def _write_flags(call: ast.Call) -> bool:
    """os.open(...) with a flag that writes or creates."""
    flags = {n.attr for a in call.args[1:2] for n in ast.walk(a) if isinstance(n, ast.Attribute)}
    return bool(flags & {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"})


def _writes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute):
            owner = f.value.id if isinstance(f.value, ast.Name) else None
            if owner in _WRITE_FUNCS and f.attr in _WRITE_FUNCS[owner]:
                found.append(f"{owner}.{f.attr}")
            elif owner not in _WRITE_FUNCS and f.attr in _WRITE_METHODS:
                found.append(f".{f.attr}()")
            elif owner == "os" and f.attr == "open" and _write_flags(node):
                found.append("os.open")
            elif f.attr == "open" and set(_open_mode(node)) & set("wax+"):
                found.append(".open(w)")
        elif isinstance(f, ast.Name) and f.id == "open" and set(_open_mode(node)) & set("wax+"):
            found.append("open(w)")
    return found


def _offenders(check, exceptions: dict[str, str]) -> dict[str, list[str]]:
    out = {}
    for name, path in sorted(_modules().items()):
        if _excepted(name, exceptions):
            continue
        found = check(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            out[name] = sorted(set(found))
    return out


def test_only_proc_starts_processes():
    assert _offenders(_starts_processes, PROCESS_EXCEPTIONS) == {}


def test_only_changes_writes_files():
    assert _offenders(_writes, WRITE_EXCEPTIONS) == {}


def test_the_rule_checks_can_fail():
    # What the two checks above look for is found where it is.
    code = (
        "import subprocess\nimport os\nos.execvp('x', [])\n"
        "p.write_text('x')\nopen(f, 'w')\nshutil.copytree(a, b)\nos.replace(a, b)\n"
        "open(f)\n'a'.replace('b', 'c')\nos.open(f, os.O_RDONLY)\nos.open(f, os.O_RDWR)\n"
    )
    tree = ast.parse(code)
    assert _starts_processes(tree) == ["subprocess", "os.execvp"]
    assert sorted(_writes(tree)) == [
        ".write_text()",
        "open(w)",
        "os.open",
        "os.replace",
        "shutil.copytree",
    ]
    # And each exception names a module that exists.
    mods = set(_modules())
    for name in [*PROCESS_EXCEPTIONS, *WRITE_EXCEPTIONS]:
        assert any(m == name or m.startswith(name) for m in mods), name


# --- the map in docs/architecture.md -----------------------------------------------------

# Files of the generated project the map mentions (not modules of dbtscaffold).
GENERATED_FILES = {"constants", "definitions", "assets", "schedules"}


def _map_block() -> str:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = doc.split("```")[1]
    assert block.lstrip("\n").startswith("src/dbtscaffold/"), "the map is the first code block"
    return block


def test_the_map_names_every_module_and_folder():
    block = _map_block()
    missing = []
    for name, path in _modules().items():
        rel = path.relative_to(PKG)
        if rel.name == "__init__.py":
            wanted = f"{rel.parent.as_posix()}/"  # a package: its folder
        elif rel.parent == Path("."):
            wanted = rel.name  # a top-level module: cli.py
        else:
            wanted = rel.stem  # in a package: named in its folder's entry
        if wanted != "./" and not re.search(rf"(?<![\w/]){re.escape(wanted)}(?![\w])", block):
            missing.append(str(rel))
    assert missing == []


def test_each_folders_entry_names_only_modules_of_that_folder():
    """`x.py` in a folder's entry is that folder's (`other/x.py` names another's), so the map
    cannot keep a module that moved elsewhere (a runtime/ module named under dbt/)."""
    entries = re.split(r"^  (?=\S)", _map_block(), flags=re.M)
    wrong = []
    for entry in entries:
        folder = re.match(r"([a-z_]+)/", entry)
        if folder is None:
            continue
        for other, name in re.findall(r"(?<![\w.])(?:([a-z_]+)/)?([a-z_]+)\.py\b", entry):
            where = PKG / (other or folder.group(1)) / f"{name}.py"
            if not where.is_file() and name not in GENERATED_FILES:
                wrong.append(f"{folder.group(1)}/ names {where.relative_to(PKG)}")
    assert wrong == []


def test_the_map_names_no_module_that_does_not_exist():
    stems = {p.stem for p in _modules().values()}
    named = set(re.findall(r"\b([a-z_]+)\.py\b", _map_block()))
    folders = set(re.findall(r"^\s{2}([a-z_]+)/", _map_block(), re.M))
    assert named - stems - GENERATED_FILES == set()
    assert {f for f in folders if not (PKG / f).is_dir()} == set()


def test_no_file_cites_a_design_md_the_repository_lacks():
    if (ROOT / "DESIGN.md").exists():
        return
    cites = []
    for folder in ("src", "tests", "bench", "docs", "templates"):
        for p in (ROOT / folder).rglob("*"):
            if p.suffix in {".py", ".md", ".toml", ".yml", ".yaml", ".txt"} and p.is_file():
                if p.name != "test_architecture.py" and "DESIGN.md" in p.read_text("utf-8"):
                    cites.append(str(p.relative_to(ROOT)))
    assert cites == []


def test_no_test_module_imports_another():
    tests = ROOT / "tests"
    wrong = []
    for p in tests.rglob("*.py"):
        if p.parent.name == "helpers":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            mods = []
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for m in mods:
                last = m.split(".")[-1]
                if m.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    wrong.append(f"{p.relative_to(tests)}: {m}")
    assert wrong == []
