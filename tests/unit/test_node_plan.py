"""The multi-node plan as pure functions: names, addresses, CIDRs, folders and flags per node, and
`--nodes` refused with one line and exit 2 before anything starts. No servers, milliseconds."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from webstack import cli
from webstack.cluster import make
from webstack.cluster.node import _stop_rank, configs, controlplane
from webstack.cluster.node.configs import Layout
from webstack.errors import InputError


def nodes(tmp_path: Path, count: int = 3) -> list[Layout]:
    return [Layout("ws-a", tmp_path).of_node(k) for k in range(1, count + 1)]


def test_each_node_has_its_own_name_address_pods_namespace_and_cgroup(tmp_path: Path) -> None:
    lays = nodes(tmp_path)
    assert [n.node_name for n in lays] == ["webstack-node", "webstack-node-2", "webstack-node-3"]
    assert [n.node_ip for n in lays] == ["10.200.0.1", "10.200.0.2", "10.200.0.3"]
    assert [n.pod_cidr for n in lays] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    assert [n.netns for n in lays] == ["ws-a", "ws-a-2", "ws-a-3"]
    assert [n.cgroup_root for n in lays] == ["/ws-a", "/ws-a-2", "/ws-a-3"]
    assert lays[0].node_ip == configs.NODE_IP  # the control plane's address is the first node's
    # Everything of every node is below the cluster's two folders: teardown of those removes all.
    for n in lays:
        assert n.node_dir.is_relative_to(tmp_path) and n.kubelet_dir.is_relative_to(lays[0].short)
    assert len({n.containerd_socket for n in lays}) == 3 and len({n.kubelet_dir for n in lays}) == 3


def test_node_one_keeps_the_single_node_paths(tmp_path: Path) -> None:
    one = Layout("ws-a", tmp_path)
    assert one.node == 1 and one.node_dir == tmp_path and one.path("x") == tmp_path / "etc" / "x"
    assert one.containerd_socket == one.sockets / "containerd.sock"


def test_configs_differ_per_node_and_share_no_path(tmp_path: Path) -> None:
    a, b = nodes(tmp_path, 2)
    ka = yaml.safe_load(configs.kubelet_config(a, a.node_name))
    kb = yaml.safe_load(configs.kubelet_config(b, b.node_name))
    assert (ka["address"], kb["address"]) == ("10.200.0.1", "10.200.0.2")
    assert (ka["podCIDR"], kb["podCIDR"]) == ("10.244.0.0/24", "10.244.1.0/24")
    assert (ka["cgroupRoot"], kb["cgroupRoot"]) == ("/ws-a", "/ws-a-2")
    assert ka["clusterDNS"] == kb["clusterDNS"] == [configs.NODE_IP]  # one CoreDNS, on the first node
    assert kb["tlsCertFile"].endswith("kubelet-serving-2.crt") and ka["tlsCertFile"].endswith("serving.crt")
    assert ka["containerRuntimeEndpoint"] != kb["containerRuntimeEndpoint"]
    ca = tomllib.loads(configs.containerd_toml(a, "p"))
    cb = tomllib.loads(configs.containerd_toml(b, "p"))
    assert ca["root"] != cb["root"] and ca["state"] != cb["state"]
    assert ca["grpc"]["address"] != cb["grpc"]["address"]
    cni_b = json.loads(configs.cni_conflist(b))
    assert cni_b["name"] == "ws-a-2"
    assert cni_b["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    proxy_b = yaml.safe_load(configs.kube_proxy_config(b, b.node_name))
    assert proxy_b["bindAddress"] == "10.200.0.2" and proxy_b["clusterCIDR"] == configs.CLUSTER_POD_CIDR
    assert proxy_b["nodePortAddresses"] == ["10.200.0.2/24"]
    # Files the cluster writes once (in the first node's folder) are the ones every node reads.
    assert proxy_b["clientConnection"]["kubeconfig"] == str(a.path("admin-inside.kubeconfig"))
    assert kb["resolvConf"] == str(a.path("resolv.conf"))


def test_node_loss_is_fast_only_with_several_nodes() -> None:
    assert controlplane.loss_flags(1) == ([], [])
    api, cm = controlplane.loss_flags(2)
    assert "--default-unreachable-toleration-seconds=10" in api
    assert "--default-not-ready-toleration-seconds=10" in api
    assert "--node-monitor-grace-period=16s" in cm
    kubelet = yaml.safe_load(configs.kubelet_config(Layout("ws-a", Path("/x")), "n"))
    lease = kubelet["nodeLeaseDurationSeconds"]
    assert lease / 4 * 3 < 16  # three renewals fit in the grace period: a live node is never lost


def test_teardown_stops_kubelets_first_and_relays_last() -> None:
    names = ["relay-host", "containerd-2", "etcd", "kubelet-2", "kube-proxy", "kubelet", "containerd"]
    assert sorted(names, key=_stop_rank) == [
        "kubelet", "kubelet-2", "kube-proxy", "etcd", "containerd", "containerd-2", "relay-host"]


@pytest.mark.parametrize(("argv", "message"), [
    (["smoke", "--nodes", "0"], "--nodes 0: expected 1 to 3"),
    (["smoke", "--nodes", "4"], "--nodes 4: expected 1 to 3"),
    (["smoke", "--nodes", "2", "--provider", "kwok"], "--nodes 2 needs --provider node"),
    (["cluster", "up", "--nodes", "2", "--provider", "kwok", "--name", "ws-unit"], "needs --provider node"),
])
def test_bad_nodes_is_one_line_exit_2(argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_make_refuses_before_any_cluster_exists() -> None:
    with pytest.raises(InputError, match="expected 1 to 3"):
        make("node", "ws-unit", nodes=0)
    assert make("node", "ws-unit", nodes=3).nodes == 3  # type: ignore[attr-defined]
