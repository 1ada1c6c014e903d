"""The hooks check: what a Helm hook uses must exist when Helm runs it (Helm's phases, weights, names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack.checks import DEFAULT_CHECKS, hooks, run_gate
from webstack.manifests import Manifest
from webstack.paths import CHART_DIR
from webstack.values import ValuesSet, matrix

pytestmark = pytest.mark.static
CHART = Path(__file__).parents[1] / "fixtures" / "gate" / "hook-order"


def _by_set(chart: Path) -> dict[str, list]:
    result = run_gate(chart, matrix(chart), [], checks=("hooks",))
    assert result.checks == ["hooks"]
    out: dict[str, list] = {vs.name: [] for vs in matrix(chart)}
    for f in result.findings:
        out[f.context].append(f)
    return out


def test_fires_on_a_pre_install_job_using_a_release_configmap_and_silent_on_a_lower_weight_hook():
    found = _by_set(CHART)
    [f] = found["default"]
    assert (f.check, f.rule, f.object) == ("hooks", "HOOK-ORDER", "Job/webstack-setup")
    assert f.file == "hook-order/templates/job.yaml"
    assert f.path == "spec.template.spec.containers[0].envFrom[0].configMapRef"
    assert "ConfigMap/webstack-config" in f.message and "release resource" in f.message
    assert found["hook"] == []  # the ConfigMap is a pre-install hook of weight -5: made before the Job
    [late] = found["late-hook"]  # weight 5: made after the Job of weight 0
    assert "sorts after it (weight 5" in late.message
    [gone] = found["post-delete"]  # the release's Secret is deleted before post-delete hooks
    assert gone.object == "Job/webstack-cleanup" and "Secret/webstack-creds" in gone.message


def _m(kind: str, name: str, annotations: dict[str, str] | None = None, **spec: object) -> Manifest:
    doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations or {}}}
    if spec:
        doc["apiVersion"] = "batch/v1"
        doc["spec"] = {"template": {"spec": {"restartPolicy": "Never", **spec}}}
    return Manifest("t/templates/x.yaml", doc)


def test_helm_phase_model():
    pre = {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "0"}
    # equal weights: the name decides, and the kind (helm's install order) breaks a name tie
    for other, expect in (("b", 2), ("0", 0), ("a-job", 0)):
        job = _m("Job", "a-job", pre, serviceAccountName=other,
                 containers=[{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": other}}]}])
        got = hooks.check([job, _m("ServiceAccount", other, pre), _m("Secret", other, pre)], "t")
        assert len(got) == expect, (other, got)
    # post-install and pre-upgrade (the chart's migration Job) see the release's objects; an optional
    # reference and an object the render does not make are not this check's business
    mig = _m("Job", "migrate", {"helm.sh/hook": "post-install,pre-upgrade"}, containers=[{
        "name": "c", "image": "i", "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": True}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "elsewhere", "key": "k"}}}]}])
    assert hooks.check([mig, _m("Secret", "s"), _m("ConfigMap", "cm")], "t") == []
    mig.doc["metadata"]["annotations"]["helm.sh/hook"] = "pre-install,pre-upgrade"
    assert [f.path for f in hooks.check([mig, _m("Secret", "s"), _m("ConfigMap", "cm")], "t")] == [
        "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef"]
    # a release resource using a pre-install hook deleted on success: gone before it is created
    sec = _m("Secret", "s", {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeeded"})
    dep = _m("Job", "worker", None, containers=[{"name": "c", "image": "i",
                                                 "envFrom": [{"secretRef": {"name": "s"}}]}])
    [f] = hooks.check([dep, sec], "t")
    assert "hook-succeeded" in f.message


def test_silent_on_the_real_chart_and_in_the_default_checks():
    assert "hooks" in DEFAULT_CHECKS and "server" not in DEFAULT_CHECKS
    sets = matrix(CHART_DIR)
    result = run_gate(CHART_DIR, sets, [], checks=("hooks",))
    assert result.findings == []
    # the chart has hooks to judge: the migration Job (post-install,pre-upgrade) and the helm test Pod
    assert any(m.is_hook for r in result.renders.values() for m in r.manifests)
    assert ValuesSet("default") in sets
