"""Every dbt adapter, offline: the warehouses that cannot run here (issue 21).

convert-seed refuses no adapter any more: dbt's own seed loading loads into any of them. What
can be shown without their servers is shown here, from their profiles: `init` lists the
adapter's package, `check` names the package when it is missing, convert-seed and the loader
say in one line which package to install (changing nothing), and with the adapter installed
(Spark) convert-seed needs no server at all, while the loader names host and port when
nothing answers there.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from dbtscaffold.runtime.loaders import adapter_installed, adapter_package
from tests.helpers.cli import run_cli
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The warehouses teams move to, as their profiles name them (with what their profiles need).
PROFILES = {
    "snowflake": "account: xy12345\n      user: u\n      password: p\n      database: d\n"
    "      warehouse: w\n      schema: s\n",
    "bigquery": "method: oauth\n      project: p\n      dataset: d\n",
    "databricks": "host: x.cloud.databricks.com\n      http_path: /sql/1.0/w\n      token: t\n"
    "      schema: s\n",
    "redshift": "host: r.example.com\n      port: 5439\n      user: u\n      password: p\n"
    "      dbname: d\n      schema: s\n",
    "trino": "method: none\n      host: t.example.com\n      port: 8080\n      user: u\n"
    "      database: c\n      schema: s\n",
    "sqlserver": "driver: 'ODBC Driver 18 for SQL Server'\n      server: m.example.com\n"
    "      port: 1433\n      database: d\n      schema: s\n      user: u\n      password: p\n",
    "clickhouse": "host: c.example.com\n      port: 8123\n      schema: s\n",
    "athena": "s3_staging_dir: s3://b/\n      region_name: eu-west-1\n      database: awsdatacatalog\n"
    "      schema: s\n",
}
MISSING = [a for a in PROFILES if not adapter_installed(a)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(root, targets: dict[str, str]):
    """The example with one more target per adapter (`wh_<adapter>`), and its Dagster project."""
    run_cli("example", root / "jaffle_shop", check=0)
    profiles = root / "jaffle_shop" / "profiles.yml"
    extra = "".join(
        f"    wh_{adapter}:\n      type: {adapter}\n      {body}"
        for adapter, body in targets.items()
    )
    profiles.write_text(profiles.read_text(encoding="utf-8") + extra, encoding="utf-8")
    run_cli("init", "--dbt-project-dir", root / "jaffle_shop", "--output-dir", root, check=0)
    return root / "jaffle_shop_dagster"


@pytest.fixture(scope="module")
def missing_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return root, _project(root, {a: PROFILES[a] for a in MISSING})


# The loader of every target, tried in one Python (dagster_dbt imported once): {adapter: the
# last line of the error it raised, as a traceback ends}.
PROBE = """
import sys, traceback
from pathlib import Path
from dagster_dbt import DbtProject
from jaffle_shop_dagster._dbtscaffold import load_csv
for adapter in sys.argv[1:]:
    p = DbtProject(Path("../jaffle_shop").resolve(), target=f"wh_{adapter}")
    try:
        load_csv(p, Path("../jaffle_shop/seeds/raw_orders.csv"), schema="s", table="t")
    except Exception as e:
        print(adapter, traceback.format_exception_only(e)[-1].strip(), sep="\\t")
    else:
        print(adapter, "loaded", sep="\\t")
"""


@pytest.fixture(scope="module")
def loader_errors(missing_project) -> dict[str, str]:
    _, dagster_dir = missing_project
    proc = subprocess.run([sys.executable, "-c", PROBE, *MISSING], cwd=dagster_dir,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)


@pytest.mark.parametrize("adapter", MISSING)
def test_an_adapter_that_is_not_installed_is_one_line_naming_its_package(
    missing_project, loader_errors, adapter
):
    root, dagster_dir = missing_project
    package = adapter_package(adapter)
    # init lists it for the project's own installs.
    assert f'"{package}' in (dagster_dir / "pyproject.toml").read_text(encoding="utf-8")
    env = {"DBT_TARGET": f"wh_{adapter}"}
    before = tree_hash(root)
    proc = run_cli("convert-seed", "raw_customers", cwd=dagster_dir, env=env, check=1)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"pip install {package}`" in lines[0] and f"`{adapter}`" in lines[0], lines[0]
    assert "Nothing was changed" in lines[0]
    assert tree_hash(root) == before
    # check names the package and the command that installs it.
    proc = run_cli("check", "--no-load", cwd=dagster_dir, env=env, check=1)
    assert f"{package} is not installed" in proc.stdout, proc.stdout
    assert f"pip install {package}" in proc.stdout, proc.stdout
    # The loader of a project converted on another target says the same.
    assert loader_errors[adapter].endswith(f"pip install {package}"), loader_errors[adapter]


@pytest.mark.skipif(not adapter_installed("spark"), reason="dbt-spark is not installed")
def test_spark_convert_seed_needs_no_server_and_the_loader_names_host_and_port(tmp_path):
    port = _closed_port()
    body = f"method: thrift\n      host: 127.0.0.1\n      port: {port}\n      schema: shop\n"
    dagster_dir = _project(tmp_path, {"spark": body})
    pyproject = (dagster_dir / "pyproject.toml").read_text(encoding="utf-8")
    assert '"dbt-spark[PyHive]' in pyproject, pyproject
    env = {"DBT_TARGET": "wh_spark"}
    run_cli("convert-seed", "raw_customers", cwd=dagster_dir, env=env, check=0)
    assets = (dagster_dir / "jaffle_shop_dagster" / "seed_assets.py").read_text(encoding="utf-8")
    assert 'kinds={"spark"}' in assets, assets
    assert 'schema="shop"' in assets, assets
    proc = run_cli("materialize", "--select", "raw_customers", cwd=dagster_dir, env=env, check=1)
    assert "Traceback" not in proc.stderr
    error = (
        f"cannot connect to spark at 127.0.0.1:{port} (dbt target 'wh_spark'): "
        "Connection refused; start the server or fix the target in profiles.yml"
    )
    assert [ln for ln in proc.stderr.splitlines() if "cannot connect" in ln] == [
        f"jaffle_shop_dagster._dbtscaffold.loaders.WarehouseError: {error}"
    ], proc.stderr
