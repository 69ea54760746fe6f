"""`dbtscaffold materialize`: a headless run of the project's assets, through Dagster.

It runs `dagster asset materialize` in the Dagster project with parse on load set and the
same persistent DAGSTER_HOME as `dbtscaffold dev`, so the run shows up in the UI. Progress
comes from the run's log lines; the result (which assets were built, their metadata) is
read back from the Dagster instance, not from the log.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold import console
from dbtscaffold.dagster_project.locate import (
    DagsterProjectInfo,
    dagster_module_name,
    resolve_dagster_project,
)
from dbtscaffold.errors import UserError

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RUN_START_RE = re.compile(rf" - ({_UUID}) - \d+ - RUN_START - ")
MATERIALIZED_RE = re.compile(r" - ASSET_MATERIALIZATION - Materialized value (.+?)\.?$")
STEP_FAILURE_RE = re.compile(r" - ([^ ]+) - STEP_FAILURE - ")
RUN_FAILURE_RE = re.compile(r" - RUN_FAILURE - (.*)$")
LOG_LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
SELECTION_ERRORS = ("DagsterInvalidSubsetError", "DagsterInvalidAssetSelectionError")
# An in-flight run (a dbt build) gets this long after SIGINT to stop cleanly.
RUN_INTERRUPT_TIMEOUT = 30.0
ROW_COUNT_KEY = "dagster/row_count"


@dataclass(frozen=True)
class MaterializedAsset:
    key: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "/".join(self.key)

    @property
    def row_count(self) -> int | None:
        value = self.metadata.get(ROW_COUNT_KEY)
        return int(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class MaterializeResult:
    run_id: str
    assets: list[MaterializedAsset]
    seconds: float
    project: DagsterProjectInfo


class _Progress:
    """Reads the run's log lines: shows each asset built, keeps the run id and failures."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.built: list[str] = []
        self.failures: list[tuple[str, list[str]]] = []  # (step, message lines)
        self.run_failure: list[str] = []
        self._collecting: list[str] | None = None
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        if console.VERBOSE:
            console.relay(line)
        with self._lock:
            if self._collecting is not None:
                if LOG_LINE_RE.match(line) or line.startswith("Stack Trace:"):
                    self._collecting = None
                else:
                    self._collecting.append(line)
                    return
            m = RUN_START_RE.search(line)
            if m and self.run_id is None:
                self.run_id = m.group(1)
            m = MATERIALIZED_RE.search(line)
            if m:
                self.built.append(m.group(1))
                if not console.VERBOSE:
                    console.action("built", m.group(1))
            m = STEP_FAILURE_RE.search(line)
            if m:
                self._collecting = []
                self.failures.append((m.group(1), self._collecting))
            m = RUN_FAILURE_RE.search(line)
            if m and not self.run_failure:
                self.run_failure.append(m.group(1))
                self._collecting = self.run_failure


def _exception_text(output: str) -> str:
    """The exception (type: message, and what follows) at the end of a Python traceback."""
    lines = output.splitlines()
    start = None
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            start = i
    if start is None:
        return "\n".join(lines[-30:])
    i = start + 1
    while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
        i += 1
    return "\n".join(lines[i:]).strip()


def _show(text: str, limit: int = 60) -> None:
    for line in text.strip("\n").splitlines()[:limit]:
        console.relay(line)


def run_materialize(*, dagster_project_dir: Path | None, select: str = "*") -> MaterializeResult:
    """Materialize SELECT in the project through Dagster; return what was built."""
    from dbtscaffold import proc
    from dbtscaffold.commands.dev import dagster_env

    if not select.strip():
        raise UserError("--select is empty; pass an asset selection such as `*`.")
    info = resolve_dagster_project(dagster_project_dir)
    env = dagster_env(info)
    module = dagster_module_name(info)
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        module,
        "-d",
        str(info.dir),
        "--select",
        select,
    ]
    progress = _Progress()
    stop = threading.Event()
    hurry = threading.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            hurry.set()
        stop.set()

    started = time.monotonic()
    with proc.stop_signals(on_signal):
        group = proc.ProcessGroup(cmd, cwd=info.dir, env=env, on_line=progress)
        try:
            with console.status(f"Materializing `{select}` in `{info.package}` through Dagster..."):
                while group.poll() is None and not stop.is_set():
                    group.track()
                    stop.wait(0.25)
        finally:
            report = group.stop(
                interrupt_timeout=RUN_INTERRUPT_TIMEOUT, terminate_timeout=3.0, hurry=hurry
            )
    seconds = time.monotonic() - started
    if stop.is_set():
        console.error(f"Interrupted: the run was stopped after {seconds:.1f} s.")
        raise SystemExit(130)
    code = group.popen.returncode
    if report.survivors:
        console.warn(f"Processes {report.survivors} of the run did not stop.")
    if code != 0:
        _fail(info, select, progress, group.output())
    run_id = progress.run_id
    if run_id is None:
        raise UserError(
            "dagster asset materialize reported no run; rerun with --verbose to see its output."
        )
    assets = read_materializations(env["DAGSTER_HOME"], run_id)
    n = len(assets)
    console.success(
        f"Materialized {n} asset{'s' if n != 1 else ''} in {seconds:.1f} s "
        f"(run {run_id[:8]}; see it in `dbtscaffold dev`)."
    )
    return MaterializeResult(run_id, assets, seconds, info)


def _fail(info: DagsterProjectInfo, select: str, progress: _Progress, output: str) -> None:
    if progress.failures:
        for _step, lines in progress.failures:
            _show("\n".join(lines))
        steps = ", ".join(f"`{s}`" for s, _ in progress.failures)
        run = f" (run {progress.run_id[:8]})" if progress.run_id else ""
        raise UserError(
            f"Materialization failed in step {steps}{run}; fix the error above and rerun "
            "`dbtscaffold materialize`."
        )
    if progress.run_id is None:
        text = _exception_text(output)
        if any(name in text for name in SELECTION_ERRORS):
            why = text.splitlines()[0].split(": ", 1)[-1].split(". ")[0].rstrip(".")
            raise UserError(f"No asset matches --select `{select}` ({why}); check the selection.")
        _show(text)
        raise UserError(
            f"The Dagster definitions of `{info.package}` failed to load; fix the error above "
            "and rerun."
        )
    _show("\n".join(progress.run_failure) or _exception_text(output))
    raise UserError(
        f"Materialization failed (run {progress.run_id[:8]}); rerun with --verbose for the log."
    )


def read_materializations(dagster_home: str, run_id: str) -> list[MaterializedAsset]:
    """The assets RUN_ID materialized, in order, with plain metadata values."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(dagster_home) as instance:
        records = instance.get_records_for_run(
            run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ).records
        out: dict[tuple[str, ...], MaterializedAsset] = {}
        for record in records:
            event = record.event_log_entry.asset_materialization
            if event is None:
                continue
            metadata = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
            key = tuple(event.asset_key.path)
            out[key] = MaterializedAsset(key, metadata)
    return list(out.values())
