"""The materialize worker runs the steps in its own process only under Dagster's default
executor; an executor the definitions choose is kept (workers/materialize._run_config)."""

from __future__ import annotations

import dagster as dg

from dbtscaffold.workers.materialize import _run_config


@dg.asset
def one() -> None:
    return None


def _job(defs: dg.Definitions):
    return defs.get_repository_def().get_implicit_job_def_for_assets([dg.AssetKey("one")])


def test_the_default_executor_runs_in_process():
    config = _run_config(_job(dg.Definitions(assets=[one])))
    assert config == {"execution": {"config": {"in_process": {}}}}
    # Dagster accepts it as the default executor's config.
    result = dg.materialize([one], run_config=config)
    assert result.success


def test_an_executor_the_definitions_choose_is_kept():
    chosen = dg.Definitions(assets=[one], executor=dg.multiprocess_executor)
    assert _run_config(_job(chosen)) == {}
