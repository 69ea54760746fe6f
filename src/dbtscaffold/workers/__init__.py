"""The scripts of the child processes dbtscaffold starts, and what they share with the CLI.

- materialize.py: `materialize`'s worker (`python -m dbtscaffold.workers.materialize`);
- selection.py: the dbt-style names that worker resolves (pure; the CLI prints with it too);
- load_probe.py: `check`'s load probe, run as `python -c` source; it imports nothing of
  dbtscaffold, so any interpreter with dagster runs it.

Importing this package imports nothing: a worker's start-up pays only for what it uses.
"""
