"""A checkout in a private (0700) folder, as under /root or `mktemp -d`: the app's code still reaches
the processes that drop to uid 10001 (gunicorn, the migration), through a world-readable copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from webstack.stack import proc as stack_proc

READ_AS_APP_USER = (
    "import importlib.util, pathlib; spec = importlib.util.find_spec('webstack_app'); "
    "pathlib.Path(spec.origin).read_text(); "
    "print((pathlib.Path(spec.origin).parents[1] / 'VERSION').read_text().strip())"
)


def test_uid_10001_reads_the_app_from_a_checkout_it_cannot_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:  # no privilege drop as a user: the processes run as us and read app/ itself
        assert stack_proc.app_source() == stack_proc.APP_DIR
        return
    private = tmp_path / "checkout"
    shutil.copytree(stack_proc.APP_DIR, private / "app", ignore=shutil.ignore_patterns("__pycache__"))
    private.chmod(0o700)
    (private / "app" / "VERSION").write_text("9.9.9-private\n")  # a copy of its own, not an older one
    monkeypatch.setattr(stack_proc, "APP_DIR", private / "app")

    as_app = ["setpriv", "--reuid", "10001", "--regid", "10001", "--clear-groups", "/usr/bin/python3", "-c"]
    direct = subprocess.run([*as_app, READ_AS_APP_USER], env={"PYTHONPATH": str(private / "app")},
                            capture_output=True, text=True, timeout=30, check=False)
    assert direct.returncode != 0, "uid 10001 could read the private checkout: the test proves nothing"

    source = stack_proc.app_source()
    assert not source.is_relative_to(private)
    staged = subprocess.run([*as_app, READ_AS_APP_USER], env={"PYTHONPATH": str(source)},
                            capture_output=True, text=True, timeout=30, check=False)
    assert staged.returncode == 0, staged.stderr
    assert staged.stdout.strip() == "9.9.9-private"
