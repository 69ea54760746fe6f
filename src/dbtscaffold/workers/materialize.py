"""The worker `dbtscaffold materialize` starts: load, select, run and cancel through Dagster.

Run as `python -m dbtscaffold.workers.materialize MODULE WORKING_DIR SELECT` in the
Dagster project, with DAGSTER_HOME set. It does what `dagster asset materialize` does
(load the definitions, resolve the selection, run the implicit asset job with
`execute_run_iterator`), with three differences:

- the selection is resolved before a run exists, and one that matches nothing is an
  error instead of an empty selection that Dagster takes for "everything";
- a line `cancel` on stdin (or stdin closing) cancels the run the way Dagster's own
  termination does: the run is marked CANCELING, then interrupted, so the executor stops
  its steps, dagster-dbt sends dbt its SIGINT and waits for it, and the run ends CANCELED;
- what happens is reported as JSON lines (`EVENT_PREFIX` + JSON) on stdout for the CLI,
  mixed with Dagster's own log lines, which the CLI shows only with --verbose.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from dbtscaffold import console
from dbtscaffold.workers.selection import (
    AssetName,
    is_name_term,
    key_string,
    match_term,
    no_match_message,
    split_terms,
)

EVENT_PREFIX = "\x1edbtscaffold-event "
DBT_UNIQUE_ID = "dagster_dbt/unique_id"
DBT_MANIFEST = "dagster_dbt/manifest"
EXIT_INTERRUPTED = 130


def emit(event: str, **fields: Any) -> None:
    """One event for the CLI, on a line of its own."""
    console.data(EVENT_PREFIX + json.dumps({"event": event, **fields}, default=str) + "\n")


def _plain(value: Any) -> Any:
    value = getattr(value, "value", value)
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


class _Cancel:
    """Cancels the run on request: mark it CANCELING in the instance, then interrupt.

    Before the run exists, the interrupt stops the loading (KeyboardInterrupt). Between
    its creation and RUN_START the request waits: Dagster sets the run STARTED at
    RUN_START (which would undo CANCELING), and an interrupt while it prepares the run
    ends it FAILURE. From RUN_START on, Dagster's own interrupt handling stops the steps,
    and a run that was CANCELING ends CANCELED.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requested = False
        self.started = False
        self.instance: Any = None
        self.run: Any = None

    def watch_stdin(self) -> None:
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
        except (OSError, ValueError):
            return
        if not is_pipe:
            return

        def read() -> None:
            for line in sys.stdin:
                if line.strip() == "cancel":
                    break
            # `cancel`, or the CLI is gone (stdin closed): stop either way.
            self.request()

        threading.Thread(target=read, name="cancel-watch", daemon=True).start()

    def request(self) -> None:
        with self.lock:
            if self.requested:
                return
            self.requested = True
            if self.run is not None and not self.started:
                return  # run_started() cancels it
            if self.run is not None and not self._mark_canceling():
                return  # the run is over: nothing to stop
        os.kill(os.getpid(), signal.SIGINT)

    def run_started(self) -> None:
        """In the main thread, at RUN_START: cancel now if it was asked for before."""
        with self.lock:
            self.started = True
            go = self.requested and self._mark_canceling()
        if go:
            os.kill(os.getpid(), signal.SIGINT)

    def _mark_canceling(self) -> bool:
        run = self.instance.get_run_by_id(self.run.run_id)
        if run is None or run.is_finished:
            return False
        self.instance.report_run_canceling(run, message="Canceled by dbtscaffold.")
        return True


def _error_text(exc: BaseException) -> tuple[str, str]:
    """(what went wrong, the whole traceback) of EXC, causes included."""
    lines = traceback.format_exception_only(type(exc), exc)
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        lines += [
            "The above was caused by:\n",
            *traceback.format_exception_only(type(cause), cause),
        ]
        cause = cause.__cause__ or cause.__context__
    return "".join(lines).strip(), "".join(traceback.format_exception(exc)).strip()


def _names(repo_def: Any) -> list[AssetName]:
    """Every materializable asset of the repository, with its dbt fqn where it has one."""
    graph = repo_def.asset_graph
    manifests: dict[int, dict[str, Any]] = {}
    out = []
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.path):
        metadata = graph.get(key).metadata or {}
        fqn: tuple[str, ...] = ()
        unique_id = metadata.get(DBT_UNIQUE_ID)
        wrapper = metadata.get(DBT_MANIFEST)
        manifest = getattr(wrapper, "manifest", None)
        if isinstance(unique_id, str) and isinstance(manifest, dict):
            manifests.setdefault(id(manifest), manifest)
            node = (manifest.get("nodes") or {}).get(unique_id) or {}
            fqn = tuple(str(p) for p in node.get("fqn") or ())
        out.append(AssetName(tuple(key.path), fqn))
    return out


class SelectionError(Exception):
    """The selection is not valid, or matches no asset: one line for the user."""


def resolve_selection(select: str, repo_def: Any) -> list[Any]:
    """The AssetKeys SELECT names in REPO_DEF; SelectionError when it names none."""
    from dagster import AssetKey, AssetSelection, DagsterError, DagsterInvalidSubsetError

    names = _names(repo_def)
    if select.strip() == "*":
        return [AssetKey(list(n.key)) for n in names]
    selected: dict[tuple[str, ...], None] = {}
    for term in split_terms(select):
        if is_name_term(term):
            keys = match_term(term, names)
            if not keys:
                raise SelectionError(no_match_message(select, term, names))
        else:
            try:
                found = AssetSelection.from_string(term).resolve(repo_def.asset_graph)
            except DagsterInvalidSubsetError:
                found = set()
            except DagsterError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise SelectionError(
                    f"--select `{select}` is not an asset selection Dagster understands "
                    f"({first}); see `dbtscaffold materialize --help`."
                ) from None
            keys = [tuple(k.path) for k in found]
        selected.update(dict.fromkeys(sorted(keys)))
    known = {n.key for n in names}
    chosen = [k for k in selected if k in known]
    if not chosen:
        raise SelectionError(no_match_message(select, None, names))
    return [AssetKey(list(k)) for k in chosen]


def _report(event: Any, cancel: _Cancel) -> None:
    """Tell the CLI about the Dagster events it shows as they happen."""
    from dagster import DagsterEventType

    kind = event.event_type
    if kind == DagsterEventType.RUN_START:
        cancel.run_started()
    elif kind == DagsterEventType.STEP_START:
        emit("step_start", step=event.step_key)
    elif kind == DagsterEventType.ASSET_MATERIALIZATION:
        mat = event.event_specific_data.materialization
        emit("built", key=list(mat.asset_key.path))
    elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        ev = event.event_specific_data
        emit(
            "check",
            key=list(ev.asset_key.path),
            name=ev.check_name,
            passed=bool(ev.passed),
            severity=getattr(getattr(ev, "severity", None), "value", None),
        )
    elif kind == DagsterEventType.STEP_FAILURE:
        error = event.step_failure_data.error if event.step_failure_data else None
        emit("step_failure", step=event.step_key, message=_serializable_text(error))
    elif kind == DagsterEventType.RUN_FAILURE:
        data = event.event_specific_data
        emit(
            "run_failure",
            message=event.message or "",
            error=_serializable_text(data and data.error),
        )


def _serializable_text(error: Any) -> str:
    """The messages of a SerializableErrorInfo and its causes (no stacks)."""
    parts = []
    while error is not None:
        parts.append((error.message or "").strip())
        error = error.cause
    return "\nThe above was caused by:\n".join(p for p in parts if p)


def _results(instance: Any, run_id: str) -> dict[str, Any]:
    """What run RUN_ID recorded: status, materializations (with metadata), checks."""
    from dagster import DagsterEventType

    run = instance.get_run_by_id(run_id)
    mats: dict[str, dict[str, Any]] = {}
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=100_000
    ).records
    for record in records:
        mat = record.event_log_entry.asset_materialization
        if mat is not None:
            metadata = {k: _plain(v) for k, v in mat.metadata.items()}
            mats[key_string(mat.asset_key.path)] = {
                "key": list(mat.asset_key.path),
                "metadata": metadata,
            }
    checks = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000
    ).records
    evaluations = []
    for record in checks:
        data = record.event_log_entry.dagster_event.event_specific_data
        evaluations.append(
            {"key": list(data.asset_key.path), "name": data.check_name, "passed": bool(data.passed)}
        )
    return {
        "status": run.status.value if run else "UNKNOWN",
        "assets": list(mats.values()),
        "checks": evaluations,
    }


def run(module: str, working_dir: str, select: str) -> int:
    """Load, select, run; report on stdout. Returns the exit code."""
    cancel = _Cancel()
    cancel.watch_stdin()
    try:
        return _run(module, working_dir, select, cancel)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second interrupt changes nothing
        emit("stopped", stage="load" if cancel.run is None else "run")
        return EXIT_INTERRUPTED


def _run(module: str, working_dir: str, select: str, cancel: _Cancel) -> int:
    from dbtscaffold.dagster_private import load_repository

    try:
        repo_def, origin = load_repository(module, working_dir)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # the user's code: whatever it raises is theirs to fix
        if cancel.requested:  # our interrupt, wrapped by the code that loaded the module
            raise KeyboardInterrupt from e
        message, details = _error_text(e)
        emit("load_error", message=message, details=details)
        return 1
    try:
        keys = resolve_selection(select, repo_def)
    except SelectionError as e:
        emit("no_match", message=str(e))
        return 1
    emit("selected", keys=[list(k.path) for k in keys])
    return _execute(repo_def, origin, keys, cancel)


def _run_config(job_def: Any) -> dict[str, Any]:
    """The steps run in this process when the job has Dagster's default executor: a step
    process of its own would start Python and load the definitions again (seconds, and more
    with the project's size) for a run that is mostly one dbt step. An executor the
    definitions choose is theirs to keep."""
    if job_def.executor_def.name != "multi_or_in_process_executor":
        return {}
    return {"execution": {"config": {"in_process": {}}}}


def _execute(repo_def: Any, origin: Any, keys: Sequence[Any], cancel: _Cancel) -> int:
    from dagster import DagsterInstance

    from dbtscaffold.dagster_private import execute_run, reconstructable_job

    job_def = repo_def.get_implicit_job_def_for_assets(keys)
    if job_def is None:
        emit("no_match", message="The selected assets have different partitions; select fewer.")
        return 1
    recon_job, load_data = reconstructable_job(job_def.name, origin)
    with DagsterInstance.get() as instance:
        with cancel.lock:
            if cancel.requested:
                raise KeyboardInterrupt
            run = instance.create_run_for_job(
                job_def=recon_job.get_definition(),
                run_config=_run_config(job_def),
                job_code_origin=recon_job.get_python_origin(),
                repository_load_data=load_data,
                asset_selection=frozenset(keys),
            )
            cancel.instance, cancel.run = instance, run
        emit("run", run_id=run.run_id)
        try:
            for event in execute_run(recon_job, run, instance):
                _report(event, cancel)
        except KeyboardInterrupt:
            # Interrupted outside Dagster's own handling (before the run started): the run
            # never ran, so it ends CANCELED here.
            now = instance.get_run_by_id(run.run_id)
            if now is not None and not now.is_finished:
                instance.report_run_canceled(now, message="Canceled before it started.")
        # The run is over: a cancel that comes now has nothing left to stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        results = _results(instance, run.run_id)
        emit("result", run_id=run.run_id, **results)
        return {"SUCCESS": 0, "CANCELED": EXIT_INTERRUPTED}.get(results["status"], 1)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        sys.exit("usage: python -m dbtscaffold.workers.materialize MODULE DIR SELECT")
    sys.exit(run(*args))


if __name__ == "__main__":
    main()
