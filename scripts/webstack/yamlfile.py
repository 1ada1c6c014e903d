"""Reading a YAML file a user gave: one place for the error that names the file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webstack.errors import InputError


def error_place(exc: yaml.YAMLError) -> str:
    """`:line:col: YAML syntax error: <problem> (<context> started at line N)`, lines 1-based."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f": YAML error: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
    context = ""
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return f"{where}: YAML syntax error: {exc.problem or exc}{context}"


def load_mapping(path: Path, what: str) -> dict[str, Any]:
    """The top-level mapping of `path` (empty file: {}); InputError naming `what`, the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}{error_place(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"{path}:1: expected a mapping at the top level ({what}), found {type(data).__name__}")
    return data
