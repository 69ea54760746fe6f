"""Every fenced command block of both READMEs runs as written, in order, in a fresh venv.

The tool's README first (installed from a copy of this checkout, as its first line says), then
the README `init` writes into the generated project, in that project. Left out, and tested
elsewhere with their servers: the lines that start a server and wait (`dbtscaffold dev`,
`dagster dev`: tests/e2e/test_dev.py), the blocks of the production machine (PostgreSQL and
three Dagster servers: test_production.py), the test suite's own command, and recipes for a
project of the user's (a block that starts with `cd` into a folder it did not make: moving a
Pythonic project to components, which ends with an edit by hand). A command already run in the
same folder is not run twice.

The first block (the venv, the install and the quickstart) is the `readme_checkout` fixture,
built once for the run (tests/helpers/readme.py); this module starts first, so that the other
blocks (test_readme_project_blocks.py) find it built, on either worker.
"""

from __future__ import annotations

import pytest

from tests.helpers.cli import REPO as ROOT
from tests.helpers.readme import blocks, readme_checkout  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.venv, pytest.mark.slow]


def test_the_first_block_installs_and_runs_the_quickstart(readme_checkout):  # noqa: F811
    tool = blocks(ROOT / "README.md")
    assert tool[0][0].startswith("python3 -m venv .venv") and "quickstart" in tool[0][1]
    assert (readme_checkout / ".venv" / "bin" / "dbtscaffold").is_file()
    quickstart = readme_checkout / "dbtscaffold-quickstart"
    assert (quickstart / "jaffle_shop" / "jaffle_shop.duckdb").is_file()
