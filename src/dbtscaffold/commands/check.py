"""`dbtscaffold check`: named health checks of a Dagster + dbt project, as a table or JSON.

Each check reads (never writes) and reports ok, warn, fail or skip with a one-line finding
and a one-line fix. Exit 1 when any check fails. The checks themselves are in check_items
(the set-up), check_state (the manifest, asset keys, seeds) and check_dagster (the runtime
copy, deploy files, the definitions load).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from dbtscaffold import __version__, console
from dbtscaffold.commands import check_dagster as dagster
from dbtscaffold.commands import check_items as items
from dbtscaffold.commands import check_state as state

# The JSON report's schema version: bumped when a key changes meaning or goes away.
SCHEMA_VERSION = 1

CHECKS: tuple[tuple[str, Callable[[items.Context], items.Finding]], ...] = (
    ("projects", items.check_projects),
    ("profiles", items.check_profiles),
    ("target", items.check_target),
    ("env_vars", items.check_env_vars),
    ("adapters", items.check_adapters),
    ("dbt_executable", items.check_dbt_executable),
    ("parse_on_load", state.check_parse_on_load),
    ("manifest", state.check_manifest),
    ("asset_keys", state.check_asset_keys),
    ("seeds", state.check_seeds),
    ("runtime_copy", dagster.check_runtime_copy),
    ("fast_loaders", dagster.check_fast_loaders),
    ("deploy", dagster.check_deploy),
    ("definitions", dagster.check_definitions),
)


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: str
    message: str
    fix: str
    seconds: float


@dataclass(frozen=True)
class CheckReport:
    dagster_project_dir: Path | None
    dbt_project_dir: Path | None
    checks: list[CheckResult]
    details: dict[str, str]

    @property
    def status(self) -> str:
        found = {c.status for c in self.checks}
        return next((s for s in (items.FAIL, items.WARN) if s in found), items.OK)

    @property
    def exit_code(self) -> int:
        return 1 if self.status == items.FAIL else 0

    def to_json(self) -> dict[str, object]:
        def path(p: Path | None) -> str | None:
            return str(p) if p is not None else None

        return {
            "version": SCHEMA_VERSION,
            "dbtscaffold_version": __version__,
            "status": self.status,
            "dagster_project_dir": path(self.dagster_project_dir),
            "dbt_project_dir": path(self.dbt_project_dir),
            "checks": [asdict(c) for c in self.checks],
        }


def collect(ctx: items.Context, *, spinner: bool = False) -> CheckReport:
    """Run every check in order on CTX; a check's time includes only its own work."""
    results: list[CheckResult] = []
    details: dict[str, str] = {}
    for check_id, fn in CHECKS:
        start = time.perf_counter()
        if spinner:
            with console.status(f"Checking {check_id.replace('_', ' ')}..."):
                finding = fn(ctx)
        else:
            finding = fn(ctx)
        seconds = round(time.perf_counter() - start, 3)
        message = " ".join(finding.message.split())  # one line, whatever a message held
        fix = " ".join(finding.fix.split())
        results.append(CheckResult(check_id, finding.status, message, fix, seconds))
        if finding.details:
            details[check_id] = finding.details
    dagster = ctx.dagster.dir if ctx.dagster is not None else None
    dbt = ctx.dbt.dir if ctx.dbt is not None else None
    return CheckReport(dagster, dbt, results, details)


def run_check(
    *,
    dagster_project_dir: Path | None,
    dbt_project_dir: Path | None,
    as_json: bool = False,
    load: bool = True,
) -> int:
    """Run the checks, print them (a table, or JSON with AS_JSON); return the exit code."""
    started = time.perf_counter()
    ctx = items.Context(
        cwd=Path.cwd(), dagster_option=dagster_project_dir, dbt_option=dbt_project_dir, load=load
    )
    report = collect(ctx, spinner=not as_json and console.is_terminal(stderr=True))
    if as_json:
        console.data(json.dumps(report.to_json(), indent=2) + "\n")
        return report.exit_code
    console.status_table([(c.status, c.id, c.message, c.fix) for c in report.checks])
    for check_id, text in report.details.items():
        console.detail(f"--- {check_id}\n{text.rstrip()}")
    counts = {s: sum(c.status == s for c in report.checks) for s in items.STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    took = f"{time.perf_counter() - started:.1f} s"
    if report.exit_code:
        failed = ", ".join(c.id for c in report.checks if c.status == items.FAIL)
        console.error(
            f"{console.count(counts[items.FAIL], 'check')} failed ({failed}): {summary}, in {took}."
        )
    else:
        console.success(f"No check failed: {summary}, in {took}.")
    return report.exit_code
