"""Reading what `init` generated, without importing it: constants.py's paths, the runtime copy,
and the Python assets the package defines.

Importing constants.py would run parse on load (and dagster); instead its assignments are
read with `ast` and the few expressions init writes are evaluated
(`Path(__file__).joinpath("..", "..").resolve()`, `Path.home() / ".dbt"`, and those of older
versions: `HERE.joinpath("..", "..")`, `HERE / "dbt_project"`). Anything
else is "not understood" and the callers fall back to [tool.dbtscaffold].
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dbtscaffold.dagster_project.seed_assets import AssetCodeError, defined_assets
from dbtscaffold.resources import runtime_dir

RUNTIME_PACKAGE = "_dbtscaffold"
# The hash of every file init wrote, relative to the project (committed with the project).
RECORD = ".dbtscaffold/generated.json"
# The runtime modules init copies into a generated project: what its code imports, and what
# those import (profiles.py, project.py, change_lock.py and manifest_state.py serve the CLI only).
COPIED = frozenset({"__init__.py", "loaders.py", "locks.py", "parse.py", "preparer.py"})
# The components layout's defs.yaml names the runtime copy's DbtProjectComponent too.
COPIED_COMPONENTS = COPIED | {"component.py"}
# The loaders of an adapter type's own (faster than dbt's seed loading), copied where the dbt
# profile names that type; loaders.py uses dbt's seed loading where its type's is absent.
FAST_LOADERS = {"duckdb": "load_duckdb.py", "postgres": "load_postgres.py"}
_VERSION_RE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def copied_modules(layout: str, adapter_types: Iterable[str] = ()) -> frozenset[str]:
    """The runtime modules init copies into a project of LAYOUT (`python` or `components`)
    whose dbt profile names ADAPTER_TYPES (its targets' `type:`s)."""
    kinds = {str(t).strip().lower() for t in adapter_types}
    loaders = {module for kind, module in FAST_LOADERS.items() if kind in kinds}
    return (COPIED_COMPONENTS if layout == "components" else COPIED) | loaders


@dataclass(frozen=True)
class ConstantsPaths:
    """The paths constants.py gives dagster-dbt's DbtProject."""

    dbt_project_candidates: tuple[Path, ...]  # find_dbt_project_dir()'s arguments, in order
    profiles_dir: Path | None  # find_profiles_dir()'s explicit folder (init's --profiles-dir)
    target_path: str  # DbtProject(target_path=...), "target" when not given

    def dbt_project_dir(self) -> Path | None:
        """The first candidate that holds dbt_project.yml, as the generated project picks it."""
        for candidate in self.dbt_project_candidates:
            if (candidate / "dbt_project.yml").is_file():
                return candidate.resolve()
        return None


class _Unknown(Exception):
    """An expression init does not write."""


@dataclass(frozen=True)
class _Candidates:
    """The arguments of find_dbt_project_dir(), kept for DbtProject(project_dir=...)."""

    paths: tuple[Path, ...]


def _eval(node: ast.expr, names: dict[str, object], file: Path) -> object:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return str(file)
        if node.id in names:
            return names[node.id]
        raise _Unknown(node.id)
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        value = _eval(node.value, names, file)
        if isinstance(value, Path):
            return value.parent
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _eval(node.left, names, file), _eval(node.right, names, file)
        if isinstance(left, Path) and isinstance(right, (str, Path)):
            return left / right
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        args = [_eval(a, names, file) for a in node.args]
        if isinstance(func, ast.Name) and func.id == "Path" and len(args) == 1:
            return Path(str(args[0]))
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "home"
            and not args
            and isinstance(func.value, ast.Name)
            and func.value.id == "Path"
        ):
            return Path.home()
        if isinstance(func, ast.Attribute) and func.attr == "joinpath":
            base = _eval(func.value, names, file)
            if isinstance(base, Path) and all(isinstance(a, str) for a in args):
                return base.joinpath(*(str(a) for a in args))
        if isinstance(func, ast.Attribute) and func.attr == "resolve" and not args:
            base = _eval(func.value, names, file)
            if isinstance(base, Path):
                return Path(os.path.normpath(base))
        if isinstance(func, ast.Name) and func.id == "find_dbt_project_dir":
            return _Candidates(tuple(Path(str(a)) for a in args))
    raise _Unknown(ast.dump(node)[:60])


def read_constants(text: str, package_dir: Path) -> ConstantsPaths | None:
    """The paths constants.py TEXT (in PACKAGE_DIR) gives DbtProject, or None if not understood."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    names: dict[str, object] = {}
    file = package_dir / "constants.py"
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "DbtProject":
            return _dbt_project_call(value, names, file)
        try:
            names[stmt.targets[0].id] = _eval(value, names, file)
        except _Unknown:
            continue
    return None


def _dbt_project_call(
    call: ast.Call, names: dict[str, object], file: Path
) -> ConstantsPaths | None:
    kwargs = {k.arg: k.value for k in call.keywords if k.arg}
    try:
        given = kwargs.get("project_dir")
        if isinstance(given, ast.IfExp):  # SOURCE if SOURCE.is_dir() else PACKAGED
            candidates: tuple[object, ...] = (
                _eval(given.body, names, file),
                _eval(given.orelse, names, file),
            )
        else:
            project = _eval(given, names, file) if given is not None else None
            candidates = project.paths if isinstance(project, _Candidates) else (project,)
        if "packaged_project_dir" in kwargs:
            packaged = _eval(kwargs["packaged_project_dir"], names, file)
            candidates = tuple(dict.fromkeys((*candidates, packaged)))
        if not all(isinstance(c, Path) for c in candidates):
            return None
        explicit: Path | None = None
        profiles = kwargs.get("profiles_dir")
        if isinstance(profiles, ast.Call) and getattr(profiles.func, "id", None) == (
            "find_profiles_dir"
        ):
            if len(profiles.args) > 1:
                value = _eval(profiles.args[1], names, file)
                explicit = value if isinstance(value, Path) else Path(str(value))
        elif _is_environ_get(profiles):
            pass  # DBT_PROFILES_DIR, else ~/.dbt: dbt's own order, as find_profiles_dir() looks
        elif profiles is not None:
            value = _eval(profiles, names, file)
            explicit = value if isinstance(value, Path) else Path(str(value))
        target = _eval(kwargs["target_path"], names, file) if "target_path" in kwargs else None
    except _Unknown:
        return None
    return ConstantsPaths(
        tuple(Path(str(c)) for c in candidates),
        explicit,
        str(target) if target is not None else "target",
    )


def _is_environ_get(node: ast.expr | None) -> bool:
    """Whether NODE is `os.environ.get(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "environ"
    )


# --- the runtime copy -------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeCopy:
    """The copy of dbtscaffold.runtime in <package>/_dbtscaffold/, against the installed one."""

    version: str | None  # None: no copy (or no __version__ in it)
    differing: tuple[str, ...]  # files whose bytes differ from the installed runtime's
    edited: tuple[str, ...] = ()  # files changed since init wrote them (its record says so)
    missing: tuple[str, ...] = ()  # names the package imports from it that it lacks


def _copied_names(copy: Path) -> set[str]:
    """The names the copy's __init__.py exports (its __all__), read without importing it."""
    try:
        tree = ast.parse((copy / "__init__.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            with contextlib.suppress(ValueError):
                return {str(v) for v in ast.literal_eval(node.value)}
    return set()


def _imported_from_copy(package_dir: Path) -> set[str]:
    """The names the package's own modules import from its _dbtscaffold."""
    names: set[str] = set()
    for path in package_dir.glob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == (
                RUNTIME_PACKAGE
            ):
                names.update(a.name for a in node.names)
    return names


def _edited(package_dir: Path, copy: Path) -> tuple[str, ...]:
    """Copy files that differ from what init recorded writing ((): no record to tell)."""
    # The project folder holds the record: above the package, or above src/ (components).
    project = package_dir.parent.parent if package_dir.parent.name == "src" else package_dir.parent
    try:
        record = json.loads((project / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    prefix = f"{package_dir.relative_to(project).as_posix()}/{RUNTIME_PACKAGE}/"
    recorded = {k[len(prefix) :]: v for k, v in record.items() if k.startswith(prefix)}
    if not recorded:
        return ()
    present = {p.name for p in copy.glob("*.py")}
    return tuple(
        sorted(
            name
            for name in set(recorded) | present
            if name not in present
            or recorded.get(name) != hashlib.sha256((copy / name).read_bytes()).hexdigest()
        )
    )


def read_runtime_copy(package_dir: Path, layout: str = "python") -> RuntimeCopy:
    """The version stamped in PACKAGE_DIR/_dbtscaffold, and how it differs (see RuntimeCopy)."""
    copy = package_dir / RUNTIME_PACKAGE
    try:
        init = (copy / "__init__.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return RuntimeCopy(None, ())
    m = _VERSION_RE.search(init)
    theirs = {p.name for p in copy.glob("*.py")}
    # The fast loaders it has: init copies those the dbt profile named then (`fast_loaders`).
    expected = copied_modules(layout) | (theirs & set(FAST_LOADERS.values()))
    ours = {p.name for p in runtime_dir().glob("*.py") if p.name in expected}
    differing = sorted(
        name
        for name in ours | theirs
        if name not in ours
        or name not in theirs
        or (copy / name).read_bytes() != (runtime_dir() / name).read_bytes()
    )
    missing = sorted(_imported_from_copy(package_dir) - _copied_names(copy))
    return RuntimeCopy(
        m.group(1) if m else None, tuple(differing), _edited(package_dir, copy), tuple(missing)
    )


# --- Python assets --------------------------------------------------------------------


def _modules_loaded(package_dir: Path, package: str) -> list[str]:
    """The package's modules definitions.py imports (seed_assets always), as file names."""
    found = ["seed_assets"]
    try:
        tree = ast.parse((package_dir / "definitions.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == package:
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
            found.append(str(node.module).split(".", 1)[1])
        elif isinstance(node, ast.Import):
            found += [
                a.name.split(".", 1)[1] for a in node.names if a.name.startswith(package + ".")
            ]
    return list(dict.fromkeys(m.replace(".", "/") for m in found))


def _defs_modules(package_dir: Path) -> list[str]:
    """The components layout's Python modules under defs/, which dg loads (as file names)."""
    defs = package_dir / "defs"
    return sorted(
        p.relative_to(package_dir).with_suffix("").as_posix()
        for p in defs.rglob("*.py")
        if not any(part.startswith((".", "__")) for part in p.relative_to(defs).parts)
    )


def python_assets(
    package_dir: Path, package: str, layout: str = "python"
) -> tuple[dict[tuple[str, ...], list[str]], list[str]]:
    """({key: ["module.py:function", ...]}, unreadable modules) of the `@asset`s the project loads."""
    keys: dict[tuple[str, ...], list[str]] = {}
    problems: list[str] = []
    modules = (
        _defs_modules(package_dir)
        if layout == "components"
        else _modules_loaded(package_dir, package)
    )
    for module in modules:
        path = package_dir / f"{module}.py"
        if not path.is_file():
            continue
        try:
            found = defined_assets(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, AssetCodeError) as e:
            problems.append(f"{module}.py ({e})")
            continue
        for func, key in found:
            keys.setdefault(tuple(key), []).append(f"{module}.py:{func}")
    return keys, problems
