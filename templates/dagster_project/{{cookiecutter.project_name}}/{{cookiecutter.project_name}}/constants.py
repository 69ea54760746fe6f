"""The dbt project behind these assets, and the manifest they are built from."""

from pathlib import Path

from dagster_dbt import DbtProject

from {{ cookiecutter.project_name }}._dbtscaffold import (
    find_dbt_project_dir,
    find_profiles_dir,
    prepare_manifest,
)

HERE = Path(__file__).parent

# The dbt project relative to this file, else the copy `dbtscaffold package` puts in this
# package; DBTSCAFFOLD_DBT_PROJECT_DIR overrides both.
DBT_PROJECT_DIR = find_dbt_project_dir(
    HERE.joinpath({{ cookiecutter.dbt_project_dir_parts_py }}), HERE / "dbt_project"
)

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=find_profiles_dir({{ cookiecutter.profiles_dir_args_py }}),
{%- if cookiecutter.target_path_py %}
    target_path={{ cookiecutter.target_path_py }},
{%- endif %}
)

# Under `dagster dev` (or with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1) the dbt project is
# parsed when it changed; otherwise its target/manifest.json is used as it is.
DBT_MANIFEST_PATH = prepare_manifest(dbt_project)
