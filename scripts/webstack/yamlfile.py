"""Reading a YAML file a user gave: one place for the error that names the file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webstack.errors import InputError


def read_text(path: Path, what: str) -> str:
    """The file's text; InputError for a directory, an unreadable file or bytes that are not UTF-8."""
    if path.is_dir():
        raise InputError(f"{path}: expected a {what} file, found a directory")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise InputError(
            f"{path}:{line}:{col}: expected UTF-8 text, found byte 0x{data[exc.start]:02x} "
            f"(save the {what} file as UTF-8)"
        ) from exc


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte `offset`; everything before it is valid UTF-8."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8")) + 1


def error_place(exc: yaml.YAMLError, text: str = "") -> str:
    """`:line:col: YAML syntax error: <problem> (<context> started at line N)`, lines 1-based.

    `text` is what was parsed: a ReaderError (a character YAML does not allow) only knows its offset.
    """
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f":{line}:{col}: YAML error: {exc.reason} (U+{char:04X})"
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
    text = read_text(path, what)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}{error_place(exc, text)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"{path}:1: expected a mapping at the top level ({what}), found {type(data).__name__}")
    return data
