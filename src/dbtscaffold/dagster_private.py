"""Every use of Dagster's private API (`dagster._...`) in dbtscaffold, in this one module.

`dbtscaffold materialize` runs a selection of assets in its own worker process, the way
`dagster asset materialize` does, and Dagster has no public API for that: reconstructing the
repository from a module (the CLI's code pointer), and executing a run of a reconstructable job
while its events stream. Those internals change between minor releases, so dbtscaffold's
dependencies bound dagster below SUPPORTED_BELOW, and tests/unit/test_dagster_private.py
fails when one of them moves or changes its signature. Everything else uses public API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The first dagster release these internals are not known to work with (pyproject's bound).
SUPPORTED_BELOW = (1, 14)


def load_repository(module: str, working_dir: str) -> tuple[Any, Any]:
    """(repository definition, its origin) of MODULE, as `dagster ... -m MODULE -d DIR`."""
    from dagster._cli.workspace.cli_target import get_repository_python_origin_from_cli_opts
    from dagster._utils.hosted_user_process import recon_repository_from_origin
    from dagster_shared.cli import PythonPointerOpts

    origin = get_repository_python_origin_from_cli_opts(
        PythonPointerOpts(module_name=module, working_directory=working_dir)
    )
    return recon_repository_from_origin(origin).get_definition(), origin


def reconstructable_job(job_name: str, origin: Any) -> tuple[Any, Any]:
    """(the reconstructable job JOB_NAME of the repository at ORIGIN, its load data)."""
    from dagster._core.origin import JobPythonOrigin
    from dagster._utils.hosted_user_process import recon_job_from_origin

    recon_job = recon_job_from_origin(JobPythonOrigin(job_name, repository_origin=origin))
    load_data = recon_job.repository.get_definition().repository_load_data
    return recon_job.with_repository_load_data(load_data), load_data


def execute_run(recon_job: Any, run: Any, instance: Any) -> Iterator[Any]:
    """The events of RUN of RECON_JOB, executed in this process, as they happen."""
    from dagster._core.execution.api import execute_run_iterator

    yield from execute_run_iterator(recon_job, run, instance)
