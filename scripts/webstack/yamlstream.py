"""Rendered YAML read fast, with the meaning helm and the API server give it.

helm's YAML (go-yaml v2 through sigs.k8s.io/yaml) is YAML 1.1: `yes`/`on` are booleans, `0644` is
octal; a timestamp decoded into an untyped value stays a string. PyYAML's safe loader agrees except
for timestamps (it makes `date` objects), so `Loader` drops that one resolver.

`load` builds objects straight from libyaml's event stream: PyYAML's Python constructor costs about
5 µs per node, which on a matrix render is most of the gate's time. Plain scalars that cannot be a
string are resolved by PyYAML itself; anything rarer (anchors, aliases, explicit tags, merge keys)
falls back to the full loader, so the result is always what `Loader` would give.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml import events

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_BASE):  # type: ignore[misc,valid-type]
    """The safe loader (libyaml's where built) with timestamps kept as strings, as go-yaml keeps them."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _BASE.yaml_implicit_resolvers.items()
    }


_BOOL = {w: True for w in ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")} | {
    w: False for w in ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
}
_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_MAYBE_NUMBER = frozenset("+-.0123456789")  # the first characters of YAML 1.1 ints and floats
_resolver = Loader("")


class _Unusual(Exception):
    """The document uses a feature `load` leaves to the full loader."""


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    if (b := _BOOL.get(value)) is not None:
        return b
    if value == "=" or value == "<<":
        raise _Unusual  # YAML 1.1's value and merge keys
    if value[0] in _MAYBE_NUMBER:
        tag = _resolver.resolve(yaml.ScalarNode, value, (True, False))
        if tag != "tag:yaml.org,2002:str":
            return _resolver.construct_object(yaml.ScalarNode(tag, value))
    return value


def _build(text: str) -> Any:
    containers: list[Any] = []
    keys: list[list[Any]] = []  # per open mapping: [] before a key, [key] after it
    root = None
    for ev in yaml.parse(text, Loader=_BASE):
        kind = type(ev)
        if kind is events.ScalarEvent:
            if ev.tag is not None and not ev.implicit[0] and not ev.implicit[1]:
                raise _Unusual  # an explicit tag (!!binary, !custom)
            value = _plain(ev.value) if ev.implicit[0] and not ev.style else ev.value
        elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
            if ev.anchor is not None or (ev.tag is not None and not ev.implicit):
                raise _Unusual
            containers.append({} if kind is events.MappingStartEvent else [])
            keys.append([])
            continue
        elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
            value = containers.pop()
            keys.pop()
        elif kind is events.AliasEvent or (kind is events.DocumentStartEvent and root is not None):
            raise _Unusual  # an alias, or a second document in one text
        else:
            continue
        if kind is events.ScalarEvent and ev.anchor is not None:
            raise _Unusual
        if not containers:
            root = value
        elif type(top := containers[-1]) is list:
            top.append(value)
        elif pending := keys[-1]:
            top[pending.pop()] = value
        elif type(value) is dict or type(value) is list:
            raise _Unusual  # a complex key
        else:
            pending.append(value)
    return root


def load(text: str) -> Any:
    """One YAML document, as `yaml.load(text, Loader)` reads it; YAMLError with the place when broken."""
    try:
        return _build(text)
    except _Unusual:
        return yaml.load(text, Loader=Loader)
