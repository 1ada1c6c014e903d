"""The Gateway API route on a real API server (kwok): ci/httproute-values.yaml installed after the
standard Gateway API CRDs (v1.7.0, the manifests `webstack setup` cached with their schemas; never
downloaded here). Without the CRDs Helm refuses the release, naming the kind; with them the HTTPRoutes
are created as rendered, defaulted and validated by the CRD's own schema and CEL rules.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client

from webstack import helm
from webstack.checks import crds
from webstack.cluster.kube import Kube, create_namespace, delete_namespaces, install_crds
from webstack.cluster.kwok import KwokCluster
from webstack.errors import HelmError
from webstack.paths import CHART_DIR

RELEASE, NAMESPACE = "gw", "gateway-api"
VALUES = CHART_DIR / "ci" / "httproute-values.yaml"
GROUP, VERSION = "gateway.networking.k8s.io", "v1"


def _helm(cluster: KwokCluster, *args: str) -> None:
    target = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE]
    if cluster.context:
        target += ["--kube-context", cluster.context]
    helm.run([*args, *target], timeout=180)


def _routes(kube: Kube) -> dict[str, dict[str, Any]]:
    api = client.CustomObjectsApi(kube.api)
    found = api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "httproutes")["items"]
    return {r["metadata"]["name"]: r for r in found}


@pytest.fixture(scope="module")
def namespace(kube: Kube) -> Any:
    create_namespace(kube, NAMESPACE)
    yield NAMESPACE
    delete_namespaces(kube, [NAMESPACE], wait=0)


def test_httproute_installs_after_the_gateway_api_crds(kwok_cluster: KwokCluster, kube: Kube,
                                                       namespace: str) -> None:
    gateway_api = crds.pinned_module_for(f"{GROUP}/{VERSION}")
    assert gateway_api is not None and gateway_api.version == "v1.7.0"

    # Without the CRDs: the release is refused up front, with the kind named.
    with pytest.raises(HelmError, match="HTTPRoute"):
        _helm(kwok_cluster, "install", RELEASE, str(CHART_DIR), "--values", str(VALUES), "--timeout", "60s")

    names = install_crds(kube, crds.manifests(gateway_api))
    assert "httproutes.gateway.networking.k8s.io" in names

    _helm(kwok_cluster, "upgrade", "--install", RELEASE, str(CHART_DIR), "--values", str(VALUES),
          "--wait", "--timeout", "120s")
    routes = _routes(kube)
    assert set(routes) == {f"{RELEASE}-nginx", f"{RELEASE}-nginx-redirect"}
    want = yaml.safe_load(VALUES.read_text())["nginx"]["httpRoute"]

    main = routes[f"{RELEASE}-nginx"]
    assert main["metadata"]["annotations"]["webstack.io/owner"] == "platform"
    assert main["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    spec = main["spec"]
    # the API server applied the CRD's defaults: the object went through its schema
    assert spec["parentRefs"] == [{**want["parentRefs"][0], "group": GROUP, "kind": "Gateway"}]
    assert spec["hostnames"] == ["webstack.example.com"]
    [rule] = spec["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    [backend] = rule["backendRefs"]
    assert (backend["name"], backend["port"], backend["kind"]) == (f"{RELEASE}-nginx", 80, "Service")
    service = kube.core.read_namespaced_service(f"{RELEASE}-nginx", NAMESPACE)
    assert backend["port"] in [p.port for p in service.spec.ports]

    redirect = routes[f"{RELEASE}-nginx-redirect"]["spec"]
    assert [p["sectionName"] for p in redirect["parentRefs"]] == ["http"]
    assert [p["name"] for p in redirect["parentRefs"]] == ["shared-gateway"]
    assert redirect["hostnames"] == ["webstack.example.com"]
    [rule] = redirect["rules"]
    assert "backendRefs" not in rule or not rule["backendRefs"]
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]

    _helm(kwok_cluster, "uninstall", RELEASE, "--wait")
    assert _routes(kube) == {}
