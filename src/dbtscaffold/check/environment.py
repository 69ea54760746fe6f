"""The checks of `dbtscaffold check` about the set-up: the projects, profiles.yml, the target,
env_var(), adapters and the dbt executable. Each reads, never writes, and returns a Finding.

The checks run in order and share a Context: a check that finds something (the projects,
the profile) records it there for the later ones; a check whose input is missing is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtscaffold.check.finding import FAIL, OK, WARN, Context, Finding, skipped, split_line
from dbtscaffold.errors import UserError

if TYPE_CHECKING:
    from dbtscaffold.dagster_project.locate import DagsterProjectInfo

# env_var('NAME') with no default, as dbt_project.yml would need it set.
_ENV_VAR_RE = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")
_ENV_VAR_NO_DEFAULT_RE = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]\s*\)""")


# --- projects ---------------------------------------------------------------------------


def check_projects(ctx: Context) -> Finding:
    """The Dagster project and the dbt project, found as other commands find them, agree."""
    from dbtscaffold.dbt.project import read_dbt_project

    failed = _locate_projects(ctx)
    if failed is not None:
        return failed
    dagster = ctx.dagster
    assert dagster is not None
    pyproject = ctx.show(dagster.dir / "pyproject.toml")
    if ctx.dbt is not None and ctx.dbt.dir != dagster.dbt_project_dir:
        ctx.dagster = None  # which of the two is meant is unknown: check the dbt one only
        return Finding(
            FAIL,
            f"`{dagster.package}` orchestrates `{ctx.show(dagster.dbt_project_dir)}` "
            f"([tool.dbtscaffold] in {pyproject}), not `{ctx.show(ctx.dbt.dir)}`",
            "pass the matching --dbt-project-dir and --dagster-project-dir, or fix "
            f"dbt_project_dir in {pyproject}",
        )
    try:
        ctx.dbt = read_dbt_project(dagster.dbt_project_dir)
    except UserError as e:
        return Finding(
            FAIL,
            f"[tool.dbtscaffold] dbt_project_dir in {pyproject} points at "
            f"`{ctx.show(dagster.dbt_project_dir)}`: {split_line(e.line())[0]}",
            f"set dbt_project_dir in {pyproject} to the dbt project's folder (relative to it)",
        )
    if dagster.layout == "components":
        # dg's defs.yaml names the dbt project; [tool.dbtscaffold] is what init wrote with it.
        where = f"`{dagster.package}` ({ctx.show(dagster.dir)}, components layout) orchestrates "
        return Finding(OK, where + f"dbt project `{ctx.dbt.name}` ({ctx.show(ctx.dbt.dir)})")
    return _constants_finding(ctx, dagster)


def _locate_projects(ctx: Context) -> Finding | None:
    """Find the projects as other commands do, into CTX; a failure when the Dagster project
    is not found (the dbt project, when there is one, is still read for the dbt checks)."""
    from dbtscaffold.dagster_project.locate import resolve_dagster_project
    from dbtscaffold.dbt.project import find_dbt_project_dir, read_dbt_project

    dbt_dir = ctx.dbt_option
    if dbt_dir is None and ctx.dagster_option is None:
        dbt_dir = ctx.cwd if (ctx.cwd / "dbt_project.yml").is_file() else None
    try:
        if dbt_dir is not None:
            ctx.dbt = read_dbt_project(dbt_dir)
        ctx.dagster = resolve_dagster_project(ctx.dagster_option, ctx.dbt.dir if ctx.dbt else None)
    except UserError as e:
        if ctx.dbt is None and (found := find_dbt_project_dir(ctx.cwd)) is not None:
            try:  # the dbt checks can still run
                ctx.dbt = read_dbt_project(found)
            except UserError:
                pass
        found_line, fix = split_line(e.line())
        fix = fix or "pass --dagster-project-dir naming a project made by `dbtscaffold init`"
        return Finding(FAIL, found_line, fix)
    return None


def _constants_finding(ctx: Context, dagster: DagsterProjectInfo) -> Finding:
    """The Pythonic layout's constants.py (read, not imported) finds the dbt project that
    [tool.dbtscaffold] names, unless DBT_PROJECT_DIR_ENV names another."""
    from dbtscaffold.dagster_project.generated import read_constants
    from dbtscaffold.runtime.project import DBT_PROJECT_DIR_ENV

    assert ctx.dbt is not None
    constants_py = dagster.package_dir / "constants.py"
    try:
        ctx.constants = read_constants(
            constants_py.read_text(encoding="utf-8"), dagster.package_dir
        )
    except (OSError, UnicodeDecodeError):
        return Finding(
            FAIL,
            f"{ctx.show(constants_py)} is missing or unreadable",
            "run `dbtscaffold init --force` to write it again",
        )
    where = f"`{dagster.package}` ({ctx.show(dagster.dir)}) orchestrates dbt project "
    where += f"`{ctx.dbt.name}` ({ctx.show(ctx.dbt.dir)})"
    override = os.environ.get(DBT_PROJECT_DIR_ENV)
    runs = Path(override).resolve() if override else None
    if runs is None and ctx.constants is not None:
        runs = ctx.constants.dbt_project_dir()
        if runs is None:
            tried = ", ".join(ctx.show(c) for c in ctx.constants.dbt_project_candidates)
            return Finding(
                FAIL,
                f"{where}, but {ctx.show(constants_py)} looks for it in {tried}: no "
                "dbt_project.yml there, so the definitions cannot load",
                f"run `dbtscaffold init --force` or set {DBT_PROJECT_DIR_ENV}",
            )
    if runs is not None and runs != ctx.dbt.dir:
        how = f"{DBT_PROJECT_DIR_ENV} names" if override else f"{ctx.show(constants_py)} finds"
        return Finding(
            WARN,
            f"{where}, but {how} `{ctx.show(runs)}`: Dagster and dbtscaffold would use "
            "different dbt projects",
            f"unset {DBT_PROJECT_DIR_ENV}" if override else "run `dbtscaffold init --force`",
        )
    note = "" if ctx.constants is not None else f" ({ctx.show(constants_py)} edited: not read)"
    return Finding(OK, where + note)


# --- profiles.yml, profile, target ------------------------------------------------------

_HOW = {
    "--profiles-dir": "named in constants.py (init --profiles-dir)",
    "DBT_PROFILES_DIR": "DBT_PROFILES_DIR is set",
    "project": "in the dbt project; DBT_PROFILES_DIR unset",
    "home": "in ~/.dbt; none in the dbt project, DBT_PROFILES_DIR unset",
}


def check_profiles(ctx: Context) -> Finding:
    """profiles.yml found in dbt's order, readable YAML; where, and why there."""
    from dbtscaffold.dbt.project import find_profiles, load_yaml_file

    if ctx.dbt is None:
        return skipped("the dbt project")
    explicit = ctx.constants.profiles_dir if ctx.constants else None
    try:
        loc = find_profiles(ctx.dbt.dir, explicit)
    except UserError as e:
        message = split_line(e.line())[0].replace(
            "(given by --profiles-dir)", _HOW["--profiles-dir"]
        )
        fix = (
            f"create profiles.yml in {ctx.show(explicit)}, or run init again with the right "
            "--profiles-dir"
            if explicit
            else f"create profiles.yml in {ctx.show(ctx.dbt.dir)} or ~/.dbt, or set "
            "DBT_PROFILES_DIR to its folder"
        )
        return Finding(FAIL, message, fix)
    try:
        load_yaml_file(loc.path, "profiles.yml")
    except UserError as e:
        return Finding(FAIL, *split_line(e.line()))
    ctx.profiles = loc
    unused = [
        ctx.show(p)
        for p in (ctx.dbt.dir / "profiles.yml", Path.home() / ".dbt" / "profiles.yml")
        if p.is_file() and p.resolve() != loc.path
    ]
    also = f"; not used: {', '.join(unused)}" if unused else ""
    return Finding(OK, f"{ctx.show(loc.path)} ({_HOW[loc.how]}{also})")


def check_target(ctx: Context) -> Finding:
    """The profile dbt_project.yml names exists, and the target in use is one of its targets."""
    from dbtscaffold.dbt.project import read_profile
    from dbtscaffold.runtime.profiles import TARGET_ENV, ProfileError, target_name

    if ctx.dbt is None or ctx.profiles is None:
        return skipped("profiles.yml")
    try:
        profile = read_profile(ctx.profiles, ctx.dbt.profile)
    except UserError as e:
        return Finding(FAIL, *split_line(e.line()))
    ctx.profile = profile
    from_env = os.environ.get(TARGET_ENV)
    try:
        name = target_name(profile.default_target)
    except ProfileError as e:
        return Finding(
            FAIL,
            f"`target:` of profile `{profile.name}` cannot be rendered: {e}",
            f"set {TARGET_ENV}, or fix `target:` of profile `{profile.name}` in profiles.yml",
        )
    why = f"{TARGET_ENV}={from_env}" if from_env else "the profile's `target:`"
    if not from_env and not profile.default_target:
        why = "no `target:`, so `default`"
    targets = ", ".join(f"`{t}`" for t in profile.targets)
    if name not in profile.targets:
        fix = (
            f"set {TARGET_ENV} to one of {targets}, or unset it"
            if from_env
            else f"set `target:` of profile `{profile.name}` in profiles.yml to one of {targets}"
        )
        return Finding(
            FAIL,
            f"target `{name}` ({why}) is not in profile `{profile.name}` (targets: {targets})",
            fix,
        )
    ctx.target = name
    kind = str(profile.targets[name].get("type"))
    return Finding(
        OK, f"profile `{profile.name}`, target `{name}` ({kind}; from {why}); targets: {targets}"
    )


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _where(leaf: str) -> str:
    """`outputs.prod.password` -> target `prod`: password."""
    if leaf.startswith("outputs."):
        target, _, key = leaf[len("outputs.") :].partition(".")
        return f"target `{target}`: {key}"
    return leaf


def check_env_vars(ctx: Context) -> Finding:
    """Every env_var() of the profile (all its targets) and of dbt_project.yml is set or defaulted.

    dbt renders every target of the profile, not only the one in use: one unset variable
    without a default fails every dbt command (dbt-core#4947).
    """
    from dbtscaffold.runtime.profiles import EnvVarMissing, ProfileError, render

    if ctx.dbt is None or ctx.profile is None:
        return skipped("the profile")
    leaves = (
        [("the profile's `target:`", ctx.profile.default_target)]
        if ctx.profile.default_target
        else []
    )
    for tname, cfg in ctx.profile.targets.items():
        leaves += _leaves(cfg, f"outputs.{tname}")
    names: set[str] = set()
    missing: dict[str, str] = {}
    broken: list[str] = []
    for where, value in leaves:
        if not isinstance(value, str):
            continue
        names.update(_ENV_VAR_RE.findall(value))
        try:
            render(value)
        except EnvVarMissing as e:
            missing.setdefault(e.name, where)
        except ProfileError as e:
            broken.append(f"{where}: {e}")
    project_yml = ctx.dbt.yml_path.read_text(encoding="utf-8", errors="replace")
    for name in _ENV_VAR_NO_DEFAULT_RE.findall(project_yml):
        names.add(name)
        if name not in os.environ:
            missing.setdefault(name, "dbt_project.yml")
    names.update(_ENV_VAR_RE.findall(project_yml))
    if missing:
        shown = ", ".join(f"`{n}` ({_where(w)})" for n, w in missing.items())
        first = next(iter(missing))
        return Finding(
            FAIL,
            f"env_var() without a default names unset {shown}; dbt fails on it even when "
            "another target is in use (dbt-core#4947)",
            f"export {first}=... before dbt and Dagster start, or give it a default: "
            f"env_var('{first}', '...')",
        )
    if broken:
        return Finding(FAIL, f"profiles.yml cannot be rendered: {broken[0]}", "fix that value")
    if not names:
        return Finding(OK, "no env_var() in profiles.yml or dbt_project.yml")
    unset = sorted(n for n in names if n not in os.environ)
    shown = ", ".join(unset[:3]) + (f" and {len(unset) - 3} more" if len(unset) > 3 else "")
    defaulted = f" ({len(unset)} by default: {shown})" if unset else ""
    return Finding(OK, f"{len(names)} variables, all set or defaulted{defaulted}")


# --- adapters and dbt -------------------------------------------------------------------


def _installed(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_adapters(ctx: Context) -> Finding:
    """The adapter package of every target type is installed (the one in use must be)."""
    from dbtscaffold.dbt.project import adapter_package

    if ctx.profile is None:
        return skipped("the profile")
    env = Path(sys.prefix)
    found: list[str] = []
    missing_used: list[str] = []
    missing_other: list[str] = []
    for tname, cfg in ctx.profile.targets.items():
        kind = str(cfg.get("type", "")).strip().lower()
        package = adapter_package(kind)
        version = _installed(package)
        if version is not None:
            found.append(f"{package} {version} (`{tname}`)")
        elif tname == ctx.target:
            missing_used.append(package)
        else:
            missing_other.append(f"{package} (target `{tname}`)")
    core = _installed("dbt-core")
    if core is None or missing_used:
        package = "dbt-core" if core is None else missing_used[0]
        return Finding(
            FAIL,
            f"{package} is not installed in {env}"
            + (f", and target `{ctx.target}` in use needs it" if core is not None else ""),
            f"`{sys.executable} -m pip install {package}`",
        )
    summary = f"dbt-core {core}; " + ", ".join(found)
    if missing_other:
        return Finding(
            WARN,
            f"{summary}; not installed: {', '.join(missing_other)}, needed when that target "
            "is selected",
            f"`{sys.executable} -m pip install {' '.join(m.split(' ')[0] for m in missing_other)}` "
            "before selecting it",
        )
    return Finding(OK, summary)


def check_dbt_executable(ctx: Context) -> Finding:
    """The `dbt` a code server runs: dagster-dbt runs `dbt` from PATH; ours is in the venv's bin."""
    bin_dir = Path(sys.executable).parent
    ours = bin_dir / ("dbt.exe" if os.name == "nt" else "dbt")
    ours_ok = ours.is_file() and os.access(ours, os.X_OK)
    on_path = shutil.which("dbt")
    same = on_path is not None and ours_ok and Path(on_path).resolve() == ours.resolve()
    if same:
        return Finding(OK, f"`dbt` is {ctx.show(ours)}, this environment's, first on PATH")
    if ours_ok:
        where = f"`dbt` on PATH is {on_path}" if on_path else "no `dbt` on PATH"
        return Finding(
            WARN,
            f"{where}, not this environment's {ours}: a code server started by plain "
            "`dagster dev` runs that one",
            f"activate the environment (PATH={bin_dir}:$PATH), or start with `dbtscaffold dev`, "
            "which puts it first",
        )
    if on_path:
        return Finding(
            WARN,
            f"no dbt in {bin_dir}; the code server would run {on_path} (another dbt-core)",
            f"pip install dbt-core in {sys.prefix}",
        )
    return Finding(FAIL, f"no `dbt` executable in {bin_dir} or on PATH", "pip install dbt-core")
