"""The Python code is ruff clean: `make test` enforces what `make lint` reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webstack.paths import REPO_ROOT

pytestmark = pytest.mark.static


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    cmd = [str(ruff), "check", "--output-format", "concise", "scripts", "app", "tests", "bench"]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
