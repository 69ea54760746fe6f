"""The child process of `dbtscaffold check`'s load check: load the definitions, report counts.

    python -c "$(cat load_probe.py)" MODULE TIMEOUT_SECONDS

Run with -c in the Dagster project folder (so the project's package imports, as it does for
`dagster dev`), it imports nothing of dbtscaffold: it works with any interpreter that has
dagster. It prints one JSON line: the counts, or the error and where the project raised it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from types import FrameType, ModuleType, TracebackType
from typing import Any


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"the definitions did not load within {sys.argv[2]} s")


def _definitions(module: ModuleType) -> Any:
    """The one dagster.Definitions object MODULE defines (as `dagster definitions validate`)."""
    import dagster

    found = [v for v in vars(module).values() if isinstance(v, dagster.Definitions)]
    if not found:  # dg's definitions.py: `@dagster.definitions def defs(): ...`, built on call
        found = [v() for v in vars(module).values() if type(v).__name__ == "LazyDefinitions"]
    if len(found) != 1:
        raise LookupError(f"{len(found)} Definitions objects in {module.__name__}")
    dagster.Definitions.validate_loadable(found[0])
    return found[0]


def _where(tb: TracebackType | None, root: str) -> list[object] | None:
    """[absolute path, line] of the last traceback frame inside the project folder."""
    where: list[object] | None = None
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        if path.startswith(root + os.sep):
            where = [path, frame.lineno]
    return where


def main() -> None:
    module_name, timeout = sys.argv[1], int(float(sys.argv[2]))
    root = os.getcwd()
    if root not in sys.path:
        sys.path.insert(0, root)
    if hasattr(signal, "SIGALRM") and timeout > 0:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(timeout)
    start = time.perf_counter()
    try:
        import importlib

        module = importlib.import_module(module_name)
        defs = _definitions(module)
        graph = defs.resolve_asset_graph()
        jobs = defs.resolve_all_job_defs()
        report: dict[str, object] = {
            "assets": len(graph.get_all_asset_keys()),
            "asset_checks": len(graph.asset_check_keys),
            "jobs": sorted(j.name for j in jobs if not j.name.startswith("__")),
            "schedules": sorted(s.name for s in defs.schedules or ()),
            "sensors": sorted(s.name for s in defs.sensors or ()),
        }
    # Whatever the project raises (SystemExit and KeyboardInterrupt too) is the report.
    except BaseException as e:  # noqa: BLE001
        tb = e.__traceback__
        message = " ".join(str(e).split()) or "(no message)"
        print(
            json.dumps(
                {
                    "error": f"{type(e).__name__}: {message}"[:400],
                    "where": _where(tb, root),
                    "traceback": "".join(traceback.format_exception(type(e), e, tb))[-6000:],
                    "seconds": time.perf_counter() - start,
                }
            )
        )
        sys.stdout.flush()
        os._exit(1)
    report["seconds"] = time.perf_counter() - start
    print(json.dumps(report))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (dagster's atexit hooks): nothing is left to do


if __name__ == "__main__":
    main()
