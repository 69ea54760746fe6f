"""What `dbtscaffold package` puts inside the Python package, planned as file changes.

dagster-dbt's packaged-project convention: a copy of the dbt project, with the manifest the
definitions load and without what dbt writes or a warehouse file, in `<package>/dbt_project/`,
where constants.py looks when the dbt project is not beside the code; and a copy of the
Dagster project's `data/` (the CSVs of converted seeds) in `<package>/data/`, where
seed_assets.py looks then. Planned against what is there, so a second run is a no-op, and
files gone from the source leave the copy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.errors import UserError

PACKAGED_DBT_DIR = "dbt_project"
PACKAGED_DATA_DIR = "data"
MANIFEST = "manifest.json"
# Never copied, wherever they are: environments, caches, and dbt's per-user file.
SKIP_DIR_NAMES = frozenset({"__pycache__", "node_modules"})
SKIP_FILE_NAMES = frozenset({".user.yml"})
SKIP_SUFFIXES = (".duckdb", ".duckdb.wal", ".pyc", ".pyo")
PACKAGE_DATA = (f"{PACKAGED_DBT_DIR}/**/*", f"{PACKAGED_DATA_DIR}/**/*")
# The components layout: dg's local state (`dg utils refresh-defs-state` writes the dbt project
# and its manifest there, under defs/) and the dg.toml the wheel carries in the package.
STATE_DIR = ".local_defs_state"
DG_TOML = "dg.toml"
COMPONENTS_PACKAGE_DATA = (DG_TOML, f"{STATE_DIR}/**/*", f"{PACKAGED_DATA_DIR}/**/*")
# What seed_assets.py said before it looked for a packaged data/ too.
OLD_DATA_DIR_LINE = 'DATA_DIR = Path(__file__).parent.parent / "data"'
NEW_DATA_DIR_LINES = (
    "HERE = Path(__file__).parent",
    "# The project's data/ folder, else the copy `dbtscaffold package` puts in this package.",
    'DATA_DIR = HERE.parent / "data" if (HERE.parent / "data").is_dir() else HERE / "data"',
)


@dataclass(frozen=True)
class PackagePlan:
    plan: Plan
    copy_dir: Path
    dbt_files: int
    data_files: int


def _skipped(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name in SKIP_FILE_NAMES or name.endswith(SKIP_SUFFIXES):
        return True
    return path.is_dir() and (name in SKIP_DIR_NAMES or (path / "pyvenv.cfg").is_file())


def _walk(root: Path, exclude: set[Path]) -> Iterator[Path]:
    """Every file under ROOT (symbolic links followed, once), minus EXCLUDE and _skipped."""
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        d = Path(dirpath)
        real = d.resolve()
        if real in seen:  # a link back up the tree
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(
            n for n in dirnames if not _skipped(d / n) and (d / n).resolve() not in exclude
        )
        for f in sorted(filenames):
            p = d / f
            if not _skipped(p) and p.is_file():
                yield p


def _target_dir(dbt: DbtProjectInfo) -> Path:
    p = (dbt.dir / dbt.target_path).resolve()
    if not p.is_relative_to(dbt.dir.resolve()):
        # The packaged DbtProject looks for its manifest under its own project folder.
        raise UserError(
            f"`target-path: {dbt.target_path}` in `{dbt.yml_path}` is outside the dbt project, "
            "where the packaged copy cannot keep its manifest; use a path inside the project."
        )
    return p


def _needs_packages(dbt: DbtProjectInfo) -> bool:
    """Whether the project declares dbt packages (so `dbt build` needs them installed)."""
    from dbtscaffold.dbt.project import load_yaml_file

    for name in ("packages.yml", "dependencies.yml"):
        p = dbt.dir / name
        if p.is_file():
            doc = load_yaml_file(p, name)
            if isinstance(doc, dict) and doc.get("packages"):
                return True
    return False


def dbt_project_files(dbt: DbtProjectInfo, manifest: Path, dagster_dir: Path) -> dict[str, Path]:
    """{path in the copy: source file} for the packaged dbt project.

    Everything dbt reads, without its target/ (but with MANIFEST there, where DbtProject
    looks), logs/, installed packages when none are declared, hidden files, environments,
    DuckDB files, and the Dagster project itself when it is nested inside (the tutorial's
    layout).
    """
    target = _target_dir(dbt)
    exclude = {target, (dbt.dir / dbt.log_path).resolve(), dagster_dir.resolve()}
    if not _needs_packages(dbt):
        exclude.add((dbt.dir / dbt.packages_install_path).resolve())
    files = {p.relative_to(dbt.dir).as_posix(): p for p in _walk(dbt.dir, exclude)}
    files[(target / MANIFEST).relative_to(dbt.dir.resolve()).as_posix()] = manifest
    return files


def _sync(src: dict[str, Path], dst_dir: Path, plan: Plan) -> None:
    """Plan DST_DIR to hold exactly SRC: creates, updates, and deletes of files gone."""
    existing = {
        p.relative_to(dst_dir).as_posix(): p
        for p in (dst_dir.rglob("*") if dst_dir.is_dir() else ())
        if p.is_file() or p.is_symlink()
    }
    for rel in sorted(set(src) | set(existing)):
        target = dst_dir / rel
        before = target.read_bytes() if rel in existing and target.is_file() else None
        after = src[rel].read_bytes() if rel in src else None
        if before is None and after is None:
            continue
        plan.add(FileChange(target, before, after))


def _load_toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"Cannot read `{path}`: {e}; fix the file and retry.") from None


def pyproject_with_package_data(text: str, package: str, path: Path) -> str:
    """pyproject.toml TEXT declaring the copies as package data of PACKAGE (setuptools).

    Appends a `[tool.setuptools.package-data]` table when there is none; a table that
    exists but lacks the patterns is the user's to edit, and the error says what to add.
    """
    doc = _load_toml(text, path)
    backend = str(doc.get("build-system", {}).get("build-backend", ""))
    if not backend.startswith("setuptools"):
        return text  # another backend: the check of the built wheel says what is missing
    setuptools = doc.get("tool", {}).get("setuptools", {})
    table = setuptools.get("package-data") if isinstance(setuptools, dict) else None
    wanted = ", ".join(f'"{p}"' for p in PACKAGE_DATA)
    if table is None:
        nl = "\r\n" if "\r\n" in text else "\n"
        lines = [
            "",
            "[tool.setuptools.package-data]",
            "# The copies `dbtscaffold package` makes of the dbt project and of data/.",
            f"{package} = [{wanted}]",
            "",
        ]
        return text.rstrip("\r\n") + nl + nl.join(lines)
    patterns = table.get(package, []) if isinstance(table, dict) else []
    if not all(p in patterns for p in PACKAGE_DATA):
        raise UserError(
            f"`[tool.setuptools.package-data]` in `{path}` does not include the packaged copies; "
            f"set `{package} = [{wanted}]` there and retry."
        )
    return text


def seed_assets_with_packaged_data(text: str) -> str:
    """seed_assets.py TEXT looking for data/ in the package too (modules written before)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    old = OLD_DATA_DIR_LINE + nl
    if old not in text:
        return text
    return text.replace(old, nl.join(NEW_DATA_DIR_LINES) + nl, 1)


def plan_package(info: DagsterProjectInfo, dbt: DbtProjectInfo, manifest: Path) -> PackagePlan:
    """Plan the packaged copies (and the declarations that put them in the wheel)."""
    plan = Plan(roots=(info.dir,), description=f"package {info.package}")
    copy_dir = info.package_dir / PACKAGED_DBT_DIR
    dbt_files = dbt_project_files(dbt, manifest, info.dir)
    _sync(dbt_files, copy_dir, plan)
    data_files = _data_files(info)
    _sync(data_files, info.package_dir / PACKAGED_DATA_DIR, plan)
    pyproject = info.dir / "pyproject.toml"
    before = pyproject.read_bytes()
    after = pyproject_with_package_data(before.decode("utf-8"), info.package, pyproject)
    plan.add(FileChange(pyproject, before, after.encode("utf-8")))
    seed_assets = info.package_dir / "seed_assets.py"
    if seed_assets.is_file():
        before = seed_assets.read_bytes()
        after = seed_assets_with_packaged_data(before.decode("utf-8"))
        plan.add(FileChange(seed_assets, before, after.encode("utf-8")))
    return PackagePlan(plan, copy_dir, len(dbt_files), len(data_files))


def _data_files(info: DagsterProjectInfo) -> dict[str, Path]:
    data_dir = info.dir / "data"
    if not data_dir.is_dir():
        return {}
    return {p.relative_to(data_dir).as_posix(): p for p in _walk(data_dir, set())}


def plan_package_components(info: DagsterProjectInfo) -> PackagePlan:
    """The components layout's plan: data/ copied into the package (dg's state refresh puts
    the dbt project there); pyproject.toml must declare both as package data."""
    pyproject = info.dir / "pyproject.toml"
    doc = _load_toml(pyproject.read_text(encoding="utf-8"), pyproject)
    table = doc.get("tool", {}).get("setuptools", {}).get("package-data", {})
    declared = {p for v in table.values() if isinstance(v, list) for p in v}
    missing = [p for p in COMPONENTS_PACKAGE_DATA if p not in declared]
    if missing:
        wanted = ", ".join(f'"{p}"' for p in missing)
        raise UserError(
            f"`[tool.setuptools.package-data]` in `{pyproject}` does not declare what the wheel "
            f'needs; add {wanted} to its `"*"` list and retry.'
        )
    plan = Plan(roots=(info.dir,), description=f"package {info.package}")
    data_files = _data_files(info)
    copy_dir = info.package_dir / PACKAGED_DATA_DIR
    _sync(data_files, copy_dir, plan)
    return PackagePlan(plan, copy_dir, 0, len(data_files))


def dg_toml(info: DagsterProjectInfo) -> str:
    """pyproject.toml's `[tool.dg]` as a dg.toml for the package: installed from a wheel, it
    is the config `load_from_defs_folder` finds above definitions.py."""
    import json

    pyproject = info.dir / "pyproject.toml"
    dg = _load_toml(pyproject.read_text(encoding="utf-8"), pyproject).get("tool", {}).get("dg", {})
    project = dg.get("project", {})
    lines = [
        "# [tool.dg] of the project's pyproject.toml, written by `dbtscaffold package`.",
        f"directory_type = {json.dumps(dg.get('directory_type', 'project'))}",
        "",
        "[project]",
        *(f"{k} = {json.dumps(v)}" for k, v in project.items() if isinstance(v, str)),
    ]
    return "\n".join(lines) + "\n"
