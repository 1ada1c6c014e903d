"""The set-up: cached, atomic, idempotent Go builds, and the apt check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webstack import toolchain
from webstack.commands import setup
from webstack.errors import ToolchainError

pytestmark = pytest.mark.toolchain
FIXTURE = Path(__file__).parents[1] / "fixtures" / "gotool"


def _fixture_tool() -> toolchain.GoTool:
    return toolchain.GoTool(
        "hello", "v0.0.1", ("hello",), (".",), module="../../tests/fixtures/gotool",
        ldflags="-X main.version=v0.0.1", why="test fixture",
    )


def test_build_is_cached_per_version_and_stamped(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    tool = _fixture_tool()
    assert not tool.installed()
    toolchain.build(tool, toolchain.go_binary())
    assert tool.bin_dir == tmp_path / "tools" / "hello" / "v0.0.1" / "bin"
    out = subprocess.run([tool.binary()], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "v0.0.1"
    # No staging folders left behind next to the finished build.
    assert sorted(p.name for p in tool.bin_dir.parent.iterdir()) == ["bin"]


def test_failed_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    broken = toolchain.GoTool("broken", "v0.0.1", ("broken",), ("./does-not-exist",),
                              module="../../tests/fixtures/gotool")
    with pytest.raises(ToolchainError, match=r"building broken v0\.0\.1 failed"):
        toolchain.build(broken, toolchain.go_binary())
    assert not broken.installed()
    assert list(broken.bin_dir.parent.iterdir()) == []


def test_second_setup_does_nothing_and_says_so(tmp_path):
    """`make test` ran `make setup` first, so every tool is cached: setup must be a no-op."""
    env = dict(os.environ)
    res = subprocess.run([sys.executable, "-m", "webstack", "setup"], capture_output=True, text=True,
                         env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert "nothing to do" in res.stderr
    assert "building" not in res.stderr


def test_setup_fixture_tool_twice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    monkeypatch.setitem(toolchain.TOOLS, "hello", _fixture_tool())
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    assert setup.setup(["hello"], apt=False, venv_bin=venv_bin) == 1
    assert (venv_bin / "hello").resolve() == _fixture_tool().binary().resolve()
    capsys.readouterr()
    assert setup.setup(["hello"], apt=False, venv_bin=venv_bin) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_missing_go_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(toolchain.os, "access", lambda *a: False)
    with pytest.raises(ToolchainError, match=r"Go is not installed.*make setup"):
        toolchain.go_binary()


def test_missing_apt_without_apt_get_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match="no apt-get here"):
        toolchain.install_apt(["wrk"])


def test_apt_packages_detected_by_their_programs():
    assert toolchain.missing_apt_packages({"coreutils": "ls"}) == []
    assert toolchain.missing_apt_packages({"no-such-package": "no-such-program-xyz"}) == ["no-such-package"]


def test_helm3_is_cached_and_linked_as_helm3_never_as_helm(tmp_path):
    """Helm 3 and Helm 4 both build a `helm`: the Helm 3 build is renamed, so `helm` stays Helm 4."""
    helm4, helm3 = toolchain.TOOLS["helm"], toolchain.TOOLS["helm3"]
    assert helm3.version == toolchain.HELM3_VERSION and helm3.version.startswith("v3.")
    assert helm3.rename == (("helm", "helm3"),) and helm3.binaries == ("helm3",)
    assert helm3.bin_dir != helm4.bin_dir and helm3.binary().name == "helm3"
    assert f"-X helm.sh/helm/v3/internal/version.version={helm3.version}" in helm3.ldflags
    setup.link_into(tmp_path, [helm4, helm3])
    assert os.readlink(tmp_path / "helm") == str(helm4.binary())
    assert os.readlink(tmp_path / "helm3") == str(helm3.binary())
