"""The values-schema shapes the charts share (resources, security contexts, image blocks, probes, ...),
defined once in data/schema_defs.yaml and copied into each chart's values.schema.json.

Helm resolves no `$ref` across files, so each schema carries under `definitions` (the draft-07 keyword
its `$schema` declares) the shapes its `"$ref": "#/definitions/<name>"` name, and those they name in
turn, with a top-level `$comment` (MARKER) saying so. The generated part is `definitions` only; the rest
of a schema is written by hand. A schema with definitions of its own (names no shape has, and no MARKER:
another chart's way) is left alone, as are refs to anything else. `webstack docs --write` regenerates
the copies, `webstack docs` and `webstack lint` fail when one differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webstack.errors import InputError
from webstack.yamlfile import load_mapping, read_text

SOURCE = Path(__file__).resolve().parent / "data" / "schema_defs.yaml"
KEY = "definitions"
PREFIX = f"#/{KEY}/"
SCHEMA = "values.schema.json"
MARKER = f"`{KEY}` is generated from scripts/webstack/data/{SOURCE.name} by `make docs`: edit it there"


def shapes(source: Path = SOURCE) -> dict[str, Any]:
    """name -> shape; InputError naming the file for a broken source."""
    data = load_mapping(source, "schema shapes")
    bad = [name for name, shape in data.items() if not isinstance(shape, dict)]
    if bad:
        raise InputError(f"{source}: shape {bad[0]!r} is not a mapping (a JSON schema)")
    return data


def refs(node: Any) -> set[str]:
    """Every `$ref` string anywhere in `node`."""
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def _needed(where: str, found: set[str], known: dict[str, Any]) -> list[str]:
    """The shape names `found` refers to and those they refer to, sorted; InputError for an unknown one."""
    names: set[str] = set()
    todo = sorted(r for r in found if r.startswith(PREFIX))
    while todo:
        ref = todo.pop()
        name = ref.removeprefix(PREFIX)
        if name not in known:
            raise InputError(f'{where}: "$ref": {json.dumps(ref)} names no shape in {SOURCE.name} '
                             f"(known: {', '.join(sorted(known))})")
        if name not in names:
            names.add(name)
            todo += sorted(r for r in refs(known[name]) if r.startswith(PREFIX))
    return sorted(names)


def render(path: Path, known: dict[str, Any]) -> str | None:
    """The schema file's text with its `definitions` regenerated; None when `path` does not exist, names
    no shared shape, or has definitions of its own."""
    if not path.is_file():
        return None
    text = read_text(path, "values schema")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON in values schema: {exc.msg}"
                         ) from exc
    if not isinstance(schema, dict):
        raise InputError(f"{path}:1: expected a JSON object (a values schema), found {type(schema).__name__}")
    marked = schema.get("$comment") == MARKER
    if KEY in schema and not marked and not set(schema[KEY] or {}) <= set(known):
        return None  # definitions of its own
    own = [(k, v) for k, v in schema.items() if k != KEY and not (k == "$comment" and marked)]
    names = _needed(str(path), refs(dict(own)), known)
    if not names and not marked:
        return None  # names no shared shape: not ours to rewrite
    if names:
        own.insert(1 if own and own[0][0] == "$schema" else 0, ("$comment", MARKER))
        own.append((KEY, {name: known[name] for name in names}))
    return json.dumps(dict(own), indent=2, ensure_ascii=False) + "\n"


def generate(charts: list[Path], source: Path = SOURCE) -> dict[Path, str]:
    """values.schema.json path -> its text with fresh definitions, for every chart that has one."""
    known = shapes(source)
    out = {}
    for chart in charts:
        text = render(chart / SCHEMA, known)
        if text is not None:
            out[chart / SCHEMA] = text
    return out


def resolve(schema: dict[str, Any], node: Any) -> Any:
    """`node`, or the shape its local `$ref` points at (draft-07: a `$ref` replaces its siblings)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node
