"""`dbtscaffold convert-seed`: a dbt seed becomes a source loaded by an upstream Dagster asset.

`plan_convert_seed` reads both projects and returns a Plan (and what it found); it never
writes. `run_convert_seed` plans, shows or applies the plan under the project's lock, and
reports. See DESIGN.md, "dbtscaffold convert-seed".
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dbtscaffold import console
from dbtscaffold.errors import UserError
from dbtscaffold.plan import FileChange, Plan
from dbtscaffold.project import DagsterProjectInfo, DbtProjectInfo

# Seed, source and schema names go into SQL, YAML and Python: plain identifiers only.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TARGET_ENV = "DBT_TARGET"


@dataclass
class ConvertResult:
    """A planned conversion: the plan plus what the summary needs."""

    plan: Plan
    refs: dict[Path, int] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be carried over
    infos: list[str] = field(default_factory=list)  # choices worth knowing about
    csv_moves: list[tuple[Path, Path | None]] = field(default_factory=list)


def check_name(value: str, what: str) -> None:
    """A UserError unless VALUE is a plain identifier (no path, quotes or spaces)."""
    if not NAME_RE.match(value):
        shown = value.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"{what} `{shown}` is not a plain name (letters, digits and underscores, not "
            f"starting with a digit); pass the seed's CSV file name without folder or `.csv`."
            if what == "Seed name"
            else f"{what} `{shown}` is not a plain name (letters, digits and underscores, "
            "not starting with a digit)."
        )


def dbt_accepts_meta_in_config() -> bool:
    """True when the installed dbt-core wants `meta` under `config:` (1.10 and later)."""
    from importlib import metadata

    try:
        major, minor = (int(p) for p in metadata.version("dbt-core").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return True
    return (major, minor) >= (1, 10)


@dataclass(frozen=True)
class TargetInfo:
    """The dbt target in use at conversion time (values rendered with env_var())."""

    name: str
    type: str
    config: dict[str, object]

    def duckdb_catalog(self) -> str | None:
        """The catalog name dbt-duckdb gives the database: `database:`, else the file's stem."""
        if self.type != "duckdb":
            return None
        db = self.config.get("database")
        if isinstance(db, str) and db:
            return db
        path = str(self.config.get("path") or ":memory:")
        return "memory" if path == ":memory:" else Path(path.split("?", 1)[0]).stem

    def schema(self) -> str | None:
        value = self.config.get("schema")
        return value if isinstance(value, str) and NAME_RE.match(value) else None


def _render_profile_value(value: object) -> object:
    """VALUE rendered as dbt renders profiles.yml; a value dbt could not render stays as is."""
    from dbtscaffold.runtime.profiles import ProfileError, render

    try:
        return render(value)
    except ProfileError:
        return value


def read_target(dbt: DbtProjectInfo) -> TargetInfo:
    """The dbt target in use (DBT_TARGET, else the profile's default), as dbt would read it."""
    from dbtscaffold.project import find_profiles, read_profile

    profile = read_profile(find_profiles(dbt.dir), dbt.profile)
    name = os.environ.get(TARGET_ENV) or profile.default_target or "default"
    if name not in profile.targets:
        raise UserError(
            f"Target `{name}` not found in profile `{profile.name}` of `{profile.location.path}`; "
            f"fix {TARGET_ENV} or `target:`."
        )
    config = {str(k): _render_profile_value(v) for k, v in profile.targets[name].items()}
    return TargetInfo(name, str(config.get("type", "")).strip().lower(), config)


def resolve_projects(
    dbt_project_dir: Path | None, dagster_project_dir: Path | None
) -> tuple[DbtProjectInfo, DagsterProjectInfo]:
    """The dbt project and the Dagster project made for it, from the options or the cwd."""
    from dbtscaffold.project import DBT_PROJECT_YML, read_dbt_project, resolve_dagster_project

    if dbt_project_dir is None and dagster_project_dir is None:
        if (Path.cwd() / DBT_PROJECT_YML).is_file():
            dbt_project_dir = Path.cwd()
        else:
            dagster = resolve_dagster_project(None, None)
            return read_dbt_project(dagster.dbt_project_dir), dagster
    if dbt_project_dir is None:
        dagster = resolve_dagster_project(dagster_project_dir, None)
        return read_dbt_project(dagster.dbt_project_dir), dagster
    dbt = read_dbt_project(dbt_project_dir)
    dagster = resolve_dagster_project(dagster_project_dir, dbt.dir)
    if dagster.dbt_project_dir != dbt.dir:
        raise UserError(
            f"Dagster project `{dagster.dir}` orchestrates `{dagster.dbt_project_dir}`, not "
            f"`{dbt.dir}`; pass the matching --dbt-project-dir or --dagster-project-dir."
        )
    return dbt, dagster


def _csv_header(raw: bytes, delimiter: str) -> list[str]:
    text = raw.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter or ","), [])
    return [c.strip() for c in first]


def run_convert_seed(
    *,
    seeds: list[str],
    dbt_project_dir: Path | None,
    dagster_project_dir: Path | None,
    source_name: str | None,
    delete_csv: bool,
    dry_run: bool,
) -> ConvertResult:
    """Plan the conversion, then print its diff (dry run) or apply it as one change."""
    import time

    from dbtscaffold.apply import LOCK, state_lock
    from dbtscaffold.commands import execute_plan

    started = time.perf_counter()
    for seed in seeds:
        check_name(seed, "Seed name")
    if source_name is not None:
        check_name(source_name, "Source name")
    dbt, dagster = resolve_projects(dbt_project_dir, dagster_project_dir)
    if source_name is None and not NAME_RE.match(dbt.name):
        # The default source name goes into source('...') calls and YAML like any other.
        shown = dbt.name.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"The dbt project name `{shown}` is not a plain name, so it cannot be the source's "
            "name; pass --source-name."
        )
    unique = list(dict.fromkeys(seeds))

    def plan() -> ConvertResult:
        return plan_convert_seed(
            dbt, dagster, unique, source_name=source_name or dbt.name, delete_csv=delete_csv
        )

    # Plan once without the lock: bad input fails here and leaves nothing behind.
    try:
        result = plan()
    except (UserError, OSError):
        # Another command may have been swapping files while we read them (a CSV gone
        # between listing and reading it): once it is done, read again, under the lock.
        if not (dagster.state_dir / LOCK).exists():
            raise
        with state_lock(dagster.state_dir):
            result = plan()
    done = ", ".join(f"`{s}`" for s in unique)
    if result.plan.is_empty:
        console.success(f"Nothing to do: {done} already converted.")
        return result
    if dry_run:
        console.print_diff(dry_run_diff(result))
        _summary(result, to_stdout=False)
        console.info("Dry run: nothing was written.")
        return result
    with state_lock(dagster.state_dir):
        result = plan()  # again, now that no other dbtscaffold command can change the files
        if result.plan.is_empty:  # another run converted them while we waited
            console.success(f"Nothing to do: {done} already converted.")
            return result
        execute_plan(
            result.plan,
            dry_run=False,
            state_dir=dagster.state_dir,
            command="convert-seed " + " ".join(unique),
        )
    _summary(result, to_stdout=True)
    for info in result.infos:
        console.info(info)
    for note in result.notes:
        console.warn(note)
    elapsed = time.perf_counter() - started
    names = ", ".join(f"`{s}`" for s in result.converted)
    console.success(
        f"Converted {names} into source `{source_name or dbt.name}` with upstream Dagster "
        f"asset(s) in {elapsed:.2f}s. Undo with `dbtscaffold undo`."
    )
    console.info(
        "Next: `dbtscaffold materialize` (or `dbtscaffold dev`) loads the CSV before the "
        "models that read it."
    )
    return result


def dry_run_diff(result: ConvertResult) -> str:
    """The plan's unified diff, with each CSV move shown as a git-style rename."""
    from dbtscaffold.plan import unified_diff

    plan = result.plan
    moves = {src: dst for src, dst in result.csv_moves if dst is not None}
    out = []
    for c in plan.effective:
        if c.path in moves.values() and c.label == "move":
            continue
        if c.path in moves:
            a, b = plan.display_path(c.path), plan.display_path(moves[c.path])
            out.append(
                f"diff --git a/{a} b/{b}\nsimilarity index 100%\nrename from {a}\nrename to {b}\n"
            )
            continue
        out.append(unified_diff(c.before, c.after, plan.display_path(c.path)))
    return "".join(out)


def _summary(result: ConvertResult, *, to_stdout: bool) -> None:
    plan = result.plan
    moved = {src: dst for src, dst in result.csv_moves}
    rows = []
    for c in plan.effective:
        if c.path in moved.values():
            continue
        shown = plan.display_path(c.path)
        verb = c.verb
        if c.path in moved:
            dst = moved[c.path]
            shown = f"{shown} -> {plan.display_path(dst)}" if dst else shown
            verb = "move" if dst else "delete"
        refs = result.refs.get(c.path, 0)
        rows.append([shown, verb, refs if refs else ""])
    total = sum(result.refs.values())
    title = f"convert-seed: {len(rows)} change(s), {total} ref(s) rewritten"
    console.table(title, ["File", "Change", "Refs"], rows, to_stdout=to_stdout)


def plan_changes(
    originals: dict[Path, bytes | None], texts: dict[Path, str], roots: tuple[Path, ...]
) -> Plan:
    """A plan with one FileChange per edited text (sorted by path)."""
    plan = Plan(roots=roots, description="convert-seed")
    for path in sorted(texts):
        after = texts[path].encode("utf-8")
        before = originals.get(path)
        if after != before:
            plan.add(FileChange(path, before, after))
    return plan


def plan_convert_seed(
    dbt: DbtProjectInfo,
    dagster: DagsterProjectInfo,
    seeds: list[str],
    *,
    source_name: str,
    delete_csv: bool = False,
) -> ConvertResult:
    """Plan converting SEEDS of DBT into source SOURCE_NAME loaded by DAGSTER's assets."""
    from dbtscaffold.convert_plan import plan_convert_seed as plan

    return plan(dbt, dagster, seeds, source_name=source_name, delete_csv=delete_csv)
