"""The helm layer: the real binary, version detection, and unsupported versions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from webstack import helm
from webstack.errors import HelmVersionError

pytestmark = pytest.mark.toolchain
TINY = Path(__file__).parents[1] / "fixtures" / "tiny-chart"


@pytest.fixture(autouse=True)
def _fresh_resolution():
    for f in (helm.binary, helm.reported_version, helm._notice):
        f.cache_clear()
    yield
    for f in (helm.binary, helm.reported_version, helm._notice):
        f.cache_clear()


def _fake_helm(tmp_path: Path, version: str) -> Path:
    """A stand-in that only answers `helm version`: Helm 3 and unstamped builds cannot exist here."""
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version}'\n")
    path.chmod(0o755)
    return path


def test_real_helm_renders_fixture_chart_through_pyhelm3():
    client = helm.client()
    assert client.version.major == 4

    async def render():
        chart = await client.get_chart(TINY)
        return list(await client.template_resources(chart, "demo", {"greeting": "hi there"}))

    (cm,) = asyncio.run(render())
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "demo-tiny"
    assert cm["data"]["greeting"] == "hi there"


def test_real_helm_reports_stamped_helm4():
    assert helm.parse_version(helm.reported_version(helm.binary()))[0] == 4


@pytest.mark.parametrize("text", ["v4.2.4", "4.3.1", "v4.0.0-rc.1"])
def test_supported_versions_parse(text):
    assert helm.parse_version(text)[0] == 4


def test_unstamped_build_is_a_clear_error():
    with pytest.raises(HelmVersionError, match=r"not SemVer.*-ldflags"):
        helm.parse_version("v4.2")


def test_helm3_is_rejected_with_what_to_do():
    with pytest.raises(HelmVersionError, match=r"needs Helm 4.*make setup"):
        helm.parse_version("v3.19.0")


def test_helm3_on_path_is_ignored_with_a_notice(tmp_path, monkeypatch, capsys):
    fake = _fake_helm(tmp_path, "v3.19.0")
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.delenv("WEBSTACK_HELM", raising=False)
    assert helm.helm4_on_path() is None
    assert "ignoring" in capsys.readouterr().err
    assert helm.binary() == helm.TOOLS["helm"].binary()


def test_unsupported_explicit_helm_exits_2_with_message(tmp_path):
    fake = _fake_helm(tmp_path, "v3.19.0")
    res = subprocess.run([sys.executable, "-m", "webstack", "setup", "helm", "--no-apt"],
                         capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "WEBSTACK_HELM": str(fake)}, check=False)
    assert res.returncode == 2
    assert "needs Helm 4" in res.stderr


def test_no_helm_anywhere_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("WEBSTACK_HELM", raising=False)
    with pytest.raises(Exception, match="no helm binary: run `make setup`"):
        helm.binary()
