"""Bad input to init and example: one clear line, exit 1 (2 for usage), no traceback, no change.

init's bad input and the usage errors run in this process (Typer's CliRunner; an exception
fails the test as a traceback would); `example` runs the installed script, as do init's
refusals in test_init.py's test_force_rewrites_only_generated_files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import invoke_ok, run_cli
from tests.helpers.trees import tree_hash

pytestmark = pytest.mark.e2e


def _break(kind: str, dbt: Path, out: Path) -> list[str]:
    """Set up case KIND; return the extra CLI args."""
    if kind == "no-dbt-project-yml":
        (dbt / "dbt_project.yml").unlink()
    elif kind == "malformed-dbt-project-yml":
        (dbt / "dbt_project.yml").write_text("name: [unclosed\n")
    elif kind == "dbt-project-yml-no-name":
        (dbt / "dbt_project.yml").write_text("profile: jaffle_shop\n")
    elif kind == "no-profiles":
        (dbt / "profiles.yml").unlink()
    elif kind == "profile-not-found":
        text = (dbt / "dbt_project.yml").read_text()
        (dbt / "dbt_project.yml").write_text(
            text.replace("profile: 'jaffle_shop'", "profile: 'nope'").replace(
                "profile: jaffle_shop", "profile: nope"
            )
        )
    elif kind == "output-exists":
        (out / "jaffle_shop_dagster").mkdir()
        (out / "jaffle_shop_dagster" / "keep.txt").write_text("x")
    elif kind == "output-not-writable":
        ro = out / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ["--output-dir", str(ro)]
    elif kind == "dbt-dir-missing":
        return ["--dbt-project-dir", str(dbt / "nope")]
    return []


CASES = [
    ("no-dbt-project-yml", [], "No dbt_project.yml in"),
    ("malformed-dbt-project-yml", [], "is not valid YAML"),
    ("dbt-project-yml-no-name", [], "has no `name:`"),
    ("no-profiles", [], "No profiles.yml found"),
    ("profile-not-found", [], "Profile `nope` not found"),
    ("name-1abc", ["--project-name", "1abc"], "`1abc` is not a valid Python identifier"),
    ("name-class", ["--project-name", "class"], "`class` is a Python keyword"),
    ("name-dagster", ["--project-name", "dagster"], "`dagster` would shadow a package"),
    ("name-json", ["--project-name", "json"], "`json` would shadow the standard-library"),
    ("name-path", ["--project-name", "../evil"], "is not a valid Python identifier"),
    ("output-exists", [], "already exists; pass --force"),
    ("output-not-writable", [], "Cannot write to"),
    ("dbt-dir-missing", [], "does not exist"),
]


@pytest.mark.parametrize(("kind", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(kind, args, message, example_project, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    extra = _break(kind, example_project, out)
    argv = ["init", "--dbt-project-dir", example_project, "--output-dir", out, *args]
    # later options win in click, so case-specific ones go last
    argv += extra
    before = (tree_hash(example_project), tree_hash(out))
    try:
        proc = invoke_ok(*argv)
    finally:
        if kind == "output-not-writable":
            (out / "ro").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert (tree_hash(example_project), tree_hash(out)) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "--no-such-flag"],
        ["init", "--output-dir"],
        ["convert-seed"],
        ["dev", "--port", "abc"],
    ],
    ids=["unknown-flag", "missing-value", "missing-argument", "wrong-type"],
)
def test_usage_errors_exit_2(argv, tmp_path):
    before = tree_hash(tmp_path)
    proc = invoke_ok(*argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree_hash(tmp_path) == before


def test_example_refuses_existing_project(tmp_path):
    run_cli("example", tmp_path / "shop", check=0)
    before = tree_hash(tmp_path)
    proc = run_cli("example", tmp_path / "shop")
    assert proc.returncode == 1
    assert "already holds a dbt project" in proc.stderr
    assert tree_hash(tmp_path) == before
