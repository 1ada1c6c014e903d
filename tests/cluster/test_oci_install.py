"""The chart as a consumer gets it from an OCI registry: pushed to Debian's docker-registry on
127.0.0.1, then `helm install oci://...@sha256:<digest>` (by digest, not tag) on the kwok cluster."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from webstack import helm, package, registry
from webstack.chart import Chart
from webstack.cluster.kube import Kube, create_namespace
from webstack.cluster.kwok import KwokCluster
from webstack.paths import CHART_DIR

RELEASE, NAMESPACE = "bydigest", "oci-by-digest"


def _target(cluster: KwokCluster) -> list[str]:
    target = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE]
    return [*target, "--kube-context", cluster.context] if cluster.context else target


def test_chart_installs_from_the_registry_by_digest(kwok_cluster: KwokCluster, kube: Kube, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):  # the user's helm stays untouched
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    base = Path(tempfile.mkdtemp(prefix="webstack-oci-install-"))
    base.chmod(0o755)  # the registry runs as its service user
    try:
        with registry.local_registry(base) as reg:
            done = package.package(CHART_DIR, tmp_path / "dist")
            pushed = registry.push(done.chart, reg.url, plain_http=True)
            assert pushed.digest.startswith("sha256:")
            create_namespace(kube, NAMESPACE)
            ref = f"{reg.url}/webstack@{pushed.digest}"
            helm.run(["install", RELEASE, ref, "--plain-http", "--wait", "--timeout", "180s",
                      *_target(kwok_cluster)], timeout=240)
            status = json.loads(helm.run(["status", RELEASE, "-o", "json", *_target(kwok_cluster)]).stdout)
            assert status["info"]["status"] == "deployed"
            assert kube.apps.read_namespaced_deployment(f"{RELEASE}-flask", NAMESPACE).status.ready_replicas
            got = helm.run(["get", "metadata", RELEASE, "-o", "json", *_target(kwok_cluster)])
            meta = json.loads(got.stdout)
            assert meta["version"] == Chart.load(CHART_DIR).meta["version"]
            helm.run(["uninstall", RELEASE, "--wait", *_target(kwok_cluster)], timeout=180)
    finally:
        shutil.rmtree(base, ignore_errors=True)
