"""What `init` writes: the templates rendered with cookiecutter, and the runtime copy, as a Plan."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dbtscaffold import __version__
from dbtscaffold.changes.files import check_confined
from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.dagster_project.generated import RECORD, copied_modules
from dbtscaffold.dagster_project.locate import relpath
from dbtscaffold.dagster_project.names import (
    name_problem,
    py_literal,
    shadow_problem,
    to_identifier,
)
from dbtscaffold.dagster_project.pins import current_pins, dbt_req
from dbtscaffold.dbt import project as proj
from dbtscaffold.errors import UserError
from dbtscaffold.resources import runtime_dir, templates_dir

TEMPLATE = "dagster_project"
# `--layout`: the template of each (the tutorial's Pythonic package, or dg's components project).
TEMPLATES = {"python": TEMPLATE, "components": "dagster_components"}
LAYOUTS = tuple(TEMPLATES)
# The private sub-package of a generated project that holds the copy of dbtscaffold.runtime.
RUNTIME_PACKAGE = "_dbtscaffold"
DBT_CORE_UPPER = "<1.12"
DEFAULT_CRON = "0 0 * * *"


@dataclass(frozen=True)
class InitResult:
    plan: Plan
    project_dir: Path
    dbt: proj.DbtProjectInfo
    profile: proj.ProfileInfo
    adapter_packages: list[str]
    name_warning: str | None = None  # a shadowing name allowed by --ignore-package-conflict


def validate_project_name(name: str, shadowing: bool = False) -> str:
    """NAME if it can be the generated package's name, else a UserError.

    SHADOWING (--ignore-package-conflict) allows a name that shadows a module.
    """
    problem = name_problem(name, shadowing=shadowing)
    if problem:
        hint = (
            ", or pass --ignore-package-conflict to use it anyway"
            if shadow_problem(name) == problem
            else ""
        )
        raise UserError(
            f"Project name `{name}` {problem}; choose another with --project-name{hint}."
        )
    return name


def validate_cron(cron: str) -> str:
    """CRON if Dagster accepts it as a schedule's cron_schedule, else a UserError."""
    # Dagster's own check, as ScheduleDefinition applies it when the definitions load;
    # importing dagster costs seconds, so only `init --schedule` pays for it.
    from dagster import DagsterInvalidDefinitionError, ScheduleDefinition

    try:
        valid = bool(cron.strip()) and bool(
            ScheduleDefinition(name="cron_check", cron_schedule=cron, job_name="cron_check")
        )
    except DagsterInvalidDefinitionError:
        valid = False
    if not valid:
        shown = cron.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"Cron schedule `{shown}` is not valid; pass five fields (minute hour day month "
            f"weekday), e.g. --schedule '{DEFAULT_CRON}' for every day at midnight."
        )
    return cron


def default_project_name(dbt: proj.DbtProjectInfo) -> str:
    return to_identifier(dbt.name) + "_dagster"


def toml_str(value: str) -> str:
    """A TOML basic string meaning exactly VALUE."""
    # JSON string escapes are valid TOML escapes; ensure_ascii=False avoids \\ud83d-style
    # surrogate pairs, which TOML rejects. JSON leaves DEL (U+007F) raw; TOML does not allow it.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _profiles_dir(loc: proj.ProfilesLocation, dbt_dir: Path, package_dir: Path) -> str:
    """DbtProject(profiles_dir=...) in constants.py for the profiles.yml init used ("": none).

    profiles.yml in the dbt project needs none (DbtProject's default, which follows the
    packaged copy too); found in dbt's own order (DBT_PROFILES_DIR, then ~/.dbt), the project
    looks the same way when it runs; a folder given by --profiles-dir is named, relative to
    the package (never an absolute path: a team commits that file).
    """
    pdir = loc.path.parent
    home = (Path.home() / ".dbt").resolve()
    if pdir == dbt_dir.resolve():
        return ""
    if loc.how != "--profiles-dir":
        return 'os.environ.get("DBT_PROFILES_DIR", Path.home() / ".dbt")'
    if pdir == home:
        return 'Path.home() / ".dbt"'
    return _from_here(relpath(pdir, package_dir))


def _from_here(rel: str) -> str:
    """`HERE.joinpath(...).resolve()` for REL, a path relative to the package folder HERE."""
    parts = [p for p in rel.split("/") if p != "."] or ["."]
    return "HERE.joinpath(" + ", ".join(py_literal(p) for p in parts) + ").resolve()"


def _doc_text(value: str) -> str:
    """VALUE as text inside a triple-double-quoted docstring."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def build_context(
    name: str,
    dbt: proj.DbtProjectInfo,
    profile: proj.ProfileInfo,
    project_dir: Path,
    schedule: str | None = None,
    with_schedule: bool = True,
    dbt_state: bool = False,
    layout: str = "python",
) -> dict[str, object]:
    """The cookiecutter context: SCHEDULE is `--schedule`'s cron (None: the default, off)."""
    from dbtscaffold.dbt.target import duckdb_path

    package_dir = project_dir / package_path(name, layout)
    duckdb = duckdb_path(profile)
    pins = current_pins()
    adapters = proj.adapter_packages(profile.target_types(), profile.targets.values())
    deps = [pins.dagster_req("dagster"), pins.dagster_req("dagster-dbt"), dbt_req("dbt-core")]
    deps += [dbt_req(a, DBT_CORE_UPPER) for a in adapters]
    if "duckdb" in profile.target_types():
        deps.append(pins.dagster_req("dagster-duckdb"))
    return {
        "project_name": name,
        "version": __version__,
        "dbt_project_name_toml_inner": toml_str(dbt.name)[1:-1],
        "dbt_project_name_md": "`" + dbt.name.replace("`", "'") + "`",
        "dbt_project_name_py_doc": _doc_text(dbt.name),
        "dbt_project_dir_md": relpath(dbt.dir, project_dir).replace("`", "'"),
        "dbt_assets_name": to_identifier(dbt.name) + "_dbt_assets",
        "dependencies_toml": [toml_str(d) for d in deps],
        "webserver_req": pins.dagster_req("dagster-webserver"),
        "postgres_req": pins.dagster_req("dagster-postgres"),
        "dbt_project_dir_toml": toml_str(relpath(dbt.dir, project_dir)),
        "dbt_project_dir_parts_py": _from_here(relpath(dbt.dir, package_dir))[14:-11],
        "profiles_dir_py": _profiles_dir(profile.location, dbt.dir, package_dir),
        "target_path_py": py_literal(dbt.target_path) if dbt.target_path != "target" else "",
        "schedule": with_schedule,
        "dbt_state": dbt_state,
        "schedule_cron_py": py_literal(schedule or DEFAULT_CRON),
        "schedule_cron_md": (schedule or DEFAULT_CRON).replace("`", "'"),
        "schedule_status": "RUNNING" if schedule else "STOPPED",
        "duckdb_env": duckdb.env if duckdb and duckdb.env else "",
        "duckdb_file": duckdb.file_name if duckdb else "",
        "duckdb_relative": bool(duckdb and duckdb.relative),
        # The components layout's: dg's defs.yaml names the dbt project from the project root.
        "component_name": to_identifier(dbt.name),
        "dg_req": pins.dagster_req("dagster-dg-cli"),
        "dbt_project_dir_yaml": json.dumps(
            "{{ context.project_root }}/" + relpath(dbt.dir, project_dir)
        ),
        "dbt_project_dir_parts_from_tests_py": _from_here(relpath(dbt.dir, project_dir / "tests"))[
            14:-11
        ],
        "manifest_rel_py": py_literal(f"{dbt.target_path}/manifest.json"),
    }


def package_path(name: str, layout: str) -> str:
    """The package folder of project NAME, relative to the project (dg's src layout or not)."""
    return f"src/{name}" if layout == "components" else name


def render(context: dict[str, object], staging: Path, layout: str = "python") -> Path:
    """Render LAYOUT's template with cookiecutter into STAGING; return the rendered folder."""
    from cookiecutter.generate import generate_files

    # generate_files, not cookiecutter(): no replay files, no user config, no hooks.
    out = generate_files(
        repo_dir=str(templates_dir() / TEMPLATES[layout]),
        context={"cookiecutter": context},
        output_dir=str(staging),
        accept_hooks=False,
    )
    return Path(out)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(path: Path) -> dict[str, str]:
    """The record of a previous init ({} when there is none or it is not ours)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _read_tree(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        # Bytecode caches appear in templates/ when a test imports a template module.
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if f.endswith((".pyc", ".pyo")):
                continue
            p = Path(dirpath) / f
            files[p.relative_to(root).as_posix()] = p.read_bytes()
    return files


def plan_init(
    dbt_project_dir: Path,
    output_dir: Path,
    project_name: str | None,
    profiles_dir: Path | None = None,
    force: bool = False,
    overwrite: bool = False,
    schedule: str | None = None,
    no_schedule: bool = False,
    ignore_package_conflict: bool = False,
    dbt_state: bool = False,
    layout: str = "python",
) -> InitResult:
    """Plan the files of a new Dagster project for the dbt project in DBT_PROJECT_DIR.

    With FORCE, an existing project's generated files are rewritten where they are still
    as generated (the record in .dbtscaffold/generated.json says so); a generated file the
    user edited stops the plan with one line, unless OVERWRITE is given too. SCHEDULE (a
    cron) turns the schedule on; NO_SCHEDULE leaves schedules.py out. With neither, a
    schedules.py that already exists is kept as it is on --force.
    """
    if schedule is not None:
        validate_cron(schedule)
    dbt = proj.read_dbt_project(dbt_project_dir)
    name = project_name or default_project_name(dbt)
    validate_project_name(name, shadowing=ignore_package_conflict)
    shadows = shadow_problem(name)
    profile = proj.read_profile(proj.find_profiles(dbt.dir, profiles_dir), dbt.profile)
    project_dir = _project_dir(output_dir.absolute() / name, dbt.dir, force, layout)
    context = build_context(
        name, dbt, profile, project_dir, schedule, not no_schedule, dbt_state, layout
    )
    pkg = package_path(name, layout)
    # The components layout keeps its schedule among the defs dg discovers.
    schedules = f"{pkg}/defs/schedules.py" if layout == "components" else f"{pkg}/schedules.py"
    rendered = _rendered(
        context, layout, project_dir, pkg, schedules, schedule, no_schedule, profile
    )
    record_path = project_dir / RECORD
    record = _read_record(record_path)
    # A write out of the project (a symbolic link) is refused before anything else.
    for rel in rendered:
        check_confined(project_dir / rel, (project_dir,))
    explicit = {schedules} if schedule is not None else set()
    if not overwrite:
        _refuse_edited(project_dir, pkg, rendered, record, explicit)
    plan = _planned(project_dir, pkg, name, rendered, record, record_path)
    return InitResult(
        plan,
        project_dir,
        dbt,
        profile,
        proj.adapter_packages(profile.target_types(), profile.targets.values()),
        f"Project name `{name}` {shadows} (allowed by --ignore-package-conflict)."
        if shadows
        else None,
    )


def _project_dir(project_dir: Path, dbt_dir: Path, force: bool, layout: str) -> Path:
    """PROJECT_DIR, once it is a folder init may write (a UserError says why not)."""
    output_dir = project_dir.parent
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"Output folder `{output_dir}` is a file; pass another --output-dir.")
    # The tutorial's layout nests the Dagster project inside the dbt project, as
    # `dagster-dbt project scaffold` does; only the dbt project folder itself is refused.
    if project_dir.resolve() == dbt_dir:
        raise UserError(
            f"`{project_dir}` is the dbt project folder itself; choose another --project-name "
            "or --output-dir."
        )
    if project_dir.exists() and not project_dir.is_dir():
        raise UserError(f"`{project_dir}` exists and is a file; choose another --project-name.")
    if project_dir.exists() and not force and any(project_dir.iterdir()):
        raise UserError(
            f"`{project_dir}` already exists; pass --force to rewrite the generated files "
            "(other files are left alone) or choose another --project-name."
        )
    _check_layout(project_dir, layout)
    _check_writable(project_dir)
    return project_dir


def _rendered(
    context: dict[str, object],
    layout: str,
    project_dir: Path,
    pkg: str,
    schedules: str,
    schedule: str | None,
    no_schedule: bool,
    profile: proj.ProfileInfo,
) -> dict[str, bytes]:
    """{path in the project: bytes} of every file init writes there."""
    with tempfile.TemporaryDirectory(prefix="dbtscaffold-init-") as tmp:
        rendered = _read_tree(render(context, Path(tmp), layout))
    if no_schedule:
        for rel in (schedules, "tests/test_schedules.py"):
            del rendered[rel]
    elif schedule is None and (project_dir / schedules).is_file():
        # The user's schedule (its cron, its status, more schedules) survives --force
        # unless --schedule says otherwise, as seed_assets.py does.
        del rendered[schedules]
    # The runtime goes in byte for byte (not through cookiecutter): it is our tested code.
    # The fast loaders of the adapter types the profile names now: --force drops the others.
    copied = copied_modules(layout, profile.target_types())
    for rel, data in _read_tree(runtime_dir()).items():
        if rel in copied:
            rendered[f"{pkg}/{RUNTIME_PACKAGE}/{rel}"] = data
    # seed_assets.py belongs to convert-seed once it exists: --force keeps its loaders.
    seed_assets = f"{pkg}/seed_assets.py"
    if (project_dir / seed_assets).is_file():
        del rendered[seed_assets]
    return rendered


def _refuse_edited(
    project_dir: Path,
    pkg: str,
    rendered: dict[str, bytes],
    record: dict[str, str],
    explicit: set[str],
) -> None:
    """A UserError when a file init would rewrite was edited since init wrote it."""
    edited = [
        rel
        for rel in sorted(rendered)
        if not rel.startswith(f"{pkg}/{RUNTIME_PACKAGE}/")  # ours, always refreshed
        and rel not in explicit  # --schedule asks for a new schedules.py (undo keeps the old)
        and (project_dir / rel).is_file()
        and (data := (project_dir / rel).read_bytes()) != rendered[rel]
        and record.get(rel) != _sha256(data)
    ]
    if edited:
        more = f" (and {len(edited) - 1} more)" if len(edited) > 1 else ""
        raise UserError(
            f"`{project_dir.name}/{edited[0]}`{more} was edited since init wrote it; nothing "
            "was changed. Keep your edit, or pass --overwrite to replace it (a backup is kept "
            "for `dbtscaffold undo`)."
        )


def _planned(
    project_dir: Path,
    pkg: str,
    name: str,
    rendered: dict[str, bytes],
    record: dict[str, str],
    record_path: Path,
) -> Plan:
    """The plan that writes RENDERED, drops runtime modules no longer copied and records it."""
    plan = Plan(roots=(project_dir,), description=f"init {name}")
    for rel in sorted(rendered):
        target = project_dir / rel
        before = target.read_bytes() if target.is_file() else None
        plan.add(FileChange(target, before, rendered[rel]))
    # Runtime modules an older init copied that the copy no longer has, if still as written.
    for rel in sorted(set(record) - set(rendered)):
        old = project_dir / rel
        ours = rel.startswith(f"{pkg}/{RUNTIME_PACKAGE}/") and old.is_file()
        if ours and _sha256(data := old.read_bytes()) == record[rel]:
            check_confined(old, (project_dir,))
            plan.add(FileChange(old, data, None))
            del record[rel]
    # What init wrote, so that the next `init --force` can tell a user's edit from ours.
    record.update({rel: _sha256(data) for rel, data in rendered.items()})
    after = (json.dumps(dict(sorted(record.items())), indent=2) + "\n").encode()
    before = record_path.read_bytes() if record_path.is_file() else None
    plan.add(FileChange(record_path, before, after))
    return plan


def _check_layout(project_dir: Path, layout: str) -> None:
    """Refuse `--force` over a project of the other layout (init never moves files)."""
    from dbtscaffold.dagster_project.locate import read_dagster_project

    info = read_dagster_project(project_dir) if project_dir.is_dir() else None
    if info is not None and info.layout != layout:
        raise UserError(
            f"`{project_dir}` is a {info.layout}-layout project; pass --layout {info.layout} "
            '(README.md, "Two layouts", says how to move between them).'
        )


def _check_writable(project_dir: Path) -> None:
    """Refuse early (with no change on disk) when the nearest existing folder is read-only."""
    d = project_dir
    while not d.exists():
        d = d.parent
    # Root passes os.access on any folder, so a folder whose mode has no write bit counts
    # as read-only too: writing into it would surprise its owner.
    if not d.is_dir() or not os.access(d, os.W_OK | os.X_OK) or not d.stat().st_mode & 0o222:
        raise UserError(f"Cannot write to `{d}`: permission denied; pass a writable --output-dir.")
