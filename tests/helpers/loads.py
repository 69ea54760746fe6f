"""The concurrent-load tests' project and scripts (issue 27): five seeds of one schema, a
Dagster run of their loaders (WORKER) and the loaders alone released by a barrier (STRESS),
each round on a fresh warehouse (DuckDB, PostgreSQL or Spark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.postgres import PgServer

SEEDS = [f"load_{i}" for i in range(1, 6)]
ROWS = {seed: 40 + 7 * i for i, seed in enumerate(SEEDS)}
SCHEMA = "conc_raw"
# One Dagster run of the five loaders at once (the multiprocess executor, as materialize runs
# them) on a fresh warehouse; the race itself is what the ROUNDS of STRESS probe: the loaders
# released by a barrier, the collision made as likely as it gets (issue 27's bug failed there).
RUNS = 1
ROUNDS = 10

# Runs the loader assets (CONC_SEEDS) RUNS times, each on a fresh warehouse (argv: KIND RUNS).
WORKER = r"""
import os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
from dagster import AssetSelection, DagsterInstance, define_asset_job, execute_job, reconstructable

seeds = os.environ["CONC_SEEDS"].split(",")


def fresh_warehouse(kind):
    if kind == "duckdb":
        Path(os.environ["CONC_DUCKDB_PATH"]).unlink(missing_ok=True)
    elif kind == "spark":
        from pyhive import hive
        host, port = os.environ["CONC_SPARK"].split(":")
        con = hive.connect(host, port=int(port), username="dbtscaffold")
        con.cursor().execute("drop schema if exists conc_raw cascade")
        con.close()
    else:
        import psycopg2
        con = psycopg2.connect(**eval(os.environ["CONC_PG_DSN"]))
        con.autocommit = True
        con.cursor().execute("drop schema if exists conc_raw cascade")
        con.close()


def loads_job():
    from dagster import Definitions
    from conc_dagster.definitions import defs
    job = define_asset_job("loads", selection=AssetSelection.assets(*seeds))
    return Definitions.merge(defs, Definitions(jobs=[job])).get_job_def("loads")


if __name__ == "__main__":  # the step processes import this file too
    kind, runs = sys.argv[1], int(sys.argv[2])
    with DagsterInstance.get() as instance:
        for i in range(runs):
            fresh_warehouse(kind)
            with execute_job(reconstructable(loads_job), instance=instance) as result:
                failures = [
                    e.step_key + ": " + (e.event_specific_data.error.message.strip().splitlines() or [""])[-1]
                    for e in result.all_events if e.is_step_failure
                ]
                print(f"run {i + 1}: {'ok' if result.success else 'FAILED ' + '; '.join(failures)}", flush=True)
"""

# The loader itself, five processes released at the same instant by a barrier, ten rounds, each
# on a fresh warehouse: the collision the runs above can hit, made as likely as it gets.
STRESS = r"""
import multiprocessing as mp, os, sys, traceback
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.getcwd())
from conc_dagster._dbtscaffold.loaders import load_csv

kind, runs, seeds = sys.argv[1], int(sys.argv[2]), os.environ["CONC_SEEDS"].split(",")
project = SimpleNamespace(project_dir=Path("..").resolve(), profiles_dir=Path("..").resolve(),
                          target=None)
if kind == "duckdb":  # imported before the barrier
    import dagster_duckdb, duckdb, dbt.adapters.duckdb  # noqa: F401
else:
    import psycopg2, dbt.adapters.postgres  # noqa: F401
from dbt_common.clients.agate_helper import from_csv

from_csv(str(Path("data") / f"{seeds[0]}.csv"), text_columns=[])  # warm dbt's imports


def load(barrier, seed, out):
    try:
        barrier.wait()
        out.put((seed, load_csv(project, Path("data") / f"{seed}.csv", schema="conc_raw",
                                table=seed)))
    except BaseException as e:
        out.put((seed, f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"))


def fresh():
    if kind == "duckdb":
        Path(os.environ["CONC_DUCKDB_PATH"]).unlink(missing_ok=True)
    else:
        import psycopg2
        con = psycopg2.connect(**eval(os.environ["CONC_PG_DSN"]))
        con.autocommit = True
        con.cursor().execute("drop schema if exists conc_raw cascade")
        con.close()


ctx = mp.get_context("fork")
for i in range(runs):
    fresh()
    barrier, out = ctx.Barrier(len(seeds)), ctx.Queue()
    procs = [ctx.Process(target=load, args=(barrier, s, out)) for s in seeds]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
    bad = {s: r for s, r in results.items() if not isinstance(r, int)}
    print(f"round {i + 1}: " + ("ok" if not bad else "FAILED " + repr(bad)), flush=True)
"""


def write_project(root: Path, pg: PgServer | None) -> Path:
    """A dbt project with five seeds in one schema, a model on each, duckdb + postgres targets."""
    dbt_dir = root / "conc"
    (dbt_dir / "seeds").mkdir(parents=True)
    (dbt_dir / "models").mkdir()
    (dbt_dir / "dbt_project.yml").write_text(
        f"name: conc\nprofile: conc\nconfig-version: 2\nseeds:\n  conc:\n    +schema: {SCHEMA}\n",
        encoding="utf-8",
    )
    (dbt_dir / "macros").mkdir()
    (dbt_dir / "macros" / "schema.sql").write_text(
        "{% macro generate_schema_name(custom, node) %}"
        "{{ custom | trim if custom else target.schema }}{% endmacro %}\n",
        encoding="utf-8",
    )
    pg_target = ""
    if pg is not None:
        pg_target = (
            f"    pg:\n      type: postgres\n      host: {pg.host}\n      port: {pg.port}\n"
            f"      user: {pg.user}\n      password: {pg.password}\n      dbname: {pg.dbname}\n"
            "      schema: conc\n      threads: 2\n"
        )
    (dbt_dir / "profiles.yml").write_text(
        "conc:\n  target: dev\n  outputs:\n"
        "    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('CONC_DUCKDB_PATH', 'conc.duckdb') }}\"\n" + pg_target,
        encoding="utf-8",
    )
    for seed, rows in ROWS.items():
        lines = ["id,name,amount"] + [f"{i},n{i},{i * 1.5}" for i in range(rows)]
        (dbt_dir / "seeds" / f"{seed}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (dbt_dir / "models" / f"m_{seed}.sql").write_text(
            f"select count(*) as n from {{{{ ref('{seed}') }}}}\n", encoding="utf-8"
        )
    return dbt_dir


def convert(dbt_dir: Path, env: dict[str, str]) -> Path:
    run_cli("init", "--project-name", "conc_dagster", cwd=dbt_dir, env=env, check=0)
    run_cli("convert-seed", *SEEDS, cwd=dbt_dir, env=env, check=0)
    return dbt_dir / "conc_dagster"


def run_loads(
    dagster_dir: Path,
    kind: str,
    env: dict[str, str],
    seeds=SEEDS,
    runs: int = RUNS,  # the number of runs (WORKER) or rounds (STRESS)
    script: str = WORKER,
) -> list[str]:
    full = dict(
        os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1", CONC_SEEDS=",".join(seeds), **env
    )
    worker = dagster_dir.parent / "loads_worker.py"  # reconstructable() needs a file
    worker.write_text(script, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(worker), kind, str(runs)], check=False, cwd=dagster_dir, env=full,
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [ln for ln in proc.stdout.splitlines() if ln.startswith(("run ", "round "))]
