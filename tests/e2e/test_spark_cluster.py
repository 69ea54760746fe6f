"""The Spark cluster on loopback the Spark tests run against: a master with two live workers
and the Thrift server, which dbt-spark (`method: thrift`) seeds and builds a project on.

The cluster comes from .ci/services (DBTSCAFFOLD_TEST_SPARK_*), else the `spark_server` fixture
starts one (about 30 s and 1.2 GB on a 2-core machine); each test gets its own schema.
"""

from __future__ import annotations

import pytest
import yaml

from tests.helpers.cli import run_tool
from tests.helpers.spark import (
    WORKERS,
    SparkServer,
    alive_workers,
    column_types,
    master_state,
    run_sql,
)

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.slow]

PEOPLE_CSV = """\
id,name,score,joined
1,Ada,12.50,2024-01-02
2,Grace,7.25,2024-02-03
3,Linus,,2024-03-04
"""


def write_project(root, server: SparkServer, schema: str) -> None:
    """A tiny dbt project on the cluster: a typed seed, a table model on it, a not_null test."""
    (root / "seeds").mkdir(parents=True)
    (root / "models").mkdir()
    project = {
        "name": "spark_probe",
        "version": "1.0.0",
        "config-version": 2,
        "profile": "spark_probe",
        "seeds": {
            "spark_probe": {
                "people": {
                    "+column_types": {"id": "bigint", "score": "decimal(10,2)", "joined": "date"}
                }
            }
        },
    }
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    profiles = {"spark_probe": {"target": "spark", "outputs": {"spark": server.profile(schema)}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    (root / "seeds" / "people.csv").write_text(PEOPLE_CSV)
    (root / "models" / "scored_people.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select id, upper(name) as name, score * 2 as double_score, joined\n"
        "from {{ ref('people') }}\nwhere score is not null\n"
    )
    schema_yml = {
        "version": 2,
        "models": [{"name": "scored_people", "columns": [{"name": "id", "tests": ["not_null"]}]}],
    }
    (root / "models" / "schema.yml").write_text(yaml.safe_dump(schema_yml, sort_keys=False))


def test_the_cluster_has_two_live_workers_running_the_thrift_server(spark_server):
    state = master_state(spark_server)
    assert state["status"] == "ALIVE"
    workers = alive_workers(spark_server)
    assert len(workers) == WORKERS, state["workers"]
    assert all(w["host"] == "127.0.0.1" and w["cores"] == 1 for w in workers)
    # The Thrift server is an application of this master, with an executor on each worker.
    apps = [a for a in state["activeapps"] if a["state"] == "RUNNING"]
    assert len(apps) == 1 and apps[0]["cores"] == WORKERS, state["activeapps"]
    assert all(w["coresused"] == 1 for w in workers), workers
    # A query that needs executors (a shuffle over several partitions) runs.
    rows = run_sql(spark_server, "select id % 3, count(*) from range(0, 30, 1, 4) group by 1")
    assert sorted(rows) == [(0, 10), (1, 10), (2, 10)]


def test_dbt_seeds_and_builds_on_the_cluster(tmp_path, spark_server, spark_schema):
    root = tmp_path / "spark_probe"
    write_project(root, spark_server, spark_schema)
    common = ["--project-dir", root, "--profiles-dir", root]

    run_tool("dbt", "seed", *common, cwd=root)
    assert run_sql(spark_server, f"select count(*) from {spark_schema}.people") == [(3,)]
    assert column_types(spark_server, f"{spark_schema}.people") == {
        "id": "bigint",
        "name": "string",
        "score": "decimal(10,2)",
        "joined": "date",
    }

    build = run_tool("dbt", "build", *common, cwd=root)
    assert "PASS=3" in build.stdout, build.stdout  # the seed, the model and its test
    relation = f"{spark_schema}.scored_people"
    assert run_sql(spark_server, f"select id, name, double_score from {relation} order by id") == [
        (1, "ADA", 25.0),
        (2, "GRACE", 14.5),
    ]
    assert column_types(spark_server, relation) == {
        "id": "bigint",
        "name": "string",
        "double_score": "decimal(12,2)",  # decimal(10,2) * 2, as Spark types it
        "joined": "date",
    }
