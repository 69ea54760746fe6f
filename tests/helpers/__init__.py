"""What the tests share, in one place (STYLE.md section 9): a test module imports from here,
never from another test module.

- `cli`: the installed CLI and the tools of this venv, run in a subprocess by one runner
  (`run`), or in-process with Typer's CliRunner (`invoke`); the example and its environment.
- `ports`: a free loopback port.
- `trees`: one tree hash (every file's sha256) to say "nothing changed".
- `dev`: `dbtscaffold dev` in its own session, its GraphQL, the processes it leaves.
- `example`: what the bundled example builds (row counts), read back from DuckDB.
- `postgres`, `spark`: a throwaway PostgreSQL server and Spark cluster, and their fixtures
  (also run as programs by .ci/services: `python -m tests.helpers.postgres start`).
- `loads`: the project and scripts of the concurrent-load tests (DuckDB, PostgreSQL, Spark).
- `seed_matrix`: a dbt project with every seed CSV of the example and of the fixtures.
- `readme`: the READMEs' command blocks, their runner, and the checkout with the README's venv
  (one per run, shared by the xdist workers).
"""
