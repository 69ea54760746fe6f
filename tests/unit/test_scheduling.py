"""The suite's scheduler (tests/helpers/scheduling.py) really keeps a chosen module on one
xdist worker: a module-scoped fixture there is built once, not once per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CONFTEST = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.helpers.scheduling import one_worker_scheduler

def pytest_xdist_make_scheduler(config, log):
    return one_worker_scheduler(config, log, ("suite/test_a_grouped.py",))
"""

_MODULE = """
import json, os, time, pytest

@pytest.mark.parametrize("n", range(12))
def test_n(n):
    time.sleep(0.1)  # both workers busy: a free test goes to whichever asks
    with open(os.environ["WORKERS_FILE"], "a") as f:
        f.write(json.dumps([__name__, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
"""


def test_a_one_worker_module_runs_on_one_worker_and_the_others_spread(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (tmp_path / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name in ("test_a_grouped", "test_free_a", "test_free_b"):
        (suite / f"{name}.py").write_text(_MODULE, encoding="utf-8")
    workers_file = tmp_path / "workers.jsonl"
    env = dict(os.environ, WORKERS_FILE=str(workers_file))
    env.pop("PYTEST_ADDOPTS", None)
    args = ["-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q", "suite"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen: dict[str, set[str]] = {}
    for line in workers_file.read_text(encoding="utf-8").splitlines():
        module, worker = json.loads(line)
        seen.setdefault(module.rsplit(".", 1)[-1], set()).add(worker)
    assert len(seen["test_a_grouped"]) == 1, seen
    # The modules it does not name are spread over both workers.
    assert seen["test_free_a"] | seen["test_free_b"] == {"gw0", "gw1"}, seen
