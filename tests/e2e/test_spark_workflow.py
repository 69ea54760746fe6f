"""The whole workflow on Apache Spark: a standalone cluster (a master, two workers) and its
Thrift server on loopback, dbt-spark with `method: thrift` (issue 21; issue 27 on Spark).

A project of its own (two seeds, one with column_types; staging and mart models; seed and
model tests) goes through init, convert-seed, materialize (twice), check and dev; every
relation's row count and the converted relation's columns and types (`describe`) are compared
with a plain `dbt seed` + `dbt build` of an unconverted copy on the same cluster. The cluster
comes from .ci/services (DBTSCAFFOLD_TEST_SPARK_*), else the `spark_server` fixture starts one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import loads as conc
from tests.helpers import spark
from tests.helpers.cli import isolated_env, run_cli, run_tool
from tests.helpers.dev import ASSETS_QUERY, Dev, graphql
from tests.helpers.ports import free_port
from tests.helpers.spark import (
    SparkServer,
    alive_workers,
    column_types,
    run_sql,
    start,
    stop,
    worker_pids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.slow]

CUSTOMERS = "id,name,score,joined\n" + "".join(
    f"{i},name {i},{i * 1.25:.2f},2024-01-{1 + i % 28:02d}\n" for i in range(1, 41)
)
ORDERS = "id,customer_id,amount,status\n" + "".join(
    f"{i},{1 + i % 40},{i * 3.5:.1f},{'paid' if i % 3 else 'open'}\n" for i in range(1, 121)
)
MODELS = {
    "stg_customers.sql": "select id as customer_id, name, score from {{ ref('customers') }}\n",
    "stg_orders.sql": "select id as order_id, customer_id, amount, status "
    "from {{ ref('orders') }}\n",
    "customer_orders.sql": "{{ config(materialized='table') }}\n"
    "select c.customer_id, c.name, count(o.order_id) as orders, sum(o.amount) as total\n"
    "from {{ ref('stg_customers') }} c left join {{ ref('stg_orders') }} o\n"
    "  on o.customer_id = c.customer_id\ngroup by c.customer_id, c.name\n",
}
PROPERTIES = """\
version: 2
seeds:
  - name: customers
    description: People who order.
    config:
      column_types: {score: "decimal(10,2)", joined: date}
    columns:
      - name: id
        data_tests: [unique, not_null]
  - name: orders
    columns:
      - name: customer_id
        data_tests:
          - relationships: {to: "ref('customers')", field: id}
models:
  - name: customer_orders
    columns:
      - name: customer_id
        data_tests: [unique]
"""
SPARK_RUNS = 1  # three loads at once, on a fresh schema (a run takes about 40 s)
RELATIONS = ["customers", "orders", "stg_customers", "stg_orders", "customer_orders"]
PACKAGE = "sparkshop_dagster"


def write_project(dbt_dir: Path, server: SparkServer, schema: str) -> Path:
    (dbt_dir / "seeds").mkdir(parents=True)
    (dbt_dir / "models").mkdir()
    (dbt_dir / "dbt_project.yml").write_text(
        "name: sparkshop\nprofile: sparkshop\nconfig-version: 2\n"
        "models:\n  sparkshop:\n    +materialized: view\n",
        encoding="utf-8",
    )
    (dbt_dir / "profiles.yml").write_text(
        "sparkshop:\n  target: spark\n  outputs:\n    spark:\n      type: spark\n"
        f"      method: thrift\n      host: {server.host}\n      port: {server.port}\n"
        "      user: dbtscaffold\n"
        f"      schema: \"{{{{ env_var('SPARKSHOP_SCHEMA', '{schema}') }}}}\"\n"
        "      threads: 2\n      connect_retries: 2\n      connect_timeout: 5\n",
        encoding="utf-8",
    )
    (dbt_dir / "seeds" / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (dbt_dir / "seeds" / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (dbt_dir / "seeds" / "properties.yml").write_text(PROPERTIES, encoding="utf-8")
    for name, sql in MODELS.items():
        (dbt_dir / "models" / name).write_text(sql, encoding="utf-8")
    return dbt_dir


def counts(server: SparkServer, schema: str) -> dict[str, int]:
    return {r: run_sql(server, f"select count(*) from {schema}.{r}")[0][0] for r in RELATIONS}


def digest(server: SparkServer, relation: str) -> list[tuple]:
    return sorted(run_sql(server, f"select * from {relation}"), key=repr)


def baseline(tmp_path: Path, server: SparkServer, schema: str) -> dict[str, object]:
    """A plain `dbt seed` + `dbt build` of the unconverted project, into SCHEMA."""
    dbt_dir = write_project(tmp_path / "baseline", server, schema)
    run_tool("dbt", "build", "--profiles-dir", ".", cwd=dbt_dir, timeout=900)
    return {
        "counts": counts(server, schema),
        "types": column_types(server, f"{schema}.customers"),
        "rows": digest(server, f"{schema}.customers"),
    }


def test_the_whole_workflow_on_a_spark_cluster(tmp_path, spark_server, spark_schema):
    server, schema = spark_server, spark_schema
    want = baseline(tmp_path, server, f"{schema}_base")
    try:
        dbt_dir = write_project(tmp_path / "sparkshop", server, schema)
        run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, check=0)
        dagster_dir = dbt_dir / PACKAGE
        assert '"dbt-spark[PyHive]' in (dagster_dir / "pyproject.toml").read_text("utf-8")

        run_cli("convert-seed", "customers", cwd=dagster_dir, check=0)
        assets = (dagster_dir / PACKAGE / "seed_assets.py").read_text(encoding="utf-8")
        assert 'kinds={"python", "spark"}' in assets and f'schema="{schema}"' in assets
        assert "'decimal(10,2)'" in assets or '"decimal(10,2)"' in assets, assets

        for _ in range(2):  # the second materialize replaces the data: no duplicated row
            proc = spark.materialize(run_cli, dagster_dir)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "5 assets" in proc.stderr and "asset checks: 4 passed, 0 failed" in proc.stderr
            assert counts(server, schema) == want["counts"]
        assert column_types(server, f"{schema}.customers") == want["types"]
        assert digest(server, f"{schema}.customers") == want["rows"]

        proc = run_cli("check", "--no-load", cwd=dagster_dir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "dbt-spark" in proc.stdout, proc.stdout

        # dev: the UI lists every asset (two seeds' assets, three models).
        port = free_port()
        env = isolated_env(tmp_path, PATH=os.environ["PATH"])
        dev = Dev(["--port", port], cwd=dagster_dir, env=env)
        try:
            line = dev.wait_for("Dagster UI ready")
            nodes = graphql(port, ASSETS_QUERY)["data"]["assetNodes"]
            keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
            assert {*RELATIONS} <= keys, (keys, line)
            dev.popen.send_signal(signal.SIGINT)
            assert dev.finish(timeout=60) in (0, 130)
        finally:
            dev.kill_all()
    finally:
        run_sql(server, f"drop schema if exists {schema}_base cascade")


def test_a_worker_killed_during_materialize_and_the_rerun(tmp_path):
    """On a cluster of its own: one worker dies while dbt runs; the run completes on the other
    worker or fails with a clear message, and a re-run succeeds with no duplicated row."""
    own = start()
    try:
        schema = "killed_worker"
        dbt_dir = write_project(tmp_path / "sparkshop", own, schema)
        run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, check=0)
        dagster_dir = dbt_dir / PACKAGE
        run_cli("convert-seed", "customers", "orders", cwd=dagster_dir, check=0)
        [first, _second] = worker_pids(own)

        killed = threading.Event()

        def dbt_is_building() -> bool:
            for p in psutil.process_iter(["name", "cmdline", "cwd"]):
                cmd = p.info["cmdline"] or []
                if "build" in cmd and any(Path(a).name == "dbt" for a in cmd[:2]):
                    if p.info["cwd"] == str(dbt_dir):
                        return True
            return False

        def kill_when_dbt_runs() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not dbt_is_building():
                time.sleep(0.2)
            os.killpg(first, signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_when_dbt_runs, daemon=True)
        killer.start()
        proc = run_cli("materialize", cwd=dagster_dir, timeout=1200)
        killer.join(timeout=5)
        assert killed.is_set(), "dbt never ran"
        deadline = time.monotonic() + 120  # the master notices a lost worker within seconds
        while len(alive_workers(own)) != 1:
            assert time.monotonic() < deadline, alive_workers(own)
            time.sleep(1)
        assert "Traceback" not in proc.stderr
        if proc.returncode != 0:  # a clear failure is allowed; a half-done run is not hidden
            assert "error:" in proc.stderr, proc.stderr
        proc = spark.materialize(run_cli, dagster_dir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        got = counts(own, schema)
        assert got["customers"] == 40 and got["orders"] == 120, got
        assert got["customer_orders"] == 40, got
    finally:
        stop(own)


# --- issue 27 on Spark: three loads into one new schema at once ----------------------------


def test_three_loads_into_one_new_spark_schema_never_collide(tmp_path, spark_server):
    server = spark_server
    seeds = conc.SEEDS[:3]
    dbt_dir = conc.write_project(tmp_path, None)
    profiles = dbt_dir / "profiles.yml"
    profiles.write_text(
        profiles.read_text(encoding="utf-8")
        + f"    spark:\n      type: spark\n      method: thrift\n      host: {server.host}\n"
        f"      port: {server.port}\n      schema: conc\n      threads: 2\n",
        encoding="utf-8",
    )
    env = {"DBT_TARGET": "spark", "CONC_SPARK": f"{server.host}:{server.port}"}
    run_cli("init", "--project-name", "conc_dagster", cwd=dbt_dir, env=env, check=0)
    run_cli("convert-seed", *seeds, cwd=dbt_dir, env=env, check=0)
    try:
        runs = conc.run_loads(dbt_dir / "conc_dagster", "spark", env, seeds=seeds, runs=SPARK_RUNS)
        assert runs == [f"run {i + 1}: ok" for i in range(SPARK_RUNS)], runs
        for seed in seeds:
            got = run_sql(server, f"select count(*) from {conc.SCHEMA}.{seed}")[0][0]
            assert got == conc.ROWS[seed]
    finally:
        run_sql(server, f"drop schema if exists {conc.SCHEMA} cascade")
