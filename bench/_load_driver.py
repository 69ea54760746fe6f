"""Import a Dagster project's definitions the way a code server does, timing each phase.

    python _load_driver.py PACKAGE DBT_MODULE

Phases: `libs` (import dagster and dagster_dbt), `dbt` (import PACKAGE.DBT_MODULE, the
module that decides on the manifest and may run dbt), `defs` (import
PACKAGE.definitions: read the manifest and build the assets). Prints one JSON line, with
the peak RSS of this process and of the largest child it waited for (dbt), from
getrusage. With BENCH_PROFILE=FILE set, the `defs` phase runs under cProfile and its
stats are dumped to FILE.
"""

import importlib
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.getcwd())  # the project folder, as `python -c` or a code server has
start = time.perf_counter()
import dagster  # noqa: F401, E402
import dagster_dbt  # noqa: F401, E402

libs = time.perf_counter()
importlib.import_module(f"{sys.argv[1]}.{sys.argv[2]}")
dbt = time.perf_counter()
profile = os.environ.get("BENCH_PROFILE")
if profile:
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
definitions = importlib.import_module(f"{sys.argv[1]}.definitions")
defs = time.perf_counter()
if profile:
    profiler.disable()
    profiler.dump_stats(profile)
assets = sum(len(a.keys) for a in definitions.defs.assets)
# ru_maxrss is in KiB on Linux, in bytes on macOS.
per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(
    json.dumps(
        {
            "libs": libs - start,
            "dbt": dbt - libs,
            "defs": defs - dbt,
            "assets": assets,
            "self_mb": me.ru_maxrss / per_mb,
            "child_mb": kids.ru_maxrss / per_mb,
            "self_cpu": me.ru_utime + me.ru_stime,
            "child_cpu": kids.ru_utime + kids.ru_stime,
        }
    )
)
