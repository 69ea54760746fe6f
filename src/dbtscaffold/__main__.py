"""`python -m dbtscaffold`: the same CLI as the `dbtscaffold` command."""

from __future__ import annotations

from dbtscaffold.cli import main

main()
