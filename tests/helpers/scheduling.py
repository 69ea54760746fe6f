"""How the suite is spread over xdist's workers: `--dist loadgroup` that runs every test of a
chosen module on one worker (tests/conftest.py names them; tests/unit/test_scheduling.py holds
it to that).

xdist's own grouping reads an `@group` suffix its worker hook writes into `item._nodeid`, which
pytest 9 no longer uses for the node id, so the xdist_group marks alone group nothing (each
module's fixture was built on both workers). The scheduler sees node ids only: a chosen
module's path is its group. `_split_scope` is the method xdist's own LoadFileScheduling and
LoadGroupScheduling override to group tests; tests/unit/test_scheduling.py fails if a release
of xdist stops calling it.
"""

from __future__ import annotations

from typing import Any


def one_worker_scheduler(config: Any, log: Any, modules: tuple[str, ...]) -> Any:
    """A LoadGroupScheduling that keeps each of MODULES (paths as in node ids) on one worker."""
    from xdist.scheduler import LoadGroupScheduling

    class OneWorkerModules(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return path if path in modules else str(super()._split_scope(nodeid))

    return OneWorkerModules(config, log)
