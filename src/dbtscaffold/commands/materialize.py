"""`dbtscaffold materialize`: a headless run of the project's assets, through Dagster.

The worker (`workers/materialize.py`, in a process group of its own, in the Dagster
project, with parse on load set and the DAGSTER_HOME `dbtscaffold dev` uses, so the run
shows up in the UI) loads the definitions, resolves `--select` before any run exists, runs
the selected assets and reports what happens as JSON lines. This side shows them, and on
Ctrl-C or SIGTERM asks the worker to cancel the run through Dagster: the run ends
CANCELED, dbt gets its SIGINT and time to stop, and the message says what was built.
A second Ctrl-C (or a worker that does not stop in time) stops the group outright.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold import console
from dbtscaffold.workers.materialize import EVENT_PREFIX, EXIT_INTERRUPTED
from dbtscaffold.workers.selection import key_string
from dbtscaffold.dagster_project.locate import (
    DagsterProjectInfo,
    dagster_module_name,
    resolve_dagster_project,
)
from dbtscaffold.errors import UserError

WORKER = "dbtscaffold.workers.materialize"
# After a cancel, the run (a dbt build) gets this long to stop by itself; dagster-dbt gives
# dbt 25 s after its SIGINT.
RUN_INTERRUPT_TIMEOUT = 30.0
ROW_COUNT_KEY = "dagster/row_count"


@dataclass(frozen=True)
class MaterializedAsset:
    key: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return key_string(self.key)

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
    checks_passed: int = 0
    checks_failed: int = 0


class _Events:
    """The worker's output: its events parsed and shown as they come; other lines kept."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, Any]] = {}
        self.selected: list[str] = []
        self.built: list[str] = []
        self.checks: dict[tuple[str, str], bool] = {}
        self.failures: list[tuple[str, str]] = []  # (step, message)
        self.running: list[str] = []  # steps started, in order
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def progress(self, running: bool = True) -> str:
        """`3/8 assets, 2 checks, 17 s, running `step``: where the run is."""
        checks = f", {console.count(len(self.checks), 'check')}" if self.checks else ""
        step = f", running `{self.running[-1]}`" if running and self.running else ""
        return (
            f"{len(self.built)}/{len(self.selected)} assets{checks}, "
            f"{time.monotonic() - self.started:.0f} s{step}"
        )

    def __call__(self, line: str) -> None:
        if not line.startswith(EVENT_PREFIX):
            if console.VERBOSE:
                console.relay(line)
            return
        try:
            event = json.loads(line[len(EVENT_PREFIX) :])
        except ValueError:
            return
        kind = event.get("event")
        with self._lock:
            self.by_kind[kind] = event
            if kind == "selected":
                self.selected = [key_string(k) for k in event["keys"]]
            elif kind == "run":
                n = len(self.selected)
                console.info(f"Run {event['run_id'][:8]} started ({console.count(n, 'asset')}).")
            elif kind == "step_start":
                self.running.append(event["step"])
                if not console.is_terminal(stderr=True):  # piped: one line per event
                    console.info(
                        f"Running step `{event['step']}` ({self.progress(running=False)})."
                    )
            elif kind == "built":
                name = key_string(event["key"])
                self.built.append(name)
                console.action("built", name)
            elif kind == "check":
                self.checks[(key_string(event["key"]), event["name"])] = bool(event["passed"])
                if event["passed"] and not console.is_terminal(stderr=True):
                    console.info(
                        f"Asset check `{event['name']}` on `{key_string(event['key'])}` passed "
                        f"({self.progress(running=False)})."
                    )
                if not event["passed"]:
                    console.warn(
                        f"Asset check `{event['name']}` on `{key_string(event['key'])}` failed."
                    )
            elif kind == "step_failure":
                self.failures.append((event.get("step") or "?", event.get("message") or ""))

    @property
    def run_id(self) -> str | None:
        return (self.by_kind.get("run") or {}).get("run_id")


def _show(text: str, limit: int = 60) -> None:
    for line in text.strip("\n").splitlines()[:limit]:
        console.relay(line)


def run_materialize(
    *, dagster_project_dir: Path | None, select: str = "*", table: bool = True
) -> MaterializeResult:
    """Materialize SELECT in the project through Dagster; return what was built.

    TABLE: end with the table of what was built (asset, what built it, table, rows).
    """
    from dbtscaffold import proc
    from dbtscaffold.commands.dev import dagster_env

    if not select.strip():
        raise UserError("--select is empty; pass an asset selection such as `*`.")
    info = resolve_dagster_project(dagster_project_dir)
    env = dagster_env(info)
    cmd = [sys.executable, "-m", WORKER, dagster_module_name(info), str(info.source_dir), select]
    events = _Events()
    stop = threading.Event()
    hurry = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int) -> None:
        signals.append(signum)
        if stop.is_set():
            hurry.set()
        stop.set()

    started = time.monotonic()
    with proc.stop_signals(on_signal):
        group = proc.ProcessGroup(cmd, cwd=info.dir, env=env, on_line=events, stdin_pipe=True)
        try:
            title = f"Materializing `{select}` in `{info.package}` through Dagster"
            with console.status(title + "...") as show:
                _wait(group, events, stop, hurry, lambda: show(f"{title}: {events.progress()}"))
        finally:
            report = group.stop(interrupt_timeout=3.0, terminate_timeout=3.0, hurry=hurry)
        seconds = time.monotonic() - started
        if report.survivors:
            console.warn(f"Processes {report.survivors} of the run did not stop.")
        return _outcome(info, events, group, seconds, stopped=stop.is_set(), table=table)


def _wait(
    group: Any,
    events: _Events,
    stop: threading.Event,
    hurry: threading.Event,
    tick: Any = None,
) -> None:
    """Until the worker exits; a stop signal asks it to cancel, a second one gives up.

    TICK() shows the run's progress, four times a second once the run has started.
    """
    canceled_at: float | None = None
    while group.poll() is None:
        if tick is not None and events.run_id:
            tick()
        if stop.is_set() and canceled_at is None:
            canceled_at = time.monotonic()
            group.send("cancel")
            if events.run_id:
                console.info(
                    f"Canceling run {events.run_id[:8]}: waiting for the steps (and dbt) to "
                    "stop; press Ctrl-C again to stop at once."
                )
        if hurry.is_set():
            return
        if canceled_at is not None and time.monotonic() - canceled_at > RUN_INTERRUPT_TIMEOUT:
            return
        group.track()
        (hurry if stop.is_set() else stop).wait(0.25)


def _built_text(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _canceled_text(names: list[str], total: int) -> str:
    if not names:
        return " before any asset was built"
    if len(names) >= total:
        return f": all {console.count(len(names), 'asset')} were built before it stopped"
    was = "was" if len(names) == 1 else "were"
    return (
        f": {len(names)} of {console.count(total, 'asset')} {was} built before it stopped "
        f"({_built_text(names)})"
    )


def _checks_text(passed: int, failed: int) -> str:
    if not passed and not failed:
        return ""
    return f"; asset checks: {passed} passed, {failed} failed"


def _outcome(
    info: DagsterProjectInfo,
    events: _Events,
    group: Any,
    seconds: float,
    *,
    stopped: bool,
    table: bool,
) -> MaterializeResult:
    """Tell the user what really happened, from the worker's events; raise on failure."""
    kinds = events.by_kind
    if "load_error" in kinds:
        _show(kinds["load_error"]["message"])
        raise UserError(
            f"The Dagster definitions of `{info.package}` failed to load; fix the error above "
            "and rerun.",
            details=kinds["load_error"].get("details"),
        )
    if "no_match" in kinds:
        raise UserError(kinds["no_match"]["message"])
    result = kinds.get("result")
    run_id = events.run_id
    if result is None:
        if stopped:
            _report_stopped(events, seconds)
        tail = "\n".join(line for line in group.tail if not line.startswith(EVENT_PREFIX))
        _show("\n".join(tail.splitlines()[-30:]))
        raise UserError(
            "The materialize worker exited without a result; rerun with --verbose to see "
            "its output."
        )
    assets = [MaterializedAsset(tuple(a["key"]), a.get("metadata") or {}) for a in result["assets"]]
    passed = sum(1 for c in result.get("checks", []) if c["passed"])
    failed = sum(1 for c in result.get("checks", []) if not c["passed"])
    status = result["status"]
    names = [a.name for a in assets]
    n = len(assets)
    total = len(events.selected)
    if status == "CANCELED":
        console.error(
            f"Canceled run {run_id[:8] if run_id else '?'} after {seconds:.1f} s"
            f"{_canceled_text(names, total)}{_checks_text(passed, failed)}."
        )
        raise SystemExit(EXIT_INTERRUPTED)
    if status != "SUCCESS":
        _fail(info, events, run_id)
    if table and assets:
        from dbtscaffold.commands.built import describe_assets, show_built

        show_built(run_id or "", describe_assets(info.dbt_project_dir, assets))
    note = " The stop came after the run had finished." if stopped else ""
    from dbtscaffold.dagster_project.locate import dagster_dev_url

    url = dagster_dev_url(info)
    short = run_id[:8] if run_id else "?"
    where = f"{url}/runs/{run_id}" if url and run_id else "`dbtscaffold dev`"
    console.success(
        f"Materialized {console.count(n, 'asset')} in {seconds:.1f} s"
        f"{_checks_text(passed, failed)} (run {short}; see it in {where}).{note}"
    )
    return MaterializeResult(run_id or "", assets, seconds, info, passed, failed)


def _report_stopped(events: _Events, seconds: float) -> None:
    """A stop with no result from the worker: before the run, or the run stopped by force."""
    run_id = events.run_id
    if run_id is None:
        console.error(
            f"Stopped after {seconds:.1f} s, before the run started (while the definitions "
            "loaded): nothing was built."
        )
    else:
        built = f"built {_built_text(events.built)}" if events.built else "nothing was built"
        console.error(
            f"Stopped run {run_id[:8]} by force after {seconds:.1f} s: {built}; Dagster may "
            "still show the run as started."
        )
    raise SystemExit(EXIT_INTERRUPTED)


def _fail(info: DagsterProjectInfo, events: _Events, run_id: str | None) -> None:
    run = f" (run {run_id[:8]})" if run_id else ""
    if events.failures:
        for _step, message in events.failures:
            _show(message)
        steps = ", ".join(f"`{s}`" for s, _ in events.failures)
        raise UserError(
            f"Materialization failed in step {steps}{run}; fix the error above and rerun "
            "`dbtscaffold materialize`."
        )
    failure = events.by_kind.get("run_failure") or {}
    _show(failure.get("error") or failure.get("message") or "")
    raise UserError(f"Materialization failed{run}; rerun with --verbose for the log.")
