"""The node cluster's one control plane, in the first node's network namespace.

etcd, kube-apiserver, controller-manager, scheduler and CoreDNS, plus the loopback relay through
which the toolkit's clients reach the API server (127.0.0.1:<port> on the host -> a Unix socket
-> the API server inside). With more than one node, node loss is made visible within seconds
(see `loss_flags`): the chart's behaviour when a node goes away is what the multi-node lifecycle
measures, and Kubernetes' production defaults (40 s grace, 300 s tolerations) would make every
run wait minutes for it.
"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from webstack.cluster.node import configs
from webstack.cluster.node.configs import API_PORT, NODE_IP
from webstack.errors import ClusterError
from webstack.servers import LOOPBACK, log_tail, port_open

if TYPE_CHECKING:
    from webstack.cluster.node import NodeCluster

NODE_MONITOR_GRACE = "16s"  # > 3 lease renewals (every 5 s, see configs.kubelet_config)
EVICTION_TOLERATION_S = 10  # pods leave a NotReady/unreachable node after this many seconds


def loss_flags(nodes: int) -> tuple[list[str], list[str]]:
    """(API server flags, controller-manager flags) that make node loss fast; none on one node,
    where there is nowhere to move pods and a busy machine's late lease must not evict them."""
    if nodes < 2:
        return [], []
    api = [f"--default-not-ready-toleration-seconds={EVICTION_TOLERATION_S}",
           f"--default-unreachable-toleration-seconds={EVICTION_TOLERATION_S}"]
    return api, [f"--node-monitor-grace-period={NODE_MONITOR_GRACE}", "--node-monitor-period=2s"]


def start(cluster: NodeCluster, bins: dict[str, Path]) -> None:
    lay, p = cluster.lay, cluster.lay.pki
    api_flags, cm_flags = loss_flags(cluster.nodes)
    etcd = cluster.daemon("etcd", [
        str(bins["etcd"]), "--name", "node", "--data-dir", str(lay.root / "etcd"),
        "--listen-client-urls", "http://127.0.0.1:2379",
        "--advertise-client-urls", "http://127.0.0.1:2379",
        "--listen-peer-urls", "http://127.0.0.1:2380",
        "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
        "--initial-cluster", "node=http://127.0.0.1:2380", "--unsafe-no-fsync",
        "--listen-metrics-urls", "http://127.0.0.1:2381",
    ])
    _relay(cluster)
    api = cluster.daemon("kube-apiserver", [
        str(bins["kube-apiserver"]), "--etcd-servers", "http://127.0.0.1:2379",
        "--bind-address", "0.0.0.0", "--secure-port", str(API_PORT), "--advertise-address", NODE_IP,
        "--service-cluster-ip-range", configs.SERVICE_CIDR,
        "--client-ca-file", str(p / "ca.crt"),
        "--tls-cert-file", str(p / "apiserver.crt"), "--tls-private-key-file", str(p / "apiserver.key"),
        "--kubelet-client-certificate", str(p / "admin.crt"),
        "--kubelet-client-key", str(p / "admin.key"),
        "--kubelet-certificate-authority", str(p / "ca.crt"),
        # exec/port-forward would otherwise resolve the node name through the host's resolver.
        "--kubelet-preferred-address-types", "InternalIP",
        "--service-account-issuer", f"https://kubernetes.default.svc.{configs.CLUSTER_DOMAIN}",
        "--service-account-key-file", str(p / "sa.pub"),
        "--service-account-signing-key-file", str(p / "sa.key"),
        "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
        "--allow-privileged=false", "--profiling=false", *api_flags,
    ])
    cluster.wait(lambda: etcd.alive() and api_ready(cluster), "API server ready", api)
    kubeconfig = str(lay.path("admin-inside.kubeconfig"))
    cluster.daemon("kube-controller-manager", [
        str(bins["kube-controller-manager"]), "--kubeconfig", kubeconfig,
        "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
        "--bind-address", "127.0.0.1", "--service-account-private-key-file", str(p / "sa.key"),
        "--root-ca-file", str(p / "ca.crt"), "--use-service-account-credentials",
        "--cluster-signing-cert-file", str(p / "ca.crt"), "--cluster-signing-key-file", str(p / "ca.key"),
        "--leader-elect=false", *cm_flags,
    ])
    cluster.daemon("kube-scheduler", [
        str(bins["kube-scheduler"]), "--kubeconfig", kubeconfig,
        "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
        "--bind-address", "127.0.0.1", "--leader-elect=false",
    ])
    cluster.daemon("coredns", [str(bins["coredns"]), "-conf", str(lay.path("Corefile"))])


def _relay(cluster: NodeCluster) -> None:
    """127.0.0.1:<api_port> on the host -> a Unix socket in the cluster folder -> the API server."""
    sock = cluster.lay.api_socket
    cluster.daemon("relay-inside", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600",
                                    f"TCP:{NODE_IP}:{API_PORT}"])
    port = cluster.api_port
    if not _port_free(port):  # connecting would reach the other listener: ask bind
        raise ClusterError(f"the API relay cannot listen on {LOOPBACK}:{port}: the port is "
                           "already taken; choose another or stop what holds it")
    outside = cluster.daemon("relay-host", [
        "socat", f"TCP-LISTEN:{port},bind={LOOPBACK},fork,reuseaddr", f"UNIX-CONNECT:{sock}",
    ], inside=False)
    deadline = time.monotonic() + 10
    while not port_open(port) or not outside.alive():
        if not outside.alive() or time.monotonic() > deadline:
            raise ClusterError(
                f"the API relay could not listen on {LOOPBACK}:{port} (is the port already "
                f"taken?):\n{log_tail(outside.log, 5)}")
        time.sleep(0.05)


def api_ready(cluster: NodeCluster) -> bool:
    pki = cluster.lay.pki
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    url = f"https://{LOOPBACK}:{cluster.api_port}/readyz"
    with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
        return bool(resp.status == 200)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True
