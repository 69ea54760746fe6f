"""Reading and editing a dbt project: dbt_project.yml, profiles.yml, seeds, refs, YAML."""
