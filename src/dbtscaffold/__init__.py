"""dbtscaffold: put a dbt project under Dagster in one step."""

from __future__ import annotations

# One version for the tool and the runtime copy it writes into generated projects.
from dbtscaffold.runtime import __version__

__all__ = ["__version__"]
