"""The Makefile is the entry point the README documents: its target list must not drift."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from webstack.paths import REPO_ROOT

pytestmark = pytest.mark.toolchain
REQUIRED = {"setup", "test", "test-unit", "test-static", "test-app", "test-stack", "test-cluster",
            "test-node", "images", "lint", "render", "check", "smoke", "bench", "docs", "clean", "help"}


def _make_help() -> str:
    # Not a sub-make of `make test`: no MAKEFLAGS/MAKELEVEL, so no "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=True).stdout


def test_every_required_target_is_listed_with_a_description():
    listed = dict(re.findall(r"^  (\S+)\s+(.+)$", _make_help(), flags=re.M))
    assert set(listed) >= REQUIRED, REQUIRED - set(listed)
    assert all(len(text) > 10 for text in listed.values())


def test_readme_shows_the_current_target_list():
    readme = (REPO_ROOT / "README.md").read_text()
    assert _make_help() in readme, "README's `make help` block is stale: paste the output of `make help`"


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    assert "make test " in (REPO_ROOT / "README.md").read_text()
