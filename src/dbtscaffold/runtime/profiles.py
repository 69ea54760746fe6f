"""dbt's YAML and profiles, read the way dbt reads them: one reader, one renderer.

`load_yaml` is PyYAML's safe loader (installed with dbt-core) with duplicate keys refused,
as dbt refuses them; Jinja stays text. `render` renders `env_var()` and the `as_text`,
`as_bool`, `as_number` and `as_native` filters the way dbt renders profiles.yml (native
Jinja: a lone filtered value is evaluated as a Python literal). `target_config` is the
rendered output of the target dbt would use. dbt's own renderer costs seconds to import,
so this module reimplements the small part of it that profiles use; the unit tests hold
it against dbt's.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TARGET_ENV = "DBT_TARGET"


class ProfileError(RuntimeError):
    """profiles.yml or dbt_project.yml cannot be read or rendered (the message says why)."""


class EnvVarMissing(ProfileError):
    """An env_var() without a default names a variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"env_var({name!r}) is used but {name} is not set and has no default")
        self.name = name


def load_yaml(text: str) -> Any:
    """TEXT parsed as YAML like dbt does (safe types; a duplicate key is an error)."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _UniqueKeyLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'found duplicate key "{key}"', key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=_UniqueKeyLoader)


def read_yaml(path: Path) -> Any:
    """The YAML file at PATH (a ProfileError if it cannot be read or parsed)."""
    import yaml

    try:
        return load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ProfileError(f"cannot read {path}: {e}") from e


# --- rendering -----------------------------------------------------------------------


class _Text(str):
    """as_text: the value stays a string."""


class _Native(str):
    """as_native: the value is evaluated as a Python literal."""


class _Bool(_Native):
    pass


class _Number(_Native):
    pass


def _env_var(name: str, default: Any = None) -> Any:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise EnvVarMissing(name)


def _concat(nodes: Any) -> Any:
    """What dbt's native rendering makes of the rendered pieces (dbt_common's
    quoted_native_concat): many pieces are text; one marked piece is a Python literal."""
    import itertools
    from ast import literal_eval

    head = list(itertools.islice(nodes, 2))
    if not head:
        return ""
    if len(head) > 1:
        return "".join(str(v) for v in itertools.chain(head, nodes))
    raw = head[0]
    if isinstance(raw, _Text):
        return str(raw)
    if not isinstance(raw, _Native):
        return raw
    try:
        result = literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError):
        result = raw
    if isinstance(raw, _Bool) and not isinstance(result, bool):
        raise ProfileError(f"cannot convert {str(raw)!r} into a bool")
    number = isinstance(result, (int, float)) and not isinstance(result, bool)
    if isinstance(raw, _Number) and not number:
        raise ProfileError(f"cannot convert {str(raw)!r} into a number")
    return result


_ENV: Any = None


def _environment() -> Any:
    global _ENV
    if _ENV is None:
        from jinja2.nativetypes import NativeEnvironment, NativeTemplate

        # A native template renders through its environment class's concat.
        class _Env(NativeEnvironment):
            concat = staticmethod(_concat)  # type: ignore[assignment]

        class _Template(NativeTemplate):
            environment_class = _Env

        _Env.template_class = _Template

        env = _Env(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
        env.globals["env_var"] = _env_var
        env.filters.update(as_text=_Text, as_bool=_Bool, as_number=_Number, as_native=_Native)
        _ENV = env
    return _ENV


def render(value: Any) -> Any:
    """VALUE with the Jinja in its strings rendered as dbt renders profiles.yml."""
    if isinstance(value, Mapping):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    import jinja2

    try:
        return _environment().from_string(value).render()
    except jinja2.TemplateError as e:
        raise ProfileError(f"cannot render {value!r}: {e}") from e


# --- the target in use ---------------------------------------------------------------


def profile_name(project_dir: Path) -> str:
    """The profile dbt_project.yml names (its `profile:`, else its `name:`)."""
    path = Path(project_dir) / "dbt_project.yml"
    project = read_yaml(path) or {}
    name = render(project.get("profile") or project.get("name"))
    if not name:
        raise ProfileError(f"{path} names no profile")
    return str(name)


def target_name(default: object, target: str | None = None) -> str:
    """The dbt target in use, picked as dbt picks it.

    TARGET (dbt's `--target`), else DBT_TARGET, else the profile's rendered `target:` (DEFAULT),
    else `default`. Raises ProfileError when `target:` cannot be rendered.
    """
    return str(
        target or os.environ.get(TARGET_ENV) or (render(default) if default else "") or "default"
    )


def target_config(
    project_dir: Path, profiles_dir: Path, target: str | None = None
) -> dict[str, Any]:
    """The rendered output of the dbt target in use (TARGET, DBT_TARGET, the default).

    The chosen target's name is under the key `_target`.
    """
    path = Path(profiles_dir) / "profiles.yml"
    profiles = read_yaml(path) or {}
    name = profile_name(project_dir)
    profile = profiles.get(name) if isinstance(profiles, Mapping) else None
    if not isinstance(profile, Mapping) or not isinstance(profile.get("outputs"), Mapping):
        raise ProfileError(f"profile {name!r} with `outputs:` not found in {path}")
    chosen = target_name(profile.get("target"), target)
    outputs = profile["outputs"]
    if chosen not in outputs:
        raise ProfileError(f"target {chosen!r} not found in profile {name!r} of {path}")
    config = render(dict(outputs[chosen]))
    config.setdefault("type", "")
    config["_target"] = str(chosen)
    return config
