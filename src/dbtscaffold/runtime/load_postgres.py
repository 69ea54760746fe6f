"""PostgreSQL's own loader for `load_csv` (loaders.py), faster than dbt's seed loading: init
copies it into a project whose dbt profile names a postgres target."""

import csv
import io
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .loaders import Seed, WarehouseError, quote, read_csv_like_dbt_seed

_COLUMNS = (
    "select attname, format_type(atttypid, atttypmod) from pg_attribute "
    "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum"
)
LOCKS_IN_SERVER = True  # load_csv takes no lock of its own on this machine: see load()


def _connect(config: Mapping[str, Any]) -> Any:
    """A psycopg2 connection to a dbt-postgres target's server, opened by dbt-postgres."""
    from dbt.adapters.contracts.connection import Connection
    from dbt.adapters.exceptions import FailedToConnectError
    from dbt.adapters.postgres import PostgresConnectionManager, PostgresCredentials

    creds = PostgresCredentials.from_dict(config)
    try:
        connection = Connection("postgres", "dbtscaffold", creds)
        return PostgresConnectionManager.open(connection).handle  # type: ignore[no-untyped-call]
    except FailedToConnectError as e:
        raise WarehouseError(
            f"cannot connect to PostgreSQL at {creds.host}:{creds.port} (dbt target "
            f"{config['_target']!r}): {e.msg.strip().splitlines()[0]}; start the server or fix "
            "the target in profiles.yml"
        ) from None


def load(config: Mapping[str, Any], project_dir: Path, seed: Seed) -> int:
    """Replace the seed's table with the rows of its CSV, in one transaction; the row count."""
    from dbt.adapters.postgres import PostgresAdapter

    names, types, rows = read_csv_like_dbt_seed(seed, PostgresAdapter)
    if seed.quote_columns is False:  # what PostgreSQL makes of an unquoted name: A-Z folded
        names = [re.sub("[A-Z]+", lambda m: m.group(0).lower(), n) for n in names]
    data = io.StringIO()
    csv.writer(data, lineterminator="\n").writerows(
        ["" if v is None else v for v in r] for r in rows
    )
    data.seek(0)
    schema, table, staging = seed.schema, seed.table, f"{seed.table[:40]}__dbtscaffold_load"
    relation, staged = f"{quote(schema)}.{quote(table)}", f"{quote(schema)}.{quote(staging)}"
    columns = ", ".join(f"{quote(n)} {t}" for n, t in zip(names, types))
    con = _connect(config)
    try:
        # `create schema if not exists` fails when two sessions create one at once: under an
        # advisory lock, committed before the load starts.
        with con, con.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"dbtscaffold {schema}",))
            cur.execute(f"create schema if not exists {quote(schema)}")
        # One transaction (two loads of a table wait for each other): readers see the old rows
        # until the commit, then all the new ones; a failure changes nothing.
        with con, con.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.{table}",))
            cur.execute(f"drop table if exists {staged}; create table {staged} ({columns})")
            cur.copy_expert(f"copy {staged} from stdin with (format csv)", data)
            cur.execute(_COLUMNS, (relation,))
            old = cur.fetchall()
            cur.execute(_COLUMNS, (staged,))
            if old and old == cur.fetchall():  # the same table: the views dbt built stay valid
                cur.execute(f"truncate {relation}; insert into {relation} select * from {staged}")
                cur.execute(f"drop table {staged}")
            else:
                if old:
                    logging.getLogger(__name__).warning(
                        "The columns of %s changed: dropping it and the views built on it (the "
                        "dbt run downstream builds them again).",
                        relation,
                    )
                    cur.execute(f"drop table {relation} cascade")
                cur.execute(f"alter table {staged} rename to {quote(table)}")
            cur.execute(f"select count(*) from {relation}")
            return int(cur.fetchone()[0])
    finally:
        con.close()
