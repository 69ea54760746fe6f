"""Where the dbt project and its profiles.yml are when a generated project runs."""

import os
from pathlib import Path

DBT_PROJECT_DIR_ENV = "DBTSCAFFOLD_DBT_PROJECT_DIR"


def find_dbt_project_dir(*candidates: Path | str) -> Path:
    """The first of CANDIDATES that holds dbt_project.yml, resolved.

    DBTSCAFFOLD_DBT_PROJECT_DIR, when set, is the only candidate.
    """
    override = os.environ.get(DBT_PROJECT_DIR_ENV)
    tried = [Path(override)] if override else [Path(c) for c in candidates]
    for candidate in tried:
        if (candidate / "dbt_project.yml").is_file():
            return candidate.resolve()
    raise FileNotFoundError(
        f"dbt project not found (no dbt_project.yml in {', '.join(map(str, tried))}); "
        f"set {DBT_PROJECT_DIR_ENV} to its folder."
    )


def find_profiles_dir(project_dir: Path | str, explicit: Path | str | None = None) -> Path:
    """The folder of profiles.yml in dbt's order.

    EXPLICIT (what `--profiles-dir` named at init), DBT_PROFILES_DIR, the dbt project,
    then ~/.dbt; the dbt project when none of them has one (dbt then says what is missing).
    """
    if explicit is not None:
        return Path(explicit).resolve()
    env = os.environ.get("DBT_PROFILES_DIR")
    if env:
        return Path(env).expanduser().resolve()
    for candidate in (Path(project_dir), Path.home() / ".dbt"):
        if (candidate / "profiles.yml").is_file():
            return candidate.resolve()
    return Path(project_dir).resolve()
