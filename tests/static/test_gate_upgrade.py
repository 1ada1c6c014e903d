"""Upgrade safety: immutable fields diffed between a base render (git ref or previous values) and now;
and the version-bump rule against a git base ref. Git repositories here are throwaway ones in tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from webstack import versioning
from webstack.checks import upgrade
from webstack.cli import main
from webstack.errors import InputError
from webstack.manifests import Manifest
from webstack.render import render_all
from webstack.report import Severity
from webstack.values import ValuesSet

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A throwaway repository holding a copy of the demo chart at commit `base`."""
    root = tmp_path / "repo"
    shutil.copytree(DEMO, root / "charts" / "demo")
    _git(tmp_path, "init", "-q", str(root))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    _git(root, "tag", "base")
    return root


def _sts(name="db", **spec) -> Manifest:
    base = {
        "selector": {"matchLabels": {"a": "b"}},
        "serviceName": "db-headless",
        "volumeClaimTemplates": [
            {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
        ],
    }
    return Manifest(
        "c/templates/statefulset.yaml",
        {"kind": "StatefulSet", "metadata": {"name": name}, "spec": {**base, **spec}},
    )


def test_statefulset_immutable_fields():
    old = [_sts()]
    new = [
        _sts(
            serviceName="db",
            podManagementPolicy="Parallel",
            volumeClaimTemplates=[
                {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
            ],
        )
    ]
    found = {f.path: f for f in upgrade.diff(old, new, "t")}
    assert set(found) == {"spec.serviceName", "spec.podManagementPolicy", "spec.volumeClaimTemplates"}
    assert all(f.severity == Severity.ERROR for f in found.values())
    assert upgrade.diff(old, [_sts()], "t") == []


def test_service_selector_change_is_a_warning_and_cluster_ip_an_error():
    svc = lambda **spec: Manifest("s", {"kind": "Service", "metadata": {"name": "s"}, "spec": spec})  # noqa: E731
    found = upgrade.diff([svc(selector={"a": "1"}, clusterIP="None")], [svc(selector={"a": "2"})], "t")
    assert {(f.path, f.severity) for f in found} == {
        ("spec.selector", Severity.WARNING),
        ("spec.clusterIP", Severity.ERROR),
    }


def test_recreated_hook_job_may_change_but_a_plain_job_may_not():
    def job(image, hook):
        ann = (
            {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}
            if hook
            else {}
        )
        return Manifest(
            "j",
            {
                "kind": "Job",
                "metadata": {"name": "migrate", "annotations": ann},
                "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
            },
        )

    assert upgrade.diff([job("a:1", True)], [job("a:2", True)], "t") == []
    (f,) = upgrade.diff([job("a:1", False)], [job("a:2", False)], "t")
    assert f.path == "spec.template" and f.severity == Severity.ERROR


def test_selector_change_against_a_git_ref_is_caught(repo, tmp_path):
    chart = repo / "charts" / "demo"
    helpers = chart / "charts" / "web" / "templates" / "_helpers.tpl"
    # the classic mistake: the chart version slips into the selector labels
    helpers.write_text(
        helpers.read_text().replace(
            "app.kubernetes.io/instance: {{ .Release.Name }}\n",
            "app.kubernetes.io/instance: {{ .Release.Name }}\nhelm.sh/chart: {{ .Chart.Version }}\n",
            1,
        )
    )
    base_chart = versioning.chart_at_ref(chart, "base", tmp_path / "base", repo=repo)
    assert (base_chart / "charts" / "web" / "templates" / "_helpers.tpl").read_text() != helpers.read_text()
    old = render_all(base_chart, [ValuesSet("default")])["default"].manifests
    new = render_all(chart, [ValuesSet("default")])["default"].manifests
    found = {(f.object, f.path, f.severity) for f in upgrade.diff(old, new, "t")}
    assert ("Deployment/webstack-web", "spec.selector", Severity.ERROR) in found
    assert ("Service/webstack-web", "spec.selector", Severity.WARNING) in found


def test_unknown_base_ref_is_an_input_error(repo, tmp_path):
    with pytest.raises(InputError, match="--base-ref 'no-such-ref': not a commit, branch or tag"):
        versioning.chart_at_ref(repo / "charts" / "demo", "no-such-ref", tmp_path / "x", repo=repo)


def test_previous_values_on_the_cli(tmp_path, capsys):
    report = tmp_path / "r.json"
    args = [
        "check",
        "--chart",
        str(DEMO),
        "-f",
        str(DEMO / "ci" / "nodeport-values.yaml"),
        "--previous-values",
        str(DEMO / "values.yaml"),
        "--format",
        "json",
        "--output",
        str(report),
    ]
    assert main(args) == 1  # a Service type change is a warning, and warnings fail by default
    found = json.loads(report.read_text())["findings"]
    assert [(f["object"], f["rule"], f["severity"]) for f in found] == [
        ("Service/webstack-web", "UPGRADE-SERVICE-TYPE", "warning")
    ]
    assert main([*args, "--fail-on", "error"]) == 0


def test_version_bump_rule(repo):
    chart = repo / "charts" / "demo"
    assert versioning.bump_findings(chart, "base", repo=repo) == []
    values = chart / "charts" / "web" / "values.yaml"
    values.write_text(values.read_text().replace("greeting: hello", "greeting: hi"))
    found = {f.file: f for f in versioning.bump_findings(chart, "base", repo=repo)}
    # the subchart changed, and with it the umbrella's files: both need a bump
    assert set(found) == {str(chart / "Chart.yaml"), str(chart / "charts" / "web" / "Chart.yaml")}
    assert "not greater than 0.1.0" in found[str(chart / "Chart.yaml")].message
    for chart_yaml in found:
        p = Path(chart_yaml)
        p.write_text(p.read_text().replace("version: 0.1.0", "version: 0.1.1"))
    assert versioning.bump_findings(chart, "base", repo=repo) == []
    assert versioning.chart_version_bumped(chart, "base", repo=repo) is None


def test_new_untracked_file_counts_as_a_change(repo):
    chart = repo / "charts" / "demo"
    (chart / "templates" / "extra.yaml").write_text("# new\n")
    f = versioning.chart_version_bumped(chart, "base", repo=repo)
    assert f is not None and "templates/extra.yaml" in f.message


def test_bad_base_ref_for_the_bump_rule(repo):
    with pytest.raises(InputError, match="not a commit"):
        versioning.chart_version_bumped(repo / "charts" / "demo", "nope", repo=repo)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.1", "1.0.0"),
        ("1.10.0", "1.9.9"),
        ("1.0.0", "1.0.0-rc.1"),
        ("1.0.0-rc.10", "1.0.0-rc.2"),
        ("1.0.0-beta", "1.0.0-alpha.1"),
    ],
)
def test_semver_precedence(a, b):
    assert versioning.greater(a, b) and not versioning.greater(b, a)


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+"])
def test_semver_strict(bad):
    assert not versioning.is_semver(bad)


def test_gate_compares_every_values_set_with_the_base_ref(repo):
    from webstack.checks import run_gate
    from webstack.values import matrix

    chart = repo / "charts" / "demo"
    ha = chart / "ci" / "ha-values.yaml"
    ha.write_text(ha.read_text().replace("replicaCount: 3", "replicaCount: 4"))  # mutable: no finding
    svc = chart / "charts" / "web" / "templates" / "service.yaml"
    svc.write_text(
        svc.read_text().replace(
            "  type: {{ .Values.service.type }}\n", "  type: {{ .Values.service.type }}\n  clusterIP: None\n"
        )
    )
    result = run_gate(chart, matrix(chart), ["1.30"], checks=("upgrade",), base_ref="base", repo=repo)
    assert result.checks == ["upgrade"]
    assert sorted((f.context, f.rule) for f in result.findings) == [
        ("default (from base)", "UPGRADE-SERVICE-CLUSTERIP"),
        ("ha (from base)", "UPGRADE-SERVICE-CLUSTERIP"),
        ("nodeport (from base)", "UPGRADE-SERVICE-CLUSTERIP"),
    ]
