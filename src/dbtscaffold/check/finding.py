"""What `dbtscaffold check` reports and what its checks share: Finding, the statuses, Context.

A check is a function of the Context that reads (never writes) and returns a Finding; the
checks run in order (runner.CHECKS), and one that finds something (the projects, the
profile) records it in the Context for the later ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.dagster_project.generated import ConstantsPaths
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt.project import DbtProjectInfo, ProfileInfo, ProfilesLocation

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
# A suggestion, not a problem: it never makes the overall status worse than ok.
HINT = "hint"
STATUSES = (OK, HINT, WARN, FAIL, SKIP)


@dataclass(frozen=True)
class Finding:
    """What one check found: a status, a one-line finding, a one-line fix ('' when ok).

    A check leaves NAME and SECONDS to the runner, which sets them (runner.run_checks).
    """

    status: str
    message: str
    fix: str = ""
    details: str = ""  # more (a traceback), shown with --verbose
    name: str = ""  # the check's id: `profiles`, `manifest`...
    seconds: float = 0.0  # how long the check took


@dataclass
class Context:
    """What the checks know so far; each check fills in what it found."""

    cwd: Path
    dagster_option: Path | None = None
    dbt_option: Path | None = None
    load: bool = True
    dagster: DagsterProjectInfo | None = None
    dbt: DbtProjectInfo | None = None
    constants: ConstantsPaths | None = None
    profiles: ProfilesLocation | None = None
    profile: ProfileInfo | None = None
    target: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def show(self, path: Path) -> str:
        """PATH as a user reads it: relative to the current folder when inside it."""
        path = Path(path).resolve()
        try:
            rel = Path(os.path.relpath(path, self.cwd.resolve()))
        except ValueError:  # another drive
            return str(path)
        # A short way up (the dbt project above a nested Dagster project) reads better too.
        ups = rel.parts.count("..")
        if ups and (ups > 2 or len(rel.as_posix()) >= len(str(path))):
            return str(path)
        return rel.as_posix()

    def dagster_cmd(self) -> str:
        """`cd <dagster project> && ` when it is not the current folder."""
        if self.dagster is None or self.dagster.dir == self.cwd.resolve():
            return ""
        return f"cd {self.show(self.dagster.dir)} && "


def skipped(needs: str) -> Finding:
    return Finding(SKIP, f"not run: needs {needs}")


def split_line(line: str) -> tuple[str, str]:
    """A UserError's line split into what is wrong and what to do (at its last '; ')."""
    head, sep, tail = line.rstrip(".").rpartition("; ")
    return (head, tail) if sep else (line, "")
