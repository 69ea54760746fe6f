"""Golden cases: one file per ref-rewrite case, one before/after tree per conversion.

refs/NAME.EXT.case   the input, a line `=== expected ===`, then the expected output;
                     EXT (sql, yml, py) picks the rewriter. Seed `raw_customers` of project
                     `jaffle_shop` becomes source `jaffle_shop`.
projects/CASE/       args.json, before/ (a dbt project `dbt/` and a Dagster project
                     `dagster/`) and after/ (the whole tree after the conversion).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from dbtscaffold.dbt.refs import RefTarget, rewrite_refs

HERE = Path(__file__).parent
MARKER = re.compile(rb"^=== expected ===(\r\n|\r|\n)", re.MULTILINE)
KINDS = {"sql": "sql", "yml": "yaml", "py": "python"}
TARGET = RefTarget(seed="raw_customers", project="jaffle_shop", source="jaffle_shop")


def _ref_cases():
    return sorted(p.name for p in (HERE / "refs").glob("*.case"))


@pytest.mark.parametrize("name", _ref_cases())
def test_ref_case(name, update_golden):
    path = HERE / "refs" / name
    raw = path.read_bytes()
    m = MARKER.search(raw)
    assert m, f"{name}: no `=== expected ===` line"
    before, expected = raw[: m.start()], raw[m.end() :]
    kind = KINDS[name.split(".")[-2]]
    after, _ = rewrite_refs(before.decode("utf-8"), TARGET, kind)
    if update_golden:
        path.write_bytes(raw[: m.end()] + after.encode("utf-8"))
        return
    assert after.encode("utf-8") == expected
    # Idempotent: the expected output is left as it is.
    assert rewrite_refs(after, TARGET, kind)[0] == after


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbtscaffold" not in p.relative_to(root).parts
    }


@pytest.mark.parametrize(
    "case", sorted(p.name for p in (HERE / "projects").iterdir() if p.is_dir())
)
def test_project_case(case, tmp_path, update_golden):
    from dbtscaffold.changes.apply import apply_plan
    from dbtscaffold.convert.planner import plan_convert_seed
    from dbtscaffold.dagster_project.locate import read_dagster_project
    from dbtscaffold.dbt.project import read_dbt_project

    src = HERE / "projects" / case
    args = json.loads((src / "args.json").read_text())
    work = tmp_path / "work"
    shutil.copytree(src / "before", work)
    dbt = read_dbt_project(work / "dbt")
    dagster = read_dagster_project(work / "dagster")
    result = plan_convert_seed(
        dbt,
        dagster,
        args["seeds"],
        source_name=args.get("source_name") or dbt.name,
        delete_csv=args.get("delete_csv", False),
    )
    assert result.notes == args.get("notes", [])
    apply_plan(result.plan, state_dir=dagster.state_dir, command="golden")
    got = _tree(work)
    if update_golden:
        shutil.rmtree(src / "after", ignore_errors=True)
        for rel, data in got.items():
            (src / "after" / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / "after" / rel).write_bytes(data)
        return
    want = _tree(src / "after")
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel].decode() == want[rel].decode(), rel
    # A second plan over the result changes nothing.
    again = plan_convert_seed(
        read_dbt_project(work / "dbt"),
        read_dagster_project(work / "dagster"),
        args["seeds"],
        source_name=args.get("source_name") or dbt.name,
        delete_csv=args.get("delete_csv", False),
    )
    assert again.plan.is_empty
