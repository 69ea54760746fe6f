"""`dbtscaffold check`: named health checks of a Dagster + dbt project, as a table or JSON.

The checks are the `check` package's (check/runner.py lists them); this runs them and
prints their report. Exit 1 when any check fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from dbtscaffold import console
from dbtscaffold.check.finding import FAIL, STATUSES, Context
from dbtscaffold.check.runner import CheckReport, run_checks


def run_check(
    *,
    dagster_project_dir: Path | None,
    dbt_project_dir: Path | None,
    load: bool = True,
    spinner: bool = False,
) -> CheckReport:
    """Run every check (with a spinner on a terminal when SPINNER); the report."""
    ctx = Context(
        cwd=Path.cwd(), dagster_option=dagster_project_dir, dbt_option=dbt_project_dir, load=load
    )
    if not (spinner and console.is_terminal(stderr=True)):
        return run_checks(ctx)
    return run_checks(
        ctx, around=lambda name: console.status(f"Checking {name.replace('_', ' ')}...")
    )


def print_check(report: CheckReport, *, as_json: bool = False) -> int:
    """Print REPORT: a table and a summary line, or JSON with AS_JSON; the exit code."""
    if as_json:
        console.data(json.dumps(report.to_json(), indent=2) + "\n")
        return report.exit_code
    console.status_table([(f.status, f.name, f.message, f.fix) for f in report.findings])
    for f in report.findings:
        if f.details:
            console.detail(f"--- {f.name}\n{f.details.rstrip()}")
    counts = {s: sum(f.status == s for f in report.findings) for s in STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    took = f"{report.seconds:.1f} s"
    if report.exit_code:
        failed = ", ".join(f.name for f in report.findings if f.status == FAIL)
        console.error(
            f"{console.count(counts[FAIL], 'check')} failed ({failed}): {summary}, in {took}."
        )
    else:
        console.success(f"No check failed: {summary}, in {took}.")
    return report.exit_code
