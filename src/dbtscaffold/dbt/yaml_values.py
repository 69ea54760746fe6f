"""YAML values as dbt reads them: the one reader of what a dbt project's YAML says.

dbt reads YAML with PyYAML: YAML 1.1 (an unquoted `yes` or `off` is a bool), safe types, and
a duplicate key is an error. Text is read here (`load_yaml_text`, `parse_yaml_text`), and so
is a node of ruamel's round-trip (`as_dbt_reads`): yaml_edit.py reads YAML 1.2 to edit it
byte for byte, which is writing, not reading values. The PyYAML reader itself is
runtime/profiles.py's `load_yaml`, because generated projects run it and import nothing of
dbtscaffold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbtscaffold.errors import UserError

# The booleans of YAML 1.1, which dbt reads YAML in (PyYAML's resolver); YAML 1.2, which
# ruamel reads round-trip, takes them as text unless they are true/false.
_YAML11_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}


def load_yaml_text(text: str) -> Any:
    """TEXT's values as dbt reads them (a yaml.YAMLError when TEXT is not YAML)."""
    from dbtscaffold.runtime.profiles import load_yaml

    return load_yaml(text)


def parse_yaml_text(text: str, path: Path, what: str) -> Any:
    """TEXT's values as dbt reads them; a UserError naming WHAT at PATH when it is not YAML."""
    import yaml

    try:
        return load_yaml_text(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        problem = " ".join(str(problem).split())
        raise UserError(
            f"{what} `{path}` is not valid YAML{where}: {problem}; fix it and retry."
        ) from None


def as_dbt_reads(node: Any) -> Any:
    """A round-trip NODE (ruamel's) as plain dicts, lists and scalars, read the way dbt reads
    YAML: an unquoted YAML 1.1 boolean (`yes`, `off`) is a bool.

    ruamel keeps a quoted scalar as a `str` subclass, so `"yes"` stays the text it is.
    """
    if isinstance(node, dict):
        return {str(k): as_dbt_reads(v) for k, v in node.items()}
    if isinstance(node, list):
        return [as_dbt_reads(v) for v in node]
    if type(node) is str and node in _YAML11_BOOLS:
        return _YAML11_BOOLS[node]
    return str(node) if isinstance(node, str) else node
