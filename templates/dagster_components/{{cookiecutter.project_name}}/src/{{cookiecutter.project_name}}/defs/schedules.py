"""A job that materializes every asset, and the schedule that runs it."""

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

materialize_dbt_models = define_asset_job("materialize_dbt_models", selection=AssetSelection.all())

materialize_dbt_models_schedule = ScheduleDefinition(
    name="materialize_dbt_models_schedule",
    job=materialize_dbt_models,
    cron_schedule={{ cookiecutter.schedule_cron_py }},
    default_status=DefaultScheduleStatus.{{ cookiecutter.schedule_status }},
)
