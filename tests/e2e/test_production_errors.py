"""Refusals and options of the production commands (issue 12): one line, exit 1, nothing changed.

No dbt parse here: `init --schedule`, `--no-schedule`, `package` outside a project, `deploy`
over files that differ, and `init --force` keeping the user's schedule. The refusals that
need no earlier step run in this process (Typer's CliRunner; an exception fails the test as
a traceback would); the rest, deploy's refusal to overwrite included, run the installed CLI.
"""

from __future__ import annotations

import pytest

from tests.helpers.cli import invoke_ok, run_cli
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PACKAGE = "jaffle_shop_dagster"


def one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def init(tmp_path, *options, check=0, in_process=False):
    """`dbtscaffold init` of TMP_PATH/jaffle_shop into TMP_PATH, with OPTIONS: the installed
    script, or (IN_PROCESS, for a refusal) Typer's CliRunner in this process."""
    args = ("init", "--dbt-project-dir", tmp_path / "jaffle_shop", "--output-dir", tmp_path)
    if in_process:
        return invoke_ok(*args, *options, check=check)
    return run_cli(*args, *options, check=check)


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "0 0 30 2 *"])
def test_a_bad_cron_is_one_line_and_writes_nothing(example_project, tmp_path, cron):
    before = tree_hash(tmp_path)
    line = one_error_line(init(tmp_path, "--schedule", cron, check=None, in_process=True))
    assert line == (
        f"error: Cron schedule `{cron}` is not valid; pass five fields (minute hour day month "
        "weekday), e.g. --schedule '0 0 * * *' for every day at midnight."
    )
    assert tree_hash(tmp_path) == before


def test_schedule_and_no_schedule_exclude_each_other(example_project, tmp_path):
    proc = init(tmp_path, "--schedule", "0 6 * * *", "--no-schedule", check=2, in_process=True)
    assert "--schedule and --no-schedule exclude each other" in proc.stderr
    assert not (tmp_path / PACKAGE).exists()


def test_no_schedule_leaves_the_job_and_schedule_out(example_project, tmp_path):
    init(tmp_path, "--no-schedule")
    project = tmp_path / PACKAGE
    assert not (project / PACKAGE / "schedules.py").exists()
    assert not (project / "tests" / "test_schedules.py").exists()
    assert (project / "tests" / "test_definitions.py").is_file()
    definitions = (project / PACKAGE / "definitions.py").read_text(encoding="utf-8")
    assert "schedule" not in definitions and "jobs=" not in definitions
    compile(definitions, "definitions.py", "exec")


def test_schedule_sets_the_cron_and_turns_it_on_and_force_keeps_it(example_project, tmp_path):
    init(tmp_path, "--schedule", "30 6 * * 1-5")
    schedules = tmp_path / PACKAGE / PACKAGE / "schedules.py"
    text = schedules.read_text(encoding="utf-8")
    assert 'cron_schedule="30 6 * * 1-5",' in text
    assert "default_status=DefaultScheduleStatus.RUNNING," in text
    assert "`30 6 * * 1-5`, on)" in (tmp_path / PACKAGE / "README.md").read_text(encoding="utf-8")
    # init --force without --schedule keeps the user's schedule; --schedule replaces it.
    edited = text.replace("30 6", "45 7")
    schedules.write_text(edited, encoding="utf-8")
    init(tmp_path, "--force")
    assert schedules.read_text(encoding="utf-8") == edited
    init(tmp_path, "--force", "--schedule", "0 1 * * *")
    assert 'cron_schedule="0 1 * * *",' in schedules.read_text(encoding="utf-8")


def test_the_default_schedule_is_midnight_and_stopped(initialized):
    _, project = initialized
    text = (project / PACKAGE / "schedules.py").read_text(encoding="utf-8")
    assert 'cron_schedule="0 0 * * *",' in text
    assert "default_status=DefaultScheduleStatus.STOPPED," in text
    assert "selection=AssetSelection.all()" in text
    definitions = (project / PACKAGE / "definitions.py").read_text(encoding="utf-8")
    assert "jobs=[materialize_dbt_models]," in definitions
    assert "schedules=[materialize_dbt_models_schedule]," in definitions


def test_package_outside_a_dagster_project(tmp_path):
    (tmp_path / "empty").mkdir()
    before = tree_hash(tmp_path)
    line = one_error_line(invoke_ok("package", cwd=tmp_path / "empty"))
    assert line.startswith("error: No Dagster project found here"), line
    assert tree_hash(tmp_path) == before


def test_package_when_the_dbt_project_is_gone(initialized, tmp_path):
    dbt_dir, project = initialized
    (dbt_dir / "dbt_project.yml").rename(dbt_dir / "dbt_project.yml.bak")
    before = tree_hash(tmp_path)
    line = one_error_line(invoke_ok("package", cwd=project))
    assert "is missing; package where the dbt project is." in line, line
    assert tree_hash(tmp_path) == before


def test_deploy_writes_both_files_then_refuses_to_overwrite_without_force(initialized):
    _, project = initialized
    first = run_cli("deploy", "--port", "4123", cwd=project, check=0)
    assert "create  jaffle_shop_dagster/deploy/dagster.yaml" in first.stdout + first.stderr
    assert "dagster code-server start -m jaffle_shop_dagster.definitions -h 127.0.0.1 -p 4123" in (
        first.stderr
    )
    instance = (project / "deploy" / "dagster.yaml").read_text(encoding="utf-8")
    for needle in (
        "scheme: postgresql+psycopg2",
        "env: DAGSTER_POSTGRES_PASSWORD",
        "class: QueuedRunCoordinator",
        "max_concurrent_runs: 1",  # the example's default target is DuckDB
        "class: DagsterDaemonScheduler",
        "telemetry:\n  enabled: false",
    ):
        assert needle in instance, needle
    workspace = (project / "deploy" / "workspace.yaml").read_text(encoding="utf-8")
    assert "grpc_server:" in workspace and "port: 4123" in workspace
    assert "location_name: jaffle_shop_dagster" in workspace

    again = run_cli("deploy", "--port", "4123", cwd=project, check=0)
    assert "Nothing to do" in again.stderr

    # The user's edit is not overwritten without --force.
    mine = instance.replace("max_concurrent_runs: 1", "max_concurrent_runs: 3")
    (project / "deploy" / "dagster.yaml").write_text(mine, encoding="utf-8")
    before = tree_hash(project, ignore=())
    line = one_error_line(run_cli("deploy", "--port", "4123", cwd=project))
    assert line == (
        "error: `deploy/dagster.yaml` already exists with other content; pass --force to "
        "overwrite (backed up for `dbtscaffold undo`), or --dry-run to see the difference."
    )
    assert tree_hash(project, ignore=()) == before
    dry = run_cli("deploy", "--port", "4123", "--dry-run", cwd=project, check=0)
    assert "-    max_concurrent_runs: 3\n+    max_concurrent_runs: 1\n" in dry.stdout
    assert tree_hash(project, ignore=()) == before

    run_cli("deploy", "--port", "4123", "--force", cwd=project, check=0)
    assert (project / "deploy" / "dagster.yaml").read_text(encoding="utf-8") == instance
    run_cli("undo", cwd=project, check=0)
    assert (project / "deploy" / "dagster.yaml").read_text(encoding="utf-8") == mine


def test_deploy_refuses_a_host_that_is_not_one(initialized):
    _, project = initialized
    line = one_error_line(invoke_ok("deploy", "--host", "a b\nc", cwd=project))
    assert line == "error: Host `a b\\nc` is not a host name or IP address; fix --host."
    assert not (project / "deploy").exists()
