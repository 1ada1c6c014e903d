"""NetworkPolicy enforcement on a real node: kube-router in its network-policy-only mode.

The bridge CNI enforces nothing, so a node cluster without an enforcer would let every policy step
pass without proving anything. kube-router v2.1.0 (built from its Go module by webstack.toolchain)
runs as a host process inside the node's network namespace with only its firewall on (router and
service proxy off: the bridge routes, kube-proxy proxies). It watches pods, namespaces and policies
through the node's admin kubeconfig and programs iptables (nft backend) with ipset matches, which
this kernel has; nfqueue-based enforcers cannot work here (the kernel lacks nftables `queue`).
Its health port listens inside the namespace only; metrics stay off.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from webstack.cluster.node import host
from webstack.errors import ClusterError
from webstack.servers import Process, log_tail

HEALTH_PORT = 20244  # kube-router's default; each node has its own namespace, so no clash
# Made by kube-router's first full sync: the chain every unmatched pod's traffic falls to.
SYNCED_CHAIN = "KUBE-NWPLCY-DEFAULT"
# What kube-router logs (at -v 1) once per process start, after each sync, and when a sync fails.
STARTED = "Starting network policy controller full sync goroutine"
SYNC_DONE = "sync iptables took"
SYNC_FAILED = ("Aborting sync", "Failed to cleanup stale ipsets")


def command(kube_router: Path, node_name: str, kubeconfig: Path, service_cidr: str) -> list[str]:
    return [
        str(kube_router), "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
        "--kubeconfig", str(kubeconfig), "--hostname-override", node_name,
        "--service-cluster-ip-range", service_cidr,
        "--health-port", str(HEALTH_PORT), "--metrics-port", "0",
        "-v", "1",  # logs each sync's end: readiness waits for a clean first sync of THIS process
    ]


def start(bins: dict[str, Path], node_name: str, netns: str, kubeconfig: Path, service_cidr: str,
          daemon: Callable[[str, list[str]], Process], timeout: float = 60) -> Process:
    """Start kube-router for one node (`daemon` starts it inside `netns`); return once it has synced.

    It reads its Node object once at start and exits if it is not there yet, so it starts after the
    kubelet registered the node. Its /healthz answers 200 from the first moment (it assumes health
    until a heartbeat is missed), so readiness is healthz, the chain its first full sync creates
    and that sync logged as done without an abort. The chain alone would not do after a node's
    restart (the old process's chain is still there) and a failed sync would leave policies unapplied.
    """
    deadline = time.monotonic() + timeout
    get_node = [*host.in_netns(netns), str(bins["kubectl"]), "--kubeconfig", str(kubeconfig),
                "get", "node", node_name, "-o", "name"]
    while subprocess.run(get_node, capture_output=True, check=False, timeout=30).returncode != 0:
        if time.monotonic() > deadline:
            raise ClusterError(f"kube-router on {node_name}: the node was not registered within "
                               f"{timeout:.0f}s, so the enforcer cannot start")
        time.sleep(0.2)
    proc = daemon("kube-router", command(bins["kube-router"], node_name, kubeconfig, service_cidr))
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ClusterError(f"kube-router on {node_name} exited at start:\n{log_tail(proc.log, 15)}")
        if _healthy(netns) and _synced(netns) and _first_sync_done(proc.log, node_name):
            return proc
        time.sleep(0.2)
    raise ClusterError(f"kube-router on {node_name}: not healthy and synced within {timeout:.0f}s "
                       f"(/healthz on :{HEALTH_PORT}, chain {SYNCED_CHAIN}):\n{log_tail(proc.log, 15)}")


def _healthy(netns: str) -> bool:
    request = b"GET /healthz HTTP/1.0\r\n\r\n"
    res = subprocess.run([*host.in_netns(netns), "socat", "-T2", "-", f"TCP:127.0.0.1:{HEALTH_PORT}"],
                         input=request, capture_output=True, check=False, timeout=10)
    return res.stdout.startswith(b"HTTP/1.0 200") or res.stdout.startswith(b"HTTP/1.1 200")


def _first_sync_done(log: Path, node_name: str) -> bool:
    """Whether the newest kube-router process in `log` finished a sync; ClusterError if one aborted."""
    text = log.read_text(errors="replace")
    since_start = text[text.rfind(STARTED):] if STARTED in text else ""
    failed = [ln.strip() for ln in since_start.splitlines() if any(f in ln for f in SYNC_FAILED)]
    if failed:
        raise ClusterError(f"kube-router on {node_name} failed to apply the policies: {failed[0][-300:]}")
    return SYNC_DONE in since_start


def _synced(netns: str) -> bool:
    res = subprocess.run([*host.in_netns(netns), "iptables", "-w", "-t", "filter", "-S", SYNCED_CHAIN],
                         capture_output=True, check=False, timeout=10)
    return res.returncode == 0
