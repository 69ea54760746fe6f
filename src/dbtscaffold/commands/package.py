"""`dbtscaffold package`: a wheel that runs where the source dbt project does not exist.

1. Prepare the manifest, as `dagster-dbt project prepare-and-package --file <pkg>/constants.py`
   does: the DbtProject of the project's constants.py, prepared by the project's preparer
   (dbt parses only if something dbt reads changed since the last parse).
2. Copy the dbt project (with that manifest) and data/ into the package, as one planned
   change (dagster_project/package.py), so a re-run is a no-op and a failure changes nothing.
3. Build the wheel from a clean copy of the Dagster project (setuptools keeps files deleted
   since an earlier build in build/lib, and would ship them), with pip, else uv, into dist/,
   and check that the packaged manifest is in it.

In the components layout: data/ is copied into the package (step 2), `dg utils
refresh-defs-state` puts the dbt project and its manifest in dg's state under defs/ (the
component's write_state_to_path), and the build copy gets a dg.toml in the package, the
config load_from_defs_folder finds above definitions.py once installed.

Unlike dagster-dbt's `project prepare-and-package`, it never deletes the packaged copy
before copying, so it can be run again and again.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from dbtscaffold import console, proc
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.errors import UserError

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
# Left out of the copy the wheel is built from: environments, build output, local state.
_BUILD_SKIP = frozenset(
    {"build", "dist", "data", "deploy", ".git", ".venv", ".dbtscaffold", ".dagster_home"}
)


def _project_env(info: DagsterProjectInfo, **extra: str) -> dict[str, str]:
    """The environment to run the project's code in from dbtscaffold (its dbt on PATH)."""
    path = os.pathsep.join(p for p in (str(info.source_dir), os.environ.get("PYTHONPATH")) if p)
    bin_dir = str(Path(sys.executable).parent)
    return proc.build_env(
        {
            "PYTHONPATH": path,
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            **extra,
        }
    )


# Prepares the project's DbtProject (constants.py) with its preparer, as `dagster-dbt project
# prepare-and-package` does (projects of dbtscaffold 0.1 prepared when constants.py was
# imported); on an error, its first line after a marker (the last line of a traceback can
# be anything, e.g. logging's own error report on a full disk).
_PREPARE = """
import sys, traceback
try:
    import {package}.constants as c
    if hasattr(c, "DBT_MANIFEST_PATH"):
        manifest = c.DBT_MANIFEST_PATH
    else:
        from {package}._dbtscaffold import ParseOnLoadPreparer
        ParseOnLoadPreparer().prepare(c.dbt_project)
        manifest = c.dbt_project.manifest_path
except Exception as e:
    traceback.print_exc()
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    sys.exit("{marker}" + first)
print(manifest)
"""
_MARKER = "dbtscaffold-prepare-error: "


def prepare_manifest(info: DagsterProjectInfo) -> Path:
    """Run the project's constants.py with parse on load; return the manifest it prepared."""
    code = _PREPARE.format(package=info.package, marker=_MARKER)
    try:
        result = proc.run(
            [sys.executable, "-c", code],
            cwd=info.dir,
            # As under `dagster dev`: the dbt project itself, never the packaged copy.
            env=_project_env(info, **{PARSE_ON_LOAD_ENV: "1", DEV_CLI_ENV: "1"}),
        )
    except proc.ProcessError as e:
        lines = (e.stderr or e.stdout).strip().splitlines()
        marked = [line[len(_MARKER) :] for line in lines if line.startswith(_MARKER)]
        why = marked[-1] if marked else lines[-1] if lines else f"exit {e.returncode}"
        if "try again" in why:  # it says what to do already
            message = f"Could not prepare the dbt manifest: {why}"
        else:
            message = (
                f"Could not prepare the dbt manifest ({why}); fix it (`dbt parse` in "
                f"`{info.dbt_project_dir}` shows why) and retry."
            )
        raise UserError(message, details=str(e)) from e
    manifest = Path(result.stdout.strip().splitlines()[-1])
    if not manifest.is_file():
        raise UserError(
            f"The dbt manifest `{manifest}` was not written; run `dbt parse` and retry."
        )
    return manifest


def _ignore_for_build(
    info: DagsterProjectInfo, dbt: DbtProjectInfo
) -> Callable[[str, list[str]], set[str]]:
    """shutil.copytree's ignore: what the wheel cannot contain, and a nested dbt project."""
    nested_dbt = dbt.dir.resolve()

    def ignore(directory: str, names: list[str]) -> set[str]:
        d = Path(directory)
        skipped = set()
        for n in names:
            p = d / n
            top = d.resolve() == info.dir.resolve()
            if (
                (top and n in _BUILD_SKIP)
                or n == "__pycache__"
                or n.endswith((".egg-info", ".pyc"))
                or (p.is_dir() and (p / "pyvenv.cfg").is_file())
                or p.resolve() == nested_dbt
            ):
                skipped.add(n)
        return skipped

    return ignore


def _build_command(source: Path, out: Path) -> list[str]:
    """pip wheel (no build isolation when setuptools is here already), else uv build."""
    import importlib.util
    from importlib import metadata

    if importlib.util.find_spec("pip") is not None:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out)]
        try:
            major, minor = (int(x) for x in metadata.version("setuptools").split(".")[:2])
            if (major, minor) >= (70, 1):  # builds wheels without the `wheel` package
                cmd.append("--no-build-isolation")  # offline, and seconds faster
        except (metadata.PackageNotFoundError, ValueError):
            pass
        return [*cmd, str(source)]
    uv = shutil.which("uv")
    if uv:
        return [uv, "build", "-q", "--wheel", "--out-dir", str(out), str(source)]
    raise UserError("Neither pip nor uv is installed here to build the wheel; install pip.")


def build_wheel(
    info: DagsterProjectInfo, dbt: DbtProjectInfo, extra: dict[str, str] | None = None
) -> Path:
    """Build the project's wheel from a clean copy (plus EXTRA: {path in it: text}) into its
    dist/; return the wheel."""
    from dbtscaffold.changes.files import write_atomic

    with tempfile.TemporaryDirectory(prefix="dbtscaffold-package-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(info.dir, source, ignore=_ignore_for_build(info, dbt), symlinks=False)
        for rel, text in (extra or {}).items():
            (source / rel).write_text(text, encoding="utf-8")
        out = Path(tmp) / "dist"
        try:
            proc.run(_build_command(source, out), cwd=Path(tmp))
        except proc.ProcessError as e:
            lines = (e.stderr or e.stdout).strip().splitlines()
            raise UserError(
                f"Building the wheel failed ({lines[-1] if lines else f'exit {e.returncode}'}); "
                "--verbose shows the build output.",
                details=str(e),
            ) from e
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise UserError(f"The build wrote {len(wheels)} wheels instead of one in `{out}`.")
        built = wheels[0]
        _check_wheel(built, info, dbt)
        dist = info.dir / "dist"
        try:
            dist.mkdir(exist_ok=True)
            write_atomic(dist / built.name, built.read_bytes())
        except OSError as e:
            raise UserError(
                f"Could not write the wheel `{dist / built.name}`: {e.strerror or e}; free some "
                "space (or make `dist/` writable) and run `dbtscaffold package` again."
            ) from e
    return dist / built.name


def _check_wheel(wheel: Path, info: DagsterProjectInfo, dbt: DbtProjectInfo) -> None:
    from fnmatch import fnmatch

    from dbtscaffold.dagster_project.package import MANIFEST, PACKAGED_DBT_DIR, STATE_DIR

    target = Path(dbt.target_path).as_posix().strip("/")
    if info.layout == "components":
        wanted = [f"{info.package}/dg.toml", f"{info.package}/defs/{STATE_DIR}/*/state"]
        wanted.append(f"{info.package}/defs/{STATE_DIR}/*/project/{target}/{MANIFEST}")
        pattern = f"dg.toml`, `{STATE_DIR}/**/*"
    else:
        wanted = [f"{info.package}/{PACKAGED_DBT_DIR}/{target}/{MANIFEST}"]
        pattern = f"{PACKAGED_DBT_DIR}/**/*"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    for want in wanted:
        if not any(fnmatch(n, want) for n in names):
            raise UserError(
                f"The wheel `{wheel.name}` lacks `{want}`: declare `{pattern}` as package data "
                f"of `{info.package}` for the build backend in pyproject.toml."
            )


def _deploy_notes(dbt: DbtProjectInfo) -> None:
    """What the machine that runs the wheel needs to be told about the dbt target."""
    from dbtscaffold.dbt.project import find_profiles, read_profile
    from dbtscaffold.dbt.target import duckdb_path

    location = find_profiles(dbt.dir)
    if location.how != "project":
        console.warn(
            f"profiles.yml is not in the dbt project (it is `{location.path}`), so it is not in "
            "the wheel: give the machine that runs it one, in ~/.dbt or DBT_PROFILES_DIR."
        )
    duckdb = duckdb_path(read_profile(location, dbt.profile))
    if duckdb is None:
        return
    if duckdb.env:
        console.info(
            f"Where the wheel runs, set {duckdb.env} to an absolute path for the DuckDB file "
            f"of target `{duckdb.target}` (a relative one would land inside site-packages)."
        )
    elif duckdb.relative:
        console.warn(
            f"The DuckDB path `{duckdb.raw}` of target `{duckdb.target}` is relative: installed, "
            "it would land inside site-packages. Read it from an env_var() in profiles.yml."
        )


def refresh_defs_state(info: DagsterProjectInfo) -> None:
    """`dg utils refresh-defs-state`: the project's DbtProjectComponent writes a copy of the
    dbt project with its manifest into dg's state under defs/ (see _dbtscaffold/component.py)."""
    import importlib.util

    if importlib.util.find_spec("dagster_dg_cli") is None:
        raise UserError(
            f"dagster-dg-cli is not installed in `{sys.prefix}`; run "
            f"`{sys.executable} -m pip install dagster-dg-cli` and retry."
        )
    cmd = [sys.executable, "-m", "dagster_dg_cli.cli", "utils", "refresh-defs-state"]
    try:
        proc.run(cmd, cwd=info.dir, env=_project_env(info))
    except proc.ProcessError as e:
        lines = [line for line in (e.stderr or e.stdout).strip().splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit {e.returncode}"
        raise UserError(
            f"`dg utils refresh-defs-state` failed ({why}); `dg check defs` in `{info.dir}` "
            "shows why: fix it and retry.",
            details=str(e),
        ) from e


def _package_components(
    info: DagsterProjectInfo, dbt: DbtProjectInfo, *, dry_run: bool
) -> Path | None:
    """package in the components layout: data/ into the package, dg's state refresh (the dbt
    project and its manifest), and a wheel with a dg.toml that loads without a dbt parse."""
    from dbtscaffold.commands.common import change_session
    from dbtscaffold.dagster_project.locate import relpath
    from dbtscaffold.dagster_project.package import (
        DG_TOML,
        STATE_DIR,
        dg_toml,
        plan_package_components,
    )

    result = plan_package_components(info)
    state = relpath(info.package_dir / "defs" / STATE_DIR, info.dir)
    with change_session(info.state_dir, dry_run=dry_run) as session:
        if not dry_run:
            session.lock()
            # First: when it fails, the project's files are as they were.
            with console.status("Refreshing dg's state (dg utils refresh-defs-state)"):
                refresh_defs_state(info)
        session.apply(
            result.plan,
            command="package",
            nothing_to_do=f"The packaged copy of data/ in `{relpath(result.copy_dir, info.dir)}/` "
            "is up to date.",
        )
    if dry_run:
        console.info(
            f"Would run `dg utils refresh-defs-state` (into `{state}/`) and build the wheel."
        )
        return None
    package_rel = relpath(info.package_dir, info.dir)
    with console.status("Building the wheel"):
        wheel = build_wheel(info, dbt, {f"{package_rel}/{DG_TOML}": dg_toml(info)})
    shown = console.shown_path(wheel.resolve())  # getcwd() is resolved too
    console.success(
        f"Built {shown} (dbt project `{dbt.name}` with its manifest in dg's state `{state}/`; "
        f"data/: {result.data_files} files)."
    )
    _deploy_notes(dbt)
    console.info(f'Install it in a fresh environment: pip install "{shown}"')
    return wheel


def run_package(*, dagster_project_dir: Path | None, dry_run: bool) -> Path | None:
    """Prepare, copy and build; return the wheel (None for a dry run)."""
    from dbtscaffold.commands.common import change_session
    from dbtscaffold.dagster_project.locate import relpath, resolve_dagster_project
    from dbtscaffold.dagster_project.package import plan_package
    from dbtscaffold.dbt.project import read_dbt_project

    info = resolve_dagster_project(dagster_project_dir)
    if not (info.dbt_project_dir / "dbt_project.yml").is_file():
        raise UserError(
            f"The dbt project `{info.dbt_project_dir}` that `{info.dir / 'pyproject.toml'}` "
            "names is missing; package where the dbt project is."
        )
    dbt = read_dbt_project(info.dbt_project_dir)
    if info.layout == "components":
        return _package_components(info, dbt, dry_run=dry_run)
    with change_session(info.state_dir, dry_run=dry_run) as session:
        # No other dbtscaffold change (convert-seed, undo) between the manifest and the
        # copy of the files it was parsed from.
        session.lock()
        with console.status("Preparing the dbt manifest"):
            manifest = prepare_manifest(info)
        result = plan_package(info, dbt, manifest)
        copy_target = result.copy_dir / dbt.target_path
        if copy_target.is_dir():
            # A load of the packaged copy (parse on load on) never sees it half updated.
            # A first copy has no target folder, so nothing can load it yet.
            session.lock(dbt_project=(result.copy_dir, dbt.target_path))
        session.apply(
            result.plan,
            command="package",
            nothing_to_do=f"The packaged copy in `{relpath(result.copy_dir, info.dir)}/` is "
            "up to date.",
        )
    if dry_run:
        return None
    with console.status("Building the wheel"):
        wheel = build_wheel(info, dbt)
    shown = console.shown_path(wheel.resolve())  # getcwd() is resolved too
    console.success(
        f"Built {shown} (dbt project `{dbt.name}` with its manifest: {result.dbt_files} files; "
        f"data/: {result.data_files})."
    )
    _deploy_notes(dbt)
    console.info(f'Install it in a fresh environment: pip install "{shown}[deploy]"')
    console.info("`dbtscaffold deploy` writes the files that run it with PostgreSQL.")
    return wheel
