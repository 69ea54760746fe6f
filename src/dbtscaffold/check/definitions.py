"""The checks of `dbtscaffold check` about the Dagster project itself: the runtime copy, the
deploy files, and the definitions load.

The load runs in a child process (workers/load_probe.py) with parse on load off, bytecode
off and a throw-away DAGSTER_HOME, and only when that load would not need to parse: nothing
is written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtscaffold.check.finding import FAIL, HINT, OK, SKIP, WARN, Context, Finding, skipped
from dbtscaffold.check.state import module_name, parse_fix, stale_note

if TYPE_CHECKING:
    from dbtscaffold import proc
    from dbtscaffold.dagster_project.locate import DagsterProjectInfo

# A load that takes longer than this is reported as failed (the child stops itself).
LOAD_TIMEOUT_S = 300


# --- the runtime copy, deploy files, the load -------------------------------------------


def _init_force(ctx: Context) -> str:
    """The `init --force` command that refreshes this project, from the current folder."""
    assert ctx.dagster is not None and ctx.dbt is not None
    args = ["dbtscaffold", "init"]
    if ctx.dbt.dir != ctx.cwd.resolve():
        args += ["--dbt-project-dir", ctx.show(ctx.dbt.dir)]
    if ctx.dagster.dir.parent != ctx.cwd.resolve():
        args += ["--output-dir", ctx.show(ctx.dagster.dir.parent)]
    if ctx.constants is not None and ctx.constants.profiles_dir is not None:
        args += ["--profiles-dir", ctx.show(ctx.constants.profiles_dir)]
    if ctx.dagster.layout != "python":
        args += ["--layout", ctx.dagster.layout]
    return " ".join([*args, "--project-name", ctx.dagster.package, "--force"])


def check_runtime_copy(ctx: Context) -> Finding:
    """<package>/_dbtscaffold is the installed dbtscaffold's runtime (version, and bytes)."""
    from dbtscaffold import __version__
    from dbtscaffold.dagster_project.generated import RUNTIME_PACKAGE, read_runtime_copy

    if ctx.dagster is None or ctx.dbt is None:
        return skipped("the Dagster project")
    copy = read_runtime_copy(ctx.dagster.package_dir, ctx.dagster.layout)
    shown = ctx.show(ctx.dagster.package_dir / RUNTIME_PACKAGE)
    fix = f"refresh it: `{_init_force(ctx)}`"
    if copy.version is None:
        return Finding(FAIL, f"no runtime copy (with a __version__) in {shown}", fix)
    if copy.missing:
        return Finding(
            FAIL,
            f"{shown} ({copy.version}) lacks {', '.join(f'`{n}`' for n in copy.missing)}, "
            "which the project imports from it",
            fix,
        )
    if copy.edited:
        return Finding(
            FAIL,
            f"{shown}: {', '.join(copy.edited)} edited since init wrote "
            f"{'it' if len(copy.edited) == 1 else 'them'} (the copy is dbtscaffold's code)",
            f"restore it: `{_init_force(ctx)}` (move your change into your own module)",
        )
    if copy.version != __version__:
        return Finding(
            WARN,
            f"{shown} is dbtscaffold {copy.version}'s runtime, intact; this dbtscaffold is "
            f"{__version__}",
            f"{fix}, then commit the diff",
        )
    if copy.differing:
        return Finding(
            WARN,
            f"{shown} says {copy.version}, but {', '.join(copy.differing)} "
            f"{'differs' if len(copy.differing) == 1 else 'differ'} from this dbtscaffold's "
            "(a development build)",
            fix,
        )
    return Finding(OK, f"{shown} is {copy.version}, this dbtscaffold's")


def check_fast_loaders(ctx: Context) -> Finding:
    """The runtime copy has the fast loader of every adapter type the profile names now (init
    copies those the profile named then); without it, a load uses dbt's seed loading: slower."""
    from dbtscaffold.dagster_project.generated import FAST_LOADERS, RUNTIME_PACKAGE, copied_modules

    copy = ctx.dagster.package_dir / RUNTIME_PACKAGE if ctx.dagster else None
    if copy is None or not copy.is_dir() or ctx.dbt is None or ctx.profile is None:
        return skipped("the runtime copy and the profile")
    # What init would copy for this profile now, by init's own rule.
    wanted = copied_modules(ctx.dagster.layout, ctx.profile.target_types())  # type: ignore[union-attr]
    kinds = [k for k, module in FAST_LOADERS.items() if module in wanted]
    lacking = [k for k in kinds if not (copy / FAST_LOADERS[k]).is_file()]
    if lacking:
        return Finding(
            HINT,
            f"the profile names {' and '.join(lacking)}, but {ctx.show(copy)} has no "
            f"{' or '.join(FAST_LOADERS[k] for k in lacking)}: loads there use dbt's seed "
            "loading (slower)",
            f"copy the faster loader{'s' if len(lacking) > 1 else ''}: `{_init_force(ctx)}`, "
            "then commit the diff",
        )
    if not kinds:
        return Finding(OK, "dbt's seed loading for every target (no faster loader for its types)")
    return Finding(OK, f"the faster loaders of {', '.join(kinds)} in {ctx.show(copy)}")


def _module_found(name: str, roots: list[Path]) -> bool:
    """Whether module NAME can be imported from ROOTS or sys.path, without importing it."""
    from importlib.machinery import PathFinder

    parts = name.split(".")
    spec = PathFinder.find_spec(parts[0], [str(r) for r in roots] + sys.path)
    for i in range(1, len(parts)):
        if spec is None or not spec.submodule_search_locations:
            return False
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), list(spec.submodule_search_locations))
    return spec is not None


def _workspace_entries(data: Any, base: Path, ctx: Context) -> tuple[list[str], list[str]]:
    """(what each load_from entry serves, problems) of a workspace.yaml's DATA."""
    entries = data.get("load_from") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        return [], ["no `load_from:` list"]
    seen: list[str] = []
    problems: list[str] = []
    for entry in entries:
        kind, value = next(iter(entry.items())) if isinstance(entry, dict) and entry else ("", None)
        if kind == "grpc_server" and isinstance(value, dict):
            where = value.get("socket") or f"{value.get('host', 'localhost')}:{value.get('port')}"
            if not value.get("socket") and not value.get("port"):
                problems.append("a grpc_server without `port:`")
            # The code server is started elsewhere (`dagster code-server start -m MODULE`):
            # what it must find is the project's own module.
            served = module_name(ctx)
            if not _module_found(served, [ctx.dagster.dir]):  # type: ignore[union-attr]
                problems.append(f"module `{served}` the code server serves not found")
            seen.append(f"grpc_server {where} (serving {served})")
            continue
        if kind in ("python_module", "python_package"):
            conf = value if isinstance(value, dict) else {"module_name": value}
            name = conf.get("module_name") or conf.get("package_name")
            wd = conf.get("working_directory")
            roots = [base / str(wd)] if wd else [base, ctx.dagster.dir]  # type: ignore[union-attr]
            if not isinstance(name, str) or not _module_found(name, roots):
                problems.append(f"module `{name}` not found")
            seen.append(f"{kind} {name}")
            continue
        if kind == "python_file":
            conf = value if isinstance(value, dict) else {"relative_path": value}
            path = base / str(conf.get("relative_path"))
            if not path.is_file():
                problems.append(f"file `{ctx.show(path)}` not found")
            seen.append(f"python_file {ctx.show(path)}")
            continue
        problems.append(f"an entry Dagster does not know (`{kind or entry}`)")
    return seen, problems


def check_deploy(ctx: Context) -> Finding:
    """deploy/dagster.yaml and deploy/workspace.yaml, when present, parse and name what exists."""
    import importlib.util

    import yaml

    from dbtscaffold.runtime.profiles import load_yaml

    if ctx.dagster is None:
        return skipped("the Dagster project")
    deploy = ctx.dagster.dir / "deploy"
    files = [deploy / "dagster.yaml", deploy / "workspace.yaml"]
    if not any(f.is_file() for f in files):
        return Finding(OK, "no deploy files (deploy/dagster.yaml, deploy/workspace.yaml)")
    notes: list[str] = []
    problems: list[str] = []
    for path in files:
        if not path.is_file():
            continue
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            reason = " ".join(str(getattr(e, "problem", None) or e).split())
            return Finding(FAIL, f"{ctx.show(path)} is not valid YAML: {reason}", "fix the file")
        if path.name == "workspace.yaml":
            seen, found = _workspace_entries(data, path.parent, ctx)
            notes.append(f"{ctx.show(path)}: {', '.join(seen) or 'nothing to load'}")
            problems += [f"{ctx.show(path)}: {p}" for p in found]
            continue
        if data is not None and not isinstance(data, dict):
            problems.append(f"{ctx.show(path)}: not a mapping")
            continue
        text = json.dumps(data or {})
        postgres = "postgres" in text
        notes.append(f"{ctx.show(path)}{' (PostgreSQL storage)' if postgres else ''}")
        if postgres and importlib.util.find_spec("dagster_postgres") is None:
            problems.append(
                f"{ctx.show(path)} uses PostgreSQL storage; dagster-postgres is not installed here"
            )
    if problems:
        return Finding(
            FAIL, "; ".join(problems), "fix the deploy files (or pip install what they need)"
        )
    return Finding(OK, "; ".join(notes))


def check_definitions(ctx: Context) -> Finding:
    """The definitions load, in a child process that parses nothing and writes nothing."""
    if not ctx.load:
        return Finding(SKIP, "not run (--no-load)")
    if ctx.dagster is None:
        return skipped("the Dagster project")
    verdict = ctx.cache.get("manifest_verdict", "missing")
    on = ctx.cache.get("parse_on_load", False)
    # Load only what a load here would use without parsing: a current manifest, or (with
    # parse on load off) one dbt wrote whose freshness cannot be told.
    if verdict != "current" and (on or verdict != "unknown"):
        why = {"missing": "there is no manifest", "stale": "the manifest is stale"}.get(
            verdict, "the manifest would be parsed again"
        )
        return Finding(
            SKIP,
            f"not loaded: {why}, and parsing it would write the dbt project's target/ "
            "(check writes nothing)",
            parse_fix(ctx),
        )
    module = module_name(ctx)
    return _probe_finding(ctx, module, _run_probe(ctx.dagster, module))


def _run_probe(dagster: DagsterProjectInfo, module: str) -> proc.Result:
    """workers/load_probe.py on MODULE, with parse on load off and a throw-away instance."""
    from dbtscaffold import proc
    from dbtscaffold.resources import load_probe
    from dbtscaffold.runtime.parse import PARSE_ON_LOAD_ENV

    bin_dir = str(Path(sys.executable).parent)
    with tempfile.TemporaryDirectory(prefix="dbtscaffold-check-") as home:
        Path(home, "dagster.yaml").write_text("", encoding="utf-8")  # a throw-away instance
        env = dict(
            os.environ,
            DAGSTER_HOME=home,
            PYTHONDONTWRITEBYTECODE="1",
            PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        )
        env[PARSE_ON_LOAD_ENV] = "0"  # the manifest is current: nothing to parse
        source = load_probe().read_text(encoding="utf-8")
        cmd = [sys.executable, "-c", source, module, str(LOAD_TIMEOUT_S)]
        # The package's folder on sys.path, as an install would put it (src/ for components).
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(dagster.source_dir), os.environ.get("PYTHONPATH", "")) if p
        )
        return proc.run(cmd, cwd=dagster.source_dir, env=env, check=False)


def _probe_finding(ctx: Context, module: str, result: proc.Result) -> Finding:
    """What the load probe's RESULT (its last JSON line) says of MODULE's load."""
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Finding(
            FAIL,
            f"the load of `{module}` exited {result.returncode} without a report: {tail}",
            f"run `{ctx.dagster_cmd()}dagster definitions validate -m {module}` to see why",
            result.stderr[-6000:],
        )
    seconds = float(report.get("seconds", 0.0))
    if "error" in report:
        where = report.get("where")
        at = f" at {ctx.show(Path(where[0]))}:{where[1]}" if where else ""
        return Finding(
            FAIL,
            f"`{module}` failed to load after {seconds:.1f} s: {report['error']}{at}",
            f"fix the error{at}, then rerun (`dbtscaffold -v check` shows the traceback)",
            str(report.get("traceback", "")),
        )

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'s' if n != 1 else ''}"

    jobs, schedules, sensors = report["jobs"], report["schedules"], report["sensors"]
    return Finding(
        OK,
        f"`{module}` loads in {seconds:.1f} s: {count(report['assets'], 'asset')}, "
        f"{count(report['asset_checks'], 'asset check')}, {count(len(jobs), 'job')}, "
        f"{count(len(schedules), 'schedule')}, {count(len(sensors), 'sensor')}"
        f"{stale_note(ctx)}",
    )
