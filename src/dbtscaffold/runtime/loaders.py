"""Load a CSV into the warehouse of the dbt target, as `dbt seed` would have.

`load_csv(project, csv_path, schema=..., table=...)` reads the connection of the dbt target
dbt itself would use (DBT_TARGET, else the profile's `target:`) from the profiles.yml of
PROJECT (a dagster_dbt.DbtProject) when the asset runs, and loads the CSV into SCHEMA.TABLE:

- on every dbt adapter, through dbt's own seed loading (`load_csv_with_dbt`): `dbt seed` of
  that one CSV, in a throwaway dbt project whose only seed has the relation and the config
  (column_types, delimiter, quote_columns) of the seed it replaces. So the adapter's own
  type conversion, quoting, batching and table creation apply, whatever the warehouse;
- on DuckDB and PostgreSQL, by default, through a loader of their own (FAST_LOADERS): the
  same table in a fraction of the time (bench/RESULTS.md), in one transaction. Set
  DBTSCAFFOLD_SEED_LOADER=dbt to use dbt's seed loading there too.

Loads that run at the same time wait for each other where they would collide: two loads
into one schema (creating it), or into one DuckDB file (one writer process at a time).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .profiles import ProfileError, target_config

LOADER_ENV = "DBTSCAFFOLD_SEED_LOADER"  # "dbt": dbt's seed loading on every adapter

# Adapter types whose PyPI package is not `dbt-<type>`.
ADAPTER_PACKAGE_EXCEPTIONS = {
    "athena": "dbt-athena-community",
    "layer": "dbt-layer-bigquery",
    "synapse": "dbt-synapse",
    "glue": "dbt-glue",
    "ibmdb2": "dbt-ibmdb2",
    "watsonx_presto": "dbt-watsonx-presto",
    "watsonx_spark": "dbt-watsonx-spark",
}


def adapter_package(target_type: str) -> str:
    """The PyPI package that provides a dbt adapter type."""
    t = target_type.strip().lower()
    return ADAPTER_PACKAGE_EXCEPTIONS.get(t, "dbt-" + t.replace("_", "-"))


class WarehouseError(RuntimeError):
    """The dbt target cannot be loaded into (the message says why)."""


# --- DuckDB ---------------------------------------------------------------


def duckdb_database(config: Mapping[str, Any], project_dir: Path) -> str:
    """The database file of a dbt-duckdb target: a relative `path` is relative to the dbt
    project folder, which is where dbt runs when Dagster runs it."""
    path = str(config.get("path") or ":memory:")
    if path == ":memory:":
        raise WarehouseError(
            f"dbt target {config.get('_target')!r} uses an in-memory DuckDB database, which "
            "Dagster cannot share with dbt; set `path:` to a file in profiles.yml"
        )
    if ":" in path.split("/", 1)[0] and not Path(path).drive:  # md:, s3://, ...
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(project_dir) / p)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_csv_like_dbt_seed(
    csv_path: Path, column_types: Mapping[str, str], delimiter: str, adapter_type: str
) -> tuple[list[str], list[str], Any]:
    """(column names, column types, rows) as `dbt seed` reads and types the CSV.

    The CSV is read with dbt's own agate reader and typed by the adapter's own
    convert_agate_type, so the table matches what `dbt seed` would have built (INTEGER,
    not BIGINT; `column_types` win and their columns are read as text, as in dbt).
    """
    from dbt_common.clients.agate_helper import from_csv

    if adapter_type == "duckdb":
        from dbt.adapters.duckdb import DuckDBAdapter as adapter
    else:
        from dbt.adapters.postgres import PostgresAdapter as adapter

    table = from_csv(str(csv_path), text_columns=list(column_types), delimiter=delimiter)
    names = list(table.column_names)
    types = [
        column_types.get(name) or adapter.convert_agate_type(table, i)
        for i, name in enumerate(names)
    ]
    return names, types, table.rows


def _load_csv_duckdb(
    config: Mapping[str, Any],
    project_dir: Path,
    csv_path: Path,
    *,
    schema: str,
    table: str,
    column_types: Mapping[str, str],
    delimiter: str,
    quote_columns: bool | None = None,
) -> int:
    # DuckDB keeps the case of a name, quoted or not, and matches names case-insensitively:
    # quoting changes nothing here.
    del quote_columns
    names, types, _ = read_csv_like_dbt_seed(csv_path, column_types, delimiter, "duckdb")
    # dagster-duckdb's resource retries while another process holds the file's lock.
    from dagster_duckdb import DuckDBResource

    resource = DuckDBResource(database=duckdb_database(config, project_dir))
    with resource.get_connection() as con:
        # Qualify with the catalog: a schema named like the database file is ambiguous.
        catalog = con.execute("select current_database()").fetchall()[0][0]
        qualified_schema = f"{_quote(catalog)}.{_quote(schema)}"
        relation = f"{qualified_schema}.{_quote(table)}"
        columns = ", ".join(f"{_quote(n)} {t}" for n, t in zip(names, types))
        # One transaction: readers see the old table or the new one, never a half-load.
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {qualified_schema}")
            con.execute(f"create or replace table {relation} ({columns})")
            # The rows as dbt-duckdb's seed loads them (its default `fast` path): DuckDB's
            # own CSV reader into the agate-typed table, so `null` stays text, as in dbt.
            con.execute(
                f"copy {relation} from {_literal(str(csv_path))} "
                f"(format csv, header true, delimiter {_literal(delimiter)})"
            )
            count = con.execute(f"select count(*) from {relation}").fetchall()[0][0]
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return int(count)


# --- PostgreSQL -----------------------------------------------------------

# dbt-postgres profile fields -> libpq connection keywords.
_PG_CONNECT_KEYS = {
    "host": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "pass": "password",
    "dbname": "dbname",
    "database": "dbname",
    "connect_timeout": "connect_timeout",
    "sslmode": "sslmode",
    "sslcert": "sslcert",
    "sslkey": "sslkey",
    "sslrootcert": "sslrootcert",
    "keepalives_idle": "keepalives_idle",
}


def postgres_connection(config: Mapping[str, Any]):  # -> psycopg2 connection
    """A connection to the server of a dbt-postgres target (a WarehouseError if it is down)."""
    import psycopg2

    kwargs: dict[str, Any] = {"connect_timeout": 10, "application_name": "dbtscaffold"}
    for key, arg in _PG_CONNECT_KEYS.items():
        if config.get(key) not in (None, ""):
            kwargs[arg] = config[key]
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 5432)
    try:
        con = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as e:
        lines = str(e).strip().splitlines()
        reason = lines[0].strip() if lines else type(e).__name__
        raise WarehouseError(
            f"cannot connect to PostgreSQL at {host}:{port} (dbt target "
            f"{config.get('_target')!r}): {reason}; start the server or fix the target in "
            "profiles.yml"
        ) from None
    if config.get("role"):
        from psycopg2 import sql

        with con.cursor() as cur:
            cur.execute(sql.SQL("set role {}").format(sql.Identifier(str(config["role"]))))
    return con


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _pg_columns(cur, schema: str, table: str) -> list[tuple[str, str]]:
    cur.execute(
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s)) "
        "and attnum > 0 and not attisdropped order by attnum",
        (schema, table),
    )
    return cur.fetchall()


def _pg_dependent_views(cur, schema: str, table: str) -> list[str]:
    cur.execute(
        "select distinct v.oid::regclass::text from pg_depend d "
        "join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class "
        "where d.refobjid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s)) "
        "and v.oid <> d.refobjid order by 1",
        (schema, table),
    )
    return [r[0] for r in cur.fetchall()]


def _pg_create_schema(con, schema: str) -> None:
    """Create SCHEMA if it is missing, safely against loads doing the same at once.

    `create schema if not exists` is not: two sessions both find no schema, and the second
    fails on pg_namespace's unique index. So it runs under a transaction-level advisory lock
    on the schema's name, in a transaction of its own (committed before the load starts).
    """
    from psycopg2 import sql

    with con, con.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"dbtscaffold schema {schema}",))
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))


def _load_csv_postgres(
    config: Mapping[str, Any],
    project_dir: Path,
    csv_path: Path,
    *,
    schema: str,
    table: str,
    column_types: Mapping[str, str],
    delimiter: str,
    quote_columns: bool | None = None,
) -> int:
    import csv
    import io
    import logging

    from psycopg2 import sql

    names, types, rows = read_csv_like_dbt_seed(csv_path, column_types, delimiter, "postgres")
    if quote_columns is False:
        # What PostgreSQL makes of an unquoted name: A-Z folded, other letters kept as they are.
        names = [n.translate(_ASCII_LOWER) for n in names]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])  # unquoted empty = NULL
    buf.seek(0)
    ident = sql.Identifier
    relation = sql.SQL("{}.{}").format(ident(schema), ident(table))
    staging_name = f"{table[:40]}__dbtscaffold_load"
    staging = sql.SQL("{}.{}").format(ident(schema), ident(staging_name))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(ident(n), sql.SQL(t)) for n, t in zip(names, types)
    )
    con = postgres_connection(config)
    try:
        _pg_create_schema(con, schema)
        # One transaction: readers see the old rows until the commit, then all the new ones;
        # the table is never missing nor half-loaded, and a failure changes nothing.
        with con, con.cursor() as cur:
            # Two loads of the same table wait for each other.
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.{table}",))
            cur.execute(sql.SQL("drop table if exists {}").format(staging))
            cur.execute(sql.SQL("create table {} ({})").format(staging, columns))
            cur.copy_expert(
                sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                    staging, sql.SQL(", ").join(ident(n) for n in names)
                ),
                buf,
            )
            old = _pg_columns(cur, schema, table)
            if old and old == _pg_columns(cur, schema, staging_name):
                # Same columns: keep the table, so the views dbt built on it stay valid.
                cur.execute(sql.SQL("truncate {}").format(relation))
                cur.execute(sql.SQL("insert into {} select * from {}").format(relation, staging))
                cur.execute(sql.SQL("drop table {}").format(staging))
            else:
                if old:
                    views = _pg_dependent_views(cur, schema, table)
                    if views:
                        logging.getLogger(__name__).warning(
                            "The columns of %s.%s changed: dropping the views built on it "
                            "(%s); the dbt run downstream builds them again.",
                            schema,
                            table,
                            ", ".join(views),
                        )
                    cur.execute(sql.SQL("drop table {} cascade").format(relation))
                cur.execute(sql.SQL("alter table {} rename to {}").format(staging, ident(table)))
            cur.execute(sql.SQL("select count(*) from {}").format(relation))
            return int(cur.fetchone()[0])
    finally:
        con.close()


# --- Loads that would collide wait for each other -----------------------------------------


@contextlib.contextmanager
def _load_lock(config: Mapping[str, Any], project_dir: Path, schema: str) -> Iterator[None]:
    """Hold, on this machine, the lock of what a load writes: the DuckDB file (one writer
    process at a time), else the warehouse's schema (creating a schema is not safe against a
    concurrent twin on every warehouse; PostgreSQL's loader also locks in the server).

    A flock() in the temp folder: Dagster runs a run's steps on one machine, and the kernel
    drops the lock of a process that dies. Waits DBTSCAFFOLD_LOCK_TIMEOUT seconds (600 by
    default) at most, then says which process holds it.
    """
    from .locks import LockBusyError, acquire, lock_timeout, unlock

    kind = str(config.get("type"))
    if kind == "duckdb":
        what = f"the DuckDB file {duckdb_database(config, project_dir)}"
        key = what
    else:
        what = f"schema {schema} of {kind} target {config.get('_target')!r}"
        place = ("host", "port", "account", "project", "dbname", "database", "catalog", "path")
        key = json.dumps([kind, *(str(config.get(k)) for k in place), schema])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    path = Path(tempfile.gettempdir()) / "dbtscaffold-locks" / f"load-{digest}.lock"
    wait = lock_timeout(600.0)
    try:
        fd = acquire(path, exclusive=True, timeout=wait)
    except LockBusyError as e:
        raise WarehouseError(
            f"another load into {what} did not finish within {wait:.0f} s ({e}); wait for it "
            f"or raise DBTSCAFFOLD_LOCK_TIMEOUT"
        ) from None
    try:
        yield
    finally:
        unlock(fd)


LoadCsv = Callable[..., int]

# Adapter type (profiles.yml `type:`) -> its own loader, used instead of dbt's seed loading
# because it is measurably faster and builds the same table (tests/e2e/test_seed_columns.py).
FAST_LOADERS: dict[str, LoadCsv] = {
    "duckdb": _load_csv_duckdb,
    "postgres": _load_csv_postgres,
}


def adapter_installed(kind: str) -> bool:
    """Whether the dbt adapter of type KIND is importable here (without importing it)."""
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(f"dbt.adapters.{kind}") is not None
    return False


def load_csv(
    project: Any,
    csv_path: Path | str,
    *,
    schema: str,
    table: str,
    column_types: Mapping[str, str] | None = None,
    delimiter: str = ",",
    quote_columns: bool | None = None,
    target: str | None = None,
) -> int:
    """Replace SCHEMA.TABLE in the warehouse of PROJECT's dbt target with CSV_PATH.

    PROJECT is a dagster_dbt.DbtProject; returns the number of rows loaded.
    """
    try:
        config = target_config(project.project_dir, project.profiles_dir, target or project.target)
    except ProfileError as e:
        raise WarehouseError(str(e)) from e
    kind = str(config.get("type")).strip().lower()
    if not kind or not adapter_installed(kind):
        raise WarehouseError(
            f"dbt target {config['_target']!r} is of type {kind!r}, and its dbt adapter is not "
            f"installed: pip install {adapter_package(kind) if kind else 'dbt-<adapter>'}"
        )
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise WarehouseError(f"{csv_path} does not exist; put the data there or edit this loader")
    how = os.environ.get(LOADER_ENV, "").strip().lower()
    if how not in ("", "auto", "dbt"):
        raise WarehouseError(f"{LOADER_ENV}={how!r}: use `dbt` (dbt's seed loading) or unset it")
    fast = FAST_LOADERS.get(kind) if how != "dbt" else None
    options = {
        "schema": schema,
        "table": table,
        "column_types": dict(column_types or {}),
        "delimiter": delimiter,
        "quote_columns": quote_columns,
    }
    project_dir = Path(project.project_dir)
    if fast is _load_csv_postgres:  # it locks in the server, across machines
        return fast(config, project_dir, csv_path, **options)
    with _load_lock(config, project_dir, schema):
        if fast is not None:
            return fast(config, project_dir, csv_path, **options)
        from .dbt_seed import SeedLoadError, load_csv_with_dbt

        try:
            return load_csv_with_dbt(
                config, project_dir, Path(project.profiles_dir), csv_path, **options
            )
        except SeedLoadError as e:
            raise WarehouseError(str(e)) from None
