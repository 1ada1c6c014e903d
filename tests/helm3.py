"""Helm 3 for the tests that prove the chart on it: the pinned `helm3` build, run with private
HELM_* folders so it never reads or writes the user's (Helm 4) configuration, cache or plugins."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from webstack.toolchain import TOOLS

Runner = Callable[..., subprocess.CompletedProcess[str]]


def runner(home: Path, *tail: str) -> Runner:
    """run(*args) -> the finished `helm3 args... tail...`; the tier fails loudly if Helm 3 is not built."""
    binary = TOOLS["helm3"].binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"Helm 3 is not built ({binary}): run `make setup`", pytrace=False)
    env = dict(os.environ, HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
               HELM_DATA_HOME=str(home / "data"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args, *tail], env=env, capture_output=True, text=True,
                              timeout=300, check=False)

    return run
