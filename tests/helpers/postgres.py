"""A throwaway PostgreSQL server on loopback for the tests, and the pytest fixtures that use it.

CI sources `.ci/services`, which runs `python -m tests.helpers.postgres start` and exports
the connection as DBTSCAFFOLD_TEST_PG_* variables. Without them (a developer running pytest
directly), the `pg_server` fixture starts its own server the same way, as long as PostgreSQL's
binaries are installed (Debian: `apt-get install postgresql`); only then do the tests skip.

    eval "$(python -m tests.helpers.postgres start)"   # start one and export its variables
    python -m tests.helpers.postgres stop              # stop it (reads DBTSCAFFOLD_TEST_PG_DIR)

This module uses only the standard library, so it runs before anything else is installed.
The fixtures import psycopg2 (a test dependency) when they run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.ports import free_port

ENV_PREFIX = "DBTSCAFFOLD_TEST_PG_"
USER = "dbtscaffold"
PASSWORD = "dbtscaffold-test"
DBNAME = "dbtscaffold"
# Settings that make a test server fast: nothing here needs to survive a crash.
FAST_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=100 -c shared_buffers=32MB"
)


class ServerError(RuntimeError):
    """The server could not be started (the message says why)."""


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    dir: str = ""  # the temp folder we started it in; empty for a server someone else runs

    def env(self) -> dict[str, str]:
        """The DBTSCAFFOLD_TEST_PG_* variables that describe this server."""
        out = {
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            "DBNAME": self.dbname,
        }
        if self.dir:
            out["DIR"] = self.dir
        return {ENV_PREFIX + k: v for k, v in out.items()}

    def dsn(self, dbname: str | None = None) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
            "connect_timeout": 10,
        }


def from_env(environ: dict[str, str] | None = None) -> PgServer | None:
    """The server described by DBTSCAFFOLD_TEST_PG_* variables, or None if they are unset."""
    env = os.environ if environ is None else environ
    if not env.get(ENV_PREFIX + "HOST"):
        return None
    return PgServer(
        host=env[ENV_PREFIX + "HOST"],
        port=int(env.get(ENV_PREFIX + "PORT") or 5432),
        user=env.get(ENV_PREFIX + "USER") or "postgres",
        password=env.get(ENV_PREFIX + "PASSWORD", ""),
        dbname=env.get(ENV_PREFIX + "DBNAME") or "postgres",
        dir=env.get(ENV_PREFIX + "DIR", ""),
    )


def is_listening(host: str, port: int, timeout: float = 2.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: PG_BINDIR, Debian's newest, or the PATH."""
    override = os.environ.get("PG_BINDIR")
    if override:  # exactly this one
        ok = (Path(override) / "initdb").is_file() and (Path(override) / "pg_ctl").is_file()
        return Path(override) if ok else None
    candidates: list[Path] = []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if (p / "bin" / "initdb").is_file()]
        versions.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")])
        candidates += [p / "bin" for p in reversed(versions)]
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).resolve().parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _run_as() -> str | None:
    """The OS user to run the server as: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerError("running as root and there is neither a `postgres` nor a `nobody` user")


def _run(cmd: list[str], *, user: str | None, cwd: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        user=user,
        env=dict(os.environ, LC_ALL="C", **(env or {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # Ctrl-C in the terminal must not reach the server
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        what = " ".join(cmd[:2])
        raise ServerError(f"`{what}` failed (exit {proc.returncode}): {' / '.join(tail)}")


def start(bindir: Path | None = None) -> PgServer:
    """initdb in a new temp folder, start on a free 127.0.0.1 port, create the test database."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise ServerError(
            "PostgreSQL is not installed (no initdb/pg_ctl found; "
            "Debian: apt-get install postgresql)"
        )
    user = _run_as()
    base = tempfile.mkdtemp(prefix="dbtscaffold-pg-")
    try:
        os.chmod(base, 0o700)
        if user:
            pw = pwd.getpwnam(user)
            os.chown(base, pw.pw_uid, pw.pw_gid)
        pwfile = Path(base, "pwfile")
        pwfile.write_text(PASSWORD + "\n")
        if user:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        data = os.path.join(base, "data")
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                data,
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            cwd=base,
        )
        pwfile.unlink()
        last_error: ServerError | None = None
        for _ in range(5):  # another process may grab the free port before the server binds it
            port = free_port()
            opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {FAST_SETTINGS}"
            try:
                _run(
                    [
                        str(bindir / "pg_ctl"),
                        "start",
                        "-D",
                        data,
                        "-l",
                        os.path.join(base, "log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        opts,
                    ],
                    user=user,
                    cwd=base,
                )
            except ServerError as e:
                last_error = e
                continue
            server = PgServer("127.0.0.1", port, USER, PASSWORD, DBNAME, base)
            createdb = bindir / "createdb"
            _run(
                [str(createdb), "-h", base, "-p", str(port), "-U", USER, DBNAME],
                user=user,
                cwd=base,
            )
            return server
        raise last_error or ServerError("the server did not start")
    except BaseException:
        _stop_dir(base, bindir)
        raise


def _stop_dir(base: str, bindir: Path | None = None) -> None:
    data = os.path.join(base, "data")
    bindir = bindir or find_bindir()
    if bindir is not None and os.path.isfile(os.path.join(data, "postmaster.pid")):
        with contextlib.suppress(ServerError, subprocess.TimeoutExpired):
            _run(
                [str(bindir / "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w", "-t", "30"],
                user=_run_as(),
                cwd=base,
            )
    shutil.rmtree(base, ignore_errors=True)


def stop(server: PgServer) -> None:
    """Stop a server that `start` started and delete its folder (no-op for other servers)."""
    if server.dir and Path(server.dir, "data").is_dir():
        _stop_dir(server.dir)


# --- pytest fixtures (tests/conftest.py imports them for every test) ----------------------------

try:
    import pytest
except ImportError:  # `python -m tests.helpers.postgres start` runs before the test packages exist
    pytest = None

_counter = itertools.count()

if pytest is not None:

    @pytest.fixture(scope="session")
    def pg_server():
        """The PostgreSQL server for this test session: CI's, else one we start and stop."""
        server = from_env()
        started = False
        if server is not None:
            if not is_listening(server.host, server.port):
                pytest.fail(
                    f"{ENV_PREFIX}HOST/PORT name {server.host}:{server.port}, but nothing answers "
                    "there; start that server or unset the variables."
                )
        else:
            try:
                server = start()
                started = True
            except (ServerError, OSError, subprocess.SubprocessError) as e:
                reason = f"cannot start a PostgreSQL server: {e}"
                if os.environ.get("CI"):
                    pytest.fail(f"{reason} (CI must run the PostgreSQL tests; see .ci/services)")
                pytest.skip(reason)
        try:
            yield server
        finally:
            if started:
                stop(server)

    @pytest.fixture
    def pg_database(pg_server, monkeypatch):
        """A fresh, empty database on the server, named in the example's JAFFLE_SHOP_PG_* vars."""
        import psycopg2

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"t_{worker}_{os.getpid()}_{next(_counter)}"
        admin = psycopg2.connect(**pg_server.dsn())
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            db = PgServer(pg_server.host, pg_server.port, pg_server.user, pg_server.password, name)
            for key, value in example_profile_env(db).items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("DBT_TARGET", raising=False)
            yield db
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.close()


def example_profile_env(db: PgServer) -> dict[str, str]:
    """The variables the example's `postgres` target reads, pointing at DB."""
    return {
        "JAFFLE_SHOP_PG_HOST": db.host,
        "JAFFLE_SHOP_PG_PORT": str(db.port),
        "JAFFLE_SHOP_PG_USER": db.user,
        "JAFFLE_SHOP_PG_PASSWORD": db.password,
        "JAFFLE_SHOP_PG_DBNAME": db.dbname,
    }


# --- reading tables back (the tests' queries) ----------------------------------------------

SCHEMA = "jaffle_shop"  # the example's schema on its `postgres` target
MODEL_ROWS = {
    "customers": 100,
    "orders": 99,
    "stg_customers": 100,
    "stg_orders": 99,
    "stg_payments": 113,
}
PG = {"DBT_TARGET": "postgres"}  # the example's `postgres` target


def query(db: PgServer, sql_text: str, params=()):
    """The rows SQL_TEXT returns on DB."""
    import psycopg2

    con = psycopg2.connect(**db.dsn())
    try:
        with con.cursor() as cur:
            cur.execute(sql_text, params)
            return cur.fetchall()
    finally:
        con.close()


def pg_counts(db: PgServer, tables, schema: str = SCHEMA) -> dict[str, int]:
    """Row counts read back from the server."""
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(**db.dsn()) as con, con.cursor() as cur:
        out = {}
        for t in tables:
            relation = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(t))
            cur.execute(sql.SQL("select count(*) from {}").format(relation))
            out[t] = cur.fetchone()[0]
    con.close()
    return out


def column_types(db: PgServer, table: str, schema: str = SCHEMA) -> list[tuple[str, str]]:
    """[(column, data type)] of SCHEMA.TABLE, in order."""
    return query(
        db,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    )


def table_digest(db: PgServer, table: str, schema: str = SCHEMA) -> str:
    """A hash of every row of SCHEMA.TABLE, in a stable order."""
    [(digest,)] = query(
        db, f'select md5(string_agg(t::text, chr(10) order by t::text)) from "{schema}"."{table}" t'
    )
    return digest


# --- command line (used by .ci/services) --------------------------------------------------------


def _main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "start"
    if cmd == "start":
        existing = from_env()
        if existing is not None and is_listening(existing.host, existing.port):
            server = existing  # idempotent: the server from an earlier start is still up
        else:
            try:
                t0 = time.monotonic()
                server = start()
            except ServerError as e:
                print(f"postgres_server: cannot start PostgreSQL: {e}", file=sys.stderr)
                return 1
            print(
                f"postgres_server: PostgreSQL on {server.host}:{server.port} "
                f"({time.monotonic() - t0:.1f}s, folder {server.dir})",
                file=sys.stderr,
            )
        for key, value in server.env().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if cmd == "stop":
        server = from_env()
        base = argv[1] if len(argv) > 1 else (server.dir if server else "")
        if not base:
            print(f"postgres_server: nothing to stop ({ENV_PREFIX}DIR is unset)", file=sys.stderr)
            return 0
        _stop_dir(base)
        for key in PgServer("", 0, "", "", "", "x").env():
            print(f"unset {key}")
        return 0
    print("usage: python -m tests.helpers.postgres start|stop [DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
