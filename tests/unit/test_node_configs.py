"""The node cluster's configuration files, as pure functions: no servers, milliseconds."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from webstack.cluster.node import configs
from webstack.cluster.node.configs import Layout


def paths_in(value: object) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in paths_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in paths_in(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


def test_containerd_keeps_everything_in_the_cluster_folder(tmp_path: Path) -> None:
    lay = Layout("ws-a", tmp_path / "a")
    conf = tomllib.loads(configs.containerd_toml(lay, "localhost/webstack/pause:1.0"))
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True  # negative oom_score_adj is refused on this machine
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == "localhost/webstack/pause:1.0"
    owned = [p for p in paths_in(conf) if not p.startswith("/usr/lib/cni")]
    assert owned and all(Path(p).is_relative_to(lay.root) or Path(p).is_relative_to(lay.short)
                         for p in owned), owned
    # sockets stay short whatever the folder: a Unix socket path may not exceed 107 bytes
    deep = Layout("ws-abcdef12", tmp_path / ("d" * 200))
    assert len(str(deep.containerd_socket) + ".ttrpc") < 100


def test_two_clusters_share_no_path_socket_or_cgroup(tmp_path: Path) -> None:
    a, b = Layout("ws-a", tmp_path / "a"), Layout("ws-b", tmp_path / "b")
    assert a.netns != b.netns and a.cgroup_root != b.cgroup_root and a.cni_network != b.cni_network
    assert a.containerd_socket != b.containerd_socket and a.api_socket != b.api_socket
    assert a.short != b.short
    ka = yaml.safe_load(configs.kubelet_config(a, "n"))
    kb = yaml.safe_load(configs.kubelet_config(b, "n"))
    assert ka["cgroupRoot"] == "/ws-a" and kb["cgroupRoot"] == "/ws-b"
    assert set(paths_in(ka)).isdisjoint(paths_in(kb))


def test_kubelet_runs_on_this_machine_kind(tmp_path: Path) -> None:
    conf = yaml.safe_load(configs.kubelet_config(Layout("ws-a", tmp_path), "node-x"))
    assert conf["failCgroupV1"] is False and conf["cgroupDriver"] == "cgroupfs"
    assert conf["clusterDNS"] == [configs.NODE_IP]
    assert conf["authentication"]["anonymous"]["enabled"] is False
    assert conf["authorization"]["mode"] == "Webhook"
    assert conf["readOnlyPort"] == 0


def test_cni_network_is_named_after_the_cluster_and_never_masquerades(tmp_path: Path) -> None:
    conf = json.loads(configs.cni_conflist(Layout("ws-a", tmp_path)))
    assert conf["name"] == "ws-a"
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert Path(bridge["ipam"]["dataDir"]).is_relative_to(tmp_path)


def test_kube_proxy_leaves_host_wide_conntrack_sysctls_alone(tmp_path: Path) -> None:
    conf = yaml.safe_load(configs.kube_proxy_config(Layout("ws-a", tmp_path), "n"))
    assert conf["conntrack"]["maxPerCore"] == 0 and conf["conntrack"]["tcpEstablishedTimeout"] == "0s"


def test_corefile_answers_only_for_the_cluster(tmp_path: Path) -> None:
    text = configs.corefile(Layout("ws-a", tmp_path))
    assert f"bind {configs.NODE_IP}" in text and "kubernetes cluster.local" in text
    assert "forward" not in text  # nothing may leave the namespace
