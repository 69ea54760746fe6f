"""Import a Dagster project's definitions the way a code server does, timing each phase.

    python _load_driver.py PACKAGE DBT_MODULE

Phases: `libs` (import dagster and dagster_dbt), `dbt` (import PACKAGE.DBT_MODULE, the
module that decides on the manifest and may run dbt), `defs` (import
PACKAGE.definitions: read the manifest and build the assets). Prints one JSON line.
"""

import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())  # the project folder, as `python -c` or a code server has
start = time.perf_counter()
import dagster  # noqa: F401
import dagster_dbt  # noqa: F401

libs = time.perf_counter()
importlib.import_module(f"{sys.argv[1]}.{sys.argv[2]}")
dbt = time.perf_counter()
definitions = importlib.import_module(f"{sys.argv[1]}.definitions")
defs = time.perf_counter()
assets = sum(len(a.keys) for a in definitions.defs.assets)
print(json.dumps({"libs": libs - start, "dbt": dbt - libs, "defs": defs - dbt, "assets": assets}))
