"""The helm layer: the real binary, version detection, and unsupported versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from webstack import helm
from webstack.errors import HelmError, HelmVersionError
from webstack.helm import resolve
from webstack.toolchain import TOOLS

pytestmark = pytest.mark.toolchain
TINY = Path(__file__).parents[1] / "fixtures" / "tiny-chart"


@pytest.fixture(autouse=True)
def _fresh_resolution():
    for f in (helm.binary, helm.reported_version, resolve._notice):
        f.cache_clear()
    yield
    for f in (helm.binary, helm.reported_version, resolve._notice):
        f.cache_clear()


def _fake_helm(tmp_path: Path, version: str) -> Path:
    """A stand-in that only answers `helm version`: Helm 3 and unstamped builds cannot exist here."""
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version}'\n")
    path.chmod(0o755)
    return path


def test_real_helm_renders_fixture_chart(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("greeting: hi there\n")
    out = helm.template(helm.Template(TINY, "demo", "ns", (values,))).stdout
    assert "# Source: tiny/templates/" in out  # helm's own comments kept: manifests.parse_stream reads them
    (cm,) = [d for d in yaml.safe_load_all(out) if d]
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "demo-tiny"
    assert cm["data"]["greeting"] == "hi there"


def test_failed_template_is_a_helm_error_in_helms_words(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("greeting: [unclosed\n")
    with pytest.raises(HelmError, match=r"helm template demo .*failed:\n.*"):
        helm.template(helm.Template(TINY, "demo", "ns", (values,)))
    (res,) = helm.template_many([helm.Template(TINY, "demo", "ns", (values,))])
    assert res.returncode != 0 and "yaml" in helm.words(res.stderr).lower()


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
    assert helm.binary() == TOOLS["helm"].binary()


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


def test_release_verbs_aim_plain_commands_at_the_cluster():
    releases = helm.Releases(Path("/k/config"), "ctx", "ns")
    assert releases.cli_args("rel", "--wait") == [
        "rel", "--wait", "--namespace", "ns", "--kubeconfig", "/k/config", "--kube-context", "ctx"]
    assert "--kube-context" not in helm.Releases(Path("/k/config"), None, "ns").cli_args("rel")


def test_helm_words_are_its_error_lines_else_all_it_said():
    assert helm.words("walk.go:1 noise\nError: UPGRADE FAILED: boom\n") == "UPGRADE FAILED: boom"
    assert helm.words("  plain failure\n") == "plain failure"
