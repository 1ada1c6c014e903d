"""Teardown leaves nothing, whatever ran; a second cluster runs beside the first; bad inputs are
clear errors with nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from webstack.cluster import kube as kubemod
from webstack.cluster.kube import connect
from webstack.cluster.node import NodeCluster, host
from webstack.errors import ClusterError
from webstack.servers import LOOPBACK


def host_netfilter() -> str:
    """The host's rules, without iptables-save's timestamped comment lines."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("#"))


def traces(cluster_name: str, root: Path, cgroup_root: str) -> list[str]:
    """Everything a cluster could leave behind, by what the kernel and the filesystem say."""
    found = []
    if (host.NETNS_DIR / cluster_name).exists():
        found.append(f"network namespace {cluster_name}")
    if pids := host.pids_of(None, cgroup_root):
        found.append(f"processes {pids}")
    if mounts := host.mounts_under(root):
        found.append(f"mounts {mounts}")
    if cgroups := host.cgroup_dirs(cgroup_root):
        found.append(f"cgroups {cgroups}")
    if root.exists():
        found.append(f"folder {root}")
    if (short := Path("/var/lib/webstack") / cluster_name).exists():
        found.append(f"folder {short}")
    if mounts := host.mounts_under(short):
        found.append(f"mounts {mounts}")
    results = Path("/var/lib/cni/results")
    if results.is_dir() and (left := list(results.glob(f"{cluster_name}-*"))):
        found.append(f"CNI results {left}")
    return found


def test_second_cluster_beside_the_first_then_nothing_left(node_cluster: NodeCluster) -> None:
    before = host_netfilter()
    second = NodeCluster()
    second.start()
    root, name, cgroup_root = second.lay.root, second.name, second.lay.cgroup_root
    try:
        assert second.name != node_cluster.name and second.api_port != node_cluster.api_port
        kube = connect(second.kubeconfig, second.context)
        try:
            kubemod.create_namespace(kube, "leak")
            image = next(i.ref for i in second.images if i.name == "app")
            kube.core.create_namespaced_pod("leak", client.V1Pod(
                metadata=client.V1ObjectMeta(name="sleeper"),
                spec=client.V1PodSpec(
                    security_context=client.V1PodSecurityContext(
                        run_as_non_root=True, run_as_user=10001,
                        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
                    containers=[client.V1Container(
                        name="c", image=image, image_pull_policy="Never",
                        command=["python", "-c", "import time; time.sleep(3600)"],
                        security_context=client.V1SecurityContext(
                            allow_privilege_escalation=False,
                            capabilities=client.V1Capabilities(drop=["ALL"])))])))
            deadline = __import__("time").monotonic() + 60
            while kube.core.read_namespaced_pod("sleeper", "leak").status.phase != "Running":
                assert __import__("time").monotonic() < deadline, "sleeper never ran"
                __import__("time").sleep(0.3)
        finally:
            kube.close()
        assert host.pids_of(None, cgroup_root), "the pod's processes should run under the cluster's cgroup"
    finally:
        second.stop()
    assert traces(name, root, cgroup_root) == []
    assert host_netfilter() == before, "the host's netfilter rules changed"
    # the first cluster is untouched by the second one's life and death
    kube = connect(node_cluster.kubeconfig, node_cluster.context)
    kube.close()


def test_a_port_already_taken_is_a_clear_error_and_nothing_is_left() -> None:
    import socket

    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        s.listen()
        taken = s.getsockname()[1]
        cluster = NodeCluster(api_port=taken)
        with pytest.raises(ClusterError, match=f"{LOOPBACK}:{taken}"):
            cluster.start()
    assert cluster.layout is None
    assert not (host.NETNS_DIR / cluster.name).exists()
    assert host.cgroup_dirs(f"/{cluster.name}") == []


def test_missing_node_programs_are_named_by_the_command(tmp_path: Path) -> None:
    env = dict(os.environ, WEBSTACK_CACHE=str(tmp_path / "empty-cache"))
    res = subprocess.run([sys.executable, "-m", "webstack", "cluster", "up", "--provider", "node",
                          "--name", "ws-missing"], env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "kubelet" in res.stderr and "make setup" in res.stderr
    assert not (host.NETNS_DIR / "ws-missing").exists()


def test_sigterm_mid_smoke_tears_the_node_down(tmp_path: Path) -> None:
    import signal

    private = tmp_path / "private"
    private.mkdir()
    before = {p.name for p in host.NETNS_DIR.iterdir()} if host.NETNS_DIR.is_dir() else set()
    env = dict(os.environ, WEBSTACK_TMP=str(private))
    proc = subprocess.Popen([sys.executable, "-m", "webstack", "smoke", "--provider", "node",
                             "--report-dir", str(tmp_path / "r")],
                            env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # each step is announced as it finishes
        seen.append(line)
        if "namespace" in line:
            break
    assert any("passed  cluster up" in s for s in seen), "".join(seen)
    new = ({p.name for p in host.NETNS_DIR.iterdir()} - before)
    assert len(new) == 1, new
    name = new.pop()
    assert host.pids_of(host.netns_inode(name), f"/{name}"), "the node should be running now"
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(180) == 130, rest
    assert traces(name, private / "none", f"/{name}") == []
    assert list(private.iterdir()) == [], "the cluster folder was not removed"


def test_a_failing_image_build_is_a_clear_error_and_nothing_is_left(tmp_path: Path) -> None:
    import shutil

    from webstack.errors import ImageBuildError
    from webstack.paths import APP_DIR

    broken = tmp_path / "app"
    shutil.copytree(APP_DIR, broken)
    (broken / "Dockerfile").write_text((broken / "Dockerfile").read_text().replace(
        "COPY requirements.txt", "COPY no-such-file.txt"))
    (broken / "VERSION").write_text("0.0.0-broken\n")
    cluster = NodeCluster(app_dir=broken, app_versions=["0.0.0-broken"])
    with pytest.raises(ImageBuildError, match="app"):
        cluster.start()
    assert cluster.layout is None
    assert not (host.NETNS_DIR / cluster.name).exists()


def test_no_cgroups_is_said_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A machine without cgroup v1 hierarchies, simulated by pointing at a folder that lacks them.
    monkeypatch.setattr(host, "CGROUP_FS", tmp_path / "no-cgroups")
    cluster = NodeCluster()
    with pytest.raises(ClusterError, match=r"no cgroup v1 memory hierarchy.*--provider kwok"):
        cluster.start()
    assert cluster.layout is None and not (host.NETNS_DIR / cluster.name).exists()


def test_a_failing_install_keeps_component_logs_and_leaves_nothing(tmp_path: Path) -> None:
    import json
    import shutil

    fixtures = Path(__file__).parents[1] / "fixtures" / "cluster"
    chart = tmp_path / "chart"
    shutil.copytree(fixtures / "chart", chart)
    # The API server rejects this Service: the install fails at once, with the server's reason.
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("servicePort: 8000", "servicePort: 0"))
    before = {p.name for p in host.NETNS_DIR.iterdir()} if host.NETNS_DIR.is_dir() else set()
    reports = tmp_path / "reports"
    res = subprocess.run([sys.executable, "-m", "webstack", "smoke", "--provider", "node", "--scenario",
                          str(fixtures / "scenario.yaml"), "--chart", str(chart), "--namespace", "failing",
                          "--report-dir", str(reports)], capture_output=True, text=True, check=False)
    assert res.returncode == 1, res.stderr
    steps = {s["name"]: s for s in json.loads((reports / "smoke.json").read_text())["steps"]}
    assert steps["install"]["result"] == "failed" and "spec.ports[0].port" in steps["install"]["detail"]
    assert steps["cluster down"]["result"] == "passed"
    logs = list(reports.glob("node-*-logs"))
    assert logs and (logs[0] / "kubelet.log").stat().st_size > 0 and (logs[0] / "kube-apiserver.log").exists()
    after = {p.name for p in host.NETNS_DIR.iterdir()} if host.NETNS_DIR.is_dir() else set()
    assert after - before == set()


def test_cluster_up_in_one_process_down_from_another(tmp_path: Path) -> None:
    """`webstack cluster down` stops what `cluster up` left running, the host relay included."""
    name = f"ws-ud{os.getpid() % 10000}"
    run = [sys.executable, "-m", "webstack", "cluster"]
    up = subprocess.run([*run, "up", "--provider", "node", "--name", name], capture_output=True, text=True,
                        check=False)
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.split("export KUBECONFIG=")[1].split()[0])
    root = kubeconfig.parent
    kube = connect(kubeconfig)
    assert [n.metadata.name for n in kube.core.list_node().items] == ["webstack-node"]
    kube.close()
    down = subprocess.run([*run, "down", "--name", name], capture_output=True, text=True, check=False)
    assert down.returncode == 0, down.stderr
    assert traces(name, root, f"/{name}") == []
    relays = subprocess.run(["pgrep", "-f", f"/var/lib/webstack/{name}/"], capture_output=True, text=True)
    assert relays.stdout == "", f"processes of {name} still run: {relays.stdout}"


def test_a_name_in_use_is_refused_and_the_running_cluster_is_untouched(node_cluster: NodeCluster) -> None:
    twin = NodeCluster(name=node_cluster.name)
    with pytest.raises(ClusterError, match=f"a node cluster named {node_cluster.name} exists"):
        twin.start()
    assert twin.layout is None
    assert node_cluster.lay.sockets.is_dir() and node_cluster.lay.kubelet_dir.is_dir()
    kube = connect(node_cluster.kubeconfig, node_cluster.context)
    try:
        assert [n.metadata.name for n in kube.core.list_node().items] == ["webstack-node"]
    finally:
        kube.close()
