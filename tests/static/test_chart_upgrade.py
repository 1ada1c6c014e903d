"""Upgrade safety: render revision pairs and compare what Kubernetes refuses to change in place.

Pairs: the defaults against (a) a new image tag, (b) new replica counts, (c) a changed config per
component, (d) everything at once, and (e) the same chart with its versions bumped (a chart
upgrade). Immutable fields must be identical in every pair; each checksum annotation must change
exactly when the config it covers changes. Every revision is rendered once per module.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from webstack.manifests import Manifest, pod_template
from webstack.paths import CHART_DIR
from webstack.render import RELEASE, render_jobs
from webstack.values import ValuesSet

pytestmark = pytest.mark.static

Revs = dict[str, dict[tuple[str, str], Manifest]]  # revision -> (kind, name) -> object

TAG = {"flask": {"image": {"tag": "1.0.1"}}, "nginx": {"image": {"tag": "1.29-alpine"}},
       "mysql": {"image": {"tag": "8.4.7"}}}
REPLICAS = {"flask": {"replicaCount": 5}, "nginx": {"replicaCount": 3}}
FLASK_CONFIG = {"flask": {"config": {"logLevel": "DEBUG"}, "gunicorn": {"workers": 4}}}
NGINX_CONFIG = {"nginx": {"config": {"clientMaxBodySize": "4m"}}}
MYSQL_CONFIG = {"mysql": {"config": {"maxConnections": 300}}}
MYSQL_INITDB = {"mysql": {"initdbScripts": {"02-extra.sql": "SELECT 1;"}}}
REVISIONS: dict[str, dict[str, Any]] = {
    "base": {},
    "tag": TAG,
    "replicas": REPLICAS,
    "flask-config": FLASK_CONFIG,
    "nginx-config": NGINX_CONFIG,
    "mysql-config": MYSQL_CONFIG,
    "mysql-initdb": MYSQL_INITDB,
    "all": {**TAG, **REPLICAS, "flask": {**TAG["flask"], **REPLICAS["flask"], **FLASK_CONFIG["flask"]},
            "nginx": {**TAG["nginx"], **REPLICAS["nginx"], **NGINX_CONFIG["nginx"]},
            "mysql": {**TAG["mysql"], **MYSQL_CONFIG["mysql"]}},
}
# checksum annotation -> the ConfigMap (and data keys, None = all) it must follow.
CHECKSUMS = {
    ("Deployment", "flask", "checksum/config"): ("flask", None),
    ("Deployment", "nginx", "checksum/config"): ("nginx", None),
    ("StatefulSet", "mysql", "checksum/config"): ("mysql", None),
    ("StatefulSet", "mysql", "checksum/initdb"): ("mysql-initdb", None),
}


def _bumped_chart(dest: Path) -> Path:
    """A copy of the chart with every chart version bumped, as the next release would ship it."""
    copy = dest / "webstack"
    shutil.copytree(CHART_DIR, copy, ignore=shutil.ignore_patterns("*.tgz"))
    for chart_yaml in copy.rglob("Chart.yaml"):
        data = yaml.safe_load(chart_yaml.read_text())
        data["version"] = "9.9.9"
        for dep in data.get("dependencies") or []:
            dep["version"] = "9.9.9"
        chart_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> Revs:
    tmp = tmp_path_factory.mktemp("revisions")
    jobs: dict[str, tuple[Path, ValuesSet]] = {}
    for name, values in REVISIONS.items():
        f = tmp / f"{name}.yaml"
        f.write_text(yaml.safe_dump(values))
        jobs[name] = (CHART_DIR, ValuesSet(name, (f,)))
    jobs["chart-bump"] = (_bumped_chart(tmp), ValuesSet("chart-bump"))
    return {name: {(m.kind, m.name): m for m in r.manifests} for name, r in render_jobs(jobs).items()}


CHANGED = [n for n in [*REVISIONS, "chart-bump"] if n != "base"]


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        cur = (cur or {}).get(part)
    return cur


IMMUTABLE = {
    "Deployment": ("spec.selector",),
    "StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
                    "spec.podManagementPolicy"),
    "Service": ("spec.clusterIP", "spec.clusterIPs", "spec.type", "spec.ipFamilies", "spec.ipFamilyPolicy",
                "spec.selector"),
    "PersistentVolumeClaim": ("spec.accessModes", "spec.storageClassName", "spec.volumeName"),
    "PodDisruptionBudget": ("spec.selector",),
    "NetworkPolicy": ("spec.podSelector",),
}


@pytest.mark.parametrize("revision", CHANGED)
def test_object_names_are_stable(revisions: Revs, revision: str) -> None:
    assert set(revisions[revision]) == set(revisions["base"])


@pytest.mark.parametrize("revision", CHANGED)
def test_immutable_fields_identical(revisions: Revs, revision: str) -> None:
    checked = 0
    for key, old in revisions["base"].items():
        new = revisions[revision][key]
        for path in IMMUTABLE.get(old.kind, ()):
            assert _get(old.doc, path) == _get(new.doc, path), f"{old.ref}: {path} changed in {revision}"
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("revision", CHANGED)
def test_jobs_are_hooks_or_unchanged(revisions: Revs, revision: str) -> None:
    """A Job's pod template is immutable: a changed one must be a hook Helm deletes before re-creating."""
    for key, old in revisions["base"].items():
        if old.kind != "Job":
            continue
        new = revisions[revision][key]
        if old.doc["spec"]["template"] != new.doc["spec"]["template"]:
            policy = new.annotations.get("helm.sh/hook-delete-policy", "")
            assert "before-hook-creation" in policy, (
                f"{old.ref} changes its template in {revision} and is not a hook re-created before use")


def test_selectors_use_only_name_instance_component(revisions: Revs) -> None:
    allowed = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
    for m in revisions["all"].values():
        selector = m.doc.get("spec", {}).get("selector") if m.kind != "Service" else None
        labels = (selector or {}).get("matchLabels") if isinstance(selector, dict) else None
        if m.kind == "Service":
            labels = m.doc["spec"].get("selector")
        if m.kind == "NetworkPolicy":
            labels = m.doc["spec"]["podSelector"]["matchLabels"]
        if labels:
            assert set(labels) <= allowed, f"{m.ref} selects on {set(labels) - allowed}"
            assert {"app.kubernetes.io/name", "app.kubernetes.io/instance"} <= set(labels), m.ref


def test_statefulset_identity_depends_only_on_release(revisions: Revs) -> None:
    sts = revisions["base"][("StatefulSet", f"{RELEASE}-mysql")].doc["spec"]
    assert sts["serviceName"] == f"{RELEASE}-mysql-headless"
    assert [t["metadata"]["name"] for t in sts["volumeClaimTemplates"]] == ["data"]
    vct_labels = sts["volumeClaimTemplates"][0]["metadata"].get("labels", {})
    assert "helm.sh/chart" not in vct_labels and "app.kubernetes.io/version" not in vct_labels


def _configmap_data(rev: dict[tuple[str, str], Manifest], suffix: str) -> Any:
    return rev[("ConfigMap", f"{RELEASE}-{suffix}")].doc["data"]


@pytest.mark.parametrize("revision", CHANGED)
def test_checksums_change_exactly_with_their_config(revisions: Revs,
                                                    revision: str) -> None:
    base, new = revisions["base"], revisions[revision]
    for (kind, workload, annotation), (cm, _) in CHECKSUMS.items():
        key = (kind, f"{RELEASE}-{workload}")
        old_sum = pod_template(base[key])["metadata"]["annotations"][annotation]
        new_sum = pod_template(new[key])["metadata"]["annotations"][annotation]
        config_changed = _configmap_data(base, cm) != _configmap_data(new, cm)
        assert (old_sum != new_sum) == config_changed, (
            f"{kind}/{workload} {annotation}: checksum {'changed' if old_sum != new_sum else 'kept'} "
            f"while its ConfigMap {'changed' if config_changed else 'did not'} in revision {revision}")


def test_the_pairs_exercise_both_directions(revisions: Revs) -> None:
    """Guard the test above: each checksum is seen changing at least once and staying at least once."""
    for (kind, workload, annotation), _ in CHECKSUMS.items():
        key = (kind, f"{RELEASE}-{workload}")
        sums = {pod_template(revisions[r][key])["metadata"]["annotations"][annotation] for r in CHANGED}
        base = pod_template(revisions["base"][key])["metadata"]["annotations"][annotation]
        assert base in sums and len(sums) > 1, f"{kind}/{workload} {annotation}"
