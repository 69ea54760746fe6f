"""`pytest tests/golden --update-golden` (or DBTSCAFFOLD_UPDATE_GOLDEN=1) rewrites the expected files."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the expected side of every golden case from the current output.",
    )


@pytest.fixture
def update_golden(request) -> bool:
    try:
        flag = bool(request.config.getoption("--update-golden"))
    except ValueError:  # the option is registered only when tests/golden is given directly
        flag = False
    return flag or os.environ.get("DBTSCAFFOLD_UPDATE_GOLDEN") == "1"
