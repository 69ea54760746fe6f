"""Every dbt node a `materialize` runs has its event in Dagster's event log (issue 25).

dbt's own record of the run (the run_results.json of the invocation dagster-dbt made, in its
target folder named after the run) is held against the run's events in the project's
instance: each model, seed and snapshot that dbt built is one ASSET_MATERIALIZATION, each data
test one ASSET_CHECK_EVALUATION (or, for a test Dagster does not take as a check, one
ASSET_OBSERVATION), named by the dbt unique_id dagster-dbt puts in the event's metadata. So a
change to how the run is executed or how dbt's stream is consumed cannot drop or double one.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, REPO, isolated_env, run, scaffold

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUILT = ("model", "seed", "snapshot")
# Each event type, and what it carries the unique_id of the dbt node in.
EVENTS = {
    "ASSET_MATERIALIZATION": "materialization",
    "ASSET_CHECK_EVALUATION": None,  # the evaluation itself
    "ASSET_OBSERVATION": "asset_observation",
}
# Counted in a child process: the instance of the project (its .dagster_home), the last run.
_COUNT = """
import json, sys
from dagster import DagsterInstance
kinds = json.loads(sys.argv[1])
with DagsterInstance.get() as instance:
    run = instance.get_runs(limit=1)[0]
    out = {"run_id": run.run_id, "status": run.status.value, "events": []}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or event.event_type_value not in kinds:
            continue
        data = event.event_specific_data
        attr = kinds[event.event_type_value]
        metadata = (getattr(data, attr) if attr else data).metadata
        unique_id = metadata.get("unique_id")
        out["events"].append([event.event_type_value, unique_id and unique_id.value])
print(json.dumps(out))
"""


def _run_events(dagster_project: Path, env: dict[str, str]) -> dict:
    env = dict(env, DAGSTER_HOME=str(dagster_project / ".dagster_home"))
    proc = run([sys.executable, "-c", _COUNT, json.dumps(EVENTS)], cwd=dagster_project, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_results(dbt_dir: Path, run_id: str) -> list[dict]:
    """The results of the dbt invocation of run RUN_ID (dagster-dbt's target folder for it)."""
    found = list((dbt_dir / "target").glob(f"*-{run_id[:7]}-*/run_results.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text(encoding="utf-8"))["results"]


def assert_every_node_has_its_event(dagster_project: Path, dbt_dir: Path, env: dict) -> Counter:
    proc = run([CLI, "materialize"], cwd=dagster_project, env=env, timeout=1800)
    recorded = _run_events(dagster_project, env)
    assert recorded["status"] == "SUCCESS", recorded["status"]
    results = _run_results(dbt_dir, recorded["run_id"])
    assert results and all(r["status"] in ("success", "pass") for r in results)

    events = Counter((kind, uid) for kind, uid in recorded["events"])
    assert max(events.values()) == 1, [e for e, n in events.items() if n > 1]  # none twice
    by_node = {uid: kind for kind, uid in events}
    assert None not in by_node, "an asset event without a dbt unique_id"
    for r in results:
        uid = r["unique_id"]
        kind = by_node.pop(uid, None)
        if uid.split(".")[0] in BUILT:
            assert kind == "ASSET_MATERIALIZATION", (uid, kind)
        else:
            assert kind in ("ASSET_CHECK_EVALUATION", "ASSET_OBSERVATION"), (uid, kind)
    assert not by_node, f"events for nodes dbt did not run: {sorted(by_node)[:10]}"
    # What the command said agrees with the event log.
    built = sum(1 for r in results if r["unique_id"].split(".")[0] in BUILT)
    counts = Counter(kind for kind, _ in events)
    checks = counts["ASSET_CHECK_EVALUATION"]
    said = f"Materialized {built} assets in "
    assert said in proc.stderr and f"asset checks: {checks} passed" in proc.stderr, proc.stderr
    return counts


def test_the_example_has_one_event_per_dbt_node(tmp_path):
    project = scaffold(tmp_path)
    counts = assert_every_node_has_its_event(
        project, tmp_path / "jaffle_shop", isolated_env(tmp_path)
    )
    assert counts["ASSET_MATERIALIZATION"] == 8 and counts["ASSET_CHECK_EVALUATION"] >= 20


def _gen_project():
    spec = importlib.util.spec_from_file_location("gen_project", REPO / "bench" / "gen_project.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_project_of_200_models_has_one_event_per_dbt_node(tmp_path):
    dbt_dir = tmp_path / "synth"
    _gen_project().generate(dbt_dir, 200, 3, 0)
    env = isolated_env(tmp_path)
    run([CLI, "init", "--dbt-project-dir", dbt_dir, "--output-dir", tmp_path], env=env)
    counts = assert_every_node_has_its_event(tmp_path / "synth_dagster", dbt_dir, env)
    # 200 models, 3 seeds, a snapshot; a test or more on each.
    assert counts["ASSET_MATERIALIZATION"] == 204, counts
    assert counts["ASSET_CHECK_EVALUATION"] + counts["ASSET_OBSERVATION"] > 204, counts
    shutil.rmtree(dbt_dir / "target", ignore_errors=True)  # a few MB per run
