"""Two real nodes: one control plane, each node its own namespace, containerd, kubelet and
kube-proxy; pods and Services reached across nodes; the whole lifecycle on two nodes with its
drain and node-loss steps; and teardown (as `webstack cluster down` does it) leaving nothing of
either node.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from webstack.cluster import chart_values
from webstack.cluster import kube as kubemod
from webstack.cluster import scenario as scen
from webstack.cluster.kube import Kube, connect
from webstack.cluster.node import NodeCluster, host
from webstack.lifecycle.app_release import app_images
from webstack.lifecycle.release_steps import Lifecycle
from webstack.report import Step
from webstack.values import merge

SECOND = "webstack-node-2"
RESTRICTED = client.V1PodSecurityContext(
    run_as_non_root=True, run_as_user=10001, run_as_group=10001,
    seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))
CONTAINER_SC = client.V1SecurityContext(
    allow_privilege_escalation=False, read_only_root_filesystem=True,
    capabilities=client.V1Capabilities(drop=["ALL"]))


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    cluster = NodeCluster(nodes=2)
    try:
        cluster.start()
    except Exception as exc:  # the tier cannot run without its cluster: fail, never skip
        pytest.fail(f"the 2-node cluster could not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop(keep_logs_in=tmp_path_factory.mktemp("multinode-logs"))


@pytest.fixture(scope="module")
def kube(two: NodeCluster) -> Iterator[Kube]:
    k = connect(two.kubeconfig, two.context)
    yield k
    k.close()


def pod(cluster: NodeCluster, name: str, node: str, code: str) -> client.V1Pod:
    image = next(i.ref for i in cluster.images if i.name == "app")
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(
            node_name=node, restart_policy="Never", security_context=RESTRICTED,
            containers=[client.V1Container(
                name="c", image=image, image_pull_policy="Never", command=["python", "-c", code],
                security_context=CONTAINER_SC,
                ports=[client.V1ContainerPort(container_port=8000, name="http")])]))


def wait_phase(kube: Kube, ns: str, name: str, phases: tuple[str, ...], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = str(kube.core.read_namespaced_pod(name, ns).status.phase)
        if phase in phases:
            return phase
        time.sleep(0.5)
    pytest.fail(f"pod {name}: not {'/'.join(phases)} within {timeout:.0f}s")


def test_two_nodes_ready_each_in_its_own_namespace(two: NodeCluster, kube: Kube) -> None:
    nodes = {n.metadata.name: n for n in kube.core.list_node().items}
    assert sorted(nodes) == ["webstack-node", SECOND]
    ips = {name: [a.address for a in n.status.addresses if a.type == "InternalIP"]
           for name, n in nodes.items()}
    assert ips == {"webstack-node": ["10.200.0.1"], SECOND: ["10.200.0.2"]}
    kubelets = [two.procs[name] for name in ("kubelet", "kubelet-2")]
    inodes = {w.lay.netns: host.netns_inode(w.lay.netns) for w in two.workers}
    assert len(set(inodes.values())) == 2 and None not in inodes.values()
    for proc, ns in zip(kubelets, inodes, strict=True):  # nsenter execs the daemon: same pid
        assert Path(f"/proc/{proc.pid}/ns/net").stat().st_ino == inodes[ns]


def test_pod_on_node_2_reaches_pod_on_node_1_by_ip_and_service(two: NodeCluster, kube: Kube) -> None:
    ns = "multinode"
    kubemod.create_namespace(kube, ns)
    server = ("import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n def do_GET(s):\n"
              "  s.send_response(200); s.end_headers(); s.wfile.write(b'pong')\n"
              "h.HTTPServer(('0.0.0.0', 8000), H).serve_forever()")
    kube.core.create_namespaced_pod(ns, pod(two, "pong", "webstack-node", server))
    kube.core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="pong"),
        spec=client.V1ServiceSpec(selector={"app": "pong"}, ports=[client.V1ServicePort(
            port=80, target_port="http")])))
    wait_phase(kube, ns, "pong", ("Running",))
    ip = kube.core.read_namespaced_pod("pong", ns).status.pod_ip
    assert ip.startswith("10.244.0."), ip  # the first node's pod range
    urls = [f"http://{ip}:8000/", f"http://pong.{ns}.svc.cluster.local/"]
    code = ("import time, urllib.request\nfor url in " + repr(urls) + ":\n for i in range(60):\n  try:\n"
            "   print(url, urllib.request.urlopen(url, timeout=2).read().decode()); break\n"
            "  except Exception as e: print(e); time.sleep(1)\n else: raise SystemExit(1)")
    kube.core.create_namespaced_pod(ns, pod(two, "ping", SECOND, code))
    phase = wait_phase(kube, ns, "ping", ("Succeeded", "Failed"))
    log = kube.core.read_namespaced_pod_log("ping", ns)
    client_ip = kube.core.read_namespaced_pod("ping", ns).status.pod_ip
    assert phase == "Succeeded", log
    assert client_ip.startswith("10.244.1."), client_ip  # the second node's pod range
    assert [line.split()[-1] for line in log.strip().splitlines()[-2:]] == ["pong", "pong"], log
    kubemod.delete_namespaces(kube, [ns])


@pytest.fixture(scope="module")
def lifecycle(two: NodeCluster) -> list[Step]:
    """The release lifecycle on the two nodes, as `webstack smoke --nodes 2` runs it."""
    sc = scen.load(scen.DEFAULT_SCENARIO, None)
    two.load_images(app_images(sc.chart))
    subcharts = {p.name for p in (sc.chart / "charts").iterdir() if (p / "Chart.yaml").is_file()}
    overlay = {k: v for k, v in chart_values(two).items() if k in subcharts}
    sc = dataclasses.replace(sc, install=merge(sc.install, overlay))
    life = Lifecycle(two, sc, "multinode-life", Path(tempfile.mkdtemp()))
    try:
        return life.run()
    finally:
        life.close()


def test_the_lifecycle_passes_on_two_nodes(lifecycle: list[Step]) -> None:
    bad = [f"{s.name}: {s.result}: {s.detail}" for s in lifecycle if s.result != "passed"]
    assert bad == []


def test_replicas_spread_and_drain_respects_the_budgets(lifecycle: list[Step]) -> None:
    drain = next(s for s in lifecycle if s.name == "node drained")
    assert "spread before: {'flask': ['webstack-node', 'webstack-node-2'], 'nginx': ['webstack-node', " \
           "'webstack-node-2']}" in drain.detail, drain.detail
    assert f"drained {SECOND}" in drain.detail and "uncordoned" in drain.detail
    assert " 0 failed" in drain.detail, drain.detail


def test_node_loss_is_measured_and_mysql_comes_back_with_its_data(lifecycle: list[Step]) -> None:
    lost = next(s for s in lifecycle if s.name == "node lost")
    assert f"{SECOND} lost" in lost.detail and "Ready elsewhere" in lost.detail and "requests" in lost.detail
    db = next(s for s in lifecycle if s.name == "database node lost")
    assert "MySQL unavailable" in db.detail and "notes intact" in db.detail, db.detail


def test_cluster_down_removes_every_node(two: NodeCluster) -> None:
    """As `webstack cluster down` does it: a new object knowing only the name and the folder."""
    lays = [w.lay for w in two.workers]
    down = NodeCluster(name=two.name)
    down.root = two.root  # type: ignore[assignment]
    down.stop()
    left = [f"netns {lay.netns}" for lay in lays if (host.NETNS_DIR / lay.netns).exists()]
    left += [f"cgroups {c}" for lay in lays for c in host.cgroup_dirs(lay.cgroup_root)]
    left += [f"processes {p}" for lay in lays for p in host.pids_of(None, lay.cgroup_root)]
    left += [f"folder {p}" for p in (lays[0].root, lays[0].short) if p.exists()]
    left += [f"mounts {m}" for m in host.mounts_under(lays[0].root, lays[0].short)]
    assert left == []
    two.procs.clear()  # their processes are gone: the fixture's stop has nothing left to do
    two.layout = None
