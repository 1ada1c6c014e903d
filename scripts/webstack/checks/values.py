"""Values against every chart's values.schema.json: the umbrella's on the merged values, each subchart's on
its section (merged over the subchart's own defaults, with `global`), all errors at once.

Each finding names the values file that set the bad key (the last one in helm's order that has it;
the chart defaults when no user file does), the dotted path and the line.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from webstack.errors import InputError
from webstack.report import Finding, Severity
from webstack.values import PathPart, ValuesFile, ValuesSet, defaults_of, dotted, load, merge

CHECK = "values"


@dataclass(frozen=True)
class Subchart:
    name: str  # the key of its section in the parent's values (alias or name)
    directory: Path
    condition: str | None


def subcharts(chart_dir: Path) -> list[Subchart]:
    """Local dependencies unpacked under charts/ (aliases and conditions from Chart.yaml)."""
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text()) or {}
    deps = {d.get("name"): d for d in meta.get("dependencies") or [] if isinstance(d, dict)}
    out = []
    for sub in sorted((chart_dir / "charts").glob("*/Chart.yaml")):
        name = (yaml.safe_load(sub.read_text()) or {}).get("name", sub.parent.name)
        dep = deps.get(name, {})
        out.append(Subchart(dep.get("alias") or name, sub.parent, dep.get("condition")))
    return out


def _validator_class(schema: dict[str, Any]) -> type[jsonschema.protocols.Validator]:
    """The draft $schema names; `https://json-schema.org/draft-07/schema#` (common in charts) means http."""
    uri = str(schema.get("$schema", ""))
    for candidate in (uri, uri.replace("https://json-schema.org/", "http://json-schema.org/", 1)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            try:
                return jsonschema.validators.validator_for({"$schema": candidate} if candidate else {})
            except DeprecationWarning:
                continue
    return jsonschema.Draft202012Validator


@functools.cache
def _schema(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        schema = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON in values schema: {exc.msg}"
        ) from exc
    try:
        _validator_class(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InputError(
            f"{path}: not a valid JSON schema at {dotted(list(exc.absolute_path))}: {exc.message}"
        ) from exc
    return schema


@functools.cache
def _validator(path: Path) -> jsonschema.protocols.Validator | None:
    schema = _schema(path)
    return None if schema is None else _validator_class(schema)(schema)


def _get(data: Any, dotted_key: str) -> Any:
    for part in dotted_key.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _issues(err: jsonschema.ValidationError) -> list[tuple[list[PathPart], str, str]]:
    """(path, rule, message); an unknown key points at the key itself, not at its parent."""
    path: list[PathPart] = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties") or {})
        patterns = list(err.schema.get("patternProperties") or {})
        extra = [k for k in err.instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
        return [([*path, k], "VALUES-UNKNOWN-KEY", f"unknown key {k!r}{hint}") for k in extra]
    rule = {"type": "VALUES-TYPE", "required": "VALUES-REQUIRED", "enum": "VALUES-ENUM"}.get(
        str(err.validator), f"VALUES-{str(err.validator).upper()}"
    )
    return [(path, rule, err.message)]


def _locate(parts: list[PathPart], layers: list[tuple[ValuesFile, list[PathPart]]]) -> str:
    """`file:line` of the layer (highest precedence first) that sets the deepest part of `parts`."""
    best: tuple[int, ValuesFile, list[PathPart]] | None = None
    for vf, prefix in layers:
        if parts[: len(prefix)] != prefix:
            continue
        rel = parts[len(prefix) :]
        depth = next((n for n in range(len(rel), 0, -1) if vf.has(rel[:n])), 0)
        if depth == len(rel) and rel:
            best = (depth, vf, rel)
            break
        if best is None or depth > best[0]:
            best = (depth, vf, rel)
    if best is None:
        return "<values>"
    _, vf, rel = best
    line = vf.line_of(rel)
    return f"{vf.path}:{line}" if line else str(vf.path)


def check(chart_dir: Path, vs: ValuesSet) -> list[Finding]:
    """All schema violations of one values set, umbrella and subcharts (InputError: unreadable file)."""
    defaults = defaults_of(chart_dir)
    user = [load(f) for f in vs.files]
    merged: dict[str, Any] = defaults.data
    for vf in user:
        merged = merge(merged, vf.data)
    user_layers: list[tuple[ValuesFile, list[PathPart]]] = [(vf, []) for vf in reversed(user)]
    issues: list[tuple[list[PathPart], str, str, list[tuple[ValuesFile, list[PathPart]]]]] = []

    validator = _validator(chart_dir / "values.schema.json")
    if validator is not None:
        layers = [*user_layers, (defaults, [])]
        for err in validator.iter_errors(merged):
            issues += [(p, r, m, layers) for p, r, m in _issues(err)]

    for sub in subcharts(chart_dir):
        if sub.condition and _get(merged, sub.condition) is False:
            continue
        sub_validator = _validator(sub.directory / "values.schema.json")
        if sub_validator is None:
            continue
        sub_defaults = defaults_of(sub.directory)
        section = merged.get(sub.name) or {}
        if not isinstance(section, dict):
            continue  # the umbrella schema reports a non-map section
        values = merge(sub_defaults.data, section)
        values["global"] = merge(sub_defaults.data.get("global") or {}, merged.get("global") or {})
        layers = [*user_layers, (defaults, []), (sub_defaults, [sub.name])]
        for err in sub_validator.iter_errors(values):
            for p, r, m in _issues(err):
                full = p if p[:1] == ["global"] else [sub.name, *p]
                # a subchart-default key is addressed without the prefix in its own file
                issues.append((full, r, m, layers))

    seen: set[tuple[str, str, str]] = set()
    findings = []
    for parts, rule, message, layers in issues:
        key = (dotted(parts), rule, message)
        if key in seen:  # the umbrella and a subchart schema may both catch the same key
            continue
        seen.add(key)
        findings.append(
            Finding(
                file=_locate(parts, layers),
                object="values",
                path=dotted(parts),
                rule=rule,
                message=message,
                severity=Severity.ERROR,
                check=CHECK,
                context=vs.name,
            )
        )
    return findings
