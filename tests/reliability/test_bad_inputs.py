"""Every bad input answered: one clear line, the right exit code, no traceback, no change.

One table, every command. dev, materialize and quickstart run through the installed CLI;
the other commands' cases run in this process (Typer's CliRunner: the same code without a
Python start-up per case; an exception there counts as a traceback). Each case starts from
a fresh copy of the scaffolded example (the dbt project `jaffle_shop` and the Dagster project
`jaffle_shop_dagster` made by `init`), breaks something, runs one command, and records the
exit code, the message line and a hash of the touched trees before and after (printed, and
kept as junit properties). A failing case must:

- exit 1 (2 for usage errors: unknown flag, missing argument, bad option value),
- print exactly one `error:` line (for usage errors, Click's one `Error:` line) and
  nothing else on stderr, unless the case says the error carries details (a load error
  of the user's own code),
- never print a traceback,
- leave every file of both projects and of the output folder as it was, and add no
  journal, backup or temp file.

Cases marked `ok` must succeed, and their own check says what they must have done.
Full disks are real tmpfs mounts filled to the last page, read-only files are real
read-only bind mounts (EROFS even for root) as well as files and folders without write
bits; those cases are skipped, with the reason shown, where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.cli import invoke_ok, run_cli
from tests.helpers.projects import (
    DAGSTER,
    DBT,
    PACKAGE,
    copy_template,
    digest,
    fill_disk,
    journals,
    snapshot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Ctx:
    """Where one case runs: ROOT holds the dbt project, the Dagster project and `out/`."""

    tmp: Path
    root: Path
    mounts: object = None
    keep: list = field(default_factory=list)  # objects that must live while the CLI runs
    env: dict = field(default_factory=dict)

    @property
    def dbt(self) -> Path:
        return self.root / DBT

    @property
    def dagster(self) -> Path:
        return self.root / DAGSTER

    @property
    def package(self) -> Path:
        return self.dagster / PACKAGE

    @property
    def out(self) -> Path:
        return self.root / "out"

    def edit(self, rel: str, old: str, new: str) -> None:
        p = self.root / rel
        text = p.read_text()
        assert old in text, (rel, old)
        p.write_text(text.replace(old, new, 1))


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # `{dbt}`, `{dagster}`, `{out}`, `{root}`, `{port}` are filled in
    code: int  # expected exit code
    message: str  # must appear in the message line (a regex when it starts with `re:`)
    setup: Callable[[Ctx], None] | None = None
    env: tuple[tuple[str, str], ...] = ()
    mount: str | None = None  # "tmpfs": ROOT is a small tmpfs
    # The error line may come after progress lines (quickstart's steps, dev's "Starting")
    # and before the user's own error text (a load error of their definitions).
    details: bool = False
    check: Callable[[Ctx], None] | None = None  # for `ok` cases: what must have happened


CONVERT = ("convert-seed", "raw_customers", "--dbt-project-dir", "{dbt}")
INIT = ("init", "--dbt-project-dir", "{dbt}", "--output-dir", "{out}")
UNDO = ("undo", "--dagster-project-dir", "{dagster}")


# --- set-ups -------------------------------------------------------------------------


def write(rel: str, data: str | bytes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        p = ctx.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def append(rel: str, data: str | bytes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        with open(ctx.root / rel, "ab") as f:
            f.write(data.encode() if isinstance(data, str) else data)

    return setup


def remove(rel: str) -> Callable[[Ctx], None]:
    return lambda ctx: (ctx.root / rel).unlink()


def chain(*steps: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for step in steps:
            step(ctx)

    return setup


def tabs_in_dbt_project(ctx: Ctx) -> None:
    ctx.edit(
        f"{DBT}/dbt_project.yml", "\n  jaffle_shop:\n    staging:", "\n\tjaffle_shop:\n    staging:"
    )


def symlink_out(rel: str, *, dir_: bool) -> Callable[[Ctx], None]:
    """Move ROOT/REL out of both projects (to ROOT/elsewhere/) and leave a symlink to it."""

    def setup(ctx: Ctx) -> None:
        src = ctx.root / rel
        dest = ctx.root / "elsewhere" / src.name
        dest.parent.mkdir(exist_ok=True)
        if src.exists():
            src.rename(dest)
        elif dir_:
            dest.mkdir()
        src.symlink_to(os.path.relpath(dest, src.parent), target_is_directory=dir_)

    return setup


def symlink_in(rel: str, real: str) -> Callable[[Ctx], None]:
    """Move ROOT/REL to ROOT/REAL (inside the same project) and leave a symlink to it."""

    def setup(ctx: Ctx) -> None:
        src, dest = ctx.root / rel, ctx.root / real
        src.rename(dest)
        src.symlink_to(os.path.relpath(dest, src.parent), target_is_directory=True)

    return setup


def no_write_bits(rel: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        p = ctx.root / rel
        p.chmod(p.stat().st_mode & ~0o222)

    return setup


def read_only_mount(rel: str) -> Callable[[Ctx], None]:
    return lambda ctx: ctx.mounts.read_only(ctx.root / rel)


def full_disk(leave_pages: int = 0) -> Callable[[Ctx], None]:
    return lambda ctx: fill_disk(ctx.root.parent / "filler", leave_pages)


def port_in_use(ctx: Ctx) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    ctx.keep.append(s)
    ctx.env["PORT"] = str(s.getsockname()[1])


def free_port(ctx: Ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ctx.env["PORT"] = str(s.getsockname()[1])


def converted(ctx: Ctx) -> None:
    run_cli(*fill(CONVERT, ctx), check=0)


def journal_status(status: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        [j] = (ctx.dagster / ".dbtscaffold" / "backups").glob("*/journal.json")
        data = json.loads(j.read_text())
        data["status"] = status
        j.write_text(json.dumps(data))

    return setup


def corrupt_journal(ctx: Ctx) -> None:
    [j] = (ctx.dagster / ".dbtscaffold" / "backups").glob("*/journal.json")
    j.write_text('{"command": "convert-seed raw_customers", "status": "appl')


def crlf(*rels: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for rel in rels:
            p = ctx.root / rel
            p.write_bytes(p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    return setup


def hostile_dbt_name(ctx: Ctx) -> None:
    ctx.edit(f"{DBT}/dbt_project.yml", "name: jaffle_shop\n", "name: \"x'), y('\"\n")
    # a source by that name already declared with a plain schema, so only the name is bad
    write(
        f"{DBT}/models/sources.yml",
        "version: 2\nsources:\n  - name: \"x'), y('\"\n    schema: main\n    tables: []\n",
    )(ctx)


def source_yaml(body: str) -> Callable[[Ctx], None]:
    return write(f"{DBT}/models/staging/_sources.yml", "version: 2\n\nsources:\n" + body)


# --- checks of `ok` cases -------------------------------------------------------------


def only_crlf(*rels: str) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        for rel in rels:
            data = (ctx.root / rel).read_bytes()
            assert b"\n" in data, rel
            assert data.count(b"\n") == data.count(b"\r\n"), f"{rel} lost its CRLF line endings"

    return check


def converted_through(rel: str) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        sql = (ctx.root / rel).read_text()
        assert "{{ source('jaffle_shop', 'raw_customers') }}" in sql, sql
        assert "select * from {{ ref('raw_customers') }}" not in sql

    return check


def init_wrote(ctx: Ctx) -> None:
    assert (ctx.out / DAGSTER / DAGSTER / "definitions.py").is_file()


def nothing_to_undo(ctx: Ctx) -> None:
    assert journals(ctx.dagster) == {}


# --- the table -----------------------------------------------------------------------

DUP_PROFILE = (
    "jaffle_shop:\n  target: dev\n  target: postgres\n  outputs:\n    dev:\n      type: duckdb\n"
)
SOURCE_OK = "  - name: jaffle_shop\n    schema: main\n    tables:\n      - name: other\n"

CASES = [
    # init ---------------------------------------------------------------------------
    Case(
        "init-no-dbt-project-yml",
        INIT,
        1,
        "No dbt_project.yml in",
        remove(f"{DBT}/dbt_project.yml"),
    ),
    Case(
        "init-broken-dbt-project-yml",
        INIT,
        1,
        "dbt_project.yml `",
        write(f"{DBT}/dbt_project.yml", "name: [jaffle\n"),
    ),
    Case(
        "init-dbt-project-yml-duplicate-key",
        INIT,
        1,
        'found duplicate key "name"',
        append(f"{DBT}/dbt_project.yml", "name: other\n"),
    ),
    Case("init-dbt-project-yml-tabs", INIT, 1, "cannot start any token", tabs_in_dbt_project),
    Case(
        "init-dbt-project-yml-not-utf8",
        INIT,
        1,
        "is not valid UTF-8",
        append(f"{DBT}/dbt_project.yml", b"# caf\xe9\n"),
    ),
    Case(
        "init-dbt-project-yml-is-a-list",
        INIT,
        1,
        "must be a YAML mapping",
        write(f"{DBT}/dbt_project.yml", "- name: x\n"),
    ),
    Case(
        "init-dbt-dir-is-a-file",
        ("init", "--dbt-project-dir", "{dbt}/dbt_project.yml", "--output-dir", "{out}"),
        1,
        "is not a folder",
    ),
    Case(
        "init-dbt-dir-missing",
        ("init", "--dbt-project-dir", "{root}/nope", "--output-dir", "{out}"),
        1,
        "does not exist",
    ),
    Case("init-no-profiles-yml", INIT, 1, "No profiles.yml found", remove(f"{DBT}/profiles.yml")),
    Case(
        "init-broken-profiles-yml",
        INIT,
        1,
        "profiles.yml `",
        write(f"{DBT}/profiles.yml", "jaffle_shop: {target: dev\n"),
    ),
    Case(
        "init-profiles-yml-duplicate-key",
        INIT,
        1,
        'found duplicate key "target"',
        write(f"{DBT}/profiles.yml", DUP_PROFILE),
    ),
    Case(
        "init-profiles-yml-not-utf8",
        INIT,
        1,
        "is not valid UTF-8",
        write(f"{DBT}/profiles.yml", b"jaffle_shop: \xff\xfe\n"),
    ),
    Case(
        "init-profile-missing",
        INIT,
        1,
        "Profile `jaffle_shop` not found",
        write(f"{DBT}/profiles.yml", "other: {}\n"),
    ),
    Case(
        "init-profiles-dir-missing",
        (*INIT, "--profiles-dir", "{root}/nope"),
        1,
        "No profiles.yml in",
    ),
    Case(
        "init-name-path-separator",
        (*INIT, "--project-name", "../evil"),
        1,
        "Project name `../evil` is not a valid Python identifier",
    ),
    Case(
        "init-name-slash",
        (*INIT, "--project-name", "a/b"),
        1,
        "Project name `a/b` is not a valid Python identifier",
    ),
    Case(
        "init-name-quotes",
        (*INIT, "--project-name", "it's\"x"),
        1,
        "is not a valid Python identifier",
    ),
    Case(
        "init-name-space",
        (*INIT, "--project-name", "my project"),
        1,
        "Project name `my project` is not",
    ),
    Case(
        "init-name-shell",
        (*INIT, "--project-name", "$(touch pwned);`id`"),
        1,
        "is not a valid Python identifier",
    ),
    Case("init-name-keyword", (*INIT, "--project-name", "lambda"), 1, "is a Python keyword"),
    Case(
        "init-output-exists",
        INIT,
        1,
        "already exists; pass --force",
        write("out/jaffle_shop_dagster/keep.txt", "mine\n"),
    ),
    Case("init-output-is-a-file", INIT, 1, "is a file", write("out", "")),
    Case(
        "init-output-no-write-bits",
        INIT,
        1,
        "Cannot write to",
        chain(write("out/.keep", ""), no_write_bits("out")),
    ),
    Case(
        "init-output-read-only-mount",
        INIT,
        1,
        "Cannot write to",
        chain(write("out/.keep", ""), read_only_mount("out")),
        mount="tmpfs",
    ),
    Case("init-full-disk", INIT, 1, "No space left on device", full_disk(), mount="tmpfs"),
    Case(
        "init-failing-write",
        INIT,
        1,
        "injected failure",
        env=(("DBTSCAFFOLD_TEST_FAIL_AFTER", "4"),),
    ),
    Case(
        "init-force-over-symlinked-file",
        (*INIT, "--force"),
        1,
        "is a symbolic link",
        chain(
            lambda ctx: run_cli(*fill(INIT, ctx), check=0),
            symlink_out(f"out/{DAGSTER}/{PACKAGE}/assets.py", dir_=False),
            append("elsewhere/assets.py", "# edited, so that --force has something to write\n"),
        ),
    ),
    Case(
        "init-force-over-symlinked-package",
        (*INIT, "--force"),
        1,
        "outside the project",
        chain(
            write(f"out/{DAGSTER}/README.md", "mine\n"),
            symlink_out(f"out/{DAGSTER}/{PACKAGE}", dir_=True),
        ),
    ),
    Case(
        "init-crlf-files",
        INIT,
        0,
        "",
        crlf(f"{DBT}/dbt_project.yml", f"{DBT}/profiles.yml"),
        check=init_wrote,
    ),
    Case("init-unknown-flag", (*INIT, "--bogus"), 2, "No such option: --bogus"),
    Case("init-missing-option-value", ("init", "--output-dir"), 2, "requires an argument"),
    # convert-seed ---------------------------------------------------------------------
    Case(
        "convert-unknown-seed",
        ("convert-seed", "raw_custmers", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed `raw_custmers` not found in `seeds/` (seeds there: `raw_customers`, `raw_orders`, `raw_payments`). Did you mean `raw_customers`?",
    ),
    Case(
        "convert-seed-path",
        ("convert-seed", "seeds/raw_customers", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed name `seeds/raw_customers` is not a plain name",
    ),
    Case(
        "convert-seed-dotdot",
        ("convert-seed", "../raw_customers", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed name `../raw_customers` is not a plain name",
    ),
    Case(
        "convert-seed-csv-suffix",
        ("convert-seed", "raw_customers.csv", "--dbt-project-dir", "{dbt}"),
        1,
        "without folder or `.csv`",
    ),
    Case(
        "convert-seed-quotes",
        ("convert-seed", "raw_'customers\"", "--dbt-project-dir", "{dbt}"),
        1,
        "is not a plain name",
    ),
    Case(
        "convert-seed-space",
        ("convert-seed", "raw customers", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed name `raw customers` is not a plain name",
    ),
    Case(
        "convert-seed-shell",
        ("convert-seed", "$(touch pwned)", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed name `$(touch pwned)` is not a plain name",
    ),
    Case(
        "convert-seed-newline",
        ("convert-seed", "raw\ncustomers", "--dbt-project-dir", "{dbt}"),
        1,
        "Seed name `raw\\ncustomers` is not a plain name",
    ),
    Case(
        "convert-source-name-quotes",
        (*CONVERT, "--source-name", "shop'); drop"),
        1,
        "Source name `shop'); drop` is not a plain name",
    ),
    Case(
        "convert-hostile-dbt-project-name",
        CONVERT,
        1,
        "The dbt project name `x'), y('` is not a plain name, so it cannot be the source's name; pass --source-name.",
        hostile_dbt_name,
    ),
    Case(
        "convert-no-dbt-project-yml",
        CONVERT,
        1,
        "No dbt_project.yml in",
        remove(f"{DBT}/dbt_project.yml"),
    ),
    Case(
        "convert-broken-dbt-project-yml",
        CONVERT,
        1,
        "is not valid YAML",
        append(f"{DBT}/dbt_project.yml", "seeds: [\n"),
    ),
    Case(
        "convert-no-profiles-yml",
        CONVERT,
        1,
        "No profiles.yml found",
        remove(f"{DBT}/profiles.yml"),
    ),
    Case(
        "convert-profiles-yml-duplicate-key",
        CONVERT,
        1,
        'found duplicate key "target"',
        write(f"{DBT}/profiles.yml", DUP_PROFILE),
    ),
    Case(
        "convert-unknown-target",
        CONVERT,
        1,
        "Target `nope` not found",
        env=(("DBT_TARGET", "nope"),),
    ),
    Case(
        "convert-broken-sources-yaml",
        CONVERT,
        1,
        "_sources.yml` is not valid YAML",
        source_yaml(SOURCE_OK + "      - {name: [x\n"),
    ),
    Case(
        "convert-sources-yaml-duplicate-key",
        CONVERT,
        1,
        'found duplicate key "schema"',
        source_yaml(SOURCE_OK + "    schema: other\n"),
    ),
    Case(
        "convert-sources-yaml-tabs",
        CONVERT,
        1,
        "cannot start any token",
        source_yaml(SOURCE_OK + "\t- name: tabbed\n"),
    ),
    Case(
        "convert-sources-yaml-not-utf8",
        CONVERT,
        1,
        "_sources.yml` is not valid UTF-8",
        write(
            f"{DBT}/models/staging/_sources.yml",
            b"version: 2\nsources:\n  - name: jaffle_shop\n    description: caf\xe9\n",
        ),
    ),
    Case(
        "convert-broken-seeds-yaml",
        CONVERT,
        1,
        "_seeds.yml` is not valid YAML",
        append(f"{DBT}/seeds/_seeds.yml", "  - name: [broken\n"),
    ),
    Case(
        "convert-model-not-utf8",
        CONVERT,
        1,
        "models/staging/stg_customers.sql` is not valid UTF-8",
        append(f"{DBT}/models/staging/stg_customers.sql", b"-- caf\xe9\n"),
    ),
    Case(
        "convert-broken-jinja",
        CONVERT,
        1,
        "is not valid Jinja",
        append(f"{DBT}/models/staging/stg_customers.sql", "{{ ref('raw_customers' }}\n"),
    ),
    Case(
        "convert-assets-py-syntax-error",
        CONVERT,
        1,
        "assets.py` is not valid Python",
        append(f"{DAGSTER}/{PACKAGE}/assets.py", "def broken(:\n"),
    ),
    Case(
        "convert-assets-py-missing",
        CONVERT,
        1,
        "is missing; run `dbtscaffold init --force`",
        remove(f"{DAGSTER}/{PACKAGE}/assets.py"),
    ),
    Case(
        "convert-broken-pyproject",
        CONVERT,
        1,
        "pyproject.toml`",
        append(f"{DAGSTER}/pyproject.toml", "[[[\n"),
    ),
    Case(
        "convert-no-dagster-project",
        (
            "convert-seed",
            "raw_customers",
            "--dbt-project-dir",
            "{dbt}",
            "--dagster-project-dir",
            "{root}/nope",
        ),
        1,
        "does not exist",
    ),
    Case(
        "convert-models-symlink-out",
        CONVERT,
        1,
        "outside the project",
        symlink_out(f"{DBT}/models", dir_=True),
    ),
    Case(
        "convert-staging-symlink-out",
        CONVERT,
        1,
        "outside the project",
        symlink_out(f"{DBT}/models/staging", dir_=True),
    ),
    Case(
        "convert-data-symlink-out",
        CONVERT,
        1,
        "outside the project",
        symlink_out(f"{DAGSTER}/data", dir_=True),
    ),
    Case(
        "convert-seed-assets-py-symlink",
        CONVERT,
        1,
        "is a symbolic link",
        symlink_out(f"{DAGSTER}/{PACKAGE}/seed_assets.py", dir_=False),
    ),
    Case(
        "convert-state-dir-symlink-out",
        CONVERT,
        1,
        "outside the project",
        symlink_out(f"{DAGSTER}/.dbtscaffold", dir_=True),
    ),
    Case(
        "convert-models-symlink-inside",
        CONVERT,
        0,
        "",
        symlink_in(f"{DBT}/models", f"{DBT}/real_models"),
        check=converted_through(f"{DBT}/real_models/staging/stg_customers.sql"),
    ),
    Case(
        "convert-staging-symlink-inside",
        CONVERT,
        0,
        "",
        symlink_in(f"{DBT}/models/staging", f"{DBT}/staging_real"),
        check=converted_through(f"{DBT}/staging_real/stg_customers.sql"),
    ),
    Case(
        "convert-read-only-file",
        CONVERT,
        1,
        "stg_customers.sql` is read-only",
        no_write_bits(f"{DBT}/models/staging/stg_customers.sql"),
    ),
    Case(
        "convert-read-only-folder",
        CONVERT,
        1,
        "is read-only",
        no_write_bits(f"{DBT}/models/staging"),
    ),
    Case(
        "convert-read-only-mount", CONVERT, 1, "is read-only", read_only_mount(DBT), mount="tmpfs"
    ),
    Case(
        "convert-full-disk",
        CONVERT,
        1,
        "re:^error: Could not write `.*/\\.dbtscaffold/backups/.*`: No space left on device; nothing",
        full_disk(),
        mount="tmpfs",
    ),
    Case(
        "convert-full-disk-after-backups",
        CONVERT,
        1,
        "re:^error: Could not write `.*/jaffle_shop/.*`: No space left on device; nothing",
        full_disk(leave_pages=5),
        mount="tmpfs",
    ),
    Case(
        "convert-failing-write-staging",
        CONVERT,
        1,
        "injected failure",
        env=(("DBTSCAFFOLD_TEST_FAIL_AFTER", "3"),),
    ),
    Case(
        "convert-failing-write-swapping",
        CONVERT,
        1,
        "injected failure",
        env=(("DBTSCAFFOLD_TEST_FAIL_AFTER", "11"),),
    ),
    Case(
        "convert-interrupted-change-pending",
        ("convert-seed", "raw_orders", "--dbt-project-dir", "{dbt}"),
        1,
        "was interrupted before it finished; run `dbtscaffold undo`",
        chain(converted, journal_status("pending")),
    ),
    Case(
        "convert-crlf-files",
        CONVERT,
        0,
        "",
        crlf(
            f"{DBT}/models/staging/stg_customers.sql",
            f"{DBT}/seeds/_seeds.yml",
            f"{DBT}/dbt_project.yml",
            f"{DAGSTER}/{PACKAGE}/assets.py",
        ),
        check=only_crlf(
            f"{DBT}/models/staging/stg_customers.sql",
            f"{DBT}/seeds/_seeds.yml",
            f"{DAGSTER}/{PACKAGE}/assets.py",
        ),
    ),
    Case("convert-unknown-flag", (*CONVERT, "--bogus"), 2, "No such option: --bogus"),
    Case("convert-missing-seed-argument", ("convert-seed",), 2, "Missing argument"),
    # undo -------------------------------------------------------------------------------
    Case("undo-nothing", UNDO, 0, "Nothing to undo.", check=nothing_to_undo),
    Case(
        "undo-not-a-project",
        ("undo", "--dagster-project-dir", "{dbt}"),
        1,
        "is not a dbtscaffold project",
    ),
    Case("undo-corrupt-journal", UNDO, 1, "journal.json", chain(converted, corrupt_journal)),
    Case(
        "undo-after-edit",
        UNDO,
        1,
        "was edited after `dbtscaffold convert-seed raw_customers`",
        chain(converted, append(f"{DBT}/models/staging/stg_customers.sql", "-- my edit\n")),
    ),
    Case(
        "undo-read-only-dbt-project",
        UNDO,
        1,
        "is read-only",
        chain(converted, no_write_bits(f"{DBT}/seeds")),
    ),
    Case(
        "undo-through-symlink-out",
        UNDO,
        1,
        "outside the project",
        chain(converted, symlink_out(f"{DBT}/models/staging", dir_=True)),
    ),
    Case(
        "undo-read-only-mount",
        UNDO,
        1,
        "is read-only",
        chain(converted, read_only_mount(DBT)),
        mount="tmpfs",
    ),
    # dev ----------------------------------------------------------------------------------
    Case(
        "dev-port-in-use",
        ("dev", "--dagster-project-dir", "{dagster}", "--port", "{port}"),
        1,
        "re:^error: Port \\d+ on 127.0.0.1 is already in use; stop what uses it or pass --port \\d+\\.$",
        port_in_use,
    ),
    Case(
        "dev-host-not-here",
        ("dev", "--dagster-project-dir", "{dagster}", "--host", "203.0.113.7", "--port", "{port}"),
        1,
        "Host `203.0.113.7` is not an address of this machine",
        free_port,
    ),
    Case("dev-port-not-a-number", ("dev", "--port", "http"), 2, "Invalid value for '--port'"),
    Case("dev-port-out-of-range", ("dev", "--port", "70000"), 2, "Invalid value for '--port'"),
    Case("dev-no-project", ("dev", "--dagster-project-dir", "{root}/nope"), 1, "does not exist"),
    Case(
        "dev-relative-dagster-home",
        ("dev", "--dagster-project-dir", "{dagster}", "--port", "{port}"),
        1,
        "DAGSTER_HOME `relative/home` is not an absolute path",
        free_port,
        env=(("DAGSTER_HOME", "relative/home"),),
    ),
    # dev with definitions that do not import keeps the UI up for a fix and a reload
    # (tests/e2e/test_dev.py), so it is not an error that exits.
    # materialize -------------------------------------------------------------------------
    Case(
        "materialize-no-project",
        ("materialize", "--dagster-project-dir", "{dbt}"),
        1,
        "is not a dbtscaffold project",
    ),
    Case(
        "materialize-empty-selection",
        ("materialize", "--dagster-project-dir", "{dagster}", "--select", ""),
        1,
        "--select is empty",
    ),
    Case(
        "materialize-definitions-do-not-import",
        ("materialize", "--dagster-project-dir", "{dagster}"),
        1,
        "The Dagster definitions of `jaffle_shop_dagster` failed to load",
        append(f"{DAGSTER}/{PACKAGE}/definitions.py", "import no_such_module_xyz\n"),
        details=True,
    ),
    # example, quickstart, the app itself ---------------------------------------------------
    Case("example-into-dbt-project", ("example", "{dbt}"), 1, "already holds a dbt project"),
    Case("example-into-a-file", ("example", "{dbt}/dbt_project.yml"), 1, "exists and is not empty"),
    Case(
        "example-into-read-only-folder",
        ("example", "{out}/shop"),
        1,
        "Cannot write to",
        chain(write("out/.keep", ""), no_write_bits("out")),
    ),
    Case(
        "quickstart-other-project-in-the-way",
        ("quickstart", "{out}"),
        1,
        "exists and is not the example dbt project",
        write("out/jaffle_shop/notes.txt", "mine\n"),
        details=True,
    ),
    Case("unknown-command", ("bogus",), 2, "No such command 'bogus'"),
    Case("unknown-global-flag", ("--bogus", "init"), 2, "No such option: --bogus"),
]


def fill(argv: tuple[str, ...], ctx: Ctx) -> list[str]:
    values = {
        "dbt": ctx.dbt,
        "dagster": ctx.dagster,
        "out": ctx.out,
        "root": ctx.root,
        "port": ctx.env.get("PORT", ""),
    }
    return [a.format(**values) for a in argv]


def state_files(root: Path) -> dict[str, str]:
    """Files (not folders) under every .dbtscaffold of ROOT, the lock file left out."""
    full = snapshot(root, state=True)
    return {k: v for k, v in full.items() if "/.dbtscaffold/" in k and v != "dir"}


def message_line(case: Case, stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if case.code == 2:
        # A usage error reads like any other (`error: ...`), then the usage line (when Click
        # knows the command it is about).
        assert len(lines) in (1, 2) and lines[0].startswith("error: "), stderr
        if len(lines) == 2:
            assert lines[1].startswith("usage: dbtscaffold") and lines[1].endswith("for help)")
        return lines[0]
    if case.code == 0:
        return lines[0] if lines else ""
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one error line:\n{stderr}"
    if case.details:
        # dev/materialize: the error line, then the user's own load error.
        progress = lines[: lines.index(errors[0])]
        assert all(not line.startswith(("error", "warning")) for line in progress), stderr
    else:
        assert lines == errors, f"expected only the error line on stderr:\n{stderr}"
    return errors[0]


def processes_in(root: Path) -> list[int]:
    """Living processes whose working directory is inside ROOT (leaks of dev/materialize)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cwd = proc.cwd()
        except (psutil.Error, OSError):
            continue
        if cwd == str(root) or cwd.startswith(str(root) + os.sep):
            found.append(proc.pid)
    return found


# Commands whose cases run in this process (Typer's CliRunner): they start no server and
# import no user code, and the same code runs in a subprocess everywhere else in the suite.
# dev, materialize and quickstart run through the installed script, as before.
IN_PROCESS = frozenset({"init", "convert-seed", "undo", "example", "bogus", "--bogus"})


def run_case(case: Case, argv: list[str], cwd: Path, env: dict[str, str]):
    """ARGV run as CASE says (in process or through the installed CLI), ENV added to ours."""
    if case.argv[0] in IN_PROCESS:
        return invoke_ok(*argv, cwd=cwd, env=env)
    return run_cli(*argv, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, template, tmp_path, request):
    ctx = Ctx(tmp=tmp_path, root=tmp_path / "disk" / "w")
    if case.mount == "tmpfs":
        ctx.mounts = request.getfixturevalue("mounts")
        ctx.mounts.tmpfs(tmp_path / "disk", "4m")
    copy_template(template, ctx.root)
    try:
        if case.setup is not None:
            case.setup(ctx)
        before = snapshot(ctx.root)
        before_state = state_files(ctx.root)
        before_journals = journals(ctx.dagster)
        env = dict(case.env)
        env.update({k: v for k, v in ctx.env.items() if k != "PORT"})
        proc = run_case(case, fill(case.argv, ctx), ctx.root, env)
        after = snapshot(ctx.root)
        after_state = state_files(ctx.root)
        after_journals = journals(ctx.dagster)
        leftovers = list(ctx.root.rglob("*.dbtscaffold-*.tmp"))
        pwned = list(ctx.root.rglob("pwned"))
        if case.code == 0 and case.check is not None:
            case.check(ctx)
    finally:
        for obj in ctx.keep:
            obj.close()
        if ctx.mounts is not None:
            ctx.mounts.undo()
        for p in [ctx.root, *ctx.root.rglob("*")]:  # let pytest clean up read-only parts
            if p.is_dir() and not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o700)

    line = message_line(case, proc.stderr)
    record = {
        "case": case.id,
        "exit": proc.returncode,
        "message": line,
        "tree_before": digest(before),
        "tree_after": digest(after),
    }
    for key, value in record.items():
        request.node.user_properties.append((key, value))
    print(json.dumps(record))

    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert len(line) < 500, f"not a clear line: {len(line)} characters"
    assert proc.returncode == case.code, f"exit {proc.returncode}\n--- stderr\n{proc.stderr}"
    if case.message.startswith("re:"):
        assert re.search(case.message[3:], line), line
    else:
        assert case.message in line, line
    assert not pwned and not (tmp_path / "pwned").exists()
    assert not processes_in(ctx.root), "processes left running in the project"
    assert not leftovers, f"temp files left behind: {leftovers}"
    if case.code == 0:
        assert case.check is not None  # and it ran, above, while the tree was there
        return
    assert after == before, _tree_diff(before, after)
    assert after_state == before_state, "a failed command left journal or backup files"
    assert after_journals == before_journals


def _tree_diff(before: dict[str, str], after: dict[str, str]) -> str:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "the tree changed: " + ", ".join(
        f"{k} ({'added' if k not in before else 'removed' if k not in after else 'changed'})"
        for k in changed
    )


def test_the_table_is_big_enough():
    failing = [c for c in CASES if c.code != 0]
    commands = {c.argv[0] for c in CASES}
    assert len(CASES) >= 30 and len(failing) >= 30
    assert {
        "init",
        "convert-seed",
        "undo",
        "dev",
        "materialize",
        "example",
        "quickstart",
    } <= commands
