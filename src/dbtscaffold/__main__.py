from __future__ import annotations

from dbtscaffold.cli import main

main()
