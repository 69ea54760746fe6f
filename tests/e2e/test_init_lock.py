"""`init --lock` when uv cannot reach its index: one line, exit 1, nothing written (issue 22).

The lock against a real (local) index is tested in test_install_pins.py, which needs the
network once to build that index.
"""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.ports import free_port
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_init_lock_with_the_index_unreachable_is_one_line_and_writes_nothing(tmp_path):
    run_cli("example", "jaffle_shop", cwd=tmp_path, check=0)
    port = free_port()  # nothing answers there
    env = {"UV_INDEX_URL": f"http://127.0.0.1:{port}/simple", "UV_CACHE_DIR": str(tmp_path / "c"),
           "UV_HTTP_TIMEOUT": "5", "UV_PYTHON_DOWNLOADS": "never"}  # fmt: skip
    before = tree_hash(tmp_path / "jaffle_shop")
    for extra in ([], ["--dry-run"]):
        proc = run_cli("init", "--lock", *extra, cwd=tmp_path / "jaffle_shop", env=env, check=1)
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert errors[0].startswith("error: `uv lock` could not resolve the dependencies of "), (
            errors
        )
        assert "Connection refused" in errors[0] and "nothing was changed" in errors[0], errors
        assert tree_hash(tmp_path / "jaffle_shop") == before
