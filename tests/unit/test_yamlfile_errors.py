"""Reading YAML files users give: bytes that are not UTF-8, folders, characters YAML refuses; values files."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack import values
from webstack.errors import InputError
from webstack.yamlfile import load_mapping, read_text


@pytest.mark.parametrize(
    ("data", "place"),
    [
        (b"\xff", ":1:1:"),
        (b"a: 1\nb: caf\xe9\n", ":2:7:"),
        (b"a: 1\r\nb: \xc3\xa9\xc3\xa9\x80\n", ":2:6:"),  # the column counts characters, not bytes
        (b"a: \xe2\x82\n", ":1:4:"),  # a sequence cut short
    ],
)
def test_not_utf8_names_line_and_column_of_the_first_bad_byte(tmp_path: Path, data: bytes, place: str):
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    with pytest.raises(InputError, match=f"{path}{place} expected UTF-8 text, found byte 0x"):
        read_text(path, "thing")


def test_folder_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"{tmp_path}: expected a thing file, found a directory"):
        read_text(tmp_path, "thing")
    with pytest.raises(InputError, match=f"cannot read thing {tmp_path / 'nope'}: No such file"):
        read_text(tmp_path / "nope", "thing")


def test_a_character_yaml_refuses_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\nb: x\x07y\n")
    with pytest.raises(InputError, match=rf"{path}:2:5: YAML error: .* \(U\+0007\)"):
        load_mapping(path, "thing")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, ": values file does not exist"),
        (lambda p: p.mkdir(), ": expected a values file, found a directory"),
        (lambda p: p.write_bytes(b"a: \xff\n"), ":1:4: expected UTF-8 text"),
        (lambda p: p.write_text("a: [1\n"), ":2:1: YAML syntax error"),
        (lambda p: p.write_text("a: x\x01\n"), ":1:5: YAML error"),
        (lambda p: p.write_text("- 1\n"), ":1: expected a mapping of values at the top level, found list"),
    ],
)
def test_values_files(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "v.yaml"
    make(path)
    with pytest.raises(InputError, match=f"{path}{message}"):
        values.load(path)
    with pytest.raises(InputError, match=f"{path}{message}"):  # checked when selected, before any render
        values.select(tmp_path, [path], use_matrix=False)
