"""The dbt project behind these assets.

It imports nothing but dagster-dbt, so that `dagster-dbt project prepare-and-package --file
{{ cookiecutter.project_name }}/constants.py` can load it on its own before a deployment.
"""

{% if "os." in cookiecutter.profiles_dir_py %}import os
{% endif %}from pathlib import Path

from dagster_dbt import DbtProject

HERE = Path(__file__).parent
DBT_PROJECT_DIR = HERE.joinpath({{ cookiecutter.dbt_project_dir_parts_py }}).resolve()
# The copy of the dbt project and its manifest that `dagster-dbt project prepare-and-package`
# (or `dbtscaffold package`) puts in this package: used outside `dagster dev` when it exists,
# and the only one where this code is installed from a wheel.
PACKAGED_DBT_PROJECT_DIR = HERE / "dbt_project"

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR if DBT_PROJECT_DIR.is_dir() else PACKAGED_DBT_PROJECT_DIR,
    packaged_project_dir=PACKAGED_DBT_PROJECT_DIR,
{%- if cookiecutter.profiles_dir_py %}
    profiles_dir={{ cookiecutter.profiles_dir_py }},
{%- endif %}
{%- if cookiecutter.target_path_py %}
    target_path={{ cookiecutter.target_path_py }},
{%- endif %}
{%- if cookiecutter.dbt_state %}
    state_path=Path("target", "state"),
{%- endif %}
)
