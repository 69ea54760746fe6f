"""The schedule's tick asks for a run of the job, and the job materializes every asset."""

from dagster import build_schedule_context

from {{ cookiecutter.project_name }}.definitions import defs


def test_schedule_tick_requests_a_run_of_the_job():
    schedule = defs().resolve_schedule_def("materialize_dbt_models_schedule")
    result = schedule.evaluate_tick(build_schedule_context())
    assert len(result.run_requests) == 1


def test_the_job_materializes_every_asset():
    job = defs().resolve_job_def("materialize_dbt_models")
    assert job.asset_layer.selected_asset_keys == defs().resolve_asset_graph().materializable_asset_keys
