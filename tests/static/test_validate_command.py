"""`webstack validate` on what a user hands it: bad files are one clear line (exit 2, file and line),
an empty stream is not a pass, and a broken object is a finding (exit 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  a: b\n"


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", "validate", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("content", "where"), [
    (b"a: 1\n\xff\xfe\n", ":2:1: expected UTF-8"),
    (CONFIGMAP.encode() + b"---\nkind: [\n", ":9:1: YAML syntax error"),
    (CONFIGMAP.encode() + b"---\n- a list\n", ":8: a list, expected a Kubernetes object"),
])
def test_a_bad_file_is_one_line_naming_the_place(tmp_path: Path, content: bytes, where: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    res = validate(str(bad))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{bad}{where}" in res.stderr, res.stderr


def test_a_missing_file_and_an_empty_stream_are_errors(tmp_path: Path) -> None:
    res = validate(str(tmp_path / "nope.yaml"))
    assert res.returncode == 2 and "nope.yaml" in res.stderr and "Traceback" not in res.stderr
    res = validate("-", stdin="# nothing here\n")
    assert res.returncode == 2 and "nothing to validate" in res.stderr


def test_findings_exit_1_and_a_clean_stream_exits_0() -> None:
    assert validate("-", stdin=CONFIGMAP).returncode == 0
    res = validate("-", "--format", "json", stdin=CONFIGMAP.replace("data:", "bogus: 1\ndata:"))
    assert res.returncode == 1 and '"rule": "K8S-SCHEMA"' in res.stdout
