"""Generated MySQL passwords outlive an uninstall, like the data volume they unlock.

The chart marks its generated Secret `helm.sh/resource-policy: keep`; a reinstall under the same
release name must find it through `lookup` and reuse the passwords MySQL was initialised with.
"""

from __future__ import annotations

from webstack import helm
from webstack.cluster.kube import Kube, create_namespace
from webstack.cluster.kwok import KwokCluster
from webstack.paths import CHART_DIR

RELEASE, NAMESPACE = "keep", "kept-credentials"
SECRET = f"{RELEASE}-mysql"


def _helm(cluster: KwokCluster, *args: str) -> None:
    target = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE]
    if cluster.context:
        target += ["--kube-context", cluster.context]
    helm.run([*args, *target], timeout=180)


def test_reinstall_reuses_the_kept_generated_passwords(kwok_cluster: KwokCluster, kube: Kube) -> None:
    create_namespace(kube, NAMESPACE)
    _helm(kwok_cluster, "install", RELEASE, str(CHART_DIR), "--wait", "--timeout", "120s")
    first = kube.core.read_namespaced_secret(SECRET, NAMESPACE).data
    assert set(first) == {"mysql-root-password", "mysql-password"}

    _helm(kwok_cluster, "uninstall", RELEASE, "--wait")
    kept = kube.core.read_namespaced_secret(SECRET, NAMESPACE)
    assert kept.metadata.annotations["helm.sh/resource-policy"] == "keep"
    assert not kube.apps.list_namespaced_deployment(NAMESPACE).items, "uninstall left Deployments"

    _helm(kwok_cluster, "install", RELEASE, str(CHART_DIR), "--wait", "--timeout", "120s")
    assert kube.core.read_namespaced_secret(SECRET, NAMESPACE).data == first
