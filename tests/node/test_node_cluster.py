"""The real node itself: components in the private namespace, real pods, Services and DNS, volumes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from kubernetes import client

from webstack.cluster import kube as kubemod
from webstack.cluster.kube import Kube
from webstack.cluster.node import NODE_NAME, STORAGE_CLASS, NodeCluster, host
from webstack.cluster.node.configs import NODE_IP

RESTRICTED = client.V1PodSecurityContext(
    run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001,
    seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))
CONTAINER_SC = client.V1SecurityContext(
    allow_privilege_escalation=False, read_only_root_filesystem=True,
    capabilities=client.V1Capabilities(drop=["ALL"]))


def eventually(fn: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


def app_image(cluster: NodeCluster) -> str:
    return next(i.ref for i in cluster.images if i.name == "app")


def python_pod(cluster: NodeCluster, name: str, code: str, *,
               mounts: list[client.V1VolumeMount] | None = None,
               volumes: list[client.V1Volume] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(
            restart_policy="Never", security_context=RESTRICTED, volumes=volumes,
            containers=[client.V1Container(
                name="c", image=app_image(cluster), image_pull_policy="Never",
                command=["python", "-c", code], security_context=CONTAINER_SC,
                ports=[client.V1ContainerPort(container_port=8000, name="http")], volume_mounts=mounts)]))


def finished(kube: Kube, ns: str, name: str) -> str:
    return str(kube.core.read_namespaced_pod(name, ns).status.phase)


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    kubemod.create_namespace(kube, "node-checks")
    return "node-checks"


def test_every_component_runs_inside_the_private_namespace(node_cluster: NodeCluster, kube: Kube) -> None:
    assert kubemod.server_version(kube) == "v1.36.1"
    assert kube.api.configuration.host.startswith("https://127.0.0.1:")
    inode = host.netns_inode(node_cluster.lay.netns)
    assert inode is not None
    for name, proc in node_cluster.procs.items():
        assert proc.alive(), name
        where = os.stat(f"/proc/{proc.pid}/ns/net").st_ino
        # only the host end of the API relay lives outside: it is what 127.0.0.1 reaches
        assert (where == inode) == (name != "relay-host"), name
    node = kube.core.read_node(NODE_NAME)
    assert [a.address for a in node.status.addresses if a.type == "InternalIP"] == [NODE_IP]
    assert node.status.node_info.kubelet_version == "v1.36.1"
    assert node.status.node_info.container_runtime_version.startswith("containerd://1.")


def test_a_restricted_pod_really_runs(node_cluster: NodeCluster, kube: Kube, ns: str) -> None:
    code = "import os; print('uid', os.getuid(), 'gid', os.getgid())"
    kube.core.create_namespaced_pod(ns, python_pod(node_cluster, "whoami", code))
    eventually(lambda: finished(kube, ns, "whoami") == "Succeeded", "pod whoami Succeeded")
    assert kube.core.read_namespaced_pod_log("whoami", ns).strip() == "uid 10001 gid 10001"


def test_service_and_dns_are_crossed(node_cluster: NodeCluster, kube: Kube, ns: str) -> None:
    server = ("import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n def do_GET(s):\n"
              "  s.send_response(200); s.end_headers(); s.wfile.write(b'pong')\n"
              "h.HTTPServer(('0.0.0.0', 8000), H).serve_forever()")
    pod = python_pod(node_cluster, "pong", server)
    pod.spec.restart_policy = "Always"
    kube.core.create_namespaced_pod(ns, pod)
    kube.core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="pong"),
        spec=client.V1ServiceSpec(selector={"app": "pong"}, ports=[client.V1ServicePort(
            port=80, target_port="http")])))
    url = f"http://pong.{ns}.svc.cluster.local/"
    code = ("import time, urllib.request\nfor i in range(60):\n try:\n"
            f"  print(urllib.request.urlopen('{url}', timeout=2).read().decode()); break\n"
            " except Exception as e: print(e); time.sleep(1)\nelse: raise SystemExit(1)")
    kube.core.create_namespaced_pod(ns, python_pod(node_cluster, "ping", code))
    eventually(lambda: finished(kube, ns, "ping") in ("Succeeded", "Failed"), "pod ping finished", 90)
    log = kube.core.read_namespaced_pod_log("ping", ns)
    assert finished(kube, ns, "ping") == "Succeeded", log
    assert log.strip().endswith("pong")


def test_claims_bind_to_real_volumes_and_are_reclaimed(
    node_cluster: NodeCluster, kube: Kube, ns: str
) -> None:
    kube.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], resources=client.V1VolumeResourceRequirements(
                requests={"storage": "64Mi"}))))
    code = "open('/data/hello', 'w').write('kept'); import os; print(oct(os.stat('/data').st_mode))"
    claim = client.V1PersistentVolumeClaimVolumeSource(claim_name="data")
    pod = python_pod(node_cluster, "writer", code,
                     mounts=[client.V1VolumeMount(name="d", mount_path="/data")],
                     volumes=[client.V1Volume(name="d", persistent_volume_claim=claim)])
    kube.core.create_namespaced_pod(ns, pod)
    eventually(lambda: finished(kube, ns, "writer") in ("Succeeded", "Failed"), "pod writer finished", 90)
    assert finished(kube, ns, "writer") == "Succeeded", kube.core.read_namespaced_pod_log("writer", ns)
    pvc = kube.core.read_namespaced_persistent_volume_claim("data", ns)
    assert pvc.status.phase == "Bound" and pvc.spec.storage_class_name == STORAGE_CLASS
    pv = kube.core.read_persistent_volume(pvc.spec.volume_name)
    folder = node_cluster.lay.volumes / os.path.basename(pv.spec.local.path)
    assert (folder / "hello").read_text() == "kept"
    assert os.stat(folder).st_gid == 10001  # the pod's fsGroup was applied, as on a real disk
    kube.core.delete_namespaced_pod("writer", ns, grace_period_seconds=0)
    kube.core.delete_namespaced_persistent_volume_claim("data", ns)

    def reclaimed() -> bool:
        try:
            kube.core.read_persistent_volume(pv.metadata.name)
        except client.ApiException as exc:
            return exc.status == 404 and not folder.exists()
        return False

    eventually(reclaimed, "the Released volume deleted with its folder", 60)


def test_the_chart_with_an_httproute_runs_after_the_gateway_api_crds(
    node_cluster: NodeCluster, kube: Kube, tmp_path
) -> None:
    """ci/httproute-values.yaml on the real node: the pinned Gateway API CRDs applied first, then the
    whole chart installed and ready (real containers) with its HTTPRoutes accepted by the CRD."""
    import yaml

    from webstack import helm
    from webstack.checks import crds
    from webstack.paths import CHART_DIR

    gateway_api = crds.pinned_module_for("gateway.networking.k8s.io/v1")
    assert gateway_api is not None
    assert "httproutes.gateway.networking.k8s.io" in kubemod.install_crds(kube, crds.manifests(gateway_api))
    overlay = tmp_path / "images.yaml"
    overlay.write_text(yaml.safe_dump(node_cluster.chart_values()))
    kubemod.create_namespace(kube, "node-gateway")
    target = ["--kubeconfig", str(node_cluster.kubeconfig), "--namespace", "node-gateway"]
    helm.run(["install", "gw", str(CHART_DIR), "--values", str(CHART_DIR / "ci" / "httproute-values.yaml"),
              "--values", str(overlay), "--wait", "--timeout", "240s", *target], timeout=300)
    routes = client.CustomObjectsApi(kube.api).list_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "node-gateway", "httproutes")["items"]
    assert {r["metadata"]["name"] for r in routes} == {"gw-nginx", "gw-nginx-redirect"}
    ready = kube.apps.read_namespaced_deployment("gw-nginx", "node-gateway").status.ready_replicas
    assert ready and ready >= 1
    helm.run(["uninstall", "gw", "--wait", "--timeout", "120s", *target], timeout=180)
