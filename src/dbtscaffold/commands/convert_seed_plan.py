"""The planner behind `convert-seed`: both projects in, a Plan out; nothing is written.

All edits of one run are made to in-memory copies of the files (convert_seed_texts.py:
seed by seed, then the ref rewrite over everything), and the plan is the difference from
what is on disk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.commands.convert_seed_texts import ProjectTexts
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.dbt.files import SeedFile, csv_header
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.dbt.properties import dbt_accepts_meta_in_config
from dbtscaffold.dbt.relations import Relation, check_source_reads, moved_relation, seed_relation
from dbtscaffold.dbt.source_match import converted_table, extend_other_table, ref_target
from dbtscaffold.dbt.target import missing_adapter_message, read_target
from dbtscaffold.errors import UserError

# Seed config that says where the table is: carried by the source's schema and identifier.
_RELATION_KEYS = ("schema", "alias", "database")


@dataclass
class ConvertResult:
    """A planned conversion: the plan plus what the summary needs."""

    plan: Plan
    refs: dict[Path, int] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)  # seed -> its loader's asset key
    seed_assets_path: Path | None = None  # the module the loaders are in
    already: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be carried over
    infos: list[str] = field(default_factory=list)  # choices worth knowing about
    warnings: list[str] = field(default_factory=list)  # shown by --dry-run too (data moves)
    csv_moves: list[tuple[Path, Path | None]] = field(default_factory=list)


class _Planner(ProjectTexts):
    def __init__(
        self, dbt: DbtProjectInfo, dagster: DagsterProjectInfo, source: str, delete_csv: bool,
        schema: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(dbt, dagster)
        self.source, self.delete_csv = source, delete_csv
        self.schema = schema  # --schema: where to load instead of the seed's relation
        self.ref_targets: dict[str, Any] = {}  # seed -> RefTarget, when not source(SRC, seed)
        self.target = read_target(dbt)
        self.adapter = self.target.type
        if message := missing_adapter_message(self.target.name, self.adapter):
            raise UserError(message)
        self.meta_in_config = dbt_accepts_meta_in_config()
        self.assets_path = dagster.package_dir / "assets.py"
        self.seed_assets_path = dagster.package_dir / "seed_assets.py"
        self.data_dir = dagster.dir / "data"
        if dagster.layout == "components":
            # dg loads every module under defs/: the loaders are one of them; no assets.py.
            self.seed_assets_path = dagster.package_dir / "defs" / "seed_assets.py"
            self.assets_text = ""
            self.seed_assets_text = self.read_optional(self.seed_assets_path) or ""
        else:
            self.assets_text = self.read(self.assets_path, "the Dagster project's assets.py")
            self.seed_assets_text = self._seed_assets(dagster)
        self.extra: list[FileChange] = []
        self.emptied: set[str] = set()  # seeds YAML files a seed entry left
        self.new_source_schema: str | None = None
        self._project_data: tuple[str, dict[str, Any]] | None = None  # (text, as dbt reads it)
        self.result = ConvertResult(plan=None, seed_assets_path=self.seed_assets_path)  # type: ignore[arg-type]

    def _seed_assets(self, dagster: DagsterProjectInfo) -> str:
        """seed_assets.py as it is ('' if a project of an older dbtscaffold lacks it)."""
        text = self.read_optional(self.seed_assets_path)
        definitions = dagster.package_dir / "definitions.py"
        if text is None and "seed_assets" not in (
            definitions.read_text(encoding="utf-8", errors="replace")
            if definitions.is_file()
            else ""
        ):
            raise UserError(
                f"`{self.rel(definitions)}` does not load `seed_assets`, where convert-seed "
                "puts the loader assets; run `dbtscaffold init --force` to update the project."
            )
        return text or ""

    # --- discovery -------------------------------------------------------

    def find_source(self) -> tuple[str, Any] | None:
        """The properties file declaring our source (enabled), and that source's mapping."""
        for path in self.yaml_paths():
            text = self.text(path) or ""
            if "sources" not in text or self.source not in text:
                continue
            for src in dbt_yaml.declared_sources(self.load(path)):
                if str(src["name"]) == self.source and not dbt_yaml.is_disabled(src):
                    return path, src
        return None

    def check_key_free(self, seed: str) -> None:
        """A UserError if another model, snapshot, source or asset has asset key [SEED]."""
        taken = f"Asset key `{seed}` is already used by"
        fix = "Dagster cannot load two assets with one key; rename one of them."
        for path, kind in self.kinds.items():
            if kind not in ("sql", "python"):
                continue
            name = path.rpartition(os.sep)[2]
            if name.startswith(seed) and _stem(name) == seed and self.files.in_models(path):
                raise UserError(f"{taken} the model `{self.rel(path)}`. {fix}")
        snap = re.compile(r"\{%-?\s*snapshot\s+" + re.escape(seed) + r"\s*-?%\}")
        for path, kind in self.kinds.items():
            text = self.text(path) or ""
            if kind == "sql" and seed in text and snap.search(text):
                raise UserError(f"{taken} a snapshot in `{self.rel(path)}`. {fix}")
        for path in self.yaml_paths():
            text = self.text(path) or ""
            if "asset_key" not in text or seed not in text:
                continue
            data = self.load(path)
            for src in dbt_yaml.declared_sources(data):
                for table in src.get("tables") or []:
                    if not isinstance(table, dict) or dbt_yaml.asset_key_of(table) != [seed]:
                        continue
                    if (str(src["name"]), str(table.get("name"))) != (self.source, seed):
                        where = f"source table `{src['name']}.{table.get('name')}`"
                        raise UserError(f"{taken} the {where} in `{self.rel(path)}`. {fix}")
            for key in ("models", "snapshots", "seeds"):
                for node in (data or {}).get(key) or [] if isinstance(data, dict) else []:
                    if isinstance(node, dict) and dbt_yaml.asset_key_of(node) == [seed]:
                        raise UserError(
                            f"{taken} `{node.get('name')}` in `{self.rel(path)}`. {fix}"
                        )

    def seed_entry(self, seed: str) -> tuple[str, Any] | None:
        from dbtscaffold.dbt.yaml_edit import YamlEditError

        for path in self.yaml_paths():
            text = self.text(path) or ""
            if "seeds" in text and seed in text:
                try:
                    # The entry's comments are made relative to it (in the Doc), which is
                    # what remove_seed_entry, its one other user, needs no more.
                    entry = dbt_yaml.find_seed_entry(self.doc(path), seed)
                except YamlEditError as e:
                    raise self.yaml_error(path, e) from None
                if entry is not None:
                    return path, entry
        return None

    # --- one seed --------------------------------------------------------

    def convert(self, seed: str) -> None:
        from dbtscaffold.dagster_project import seed_assets as loaders

        seed_file = self.files.find_seed(seed)
        found = self.find_source()
        table = None
        if found is not None:
            idx = dbt_yaml._named(found[1].get("tables"), seed)
            table = found[1]["tables"][idx] if idx is not None else None
        if seed_file is None:
            done = loaders.loader_key(self.seed_assets_text, seed)
            done = done or loaders.loader_key(self.assets_text, seed)
            if done is not None and converted_table(self, done) is not None:
                self.result.already.append(seed)
                return
            converted = tuple(key[-1] for _, key in loaders.defined_assets(self.seed_assets_text))
            raise self.files.unknown_seed(seed, converted, self.rel(self.seed_assets_path))
        entry = self.seed_entry(seed)
        # The seed's config in dbt_project.yml, read once for where and how it is loaded.
        inherited, own = self.project_seed_config(seed_file)
        rel = self.relation(seed_file, entry, {**inherited, **own})
        source, name = self.source, seed
        if table is None and (other := extend_other_table(self, seed, rel)) is not None:
            found, table, source, name = other
        # A source table with an asset key of its own keeps it: the loader takes that key.
        key = (dbt_yaml.asset_key_of(table) if table is not None else None) or [seed]
        asset_state = self.asset_state(key)
        if asset_state == "other":
            raise UserError(
                f"Asset key `{'/'.join(key)}` is already used by an asset in the Dagster "
                f"project `{self.dagster.dir.name}`; Dagster cannot load two assets with one "
                "key. Rename or remove it first."
            )
        if key == [seed]:
            self.check_key_free(seed)
        elif found is not None and name == seed:
            self.result.infos.append(
                f"Source table `{source}.{name}` has the asset key `{key}` of its own: the "
                "loader asset takes it."
            )
        schema, identifier = self.location(found, table, seed, rel, source)

        moved = dbt_yaml.MovedProperties()
        if entry is not None:
            moved = dbt_yaml.split_seed_entry(entry[1])
            self.edit_yaml(entry[0], dbt_yaml.remove_seed_entry, seed, doc=True)
            self.emptied.add(entry[0])
        loader = self.project_config(seed_file, moved, inherited, own)
        group, owners = loaders.seed_dagster_props(inherited, own, entry[1] if entry else None)
        for prop in (
            p for p in moved.dropped if p.removeprefix("config.") not in (*_RELATION_KEYS, "group")
        ):
            self.result.notes.append(
                f"`{prop}` of seed `{seed}` has no place on a source table and was dropped."
            )
        if identifier != name and not any(k == "identifier" for k, _ in moved.keys):
            moved.keys.append(("identifier", identifier))  # the seed's alias
        new_table = dbt_yaml.new_table(seed, moved, meta_in_config=self.meta_in_config, key=key)
        self.result.keys[seed] = key
        new_table["name"] = name  # a table named otherwise that reads the relation: extended
        source_path = found[0] if found else str(self.new_source_path())
        self.kinds.setdefault(source_path, "yaml")
        self.originals.setdefault(source_path, None)
        self.edit_yaml(
            source_path, dbt_yaml.add_source_table, source, new_table, self.new_source_schema
        )

        csv_raw = seed_file.path.read_bytes()
        delimiter = str(loader.get("delimiter") or ",")
        column_types = self.column_types(seed, loader, csv_header(csv_raw, delimiter))
        if asset_state is None:
            from dbtscaffold.dagster_project.seed_assets import add_loader_asset, missing_names

            missing = missing_names(self.seed_assets_text)
            if missing:
                raise UserError(
                    f"`{self.rel(self.seed_assets_path)}` no longer defines "
                    f"{', '.join(f'`{n}`' for n in missing)}, which the loader assets use; "
                    "restore them (or empty the file) and retry."
                )
            description = dict(moved.keys).get("description")
            quote = loader.get("quote_columns")
            spec = loaders.LoaderSpec(
                seed=seed, schema=schema, table=identifier, adapter=self.adapter,
                column_types=column_types, delimiter=delimiter,
                quote_columns=quote if isinstance(quote, bool) else None,
                description=" ".join(str(description).split()) if description else "",
                group=group, owners=tuple(owners), key=tuple(key),
            )  # fmt: skip
            self.seed_assets_text = add_loader_asset(
                self.seed_assets_text,
                spec,
                self.dagster.package,
                loaders.components_dbt_dir(self.dagster, self.dbt.dir, self.seed_assets_path),
            )
            self.texts[str(self.seed_assets_path)] = self.seed_assets_text
        self.plan_csv(seed_file, csv_raw)
        self.result.converted.append(seed)

    def asset_state(self, key: list[str]) -> str | None:
        """ "ours" when seed_assets.py has a loader with KEY, "other" when another asset has it."""
        from dbtscaffold.dagster_project.seed_assets import asset_state

        modules = [
            (self.seed_assets_path, self.seed_assets_text),
            (self.assets_path, self.assets_text),
        ]
        return asset_state(modules, key, self.rel)

    def project_seed_config(self, seed_file: SeedFile) -> tuple[dict[str, Any], dict[str, Any]]:
        """(inherited, own) config of the seed in dbt_project.yml (see properties.py).

        Read from dbt_project.yml as it is now in the plan, the way dbt reads it (PyYAML,
        YAML 1.1: `+quote_columns: yes` is true), not round-trip (YAML 1.2: text).
        """
        from dbtscaffold.dbt.project import parse_yaml_text

        text = self.text(self.yml) or ""
        if self._project_data is None or self._project_data[0] != text:
            data = parse_yaml_text(text, Path(self.rel(self.yml)), "dbt_project.yml")
            self._project_data = (text, data if isinstance(data, dict) else {})
        return dbt_yaml.project_seed_config(
            self._project_data[1], self.dbt.name, seed_file.folders, seed_file.name
        )

    def relation(
        self, seed_file: SeedFile, entry: tuple[str, Any] | None, project: dict[str, Any]
    ) -> Relation:
        """Where dbt builds the seed (its schema and alias config through dbt's naming)."""
        config = dict(project)
        if entry is not None and isinstance(entry[1], dict):
            own_yaml = entry[1].get("config")
            config.update(dbt_yaml.plain(own_yaml) if isinstance(own_yaml, dict) else {})
        macros = (t.text for t in self.files.texts.values() if t.kind == "sql")
        rel = seed_relation(self.dbt, seed_file.name, config, macros, self.target)
        return moved_relation(rel, self.schema, seed_file.name, self.result.warnings)

    def location(
        self, found: tuple[str, Any] | None, table: Any, seed: str, rel: Relation, source: str
    ) -> tuple[str, str]:
        """(schema, table name) the source reads: the relation dbt built the seed in."""
        where = f"source `{source}` in `{self.rel(found[0])}`" if found else ""
        check_source_reads(
            rel, found[1] if found else None, table, seed, source, where, self.target
        )
        if found is None:
            self.new_source_schema = rel.schema
        return rel.schema, rel.identifier

    def new_source_path(self) -> Path:
        roots = self.files.model_roots or [self.dbt.dir / self.dbt.model_paths[0]]
        return roots[0] / "sources.yml"

    def project_config(
        self,
        seed_file: SeedFile,
        moved: dbt_yaml.MovedProperties,
        inherited: dict[str, Any],
        own: dict[str, Any],
    ) -> dict[str, Any]:
        """Loader config from dbt_project.yml and the seed's YAML; drops the seed's own block."""
        self.edit_yaml(
            self.yml,
            dbt_yaml.remove_project_seed_config,
            self.dbt.name,
            seed_file.folders,
            seed_file.name,
            doc=True,
        )
        loader: dict[str, Any] = {}
        for cfg in (inherited, own, moved.loader_config):
            for key in dbt_yaml.LOADER_CONFIG_KEYS:
                if key == "column_types" and isinstance(cfg.get(key), dict):
                    loader.setdefault(key, {}).update(cfg[key])
                elif key in cfg and key != "column_types":
                    loader[key] = cfg[key]
        have = {k for k, _ in moved.table_config}
        for key, value in own.items():
            if key in dbt_yaml.TABLE_CONFIG_KEYS and key not in have:
                moved.table_config.append((key, value))
            elif key not in (
                *dbt_yaml.LOADER_CONFIG_KEYS,
                *dbt_yaml.TABLE_CONFIG_KEYS,
                *_RELATION_KEYS,
                "group",  # the loader asset's group (seed_dagster_props)
            ):
                self.result.notes.append(
                    f"Seed config `{key}` of `{seed_file.name}` in dbt_project.yml does not apply "
                    "to a source table and was dropped."
                )
        return loader

    def column_types(self, seed: str, loader: dict[str, Any], header: list[str]) -> dict[str, str]:
        types = {str(k): str(v) for k, v in (loader.get("column_types") or {}).items()}
        unknown = [c for c in types if c not in header]
        for c in unknown:
            self.result.notes.append(
                f"`column_types` of seed `{seed}` names `{c}`, which is not a column of its CSV; "
                "it was not carried into the loader."
            )
            del types[c]
        return types

    def plan_csv(self, seed_file: SeedFile, raw: bytes) -> None:
        src = seed_file.path
        if self.delete_csv:
            self.extra.append(FileChange(src, raw, None))
            self.result.csv_moves.append((src, None))
            self.result.notes.append(
                f"The CSV of `{seed_file.name}` was deleted (--delete-csv): put its data in "
                f"`{self.rel(self.data_dir / src.name)}` or change the asset before materializing."
            )
            return
        dst = self.data_dir / f"{seed_file.name}.csv"
        existing = dst.read_bytes() if dst.is_file() else None
        if existing is not None and existing != raw:
            raise UserError(
                f"`{self.rel(dst)}` already exists and differs from `{self.rel(src)}`; "
                "remove one of them and retry."
            )
        if existing is None:
            self.extra.append(FileChange(dst, None, raw, label="move"))
        self.extra.append(FileChange(src, raw, None, label="move"))
        self.result.csv_moves.append((src, dst))

    # --- refs --------------------------------------------------------------

    def empty_files(self) -> frozenset[str]:
        """The seeds' property files left with nothing but `version:` (they are deleted)."""
        import yaml

        from dbtscaffold.runtime.profiles import load_yaml

        out = set()
        for path in self.emptied:
            try:
                data = load_yaml(self.text(path) or "")  # C-fast; only its keys matter
            except yaml.YAMLError:  # what PyYAML refuses, ruamel may read: ask it
                data = self.load(path)
            if data is None or (isinstance(data, dict) and set(data) <= {"version"}):
                out.add(path)
        return frozenset(out)

    def rewrite_refs(self, seeds: list[str]) -> None:
        from dbtscaffold.dbt.refs import RefSyntaxError, rewrite_refs_in

        targets = [ref_target(self, seed) for seed in seeds]
        texts = {p: t for p in self.kinds if (t := self.text(p)) is not None}
        try:
            rewritten = rewrite_refs_in(texts, self.kinds, targets)
        except RefSyntaxError as e:
            what = "Python" if self.kinds[e.path] == "python" else "Jinja"
            line = f" (line {e.line})" if e.line else ""
            raise UserError(
                f"`{self.rel(e.path)}` is not valid {what}{line}: {e}; fix it and retry."
            ) from None
        for path, (text, n) in rewritten.items():
            self.texts[path] = text
            self.result.refs[Path(path)] = n


def _stem(name: str) -> str:
    """NAME without its last suffix, as `Path.stem`."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def plan_convert_seed(
    dbt: DbtProjectInfo,
    dagster: DagsterProjectInfo,
    seeds: list[str],
    *,
    source_name: str,
    delete_csv: bool = False,
    schema: str | None = None,
) -> ConvertResult:
    """Plan converting SEEDS of DBT into source SOURCE_NAME loaded by DAGSTER's assets."""
    p = _Planner(dbt, dagster, source_name, delete_csv, schema)
    for seed in seeds:
        p.convert(seed)
    p.rewrite_refs(seeds)
    plan = p.plan(p.empty_files())
    plan.extend(p.extra)
    plan.description = "convert-seed " + " ".join(seeds)
    p.result.plan = plan
    return p.result
