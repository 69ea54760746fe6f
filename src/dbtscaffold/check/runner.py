"""The checks of `dbtscaffold check`, in the order they run, and the report they make."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from dbtscaffold import __version__
from dbtscaffold.check import definitions, environment, state
from dbtscaffold.check.finding import FAIL, OK, WARN, Context, Finding

# The JSON report's schema version (docs/check.schema.json): bumped when a key changes
# meaning or goes away.
SCHEMA_VERSION = 1

Check = Callable[[Context], Finding]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("projects", environment.check_projects),
    ("profiles", environment.check_profiles),
    ("target", environment.check_target),
    ("env_vars", environment.check_env_vars),
    ("adapters", environment.check_adapters),
    ("dbt_executable", environment.check_dbt_executable),
    ("parse_on_load", state.check_parse_on_load),
    ("manifest", state.check_manifest),
    ("asset_keys", state.check_asset_keys),
    ("seeds", state.check_seeds),
    ("runtime_copy", definitions.check_runtime_copy),
    ("fast_loaders", definitions.check_fast_loaders),
    ("deploy", definitions.check_deploy),
    ("definitions", definitions.check_definitions),
)


@dataclass(frozen=True)
class CheckReport:
    """The findings of every check, in order, and the projects they were run on."""

    dagster_project_dir: Path | None
    dbt_project_dir: Path | None
    findings: list[Finding]
    seconds: float = 0.0  # the whole run

    @property
    def status(self) -> str:
        found = {f.status for f in self.findings}
        return next((s for s in (FAIL, WARN) if s in found), OK)

    @property
    def exit_code(self) -> int:
        return 1 if self.status == FAIL else 0

    def to_json(self) -> dict[str, object]:
        """The report as docs/check.schema.json describes it."""

        def path(p: Path | None) -> str | None:
            return str(p) if p is not None else None

        return {
            "version": SCHEMA_VERSION,
            "dbtscaffold_version": __version__,
            "status": self.status,
            "dagster_project_dir": path(self.dagster_project_dir),
            "dbt_project_dir": path(self.dbt_project_dir),
            "checks": [
                {
                    "id": f.name,
                    "status": f.status,
                    "message": f.message,
                    "fix": f.fix,
                    "seconds": f.seconds,
                }
                for f in self.findings
            ],
        }


def run_checks(
    ctx: Context, *, around: Callable[[str], AbstractContextManager[object]] | None = None
) -> CheckReport:
    """Run every check in order on CTX (each inside AROUND(name), a spinner, when given).

    A finding's time is its own check's work only; its message and fix become one line,
    whatever they held.
    """
    started = time.perf_counter()
    findings: list[Finding] = []
    for name, check in CHECKS:
        start = time.perf_counter()
        with around(name) if around is not None else nullcontext():
            found = check(ctx)
        findings.append(
            replace(
                found,
                name=name,
                message=" ".join(found.message.split()),
                fix=" ".join(found.fix.split()),
                seconds=round(time.perf_counter() - start, 3),
            )
        )
    dagster = ctx.dagster.dir if ctx.dagster is not None else None
    dbt = ctx.dbt.dir if ctx.dbt is not None else None
    return CheckReport(dagster, dbt, findings, time.perf_counter() - started)
