"""Values files: loading with clear errors, line numbers for dotted paths, helm's merge, the ci matrix.

A ValuesSet is what one `helm template` run gets: a name and the user files layered in order over
the chart's defaults. The matrix is the defaults plus every ci/*-values.yaml (chart-testing convention).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webstack.errors import InputError
from webstack.yamlfile import error_place, read_text

PathPart = str | int
_YAML11_SHORT_BOOL = re.compile(r"^(?:y|Y|n|N)$")


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: values files get big


class Loader(_Base):
    """YAML as helm reads values (go-yaml, YAML 1.1): `y` and `n` are booleans too, unlike PyYAML's default.

    Without this, `tag: n` passes our check as a string and helm then rejects it as a boolean.
    """

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


class Dumper(yaml.SafeDumper):
    """Writes values helm reads back unchanged (quotes `y`/`n`)."""


for _cls in (Loader, Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:bool", _YAML11_SHORT_BOOL, list("yYnN"))


@dataclass(frozen=True)
class ValuesSet:
    name: str
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ValuesFile:
    """A parsed values file and its YAML node tree (for line numbers)."""

    path: Path
    data: dict[str, Any]
    node: yaml.Node | None

    def line_of(self, parts: list[PathPart]) -> int | None:
        """1-based line of the deepest key of `parts` present in this file, None when absent."""
        node, line = self.node, None
        for part in parts:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for k, v in node.value:
                    if k.value == part:
                        node, line = v, k.start_mark.line + 1
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def has(self, parts: list[PathPart]) -> bool:
        cur: Any = self.data
        for part in parts:
            if (isinstance(cur, dict) and isinstance(part, str) and part in cur) or (
                isinstance(cur, list) and isinstance(part, int) and part < len(cur)
            ):
                cur = cur[part]
            else:
                return False
        return True


def load(path: Path) -> ValuesFile:
    """Read one values file; a missing file or folder, text that is not UTF-8, bad YAML or a
    non-mapping is an InputError naming the file and the place in it."""
    if path.is_dir():
        raise InputError(f"{path}: expected a values file, found a directory")
    if not path.is_file():
        raise InputError(f"{path}: values file does not exist")
    loaded = _load(path, path.stat().st_mtime_ns)
    return ValuesFile(loaded.path, copy.deepcopy(loaded.data), loaded.node)


@functools.lru_cache(maxsize=256)
def _load(path: Path, _mtime_ns: int) -> ValuesFile:
    """Parsed once per file version: every values set re-reads the same chart defaults."""
    text = read_text(path, "values")
    try:
        node = yaml.compose(text, Loader=Loader)
        data = yaml.load(text, Loader=Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{path}{error_place(exc, text)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            f"{path}:1: expected a mapping of values at the top level, found {type(data).__name__}"
        )
    return ValuesFile(path=path, data=data, node=node)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """helm's coalescing: maps merge key by key, anything else replaces, null deletes the key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dotted(parts: list[PathPart] | tuple[PathPart, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (p if not out else f".{p}")
    return out or "(top level)"


def set_name(path: Path) -> str:
    name = path.name
    for suffix in ("-values.yaml", "-values.yml", ".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def matrix(chart_dir: Path) -> list[ValuesSet]:
    """The chart defaults, then every ci/*-values.yaml, in name order."""
    sets = [ValuesSet("default")]
    sets += [ValuesSet(set_name(p), (p,)) for p in sorted((chart_dir / "ci").glob("*-values.yaml"))]
    return sets


def select(chart_dir: Path, files: list[Path] | None, use_matrix: bool) -> list[ValuesSet]:
    """What the CLI asked for: --values files (one set), the matrix, or both.

    Each --values file is read here, so a bad one is an InputError before anything renders.
    """
    for f in files or []:
        load(f)
    sets = matrix(chart_dir) if use_matrix else []
    if files:
        sets.append(ValuesSet("custom" if use_matrix else set_name(files[-1]), tuple(files)))
    return sets or [ValuesSet("default")]


def defaults_of(chart_dir: Path) -> ValuesFile:
    path = chart_dir / "values.yaml"
    return load(path) if path.is_file() else ValuesFile(path, {}, None)


def merged(chart_dir: Path, vs: ValuesSet) -> dict[str, Any]:
    """The umbrella's values as helm sees them for this set (defaults, then each file in order)."""
    out = defaults_of(chart_dir).data
    for f in vs.files:
        out = merge(out, load(f).data)
    return out
