"""The chart's release lifecycle driven by Helm 3 (the pinned `helm3` build) on a kwok cluster:
install (--wait, the migration hook Job), `helm test`, upgrade with a config change (pods roll by
their checksum, generated passwords kept through `lookup`), rollback to revision 1, history, and
uninstall (only what the chart keeps on purpose stays). Helm 3 runs as a plain subprocess with
--kubeconfig and private HELM_* folders; the toolkit's own engine stays Helm 4.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helm3 import runner
from webstack.cluster.kube import Kube, create_namespace, delete_namespaces
from webstack.cluster.kwok import KwokCluster
from webstack.paths import CHART_DIR
from webstack.toolchain import HELM3_VERSION

RELEASE, NAMESPACE = "h3", "helm3-lifecycle"
NGINX, SECRET = f"{RELEASE}-nginx", f"{RELEASE}-mysql"


@pytest.fixture(scope="module")
def helm3(kwok_cluster: KwokCluster, tmp_path_factory: pytest.TempPathFactory):
    target = ["--kubeconfig", str(kwok_cluster.kubeconfig), "--namespace", NAMESPACE]
    if kwok_cluster.context:
        target += ["--kube-context", kwok_cluster.context]
    helm3_run = runner(tmp_path_factory.mktemp("helm3-home"), *target)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = helm3_run(*args)
        if check and res.returncode != 0:
            pytest.fail(f"`helm3 {' '.join(args)}` failed (exit {res.returncode}):\n{res.stderr}{res.stdout}",
                        pytrace=False)
        return res

    return run


def _history(helm3) -> list[dict[str, Any]]:
    return json.loads(helm3("history", RELEASE, "--output", "json").stdout)


def _nginx_state(kube: Kube) -> tuple[str, str]:
    """(nginx.conf in the ConfigMap, the pod template's checksum/config annotation)."""
    conf = kube.core.read_namespaced_config_map(NGINX, NAMESPACE).data["nginx.conf"]
    dep = kube.apps.read_namespaced_deployment(NGINX, NAMESPACE)
    return conf, dep.spec.template.metadata.annotations["checksum/config"]


def test_helm3_install_test_upgrade_rollback_uninstall(helm3, kube: Kube, tmp_path: Path) -> None:
    create_namespace(kube, NAMESPACE)
    try:
        version = helm3("version", "--template", "{{.Version}}").stdout.strip()
        assert version == HELM3_VERSION

        # install: waits for the workloads and the post-install migration hook Job
        helm3("install", RELEASE, str(CHART_DIR), "--wait", "--wait-for-jobs", "--timeout", "180s")
        [rev1] = _history(helm3)
        assert (rev1["revision"], rev1["status"]) == (1, "deployed")
        deployments = {d.metadata.name: d for d in kube.apps.list_namespaced_deployment(NAMESPACE).items}
        assert {f"{RELEASE}-flask", NGINX} <= set(deployments)
        for d in deployments.values():
            assert (d.status.available_replicas or 0) == d.spec.replicas, d.metadata.name
        sts = kube.apps.read_namespaced_stateful_set(SECRET, NAMESPACE)
        assert sts.status.ready_replicas == sts.spec.replicas
        passwords = kube.core.read_namespaced_secret(SECRET, NAMESPACE).data
        conf1, checksum1 = _nginx_state(kube)

        # helm test: the chart's test pod ran and succeeded
        res = helm3("test", RELEASE, "--timeout", "120s")
        assert "Phase:          Succeeded" in res.stdout, res.stdout

        # upgrade with a config change: new ConfigMap, pods rolled by checksum, passwords kept (lookup)
        helm3("upgrade", RELEASE, str(CHART_DIR), "--reuse-values",
              "--set", "nginx.config.keepaliveTimeout=30s", "--wait", "--wait-for-jobs", "--timeout", "180s")
        conf2, checksum2 = _nginx_state(kube)
        assert "keepalive_timeout 30s;" in conf2 and "keepalive_timeout 65s;" in conf1
        assert checksum2 != checksum1
        assert kube.core.read_namespaced_secret(SECRET, NAMESPACE).data == passwords
        assert [(r["revision"], r["status"]) for r in _history(helm3)] == [(1, "superseded"), (2, "deployed")]

        # rollback to revision 1: its configuration again, as revision 3
        helm3("rollback", RELEASE, "1", "--wait", "--timeout", "180s")
        assert _nginx_state(kube) == (conf1, checksum1)
        assert kube.core.read_namespaced_secret(SECRET, NAMESPACE).data == passwords
        history = _history(helm3)
        assert [(r["revision"], r["status"]) for r in history] == [
            (1, "superseded"), (2, "superseded"), (3, "deployed")]
        assert "Rollback to 1" in history[-1]["description"]
        values3 = json.loads(helm3("get", "values", RELEASE, "--output", "json").stdout) or {}
        assert "keepaliveTimeout" not in json.dumps(values3)

        # uninstall: the workloads go; the generated Secret stays on purpose (resource-policy: keep)
        helm3("uninstall", RELEASE, "--wait", "--timeout", "120s")
        assert not kube.apps.list_namespaced_deployment(NAMESPACE).items
        assert not kube.apps.list_namespaced_stateful_set(NAMESPACE).items
        kept = kube.core.read_namespaced_secret(SECRET, NAMESPACE)
        assert kept.metadata.annotations["helm.sh/resource-policy"] == "keep"
        assert helm3("status", RELEASE, check=False).returncode != 0
    finally:
        delete_namespaces(kube, [NAMESPACE], wait=0)
