"""One node of a node cluster: its network namespace, containerd, kubelet and kube-proxy.

Node k (1-based) has the address 10.200.0.k and the pods 10.244.(k-1).0/24. The first node's
namespace also holds the control plane and a bridge (`node0`) the other nodes' links plug into;
every namespace routes every other node's pods through that node's address. `lose()` is a machine
going away as the others see it (SIGKILL to the node's daemons, shims and containers; the
control plane, when it shares the namespace, stays); `restore()` starts the node again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webstack.cluster.node import configs, host, kube_router, pki
from webstack.cluster.node.configs import SERVICE_CIDR, Layout
from webstack.errors import ClusterError
from webstack.servers import log_tail

if TYPE_CHECKING:
    from webstack.cluster.node import NodeCluster

# The node's own daemons, in stop order.
DAEMONS = ("kubelet", "kube-router", "kube-proxy", "containerd")


class Worker:
    def __init__(self, cluster: NodeCluster, node: int) -> None:
        self.cluster, self.node = cluster, node
        self.lay: Layout = cluster.lay.of_node(node)

    @property
    def name(self) -> str:
        return self.lay.node_name

    def proc(self, what: str) -> str:
        """The name of this node's `what` daemon (its log and pid file): `kubelet`, `kubelet-2`."""
        return f"{what}{self.lay.suffix}"

    # -- files ------------------------------------------------------------------------------------
    def write_files(self, ca: pki.Pair, pause_ref: str) -> None:
        lay = self.lay
        for d in (lay.path("cni"), lay.kubelet_dir, lay.pod_logs, lay.containerd_socket.parent):
            d.mkdir(parents=True, exist_ok=True)
        pki.issue(lay.pki, ca, f"kubelet-serving{lay.suffix}", f"/CN={self.name}", server_names=[self.name],
                  server_ips=[lay.node_ip])
        # CN system:node:<name>: the Node authorizer and NodeRestriction judge each kubelet by it.
        client = pki.issue(lay.pki, ca, f"node{lay.suffix}", f"/O=system:nodes/CN=system:node:{self.name}")
        inside = f"https://{configs.NODE_IP}:{configs.API_PORT}"
        files = {
            "kubelet.kubeconfig": configs.kubeconfig(inside, ca.cert, client.cert, client.key, "inside"),
            "containerd.toml": configs.containerd_toml(lay, pause_ref),
            "kubelet.yaml": configs.kubelet_config(lay, self.name),
            "kube-proxy.yaml": configs.kube_proxy_config(lay, self.name),
        }
        for name, text in files.items():
            lay.path(name).write_text(text)
        cni = lay.path("cni") / "10-webstack.conflist"
        tmp = cni.with_suffix(".tmp")  # containerd watches the folder: never let it see half a file
        tmp.write_text(configs.cni_conflist(lay))
        tmp.rename(cni)

    # -- network ----------------------------------------------------------------------------------
    def namespace(self, nodes: int) -> None:
        lay = self.lay
        if self.node == 1:
            host.create_netns(lay.netns, f"{lay.node_ip}/24", SERVICE_CIDR, bridge=nodes > 1)
        else:
            host.join_netns(lay.of_node(1).netns, lay.netns, self.node, f"{lay.node_ip}/24", SERVICE_CIDR)
        host.create_cgroups(lay.cgroup_root)

    def routes(self, nodes: int) -> None:
        for other in range(1, nodes + 1):
            if other != self.node:
                host.route(self.lay.netns, configs.pod_cidr(other), configs.node_ip(other))

    # -- daemons ----------------------------------------------------------------------------------
    def containerd(self, bins: dict[str, Path]) -> None:
        proc = self.cluster.daemon(self.proc("containerd"), [
            str(bins["containerd"]), "--config", str(self.lay.path("containerd.toml"))], ns=self.lay.netns)
        self.cluster.wait(lambda: self.ctr("version").returncode == 0,
                          f"{self.name}'s containerd answering", proc, 30)

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = ["ctr", "--address", str(self.lay.containerd_socket), "--namespace", "k8s.io", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)

    def import_image(self, image: Any) -> None:
        res = self.ctr("images", "import", str(image.archive), timeout=300)
        if res.returncode != 0:
            raise ClusterError(
                f"importing {image.ref} into {self.name}'s containerd failed: {res.stderr.strip()[-400:]}")

    def kubelet(self, bins: dict[str, Path]) -> None:
        """The node's kubelet, kube-proxy and kube-router (its containerd runs already)."""
        lay = self.lay
        self.cluster.daemon(self.proc("kubelet"), [
            str(bins["kubelet"]), "--config", str(lay.path("kubelet.yaml")),
            "--kubeconfig", str(lay.path("kubelet.kubeconfig")), "--root-dir", str(lay.kubelet_dir),
            "--hostname-override", self.name, "--node-ip", lay.node_ip,
        ], ns=lay.netns)
        self.cluster.daemon(self.proc("kube-proxy"), [
            str(bins["kube-proxy"]), "--config", str(lay.path("kube-proxy.yaml"))], ns=lay.netns)
        self.enforcer(bins)  # NetworkPolicy enforcement on every node, after its kube-proxy
        for what in ("kubelet", "kube-proxy"):  # a bad flag or file ends them at once: say so now
            proc = self.cluster.procs[self.proc(what)]
            if not proc.alive():
                raise ClusterError(f"{self.name}: {what} exited at start:\n{log_tail(proc.log, 15)}")

    def enforcer(self, bins: dict[str, Path]) -> None:
        """Start this node's kube-router (firewall only); return once its first sync applied the policies."""
        lay = self.lay
        kube_router.start(bins, self.name, lay.netns, lay.of_node(1).path("admin-inside.kubeconfig"),
                          SERVICE_CIDR,
                          lambda name, cmd: self.cluster.daemon(self.proc(name), cmd, ns=lay.netns))

    def restart_enforcer(self, bins: dict[str, Path]) -> None:
        """Stop kube-router as its pod would be on an upgrade (SIGTERM) and start it again; ClusterError
        if the new process cannot apply the policies (state the old one left in the namespace stays)."""
        if proc := self.cluster.procs.pop(self.proc("kube-router"), None):
            proc.stop()
        self.enforcer(bins)

    # -- a machine going away, and coming back -------------------------------------------------------
    def lose(self) -> list[int]:
        """SIGKILL this node's daemons, its containerd shims and every container in its cgroup root;
        the pids killed."""
        killed = []
        for what in DAEMONS:  # by the process we hold, or by pid file when another process started it
            proc = self.cluster.procs.pop(self.proc(what), None)
            pidfile = self.lay.root / "pids" / f"{self.proc(what)}.pid"
            pid = proc.pid if proc else _pid_file(pidfile, self.lay.root)
            if pid is None:
                continue
            killed.append(pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if proc is not None:
                proc.popen.wait(10)
        shims = _pids_naming(str(self.lay.containerd_socket))
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # The control plane shares the first node's namespace: there only the cgroup root is the node's.
        inode = host.netns_inode(self.lay.netns) if self.node > 1 else None
        containers = host.pids_of(inode, self.lay.cgroup_root)
        if stuck := host.kill_all(inode, self.lay.cgroup_root):
            raise ClusterError(f"{self.name}: processes {stuck} survived SIGKILL")
        return killed + shims + containers

    def restore(self, bins: dict[str, Path]) -> None:
        self._drop_temporary_ipsets()
        self.containerd(bins)
        self.kubelet(bins)

    def _drop_temporary_ipsets(self) -> None:
        """kube-router fills a TMP-<hash> ipset and swaps it in; killed mid-sync it leaves one, and its
        successor's `ipset restore` then fails on every sync ("set with the same name already
        exists"). A rebooted machine starts without them: so does the restored node."""
        names = host.run(["ipset", "list", "-n"], f"listing {self.name}'s ipsets", ns=self.lay.netns).split()
        for name in names:
            if name.startswith("TMP-"):
                host.run(["ipset", "destroy", name], f"removing ipset {name}", ns=self.lay.netns, check=False)


def _pids_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
    return found


def _pid_file(path: Path, root: Path) -> int | None:
    """The pid in `path` if that process still runs a command naming the cluster's folder."""
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if str(root) in cmdline else None
