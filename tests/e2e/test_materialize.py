"""`dbtscaffold materialize`: a headless Dagster run of the project's assets."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, PACKAGE, isolated_env, run
from tests.helpers.projects import copy_template

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def materialize(*args, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([CLI, "materialize", *args], cwd=cwd, env=env, check=None)


# dbt builds the tests of the selected models too, and a relationships test reads both of its
# models: select every staging model, so that only the marts are left out.
STAGING = ",".join(
    f"{kind}_{t}" for kind in ("raw", "stg") for t in ("customers", "orders", "payments")
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, initialized_template) -> Path:
    """A copy of the session's initialized example, for this module's read-only tests."""
    root = copy_template(initialized_template, tmp_path_factory.mktemp("materialize"))
    return root / PACKAGE


# A selection through Dagster (results on stdout, the runs in the project's .dagster_home,
# only the selected tables built): test_cli_conventions.py's
# test_selections_empty_glob_and_dbt_style_against_the_example.


def test_materialize_unknown_selection_is_one_line(project, tmp_path):
    proc = materialize("--select", "no_such_asset", cwd=project, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("error: No asset matches --select `no_such_asset`; ")
    assert "Traceback" not in proc.stderr


def test_materialize_without_a_project_is_one_line(tmp_path):
    proc = materialize(cwd=tmp_path, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: No Dagster project found here")
    assert proc.stderr.count("\n") == 1


def test_materialize_failing_model_shows_dbt_error(initialized, tmp_path):
    _, project = initialized
    sql = project.parent / "jaffle_shop" / "models" / "marts" / "orders.sql"
    text = sql.read_text()
    sql.write_text(text.replace("select", "select no_such_column,", 1))
    proc = materialize(cwd=project, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    assert "no_such_column" in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(
        "error: Materialization failed in step `jaffle_shop_dbt_assets` (run "
    )
    assert "Traceback" not in proc.stderr
    assert "Stack Trace" not in proc.stderr


def test_materialize_on_a_terminal_shows_a_moving_counter(project, tmp_path):
    """On a terminal the spinner says how far the run is: `2/6 assets, 4 checks, 17 s`."""
    import pty

    env = dict(isolated_env(tmp_path), COLUMNS="200", TERM="xterm")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(CLI), "materialize", "--select", STAGING],
        cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(primary)
    assert proc.wait(timeout=600) == 0, out.decode(errors="replace")[-3000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    counters = re.findall(r"(\d)/6 assets(?:, (\d+) checks?)?, \d+ s, running `(\w+)`", text)
    assert counters, text[-3000:]
    assert int(counters[-1][0]) >= 1  # it moved as dbt reported the nodes
    assert "Assets built by run" in text and "Materialized 6 assets" in text
