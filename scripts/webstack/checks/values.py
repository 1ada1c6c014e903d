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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from webstack.chart import Chart
from webstack.errors import InputError
from webstack.report import Finding, Severity, yaml_value
from webstack.values import PathPart, ValuesFile, ValuesSet, defaults_of, dotted, load, merge

CHECK = "values"


@dataclass(frozen=True)
class Subchart:
    name: str  # the key of its section in the parent's values (alias or name)
    directory: Path
    condition: str | None


def subcharts(chart_dir: Path) -> list[Subchart]:
    """Local dependencies unpacked under charts/ (aliases and conditions from Chart.yaml)."""
    chart = Chart.load(chart_dir)
    deps = {d.get("name"): d for d in chart.dependencies}
    out = []
    for sub in chart.subchart_dirs:
        name = Chart.load(sub).name
        dep = deps.get(name, {})
        out.append(Subchart(dep.get("alias") or name, sub, dep.get("condition")))
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


# --- messages: values as a values file writes them (true, null, "text", [a, b]), keys as dotted paths ---

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a map",
    "array": "a list",
    "null": "null",
}
_NAME_CHANGES = {"type": "VALUES-TYPE", "required": "VALUES-REQUIRED", "enum": "VALUES-ENUM"}


def _got(value: Any) -> str:
    """What a value is, for `expected X, got Y`."""
    if value is None:
        return "null (not set)"
    if isinstance(value, bool):
        return yaml_value(value)
    kind = {str: "the string", int: "the integer", float: "the number", list: "the list", dict: "the map"}
    return f"{kind.get(type(value), 'the value')} {yaml_value(value)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _type(err: jsonschema.ValidationError, key: str) -> str:
    types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    return f"expected {_or([_TYPE_NAMES.get(t, t) for t in types])}, got {_got(err.instance)}"


def _enum(err: jsonschema.ValidationError, key: str) -> str:
    return f"{yaml_value(err.instance)} is not one of {yaml_value(err.validator_value, 200)}"


def _const(err: jsonschema.ValidationError, key: str) -> str:
    return f"must be {yaml_value(err.validator_value)}, got {yaml_value(err.instance)}"


def _required(err: jsonschema.ValidationError, key: str) -> str:
    missing = [k for k in err.validator_value if k not in err.instance]
    return (
        f"{_or([_join(key, k) for k in missing])} {'is' if len(missing) == 1 else 'are'} not set (required)"
    )


def _bound(word: str) -> Callable[[jsonschema.ValidationError, str], str]:
    return lambda err, key: f"must be {word} {err.validator_value}, got {yaml_value(err.instance)}"


def _min_length(err: jsonschema.ValidationError, key: str) -> str:
    if err.instance == "":
        return "must not be empty"
    n = err.validator_value
    return f"must be at least {_plural(n, 'character')} long, got {yaml_value(err.instance)}"


def _max_length(err: jsonschema.ValidationError, key: str) -> str:
    n = err.validator_value
    return (
        f"must be at most {_plural(n, 'character')} long, got {len(err.instance)}: {yaml_value(err.instance)}"
    )


def _items_bound(word: str) -> Callable[[jsonschema.ValidationError, str], str]:
    return lambda err, key: (
        f"must have {word} {_plural(err.validator_value, 'item')}, got {len(err.instance)}: "
        f"{yaml_value(err.instance)}"
    )


def _pattern(err: jsonschema.ValidationError, key: str) -> str:
    """The property's `description` names what the pattern stands for, when it has one."""
    what = err.schema.get("description")
    if what:
        return f"{yaml_value(err.instance)} is not {what}"
    return f"{yaml_value(err.instance)} does not match the pattern {yaml_value(err.validator_value, 200)}"


def _contains(err: jsonschema.ValidationError, key: str) -> str:
    wanted = err.validator_value
    item = (
        yaml_value(wanted["const"]) if isinstance(wanted, dict) and "const" in wanted else "a matching item"
    )
    return f"must contain {item}, got {yaml_value(err.instance)}"


def _unique(err: jsonschema.ValidationError, key: str) -> str:
    return f"items must be unique, got {yaml_value(err.instance)}"


def _not(err: jsonschema.ValidationError, key: str) -> str:
    """The forbidden shape's own `description` says what is wrong; else the shape itself."""
    sub = err.validator_value if isinstance(err.validator_value, dict) else {}
    if sub.get("description"):
        return str(sub["description"])
    if "const" in sub:
        return f"must not be {yaml_value(sub['const'])}"
    return f"must not match {yaml_value(sub, 200)}"


def _alternatives(err: jsonschema.ValidationError, key: str) -> str:
    """anyOf/oneOf: the alternatives whose type fits say what is wrong; else the types they accept."""
    if err.validator == "oneOf" and not err.context:
        return f"{yaml_value(err.instance)} matches more than one alternative"
    fitting = [e for e in err.context or [] if e.validator != "type"]
    if not fitting:
        types = [
            t
            for e in err.context or []
            for t in (e.validator_value if isinstance(e.validator_value, list) else [e.validator_value])
        ]
        return (
            f"expected {_or([_TYPE_NAMES.get(t, t) for t in dict.fromkeys(types)])}, got {_got(err.instance)}"
        )
    return _or([_message(e, _join(key, *e.relative_path)) for e in fitting])


Formatter = Callable[[jsonschema.ValidationError, str], str]
FORMATTERS: dict[str, Formatter] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "required": _required,
    "minimum": _bound("at least"),
    "maximum": _bound("at most"),
    "exclusiveMinimum": _bound("greater than"),
    "exclusiveMaximum": _bound("less than"),
    "multipleOf": _bound("a multiple of"),
    "minLength": _min_length,
    "maxLength": _max_length,
    "minItems": _items_bound("at least"),
    "maxItems": _items_bound("at most"),
    "pattern": _pattern,
    "contains": _contains,
    "uniqueItems": _unique,
    "not": _not,
    "anyOf": _alternatives,
    "oneOf": _alternatives,
}


def _join(key: str, *parts: PathPart) -> str:
    """`key` (dotted, "" at the top) extended by `parts`."""
    full = [*(key.split(".") if key else []), *parts]
    return dotted(full) if full else ""


def _message(err: jsonschema.ValidationError, key: str) -> str:
    """One error in values-file words; `key` is the dotted path of err.instance."""
    fmt = FORMATTERS.get(str(err.validator))
    text = fmt(err, key) if fmt else err.message
    if "propertyNames" in err.relative_schema_path:  # the instance is a key of the map, not a value
        text = f"key {text}"
    return text


# --- pairs of values (if/then): "<condition>: <what to set>" -------------------------------------------

_INSTANCE_STEPS = {"properties": 2, "patternProperties": 2, "additionalProperties": 1, "items": 1}
_SCHEMA_STEPS = {"allOf": 2, "anyOf": 2, "oneOf": 2, "not": 1, "if": 1, "then": 1, "else": 1}


def _instance_depth(schema_path: list[Any]) -> int:
    """How many instance levels a schema path descends (properties/<name>, items, ...)."""
    depth, i = 0, 0
    while i < len(schema_path):
        step = schema_path[i]
        if step in _INSTANCE_STEPS:
            depth += 1
            i += _INSTANCE_STEPS[step]
        else:
            i += _SCHEMA_STEPS.get(step, 1)
    return depth


def conditions(schema: dict[str, Any], key: str) -> list[str]:
    """An `if` schema in words: `mysql.enabled is false`, `x.host is set`."""
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        path = _join(key, name)
        if not isinstance(sub, dict):
            continue
        if "const" in sub:
            out.append(f"{path} is {yaml_value(sub['const'])}")
        elif "enum" in sub:
            out.append(f"{path} is one of {yaml_value(sub['enum'])}")
        elif sub.get("minLength", 0) >= 1:
            out.append(f"{path} is set")
        elif sub.get("maxLength") == 0:
            out.append(f"{path} is not set")
        elif isinstance(sub.get("not"), dict) and "const" in sub["not"]:
            out.append(f"{path} is not {yaml_value(sub['not']['const'])}")
        out += conditions(sub, path)
    for sub in schema.get("allOf") or []:
        out += conditions(sub, key)
    return out


def _to_set(err: jsonschema.ValidationError, key: str) -> list[str] | None:
    """The keys an unmet `then` asks to set, each with its description; None when it asks something else."""

    def named(path: str, schema: Any) -> str:
        what = schema.get("description") if isinstance(schema, dict) else None
        return f"{path} ({what})" if what else path

    if err.validator == "required":
        props = err.schema.get("properties") or {}
        return [named(_join(key, k), props.get(k)) for k in err.validator_value if k not in err.instance]
    if err.validator == "minLength" and err.instance == "":
        return [named(key, err.schema)]
    if err.validator in ("anyOf", "oneOf") and err.context:
        out: list[str] = []
        for e in err.context:
            keys = _to_set(e, _join(key, *e.relative_path))
            if keys is None:
                return None
            out += [k for k in keys if k not in out]
        return out
    return None


def _combination(
    err: jsonschema.ValidationError, root: dict[str, Any], prefix: str
) -> tuple[str, list[str]] | None:
    """For an error inside a `then`: the message and the dotted keys of its condition; else None."""
    path = list(err.absolute_schema_path)
    if "then" not in path:
        return None
    at = len(path) - 1 - path[::-1].index("then")
    owner: Any = root
    for step in path[:at]:
        owner = owner[step]
    base = list(err.absolute_path)[: _instance_depth(path[:at])]
    key = _join(prefix, *base)
    when = conditions(owner.get("if") or {}, key)
    target = _join(prefix, *err.absolute_path)
    keys = _to_set(err, target)
    need = f"set {_or(keys)}" if keys else f"{target} {_message(err, target)}"
    cond_keys = [c.split(" ", 1)[0] for c in when]
    return f"{' and '.join(when) or 'this combination'}: {need}", cond_keys


Issue = tuple[list[PathPart], str, str, list[list[PathPart]]]  # path, rule, message, keys to blame


def _issues(err: jsonschema.ValidationError, root: dict[str, Any], prefix: list[PathPart]) -> list[Issue]:
    """(path, rule, message, where to blame); an unknown key points at the key itself, not at its parent.

    `prefix` is where the schema's instance sits in the umbrella's values (a subchart's section).
    """
    rel = list(err.absolute_path)
    if rel[:1] == ["global"]:  # shared by every chart: addressed at the top
        prefix = []
    path: list[PathPart] = [*prefix, *rel]
    key = dotted(path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties") or {})
        patterns = list(err.schema.get("patternProperties") or {})
        extra = [k for k in err.instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
        return [
            ([*path, k], "VALUES-UNKNOWN-KEY", f"unknown key {yaml_value(k)}{hint}", [[*path, k]])
            for k in extra
        ]
    combo = _combination(err, root, dotted(prefix) if prefix else "")
    if combo is not None:
        message, cond_keys = combo
        return [(path, "VALUES-COMBINATION", message, [k.split(".") for k in cond_keys] + [path])]
    rule = _NAME_CHANGES.get(str(err.validator), f"VALUES-{str(err.validator).upper()}")
    return [(path, rule, _message(err, key), [path])]


def _locate(candidates: list[list[PathPart]], layers: list[tuple[ValuesFile, list[PathPart]]]) -> str:
    """`file:line` of the first layer (highest precedence first) that sets one of `candidates`; else of
    the layer that sets the deepest part of the last candidate (the key itself)."""
    for vf, prefix in layers:
        for parts in candidates:
            rel = parts[len(prefix) :]
            if parts[: len(prefix)] == prefix and rel and vf.has(rel):
                return _line(vf, rel)
    parts = candidates[-1]
    best: tuple[int, ValuesFile, list[PathPart]] | None = None
    for vf, prefix in layers:
        if parts[: len(prefix)] != prefix:
            continue
        rel = parts[len(prefix) :]
        depth = next((n for n in range(len(rel), 0, -1) if vf.has(rel[:n])), 0)
        if best is None or depth > best[0]:
            best = (depth, vf, rel)
    return "<values>" if best is None else _line(best[1], best[2])


def _line(vf: ValuesFile, rel: list[PathPart]) -> str:
    line = vf.line_of(rel)
    return f"{vf.path}:{line}" if line else str(vf.path)


@dataclass(frozen=True)
class Scope:
    """One chart's schema and the values helm validates against it."""

    prefix: list[PathPart]  # where its values sit in the umbrella's: [] or [subchart key]
    schema_file: Path
    values: dict[str, Any]
    defaults: ValuesFile  # the chart's own values.yaml

    @property
    def validator(self) -> jsonschema.protocols.Validator | None:
        return _validator(self.schema_file)


def scopes(chart_dir: Path, merged: dict[str, Any]) -> list[Scope]:
    """Each enabled subchart on its section (over its defaults, with `global`), then the umbrella on
    `merged` with those sections under their keys: helm's view, so a rule across charts (if/then in
    the umbrella schema) can name any subchart key."""
    out: list[Scope] = []
    coalesced = dict(merged)
    for sub in subcharts(chart_dir):
        if sub.condition and _get(merged, sub.condition) is False:
            continue
        sub_defaults = defaults_of(sub.directory)
        section = merged.get(sub.name) or {}
        if not isinstance(section, dict):
            continue  # the umbrella schema reports a non-map section
        values = merge(sub_defaults.data, section)
        coalesced[sub.name] = {k: v for k, v in values.items() if k != "global"}
        values["global"] = merge(sub_defaults.data.get("global") or {}, merged.get("global") or {})
        out.append(Scope([sub.name], sub.directory / "values.schema.json", values, sub_defaults))
    out.append(Scope([], chart_dir / "values.schema.json", coalesced, defaults_of(chart_dir)))
    return out


def check(chart_dir: Path, vs: ValuesSet) -> list[Finding]:
    """All schema violations of one values set, umbrella and subcharts (InputError: unreadable file)."""
    defaults = defaults_of(chart_dir)
    user = [load(f) for f in vs.files]
    merged: dict[str, Any] = defaults.data
    for vf in user:
        merged = merge(merged, vf.data)
    user_layers: list[tuple[ValuesFile, list[PathPart]]] = [(vf, []) for vf in reversed(user)]
    found = scopes(chart_dir, merged)
    sub_layers = [(sc.defaults, sc.prefix) for sc in found if sc.prefix]
    issues: list[tuple[Issue, list[tuple[ValuesFile, list[PathPart]]]]] = []
    for sc in found:
        validator = sc.validator
        if validator is None:
            continue
        # a subchart-default key is addressed without the prefix in its own file
        layers = [*user_layers, (defaults, []), *([(sc.defaults, sc.prefix)] if sc.prefix else sub_layers)]
        for err in validator.iter_errors(sc.values):
            issues += [(i, layers) for i in _issues(err, validator.schema, sc.prefix)]

    seen: set[tuple[str, str, str]] = set()
    findings = []
    for (parts, rule, message, blame), layers in issues:
        key = (dotted(parts), rule, message)
        if key in seen:  # the umbrella and a subchart schema may both catch the same key
            continue
        seen.add(key)
        findings.append(
            Finding(
                file=_locate(blame, layers),
                object="values",
                path=dotted(parts),
                rule=rule,
                message=message,
                severity=Severity.ERROR,
                check=CHECK,
                context=vs.name,
            )
        )
    return sorted(findings, key=lambda f: (f.path, f.rule))
