"""Every dbt model of {{ cookiecutter.dbt_project_name_py_doc }} as a Dagster asset."""

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ._dbtscaffold import ParseOnLoadPreparer
from .constants import dbt_project

# Under `dagster dev` (or with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1) the dbt project is parsed
# when anything dbt reads changed since the last parse; otherwise its manifest is used as it is.
ParseOnLoadPreparer().prepare_if_dev(dbt_project)

# The data tests of a dbt source are asset checks of the asset behind it (like the tests of
# a seed that `dbtscaffold convert-seed` turned into a source and its loader asset).
translator = DagsterDbtTranslator(DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


@dbt_assets(manifest=dbt_project.manifest_path, dagster_dbt_translator=translator)
def {{ cookiecutter.dbt_assets_name }}(context: AssetExecutionContext, dbt: DbtCliResource):
{%- if cookiecutter.dbt_state %}
    # When dbt state is in state_path, the build defers to it.
    yield from dbt.cli(["build", *dbt.get_defer_args()], context=context).stream()
{%- else %}
    yield from dbt.cli(["build"], context=context).stream()
{%- endif %}
